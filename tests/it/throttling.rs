//! Issue 21, points 4, 6 and 7: login throttling that slows a guesser down without
//! locking the account's owner out, rate limits a person never meets (messages, friend
//! requests, password-change attempts), no database row for anonymous visitors, and a
//! new session key after a password change.

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::helpers::{assert_redirect, count, TestApp, PASSWORD};

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
