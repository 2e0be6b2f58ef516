//! Sign in with an OpenID Connect provider in Chromium (issue 18): "Sign in with …" on
//! the login page, the provider's own login and consent pages, the username form, the
//! chats. The provider is always on another origin than the app (another port), and in
//! the second test its authorization endpoint is on another host than its issuer too:
//! Chromium checks the redirect that follows the sign-in form against the login page's
//! CSP `form-action`, so both must be allowed there.

use fantoccini::{Client, Locator};

use super::{wait_for, wait_until, with_browsers, PAGE};
use crate::helpers::{count, test_settings, TestApp};
use crate::oidc::{app_with_provider_env, NAME};

/// In `browser`: from the login page through the provider (whose pages must be under
/// `provider_pages`) to the username form, which is sent; then the first recovery
/// codes (SPEC §10: a provider account gets them too) and on to /chats.
pub async fn sign_in_through_the_provider(browser: &Client, app: &TestApp, provider_pages: &str, sub: &str, suggested: &str) {
    browser.goto(&format!("{}/login", app.address)).await.unwrap();
    let button = wait_for(browser, Locator::Css("form[action='/auth/oidc/start'] button"), PAGE, "oidc-button", "the button").await;
    assert_eq!(button.text().await.unwrap(), format!("Sign in with {NAME}"));
    button.click().await.unwrap();
    to_the_username_form(browser, provider_pages, sub).await;
    let field = browser.find(Locator::Css("form[action='/auth/oidc/username'] #username")).await.unwrap();
    assert_eq!(field.prop("value").await.unwrap().as_deref(), Some(suggested));
    browser.find(Locator::Css("form[action='/auth/oidc/username'] button[type=submit]")).await.unwrap().click().await.unwrap();
    let codes = format!("{}/signup/recovery-codes", app.address);
    wait_until(browser, &format!("return location.href === {codes:?}"), PAGE, "oidc-codes", "lands on the recovery codes").await;
    let shown = browser.find_all(Locator::Css("ol.recovery-codes code")).await.unwrap();
    assert_eq!(shown.len(), 10, "ten recovery codes for the new account");
    browser.find(Locator::Css(".recovery-codes-page a[href='/chats']")).await.unwrap().click().await.unwrap();
    let chats = format!("{}/chats", app.address);
    wait_until(browser, &format!("return location.href === {chats:?}"), PAGE, "oidc-chats", "lands on /chats").await;
}

/// At the provider's login page (just sent there): logs in as `sub`, consents, and
/// waits for Chaat's username form.
pub async fn to_the_username_form(browser: &Client, provider_pages: &str, sub: &str) {
    let login = wait_for(browser, Locator::Css("input[name=login]"), PAGE, "oidc-provider-login", "the provider's login page").await;
    let at = browser.current_url().await.unwrap();
    assert!(at.as_str().starts_with(provider_pages), "the provider's page is at {at}, expected under {provider_pages}");
    login.send_keys(sub).await.unwrap();
    browser.find(Locator::Css("input[name=password]")).await.unwrap().send_keys("any password").await.unwrap();
    browser.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for(browser, Locator::Css("input[name=prompt][value=consent]"), PAGE, "oidc-provider-consent", "the consent page").await;
    browser.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    wait_for(browser, Locator::Css("form[action='/auth/oidc/username'] #username"), PAGE, "oidc-username", "the username form").await;
}

/// The CSP of the login page once it names `origin` among `form-action` (the provider
/// is discovered in the background at start); panics after 10 s.
async fn csp_naming(app: &TestApp, origin: &str) -> String {
    let deadline = std::time::Instant::now() + PAGE;
    loop {
        let resp = app.client().get("/login").await;
        let csp = resp.headers()["content-security-policy"].to_str().unwrap().to_string();
        let form_action = csp.split(';').map(str::trim).find(|d| d.starts_with("form-action")).unwrap_or_default().to_string();
        if form_action.split(' ').any(|o| o == origin) {
            return csp;
        }
        assert!(std::time::Instant::now() < deadline, "form-action never named {origin}: {csp}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn a_browser_signs_in_at_the_providers_page_on_another_origin_and_lands_in_the_chats() {
    let (app, provider) = app_with_provider_env(test_settings(), &[]).await;
    assert_ne!(provider.issuer, app.address, "another origin (port)");
    csp_naming(&app, &provider.issuer).await;
    let (app, issuer) = (&app, provider.issuer.clone());
    with_browsers(1, true, |b| async move {
        sign_in_through_the_provider(&b[0], app, &issuer, "sub-carol", "carol").await;
        assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM oidc_identities"), 1);
    })
    .await;
}

#[actix_web::test]
async fn a_browser_signs_in_when_the_authorization_endpoint_is_on_another_host_than_the_issuer() {
    let (app, provider) = app_with_provider_env(test_settings(), &[("AUTHORIZATION_HOST", "localhost")]).await;
    let endpoint_origin = provider.issuer.replace("127.0.0.1", "localhost");
    let csp = csp_naming(&app, &endpoint_origin).await;
    assert!(csp.contains(&format!("form-action 'self' {} {endpoint_origin}", provider.issuer)), "{csp}");
    let app = &app;
    with_browsers(1, true, |b| async move {
        sign_in_through_the_provider(&b[0], app, &endpoint_origin, "sub-dave", "dave").await;
        assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM oidc_identities"), 1);
    })
    .await;
}
