//! Sign in with an OpenID Connect provider (SPEC 11, issue 18), against a real provider:
//! the npm package `oidc-provider` (tests/oidc/provider.mjs) on 127.0.0.1, started per
//! test and stopped when the test ends. The browser is the cookie-keeping client,
//! following the real redirects between the app and the provider and filling in the
//! provider's own login and consent pages.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chaat::config::Settings;
use reqwest::{Response, StatusCode};

use crate::helpers::{assert_redirect, count, has, select_attr, test_settings, Client, TestApp, PASSWORD};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
pub(crate) const CLIENT_ID: &str = "chaat-test";
pub(crate) const CLIENT_SECRET: &str = "chaat-test-secret-0123456789";
pub(crate) const NAME: &str = "Test ID";

/// The provider as a child process; killed (and reaped) when dropped.
pub(crate) struct Provider {
    child: Child,
    pub(crate) issuer: String,
    http: reqwest::Client,
}

impl Provider {
    /// Starts the provider with one client whose redirect URI is `redirect_uri`. The
    /// npm modules are the repository's (`npm ci`), or `CHAAT_TEST_NODE_MODULES`.
    /// With more of provider.mjs's settings in `env`.
    pub(crate) fn start_with(redirect_uri: &str, env: &[(&str, &str)]) -> Self {
        let modules = std::env::var("CHAAT_TEST_NODE_MODULES").unwrap_or_else(|_| format!("{ROOT}/node_modules"));
        let mut child = Command::new("node")
            .arg(format!("{ROOT}/tests/oidc/provider.mjs"))
            .env("NODE_MODULES_DIR", modules)
            .env("CLIENT_ID", CLIENT_ID)
            .env("CLIENT_SECRET", CLIENT_SECRET)
            .env("REDIRECT_URI", redirect_uri)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() })
            .spawn()
            .expect("start node tests/oidc/provider.mjs");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads stdout to its end, so the provider never writes into a closed pipe.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok).unwrap_or_default());
            lines.for_each(drop);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("the provider says where it listens within 30 s");
        let issuer = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v["issuer"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("the provider did not start (is oidc-provider installed? npm ci): {line:?}"));
        Provider { child, issuer, http: reqwest::Client::new() }
    }

    /// What the token endpoint hands out from now on (see provider.mjs).
    async fn set_mode(&self, mode: &str) {
        let resp = self.http.get(format!("{}/test/mode?set={mode}", self.issuer)).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap(), mode);
    }

    async fn jwks_fetches(&self) -> u64 {
        let stats = self.http.get(format!("{}/test/stats", self.issuer)).send().await.unwrap().text().await.unwrap();
        let stats: serde_json::Value = serde_json::from_str(&stats).unwrap();
        stats["jwks_fetches"].as_u64().unwrap()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The app with the provider configured, and the provider.
pub(crate) async fn app_with_provider() -> (TestApp, Provider) {
    app_with_provider_and(test_settings()).await
}

/// The app with `settings` and the provider configured, and the provider.
async fn app_with_provider_and(settings: Settings) -> (TestApp, Provider) {
    app_with_provider_env(settings, &[]).await
}

/// The app with `settings` and the provider (started with `env`) configured.
pub(crate) async fn app_with_provider_env(settings: Settings, env: &[(&str, &str)]) -> (TestApp, Provider) {
    // The redirect URI names the app's port, so the port is chosen first.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let public_url = format!("http://127.0.0.1:{port}");
    let provider = Provider::start_with(&format!("{public_url}/auth/oidc/callback"), env);
    let app = TestApp::spawn_with(Settings {
        bind: format!("127.0.0.1:{port}"),
        public_url: Some(public_url),
        oidc_issuer: Some(provider.issuer.clone()),
        oidc_client_id: Some(CLIENT_ID.into()),
        oidc_client_secret: Some(CLIENT_SECRET.into()),
        oidc_name: NAME.into(),
        ..settings
    })
    .await;
    (app, provider)
}

fn location(resp: &Response) -> String {
    resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no location in {resp:?}")).to_string()
}

/// A URL on the provider's pages, made absolute.
fn absolute(url: &str, provider: &Provider) -> String {
    if url.starts_with("http") {
        url.to_string()
    } else {
        format!("{}{url}", provider.issuer)
    }
}

/// What the person does at the provider.
#[derive(Clone, Copy)]
pub(crate) enum AtProvider<'a> {
    /// Logs in as this account (its `sub`) and consents.
    LogIn(&'a str),
    /// Cancels on the provider's page.
    Cancel,
}

/// The browser at the provider: from `to_provider` (the app's 303), through the
/// provider's pages, until the provider sends it back to the app. Returns the path (and
/// query) of the app's callback, not yet requested.
async fn through_provider(client: &Client, provider: &Provider, to_provider: Response, act: AtProvider<'_>) -> String {
    assert_eq!(to_provider.status(), StatusCode::SEE_OTHER, "the app sends the browser to the provider");
    let mut url = location(&to_provider);
    assert!(url.starts_with(&provider.issuer), "to the provider: {url}");
    for _ in 0..12 {
        if let Some(path) = url.strip_prefix(&client.base) {
            return path.to_string();
        }
        let resp = client.http.get(&url).send().await.unwrap();
        if resp.status().is_redirection() {
            url = absolute(&location(&resp), provider);
            continue;
        }
        let status = resp.status();
        let page = resp.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "a provider page: {page}");
        if let AtProvider::Cancel = act {
            let cancel = select_attr(&page, "a[href*='abort']", "href").expect("a cancel link");
            url = absolute(&cancel, provider);
            continue;
        }
        let action = absolute(&select_attr(&page, "form", "action").expect("a form at the provider"), provider);
        let prompt = select_attr(&page, "input[name=prompt]", "value").expect("the form's prompt");
        let fields: Vec<(&str, &str)> = match (prompt.as_str(), act) {
            ("login", AtProvider::LogIn(login)) => vec![("prompt", "login"), ("login", login), ("password", "any password")],
            _ => vec![("prompt", prompt.as_str())],
        };
        let resp = client.http.post(&action).form(&fields).send().await.unwrap();
        assert!(resp.status().is_redirection(), "the provider moves on after {prompt}: {}", resp.status());
        url = absolute(&location(&resp), provider);
    }
    panic!("the provider never sent the browser back to the app (last at {url})");
}

/// "Sign in with …" on the login page, through the provider; the callback's path.
pub(crate) async fn sign_in_at_provider(client: &Client, provider: &Provider, act: AtProvider<'_>) -> String {
    let start = client.post("/auth/oidc/start", &[]).await;
    through_provider(client, provider, start, act).await
}

/// A value of the query of `url` (absolute, or a path of the app).
fn query_value(url: &str, name: &str) -> Option<String> {
    let absolute = if url.starts_with('/') { format!("http://app{url}") } else { url.to_string() };
    reqwest::Url::parse(&absolute).unwrap().query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

async fn assert_not_logged_in(client: &Client) {
    let resp = client.get("/chats").await;
    assert_redirect(&resp, "/login");
}

/// The page of a failure: a 400 error page with a way back to the login, and nobody
/// logged in.
async fn assert_failed(client: &Client, resp: Response, says: &str) -> String {
    let status = resp.status();
    let page = resp.text().await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "a failed sign-in is a 400: {page}");
    assert!(page.contains(says), "the page says {says:?}: {page}");
    assert!(has(&page, "a[href='/login']"), "a way back: {page}");
    assert_not_logged_in(client).await;
    page
}

#[actix_web::test]
async fn without_a_provider_there_is_no_button_and_the_routes_are_404() {
    let app = TestApp::spawn().await;
    let visitor = app.client();
    let (_, login) = visitor.get_page("/login").await;
    assert!(!login.contains("/auth/oidc/start"), "no button");
    assert_eq!(visitor.post("/auth/oidc/start", &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(visitor.get("/auth/oidc/callback?code=x&state=y").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(visitor.get("/auth/oidc/username").await.status(), StatusCode::NOT_FOUND);
    let alice = app.signed_up("alice").await;
    assert_eq!(alice.post("/settings/oidc/link", &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(alice.post("/settings/oidc/unlink", &[("current_password", PASSWORD)]).await.status(), StatusCode::NOT_FOUND);
    let (_, settings) = alice.get_page("/settings").await;
    assert!(!settings.contains("/settings/oidc/link"));
}

#[actix_web::test]
async fn a_first_sign_in_chooses_a_username_and_later_sign_ins_log_straight_in() {
    let (app, provider) = app_with_provider().await;
    app.signed_up("taken").await;
    let browser = app.client();
    let (_, login) = browser.get_page("/login").await;
    assert!(has(&login, "form[action='/auth/oidc/start'] button"), "the button: {login}");
    assert!(login.contains("Sign in with Test ID"));

    // The authorization request: code flow, PKCE S256, state and nonce, openid profile.
    let start = browser.post("/auth/oidc/start", &[]).await;
    let to_provider = location(&start);
    assert_eq!(query_value(&to_provider, "response_type").as_deref(), Some("code"));
    assert_eq!(query_value(&to_provider, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(query_value(&to_provider, "client_id").as_deref(), Some(CLIENT_ID));
    assert_eq!(query_value(&to_provider, "scope").as_deref(), Some("openid profile"));
    assert!(query_value(&to_provider, "state").is_some_and(|s| s.len() >= 16));
    assert!(query_value(&to_provider, "nonce").is_some_and(|s| s.len() >= 16));
    let callback = through_provider(&browser, &provider, start, AtProvider::LogIn("sub-carol")).await;
    assert!(callback.starts_with("/auth/oidc/callback?"), "{callback}");

    let resp = browser.get(&callback).await;
    assert_redirect(&resp, "/auth/oidc/username");
    assert_not_logged_in(&browser).await;

    // The suggestion is the provider's preferred_username, free here.
    let (status, form) = browser.get_page("/auth/oidc/username").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(select_attr(&form, "input[name=username]", "value").as_deref(), Some("carol"));

    // Invalid and taken names: 422, the form kept, still nobody logged in.
    let resp = browser.post("/auth/oidc/username", &[("username", "No Spaces!")]).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = resp.text().await.unwrap();
    assert_eq!(select_attr(&page, "input[name=username]", "value").as_deref(), Some("No Spaces!"));
    let resp = browser.post("/auth/oidc/username", &[("username", "taken")]).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.unwrap().contains("That username is taken"));
    assert_not_logged_in(&browser).await;

    let resp = browser.post("/auth/oidc/username", &[("username", "Carol_1")]).await;
    assert_redirect(&resp, "/signup/recovery-codes");
    browser.forget_csrf();
    let (status, chats) = browser.get_page("/chats").await;
    assert_eq!(status, StatusCode::OK);
    assert!(chats.contains("carol_1"), "logged in as carol_1");
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM users WHERE username = 'carol_1' AND pwd_hash IS NULL"), 1);
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM oidc_identities i JOIN users u USING (user_id) WHERE u.username = 'carol_1' AND i.subject = 'sub-carol'"),
        1
    );
    // The identity was used: the username form is gone.
    assert_eq!(browser.get("/auth/oidc/username").await.status(), StatusCode::BAD_REQUEST);

    // The account has no password: password login fails like a wrong password.
    let stranger = app.client();
    assert_eq!(stranger.login("carol_1", "any password at all").await.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // A second sign-in, from another browser, logs straight in, with a new session key.
    let other = app.client();
    other.get_page("/login").await;
    let anonymous_cookie = other.cookie_header();
    let callback = sign_in_at_provider(&other, &provider, AtProvider::LogIn("sub-carol")).await;
    let resp = other.get(&callback).await;
    assert_redirect(&resp, "/chats");
    other.forget_csrf();
    assert_ne!(other.cookie_header(), anonymous_cookie, "a new session key");
    let (status, chats) = other.get_page("/chats").await;
    assert_eq!(status, StatusCode::OK);
    assert!(chats.contains("carol_1"));

    // It sets a first password with an empty current password, then logs in with it.
    let resp =
        other.post("/settings/password", &[("current_password", ""), ("new_password", PASSWORD), ("new_password_confirm", PASSWORD)]).await;
    assert_redirect(&resp, "/settings?done=password");
    assert_redirect(&app.client().login("carol_1", PASSWORD).await, "/chats");
    // Now an empty current password no longer works.
    let resp = other
        .post(
            "/settings/password",
            &[("current_password", ""), ("new_password", "another pass 1"), ("new_password_confirm", "another pass 1")],
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn linking_and_unlinking_in_settings() {
    let (app, provider) = app_with_provider().await;
    let alice = app.signed_up("alice").await;
    let (_, settings) = alice.get_page("/settings").await;
    assert!(has(&settings, "form[action='/settings/oidc/link']"), "{settings}");

    let start = alice.post("/settings/oidc/link", &[]).await;
    let callback = through_provider(&alice, &provider, start, AtProvider::LogIn("sub-dave")).await;
    assert_redirect(&alice.get(&callback).await, "/settings?done=oidc-linked");
    let (_, settings) = alice.get_page("/settings").await;
    assert!(has(&settings, "form[action='/settings/oidc/unlink']"), "{settings}");

    // dave's provider account now signs in as alice.
    let elsewhere = app.client();
    let callback = sign_in_at_provider(&elsewhere, &provider, AtProvider::LogIn("sub-dave")).await;
    assert_redirect(&elsewhere.get(&callback).await, "/chats");
    let (_, page) = elsewhere.get_page("/settings").await;
    assert!(page.contains("alice"));

    // bob cannot link the same provider account: 409.
    let bob = app.signed_up("bob").await;
    let start = bob.post("/settings/oidc/link", &[]).await;
    let callback = through_provider(&bob, &provider, start, AtProvider::LogIn("sub-dave")).await;
    let resp = bob.get(&callback).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert!(resp.text().await.unwrap().contains("already linked to another Chaat account"));

    // Unlinking needs the right password.
    let resp = alice.post("/settings/oidc/unlink", &[("current_password", "not my password")]).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.unwrap().contains("That is not your current password."));
    assert_redirect(&alice.post("/settings/oidc/unlink", &[("current_password", PASSWORD)]).await, "/settings?done=oidc-unlinked");
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM oidc_identities"), 0);

    // Unlinked: dave's provider account is new again (the username form).
    let again = app.client();
    let callback = sign_in_at_provider(&again, &provider, AtProvider::LogIn("sub-dave")).await;
    assert_redirect(&again.get(&callback).await, "/auth/oidc/username");

    // An account without a password cannot unlink: 409.
    assert_redirect(&again.post("/auth/oidc/username", &[("username", "dave")]).await, "/signup/recovery-codes");
    again.forget_csrf();
    let resp = again.post("/settings/oidc/unlink", &[("current_password", "")]).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM oidc_identities"), 1);
}

#[actix_web::test]
async fn a_callback_works_once_and_only_in_the_browser_that_started_it() {
    let (app, provider) = app_with_provider().await;
    let browser = app.client();
    let callback = sign_in_at_provider(&browser, &provider, AtProvider::LogIn("sub-erin")).await;

    // Another browser (a stolen or forged callback URL): no sign-in pending there.
    let thief = app.client();
    thief.get_page("/login").await;
    assert_failed(&thief, thief.get(&callback).await, "does not belong to a sign-in started in this browser").await;
    assert_not_logged_in(&thief).await;

    // A wrong state in the right browser fails, and uses up the pending sign-in.
    let state = query_value(&callback, "state").unwrap();
    let wrong = callback.replace(&state, "not-the-state");
    assert_failed(&browser, browser.get(&wrong).await, "does not belong").await;
    assert_failed(&browser, browser.get(&callback).await, "used already").await;
    assert_not_logged_in(&browser).await;

    // A fresh one succeeds once; replayed, it fails.
    let callback = sign_in_at_provider(&browser, &provider, AtProvider::LogIn("sub-erin")).await;
    assert_redirect(&browser.get(&callback).await, "/auth/oidc/username");
    // erin's preferred_username is not a valid username: no suggestion.
    let (_, form) = browser.get_page("/auth/oidc/username").await;
    assert_eq!(select_attr(&form, "input[name=username]", "value"), None);
    assert_failed(&browser, browser.get(&callback).await, "used already").await;

    // A code the provider does not know (expired, or made up): it refuses the exchange.
    let callback = sign_in_at_provider(&browser, &provider, AtProvider::LogIn("sub-erin")).await;
    let code = query_value(&callback, "code").unwrap();
    let made_up = callback.replace(&code, "not-a-code-the-provider-issued");
    assert_failed(&browser, browser.get(&made_up).await, "refused the sign-in code").await;

    // A callback without a code.
    let callback = sign_in_at_provider(&browser, &provider, AtProvider::LogIn("sub-erin")).await;
    let state = query_value(&callback, "state").unwrap();
    assert_failed(&browser, browser.get(&format!("/auth/oidc/callback?state={state}")).await, "sent no code").await;
    assert_not_logged_in(&browser).await;
}

#[actix_web::test]
async fn the_providers_errors_are_shown_escaped() {
    let (app, provider) = app_with_provider().await;
    let browser = app.client();
    browser.get_page("/login").await;

    // Denied at the provider (its cancel link): error=access_denied.
    let callback = sign_in_at_provider(&browser, &provider, AtProvider::Cancel).await;
    assert_eq!(query_value(&callback, "error").as_deref(), Some("access_denied"));
    assert_failed(&browser, browser.get(&callback).await, "access_denied").await;
    assert_not_logged_in(&browser).await;

    // Whatever the error text, it is shown as text.
    let resp = browser.get("/auth/oidc/callback?error=%3Cb%3Ebad%3C%2Fb%3E&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E").await;
    let page = assert_failed(&browser, resp, "&#60;script&#62;alert(1)&#60;/script&#62;").await;
    assert!(!page.contains("<script>alert") && !page.contains("<b>bad"), "{page}");
}

#[actix_web::test]
async fn tokens_that_are_not_the_providers_for_this_app_are_refused() {
    let (app, provider) = app_with_provider().await;
    let browser = app.client();
    browser.get_page("/login").await;

    // For another audience, signed by the provider's real key.
    provider.set_mode("wrong-aud").await;
    let callback = sign_in_at_provider(&browser, &provider, AtProvider::LogIn("sub-carol")).await;
    assert_failed(&browser, browser.get(&callback).await, "meant for another application").await;
    assert_not_logged_in(&browser).await;

    // Signed by a key the provider never published: the keys are fetched once more,
    // then the token is refused.
    provider.set_mode("forged-key").await;
    let fetched = provider.jwks_fetches().await;
    let callback = sign_in_at_provider(&browser, &provider, AtProvider::LogIn("sub-carol")).await;
    assert_failed(&browser, browser.get(&callback).await, "signature").await;
    assert_eq!(provider.jwks_fetches().await, fetched + 1, "one refetch for the unknown key id");
    assert_not_logged_in(&browser).await;

    // Signed by another key under the real key's id.
    provider.set_mode("forged-same-kid").await;
    let callback = sign_in_at_provider(&browser, &provider, AtProvider::LogIn("sub-carol")).await;
    assert_failed(&browser, browser.get(&callback).await, "signature").await;
    assert_not_logged_in(&browser).await;

    // A real rotation: a new key id, published in the JWKS; found by the refetch.
    provider.set_mode("rotated").await;
    let fetched = provider.jwks_fetches().await;
    let callback = sign_in_at_provider(&browser, &provider, AtProvider::LogIn("sub-carol")).await;
    assert_redirect(&browser.get(&callback).await, "/auth/oidc/username");
    assert_eq!(provider.jwks_fetches().await, fetched + 1);
    // And the new key is kept: the next token with it needs no fetch.
    let callback = sign_in_at_provider(&browser, &provider, AtProvider::LogIn("sub-carol")).await;
    assert_redirect(&browser.get(&callback).await, "/auth/oidc/username");
    assert_eq!(provider.jwks_fetches().await, fetched + 1);
}

/// The rest of the ID token's checks (SPEC 11: `iss`, `exp`, `nonce`; issue 18: `azp`
/// when present, `iat` with a small leeway), each with a token signed by the provider's
/// real key: refused, nobody logged in, no account made.
#[actix_web::test]
async fn tokens_with_a_wrong_issuer_expiry_issue_time_nonce_or_party_are_refused() {
    let (app, provider) = app_with_provider().await;
    let browser = app.client();
    browser.get_page("/login").await;
    for (mode, says) in [
        ("wrong-iss", "another issuer"),
        ("expired", "expired"),
        ("old-iat", "refused"),
        ("wrong-nonce", "another sign-in"),
        ("wrong-azp", "refused"),
    ] {
        provider.set_mode(mode).await;
        let callback = sign_in_at_provider(&browser, &provider, AtProvider::LogIn("sub-carol")).await;
        let page = assert_failed(&browser, browser.get(&callback).await, says).await;
        assert!(page.contains("ID token was refused"), "{mode}: {page}");
    }
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM oidc_identities"), 0);
    // The same flow with an honest token works (the modes were the only difference).
    provider.set_mode("normal").await;
    let callback = sign_in_at_provider(&browser, &provider, AtProvider::LogIn("sub-carol")).await;
    assert_redirect(&browser.get(&callback).await, "/auth/oidc/username");
}

/// A provider account whose `preferred_username` is an existing person's name is a new
/// account (the username form, without that suggestion), never that person.
#[actix_web::test]
async fn a_provider_account_is_never_matched_to_an_account_by_its_preferred_username() {
    let (app, provider) = app_with_provider().await;
    app.signed_up("dave").await;
    let browser = app.client();
    let callback = sign_in_at_provider(&browser, &provider, AtProvider::LogIn("sub-dave")).await;
    assert_redirect(&browser.get(&callback).await, "/auth/oidc/username");
    assert_not_logged_in(&browser).await;
    let (_, form) = browser.get_page("/auth/oidc/username").await;
    assert_eq!(select_attr(&form, "input[name=username]", "value"), None, "dave is taken: no suggestion");
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM oidc_identities"), 0);
}

/// A session made by the provider follows the session rules of password logins: logout
/// ends it, and "log out other sessions" and a password change elsewhere end it too.
#[actix_web::test]
async fn provider_sessions_end_by_logout_log_out_everywhere_and_password_change() {
    let (app, provider) = app_with_provider().await;
    let alice = app.signed_up("alice").await;
    let start = alice.post("/settings/oidc/link", &[]).await;
    let callback = through_provider(&alice, &provider, start, AtProvider::LogIn("sub-dave")).await;
    assert_redirect(&alice.get(&callback).await, "/settings?done=oidc-linked");

    let signed_in = async || {
        let browser = app.client();
        let callback = sign_in_at_provider(&browser, &provider, AtProvider::LogIn("sub-dave")).await;
        assert_redirect(&browser.get(&callback).await, "/chats");
        browser.forget_csrf();
        assert_eq!(browser.get_page("/chats").await.0, StatusCode::OK);
        browser
    };
    let browser = signed_in().await;
    assert!(browser.logout().await.status().is_redirection());
    assert_not_logged_in(&browser).await;

    let browser = signed_in().await;
    assert!(alice.post("/settings/sessions/others/logout", &[]).await.status().is_redirection());
    assert_not_logged_in(&browser).await;

    let browser = signed_in().await;
    let changed = alice
        .post(
            "/settings/password",
            &[("current_password", PASSWORD), ("new_password", "a new password 2"), ("new_password_confirm", "a new password 2")],
        )
        .await;
    assert_redirect(&changed, "/settings?done=password");
    assert_not_logged_in(&browser).await;
}

#[actix_web::test]
async fn signing_in_with_the_provider_counts_against_the_login_throttle() {
    let (app, provider) = app_with_provider_and(Settings { login_attempts_per_addr: 2, ..test_settings() }).await;
    let browser = app.client();
    for _ in 0..2 {
        let start = browser.post("/auth/oidc/start", &[]).await;
        assert_eq!(start.status(), StatusCode::SEE_OTHER);
        assert!(location(&start).starts_with(&provider.issuer));
    }
    let resp = browser.post("/auth/oidc/start", &[]).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
}

#[actix_web::test]
async fn pages_allow_forms_to_lead_to_the_provider_only_when_one_is_configured() {
    let (app, provider) = app_with_provider().await;
    let csp = app.client().get("/login").await.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains(&format!("form-action 'self' {}", provider.issuer)), "{csp}");
    let plain = TestApp::spawn().await;
    let csp = plain.client().get("/login").await.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.ends_with("form-action 'self'"), "{csp}");
}

#[actix_web::test]
async fn a_provider_that_cannot_be_reached_is_a_502_and_passwords_still_work() {
    let (app, provider) = app_with_provider().await;
    app.signed_up("alice").await;
    let browser = app.client();
    let callback = sign_in_at_provider(&browser, &provider, AtProvider::LogIn("sub-carol")).await;
    // The provider goes away between its redirect and the code exchange.
    drop(provider);
    let resp = browser.get(&callback).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert!(resp.text().await.unwrap().contains("could not be reached"));
    assert_not_logged_in(&browser).await;
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM oidc_identities"), 0);

    // A provider that was never reachable: Chaat started anyway; a start is a 502.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let lonely = TestApp::spawn_with(Settings {
        public_url: Some("http://127.0.0.1:1".into()),
        oidc_issuer: Some(format!("http://127.0.0.1:{closed}")),
        oidc_client_id: Some(CLIENT_ID.into()),
        ..test_settings()
    })
    .await;
    let visitor = lonely.client();
    assert_eq!(visitor.post("/auth/oidc/start", &[]).await.status(), StatusCode::BAD_GATEWAY);
    lonely.signed_up("bob").await;
    assert_redirect(&lonely.client().login("bob", PASSWORD).await, "/chats");
}

/// The pages this feature adds or changes pass the Nu HTML Checker (as the audit's pages
/// do): the login page's button, the username form (also with an error), Settings with
/// the provider section linked and not, with and without a password, and a failure.
#[actix_web::test]
async fn the_provider_pages_are_valid_html() {
    let jar = std::path::Path::new(ROOT).join("node_modules/vnu-jar/build/dist/vnu.jar");
    assert!(jar.exists(), "{} is missing: run `make assets`", jar.display());
    let (app, provider) = app_with_provider().await;
    let dir = std::env::temp_dir().join(format!("chaat-vnu-oidc-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    let mut save = |name: &str, html: String| {
        let file = dir.join(format!("{name}.html"));
        std::fs::write(&file, html).unwrap();
        files.push(file);
    };

    let browser = app.client();
    save("login", browser.get_page("/login").await.1);
    let callback = sign_in_at_provider(&browser, &provider, AtProvider::LogIn("sub-carol")).await;
    assert_redirect(&browser.get(&callback).await, "/auth/oidc/username");
    save("username", browser.get_page("/auth/oidc/username").await.1);
    save("username-error", browser.post("/auth/oidc/username", &[("username", "x")]).await.text().await.unwrap());
    assert_redirect(&browser.post("/auth/oidc/username", &[("username", "carol")]).await, "/signup/recovery-codes");
    browser.forget_csrf();
    save("settings-no-password", browser.get_page("/settings").await.1);

    let alice = app.signed_up("alice").await;
    save("settings-unlinked", alice.get_page("/settings").await.1);
    let start = alice.post("/settings/oidc/link", &[]).await;
    let callback = through_provider(&alice, &provider, start, AtProvider::LogIn("sub-dave")).await;
    assert_redirect(&alice.get(&callback).await, "/settings?done=oidc-linked");
    save("settings-linked", alice.get_page("/settings?done=oidc-linked").await.1);
    save(
        "settings-unlink-error",
        alice.post("/settings/oidc/unlink", &[("current_password", "wrong password")]).await.text().await.unwrap(),
    );
    save("failure", app.client().get("/auth/oidc/callback?error=access_denied").await.text().await.unwrap());

    let out = std::process::Command::new("java")
        .arg("-jar")
        .arg(&jar)
        .args(["--errors-only", "--format", "json"])
        .args(&files)
        .output()
        .unwrap_or_else(|e| panic!("java: {e}: run `make deps` (installs a headless JRE)"));
    let report: serde_json::Value =
        serde_json::from_slice(&out.stderr).unwrap_or_else(|e| panic!("vnu's JSON report: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    let errors: Vec<String> = report["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (m["url"].as_str().unwrap_or("").rsplit('/').next().unwrap_or("").to_string(), m["message"].as_str().unwrap_or("").to_string())
        })
        // htmx 4's attribute names (`hx-headers:inherited`), as in the audit.
        .filter(|(_, text)| !(text.starts_with("Attribute “hx-") && text.contains("” not allowed on element “")))
        .map(|(file, text)| format!("{file}: {text}"))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(errors.is_empty(), "the Nu HTML Checker found errors:\n{}", errors.join("\n"));
}
