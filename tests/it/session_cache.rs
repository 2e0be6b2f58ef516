//! The in-process session cache (issue 19, `auth::session_cache`): two instances on one
//! database; a session cached on B is refused there as soon as the request that ended it
//! on A has answered (logout, "log out other sessions", a password change, account
//! deletion), in every round; a cached session otherwise works as before.

use diesel::RunQueryDsl;
use reqwest::StatusCode;

use crate::helpers::{assert_redirect, count, test_settings, TestApp, PASSWORD};

/// Rounds of "end on A, then at once ask B": a missed invalidation would show in
/// any of them (without the barrier, B answers from its cache before it hears of the
/// end in most rounds).
const ROUNDS: usize = 8;

async fn two_instances() -> (TestApp, TestApp) {
    let a = TestApp::spawn().await;
    let b = TestApp::spawn_on(a.db.clone(), test_settings()).await;
    wait_for_listeners(&a, 2).await;
    (a, b)
}

/// Waits (bounded) until `n` instances' listeners hold their LISTEN connection: before
/// that nothing is cached, and the tests would prove nothing.
async fn wait_for_listeners(app: &TestApp, n: i64) {
    let mut conn = app.conn();
    for _ in 0..200 {
        let up = count(
            &mut conn,
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() \
               AND application_name = 'chaat-listener'",
        );
        if up >= n {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the listeners did not connect within 5 s");
}

/// What `base` answers to `GET /chats` from a browser that sends `cookie` (one kept
/// from before the session ended).
async fn chats_with(base: &str, cookie: &str) -> StatusCode {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    http.get(format!("{base}/chats")).header("Cookie", cookie).send().await.unwrap().status()
}

/// `cookie` works on `base` (twice: the second answer comes from the cache).
async fn works_on(base: &str, cookie: &str) {
    assert_eq!(chats_with(base, cookie).await, StatusCode::OK);
    assert_eq!(chats_with(base, cookie).await, StatusCode::OK, "a cached session works");
}

#[actix_web::test]
async fn a_cached_session_works_and_is_served_from_memory() {
    let (a, b) = two_instances().await;
    let alice = a.signed_up("alice").await;
    let on_b = alice.moved_to(&b.address);
    let (status, page) = on_b.get_page("/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("alice"));
    // The session (its CSRF token) serves a form post on B, and again.
    let bob = a.signed_up("bob").await;
    assert_redirect(&on_b.send_friend_request(&bob, "hi").await, "/friends");
    assert_eq!(on_b.get("/friends").await.status(), StatusCode::OK);

    // Proof that B answers from memory: with the trigger off, the row goes silently,
    // and B still knows the session (it must never happen with the trigger on: below).
    let mut conn = a.conn();
    diesel::sql_query("ALTER TABLE sessions DISABLE TRIGGER sessions_deleted").execute(&mut conn).unwrap();
    diesel::sql_query("DELETE FROM sessions WHERE user_id = (SELECT user_id FROM users WHERE username = 'alice')")
        .execute(&mut conn)
        .unwrap();
    assert_eq!(on_b.get("/chats").await.status(), StatusCode::OK, "served from B's cache");
    // A never loaded this session after the signup (which wrote it): it reads the row.
    assert_redirect(&alice.get("/chats").await, "/login");
    diesel::sql_query("ALTER TABLE sessions ENABLE TRIGGER sessions_deleted").execute(&mut conn).unwrap();
}

#[actix_web::test]
async fn a_logout_on_one_instance_ends_the_session_on_the_other_at_once() {
    let (a, b) = two_instances().await;
    a.signed_up("alice").await;
    for round in 0..ROUNDS {
        let browser = a.logged_in("alice").await;
        let cookie = browser.cookie_header();
        works_on(&b.address, &cookie).await;
        assert_redirect(&browser.logout().await, "/login");
        assert_eq!(chats_with(&b.address, &cookie).await, StatusCode::SEE_OTHER, "round {round}: B served an ended session");
    }
}

#[actix_web::test]
async fn logging_out_the_other_sessions_ends_them_on_the_other_instance_at_once() {
    let (a, b) = two_instances().await;
    let laptop = a.signed_up("alice").await;
    works_on(&b.address, &laptop.cookie_header()).await;
    for round in 0..ROUNDS {
        let phone = a.logged_in("alice").await;
        let cookie = phone.cookie_header();
        works_on(&b.address, &cookie).await;
        assert_redirect(&laptop.post("/settings/sessions/others/logout", &[]).await, "/settings?done=sessions");
        assert_eq!(chats_with(&b.address, &cookie).await, StatusCode::SEE_OTHER, "round {round}: B served an ended session");
        assert_eq!(chats_with(&b.address, &laptop.cookie_header()).await, StatusCode::OK, "round {round}: the one kept works");
    }
}

#[actix_web::test]
async fn a_password_change_ends_the_other_sessions_and_the_old_key_on_the_other_instance_at_once() {
    let (a, b) = two_instances().await;
    let laptop = a.signed_up("alice").await;
    let passwords = [PASSWORD, "a brand new password"];
    for round in 0..3 {
        let (current, new) = (passwords[round % 2], passwords[(round + 1) % 2]);
        let phone = a.client();
        assert_redirect(&phone.login("alice", current).await, "/chats");
        let (phone_cookie, old_laptop_cookie) = (phone.cookie_header(), laptop.cookie_header());
        works_on(&b.address, &phone_cookie).await;
        works_on(&b.address, &old_laptop_cookie).await;
        let resp =
            laptop.post("/settings/password", &[("current_password", current), ("new_password", new), ("new_password_confirm", new)]).await;
        assert_redirect(&resp, "/settings?done=password");
        assert_eq!(chats_with(&b.address, &phone_cookie).await, StatusCode::SEE_OTHER, "round {round}: the other session");
        assert_eq!(chats_with(&b.address, &old_laptop_cookie).await, StatusCode::SEE_OTHER, "round {round}: the old key");
        assert_eq!(chats_with(&b.address, &laptop.cookie_header()).await, StatusCode::OK, "round {round}: the new key works");
    }
}

#[actix_web::test]
async fn deleting_the_account_ends_its_sessions_on_the_other_instance_at_once() {
    let (a, b) = two_instances().await;
    for round in 0..3 {
        let name = format!("leaver{round}");
        let laptop = a.signed_up(&name).await;
        let phone = a.logged_in(&name).await;
        let cookies = [laptop.cookie_header(), phone.cookie_header()];
        for cookie in &cookies {
            works_on(&b.address, cookie).await;
        }
        let resp = laptop.post("/settings/delete-account", &[("current_password", PASSWORD), ("confirm", name.as_str())]).await;
        assert_redirect(&resp, "/login");
        for cookie in &cookies {
            assert_eq!(chats_with(&b.address, cookie).await, StatusCode::SEE_OTHER, "round {round}: B served a deleted account");
        }
    }
}

#[actix_web::test]
async fn without_its_listen_connection_an_instance_reads_every_session() {
    let (a, b) = two_instances().await;
    a.signed_up("alice").await;
    let mut conn = a.conn();
    for round in 0..3 {
        let browser = a.logged_in("alice").await;
        let cookie = browser.cookie_header();
        works_on(&b.address, &cookie).await;
        // Both listeners lose their connection (and reconnect after a backoff): whatever
        // B heard or not meanwhile, the logout must hold there.
        diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() \
               AND application_name = 'chaat-listener'",
        )
        .execute(&mut conn)
        .unwrap();
        assert_redirect(&browser.logout().await, "/login");
        assert_eq!(chats_with(&b.address, &cookie).await, StatusCode::SEE_OTHER, "round {round}: B served an ended session");
        wait_for_listeners(&a, 2).await;
    }
}
