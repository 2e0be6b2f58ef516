//! Issue 21, points 4, 6 and 7: login throttling that slows a guesser down without
//! locking the account's owner out, rate limits a person never meets (messages, friend
//! requests, password-change attempts), no database row for anonymous visitors, and a
//! new session key after a password change.

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use chaat::config::Settings;

use crate::helpers::{alice_and_bob, assert_redirect, count, test_settings, TestApp, PASSWORD};

/// The value of the session cookie this browser holds.
fn session_cookie(cookie_header: &str) -> Option<String> {
    cookie_header.split("; ").find_map(|c| c.strip_prefix("chaat_session=")).map(str::to_string)
}

#[actix_web::test]
async fn a_password_change_gives_this_session_a_new_key_and_the_old_cookie_opens_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let old = session_cookie(&alice.cookie_header()).expect("a session cookie after signup");

    let new_password = "a brand new password";
    let resp = alice
        .post(
            "/settings/password",
            &[("current_password", PASSWORD), ("new_password", new_password), ("new_password_confirm", new_password)],
        )
        .await;
    assert_redirect(&resp, "/settings?done=password");
    let new = session_cookie(&alice.cookie_header()).expect("still a session cookie");
    assert_ne!(old, new, "the key is rotated");
    assert_eq!(alice.get("/settings").await.status(), StatusCode::OK, "this browser stays logged in");

    // Whoever copied the cookie before the change is logged out.
    let thief = app.client();
    let resp = thief.http.get(thief.url("/settings")).header("cookie", format!("chaat_session={old}")).send().await.unwrap();
    assert_redirect(&resp, "/login");
}

#[actix_web::test]
async fn anonymous_visitors_get_no_session_row_until_a_login_or_signup_succeeds() {
    let app = TestApp::spawn().await;
    app.signed_up("alice").await;
    let rows = |app: &TestApp| count(&mut app.conn(), "SELECT count(*) AS n FROM sessions");
    assert_eq!(rows(&app), 1, "alice's session");

    // Showing the forms to many visitors writes nothing (it wrote a row each, kept 2 h).
    for _ in 0..20 {
        let visitor = app.client();
        assert_eq!(visitor.get_page("/login").await.0, StatusCode::OK);
        assert_eq!(visitor.get_page("/signup").await.0, StatusCode::OK);
    }
    // Nor do failed attempts, or the same browser coming back.
    let visitor = app.client();
    assert_eq!(visitor.login("alice", "not the password").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(visitor.signup("alice", PASSWORD).await.status(), StatusCode::UNPROCESSABLE_ENTITY, "taken");
    assert_eq!(rows(&app), 1, "no row for anonymous visitors");

    // The form's token (from the signed cookie) is good for logging in and signing up.
    assert_redirect(&visitor.login("alice", PASSWORD).await, "/chats");
    assert_eq!(app.client().signup("bob", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(rows(&app), 3);
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM sessions WHERE user_id IS NULL"), 0);
}

#[actix_web::test]
async fn an_anonymous_form_needs_the_token_of_this_browser_s_signed_cookie() {
    let app = TestApp::spawn().await;
    app.signed_up("alice").await;
    let visitor = app.client();
    let token = visitor.csrf_token().await;
    let form = [("username", "alice"), ("password", PASSWORD), ("csrf_token", token.as_str())];

    // Another browser with this token but not the cookie; or with its own cookie.
    let other = app.client();
    assert_eq!(other.post_raw("/login", &form, HeaderMap::new()).await.status(), StatusCode::FORBIDDEN);
    other.csrf_token().await;
    assert_eq!(other.post_raw("/login", &form, HeaderMap::new()).await.status(), StatusCode::FORBIDDEN);
    // A cookie written by hand (unsigned, or with a made-up signature) is ignored.
    for forged in [format!("form:{token}"), format!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=form:{token}")] {
        let stranger = app.client();
        let resp =
            stranger.http.post(stranger.url("/login")).header("cookie", format!("chaat_form={forged}")).form(&form).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{forged}");
    }
    assert_redirect(&visitor.post_raw("/login", &form, HeaderMap::new()).await, "/chats");
}

/// The wait a 429 asks for: its `Retry-After` header, which the page says in words too.
async fn retry_after(resp: reqwest::Response) -> u64 {
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let secs: u64 = resp.headers().get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap();
    let body = resp.text().await.unwrap();
    let words = if secs == 1 { "try again in 1 second".to_string() } else { format!("try again in {secs} seconds") };
    assert!(body.contains(&words), "the page says {words:?}: {body}");
    secs
}

#[actix_web::test]
async fn a_stranger_s_wrong_passwords_slow_the_stranger_down_and_never_lock_the_owner_out() {
    let app = TestApp::spawn().await; // the default rules: 5 failures per browser, then 1 s, 2 s, 4 s …
    app.signed_up("alice").await;
    let stranger = app.client();
    for _ in 0..5 {
        assert_eq!(stranger.login("alice", "wrong password").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    // The stranger's next try waits, even with the right password: this browser guessed.
    let refused = stranger.login("alice", PASSWORD).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);

    // alice, at the same moment and from the same address (all tests come from
    // 127.0.0.1), in her own browser: straight in. Her account is not locked.
    let owner = app.client();
    assert_redirect(&owner.login("alice", PASSWORD).await, "/chats");
    assert_eq!(owner.get("/settings").await.status(), StatusCode::OK);
    assert_eq!(retry_after(refused).await, 1, "the stranger's first wait");

    // Each further failure of the stranger doubles the wait.
    let mut waits = vec![1];
    for _ in 0..2 {
        tokio::time::sleep(std::time::Duration::from_millis(*waits.last().unwrap() * 1000 + 200)).await;
        assert_eq!(stranger.login("alice", "another guess").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
        waits.push(retry_after(stranger.login("alice", "and another").await).await);
    }
    // 1, 2, 4 (a second less if the machine took over a second between two requests).
    assert!((1..=2).contains(&waits[1]) && (3..=4).contains(&waits[2]), "growing waits: {waits:?}");
}

#[actix_web::test]
async fn a_script_that_throws_its_cookies_away_waits_per_address_but_the_owner_s_browser_does_not() {
    let settings = Settings { login_failures_per_addr_and_user: 4, ..test_settings() };
    let app = TestApp::spawn_with(settings).await;
    let alice = app.signed_up("alice").await; // this browser is now known for alice
    assert_redirect(&alice.logout().await, "/login");

    // Four failures, each from a fresh browser: no browser waits, but the address does.
    for _ in 0..4 {
        assert_eq!(app.client().login("alice", "wrong password").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(retry_after(app.client().login("alice", "guess").await).await, 1);
    // A browser alice has used before is not held up by the strangers' failures.
    assert_redirect(&alice.login("alice", PASSWORD).await, "/chats");
}

#[actix_web::test]
async fn past_the_ceiling_for_a_name_only_browsers_known_for_it_may_try() {
    // Guessing from many addresses, as one address shows it: many fresh browsers, the
    // per-address rule out of the way.
    let settings = Settings { login_failures_per_addr_and_user: 1000, login_failures_per_user: 6, ..test_settings() };
    let app = TestApp::spawn_with(settings).await;
    let alice = app.signed_up("alice").await;
    assert_redirect(&alice.logout().await, "/login");
    for _ in 0..6 {
        assert_eq!(app.client().login("alice", "wrong password").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    // A browser nobody logged in as alice with: refused until the hour is over …
    let wait = retry_after(app.client().login("alice", PASSWORD).await).await;
    assert!((3000..=3600).contains(&wait), "the ceiling's hour: {wait}");
    // … but alice's own browser gets in, and other names are not affected.
    assert_redirect(&alice.login("alice", PASSWORD).await, "/chats");
    app.signed_up("bob").await;
    assert_redirect(&app.client().login("bob", PASSWORD).await, "/chats");
}

#[actix_web::test]
async fn wrong_current_passwords_in_the_password_change_are_slowed_down_like_logins() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let change = |current: &'static str| {
        let new = "a brand new password";
        [("current_password", current), ("new_password", new), ("new_password_confirm", new)]
    };
    for _ in 0..5 {
        assert_eq!(alice.post("/settings/password", &change("a guess")).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    // Someone holding alice's session guessed five times: the next try waits, and the
    // right password changes nothing while it does.
    let wait = retry_after(alice.post("/settings/password", &change(PASSWORD)).await).await;
    assert_eq!(wait, 1);
    assert_eq!(app.client().login("alice", "a brand new password").await.status(), StatusCode::UNPROCESSABLE_ENTITY, "unchanged");

    // After the wait the right password works (a delay, never a lock).
    tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 200)).await;
    assert_redirect(&alice.post("/settings/password", &change(PASSWORD)).await, "/settings?done=password");
}

#[actix_web::test]
async fn new_friend_requests_are_limited_per_person_and_the_form_is_kept() {
    let settings = Settings { friend_requests_per_10_min: 3, ..test_settings() };
    let app = TestApp::spawn_with(settings).await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    // Re-sending after each reject (what a script did 30 times in 0.4 s): three go out …
    for _ in 0..3 {
        assert_redirect(&alice.send_friend_request(&bob, "hi").await, "/friends");
        assert_redirect(&bob.reject_friend_request(bob.request_from(&alice).await).await, "/friends");
    }
    // … the fourth, to anyone, waits; the form (on bob's profile, where it was sent
    // from) comes back with the greeting kept.
    let resp = alice.post("/friend-requests", &[("to", "bob"), ("greeting", "hello again"), ("return_to", "/users/bob")]).await;
    let body_has = |body: &str| body.contains("hello again") && body.contains("friend requests lately");
    let resp_body = {
        assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
        let wait: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((500..=600).contains(&wait), "the 10 minutes' window: {wait}");
        resp.text().await.unwrap()
    };
    assert!(body_has(&resp_body), "{resp_body}");
    let htmx = alice.post_htmx("/friend-requests", &[("to", "carol"), ("greeting", "hello again"), ("return_to", "/users/carol")]).await;
    assert_eq!(htmx.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(htmx.headers().contains_key("retry-after"));
    let fragment = htmx.text().await.unwrap();
    assert!(body_has(&fragment) && !fragment.contains("<html"), "the block with the form kept: {fragment}");
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM friend_requests WHERE status = 'pending'"), 0, "nothing sent");

    // Answering someone who asked first is not a new request: it still works.
    assert_redirect(&carol.send_friend_request(&alice, "").await, "/friends");
    assert_redirect(&alice.send_friend_request(&carol, "").await, "/friends");
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM friends"), 1, "alice and carol are friends");
}

#[actix_web::test]
async fn a_flood_of_messages_waits_and_the_text_is_never_lost() {
    // 3 at once, then one per 3⅓ s: the test's requests fit well within that.
    let settings = Settings { messages_per_10_s: 3, ..test_settings() };
    let app = TestApp::spawn_with(settings).await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    // A burst goes through …
    for i in 0..3 {
        assert_redirect(&alice.send(chat, &format!("quick {i}")).await, &format!("/chats/{chat}"));
    }
    // … then the page comes back with the text in the composer and the wait.
    let resp = alice.send(chat, "one too many").await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=4).contains(&wait), "until the next of 3 per 10 s: {wait}");
    let page = resp.text().await.unwrap();
    assert!(page.contains(">one too many</textarea>") && page.contains("sending messages very fast"), "{page}");
    // htmx gets the composer, text kept, with the error.
    let htmx = alice
        .post_htmx(&format!("/chats/{chat}/messages"), &[("text", "still here"), ("client_id", &uuid::Uuid::new_v4().to_string())])
        .await;
    assert_eq!(htmx.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(htmx.headers().contains_key("retry-after"));
    let composer = htmx.text().await.unwrap();
    assert!(composer.contains("id=\"composer\"") && composer.contains(">still here</textarea>"), "{composer}");
    assert!(composer.contains("sending messages very fast") && !composer.contains("<html"), "{composer}");
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM messages WHERE kind = 'text'"), 3, "nothing more stored");

    // Someone else is not affected, and after the wait alice sends again.
    assert_redirect(&bob.send(chat, "my turn").await, &format!("/chats/{chat}"));
    tokio::time::sleep(std::time::Duration::from_millis(wait * 1000 + 100)).await;
    assert_redirect(&alice.send(chat, "one too many").await, &format!("/chats/{chat}"));
}
