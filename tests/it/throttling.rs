//! Issue 21, points 4, 6 and 7: login throttling that slows a guesser down without
//! locking the account's owner out, rate limits a person never meets (messages, friend
//! requests, password-change attempts), no database row for anonymous visitors, and a
//! new session key after a password change.

use reqwest::StatusCode;

use crate::helpers::{assert_redirect, TestApp, PASSWORD};

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
