//! CSRF, origin checks, throttling, security headers, body limits and error pages.

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::helpers::{alice_and_bob, assert_redirect, count, test_settings, TestApp, PASSWORD};

#[actix_web::test]
async fn a_post_without_or_with_a_wrong_csrf_token_is_refused_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let new = "another password!";
    let fields = [("current_password", PASSWORD), ("new_password", new), ("new_password_confirm", new)];

    let missing = alice.post_raw("/settings/password", &fields, HeaderMap::new()).await;
    assert_eq!(missing.status(), StatusCode::FORBIDDEN);
    assert!(missing.text().await.unwrap().contains("<main"), "the error page is in the site layout");

    let mut wrong = fields.to_vec();
    wrong.push(("csrf_token", "0000"));
    assert_eq!(alice.post_raw("/settings/password", &wrong, HeaderMap::new()).await.status(), StatusCode::FORBIDDEN);

    // A token of another session is no good either.
    let bob = app.signed_up("bob").await;
    let mut bobs = fields.to_vec();
    let bob_token = bob.csrf_token().await;
    bobs.push(("csrf_token", &bob_token));
    assert_eq!(alice.post_raw("/settings/password", &bobs, HeaderMap::new()).await.status(), StatusCode::FORBIDDEN);

    assert_eq!(alice.post_raw("/logout", &[], HeaderMap::new()).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(alice.get("/settings").await.status(), StatusCode::OK, "still logged in: logout was refused");
    let fresh = app.client();
    assert_eq!(fresh.login("alice", new).await.status(), StatusCode::UNPROCESSABLE_ENTITY, "password unchanged");
}

#[actix_web::test]
async fn the_token_may_come_in_the_htmx_header() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let resp = alice.post_htmx("/settings/sessions/others/logout", &[]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
}

#[actix_web::test]
async fn a_cross_site_post_is_refused_even_with_the_token() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let token = alice.csrf_token().await;
    let fields = [("csrf_token", token.as_str())];

    let mut evil_origin = HeaderMap::new();
    evil_origin.insert("Origin", "http://evil.example".parse().unwrap());
    assert_eq!(alice.post_raw("/logout", &fields, evil_origin).await.status(), StatusCode::FORBIDDEN);

    let mut cross_site = HeaderMap::new();
    cross_site.insert("Sec-Fetch-Site", "cross-site".parse().unwrap());
    assert_eq!(alice.post_raw("/logout", &fields, cross_site).await.status(), StatusCode::FORBIDDEN);

    let mut evil_referer = HeaderMap::new();
    evil_referer.insert("Referer", "http://evil.example/page".parse().unwrap());
    assert_eq!(alice.post_raw("/logout", &fields, evil_referer).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(alice.get("/settings").await.status(), StatusCode::OK, "still logged in");

    let mut same_origin = HeaderMap::new();
    same_origin.insert("Origin", app.address.parse().unwrap());
    same_origin.insert("Sec-Fetch-Site", "same-origin".parse().unwrap());
    assert_redirect(&alice.post_raw("/logout", &fields, same_origin).await, "/login");
}

fn throttled_settings() -> chaat::config::Settings {
    chaat::config::Settings { login_failures_per_browser: 3, ..test_settings() }
}

/// Issue 21 changed this rule: wrong passwords used to lock the username for everyone
/// (the owner's right password got 429 too), so anyone could lock anyone out. Now
/// they slow down the browser that sent them; the owner elsewhere gets in.
#[actix_web::test]
async fn repeated_wrong_passwords_throttle_that_browser_even_for_the_right_password_but_not_the_owner() {
    let app = TestApp::spawn_with(throttled_settings()).await;
    app.signed_up("alice").await;
    let attacker = app.client();
    for _ in 0..3 {
        assert_eq!(attacker.login("alice", "wrong password").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    let resp = attacker.login("alice", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.headers().contains_key("retry-after"));
    let body = resp.text().await.unwrap();
    assert!(body.contains("try again in") && body.contains("second"), "{body}");
    assert_redirect(&attacker.get("/settings").await, "/login");
    // The owner on another device is not throttled: the count is per browser.
    let owner = app.client();
    assert_redirect(&owner.login("Alice", PASSWORD).await, "/chats");
}

#[actix_web::test]
async fn the_throttle_holds_across_two_instances() {
    let first = TestApp::spawn_with(throttled_settings()).await;
    let second = TestApp::spawn_on(first.db.clone(), throttled_settings()).await;
    first.signed_up("alice").await;
    // One browser guessing on both instances is counted once, in PostgreSQL.
    let attacker = first.client();
    let elsewhere = attacker.moved_to(&second.address);
    assert_eq!(attacker.login("alice", "wrong 1").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(elsewhere.login("alice", "wrong 2").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(attacker.login("alice", "wrong 3").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(elsewhere.login("alice", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(attacker.login("alice", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn logins_and_signups_are_throttled_per_client_address() {
    let settings = chaat::config::Settings { login_attempts_per_addr: 4, signups_per_addr: 2, ..test_settings() };
    let app = TestApp::spawn_with(settings).await;
    app.signed_up("alice").await;
    app.signed_up("bob").await;
    let third = app.client();
    let resp = third.signup("carol", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(resp.text().await.unwrap().contains("try again in"));
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM users"), 2, "nothing stored");

    let client = app.client();
    for name in ["x1x", "x2x", "x3x", "x4x"] {
        assert_eq!(client.login(name, PASSWORD).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(client.login("bob", PASSWORD).await.status(), StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn pages_carry_the_security_headers() {
    let app = TestApp::spawn().await;
    let resp = app.client().get("/login").await;
    let h = resp.headers();
    let csp = h.get("content-security-policy").unwrap().to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(h.get("x-content-type-options").unwrap(), "nosniff");
    assert_eq!(h.get("referrer-policy").unwrap(), "same-origin");
    let body = resp.text().await.unwrap();
    assert!(!body.contains("<script>") && !body.contains(" style=\""), "no inline script or style");
}

#[actix_web::test]
async fn error_pages_are_rendered_in_the_site_layout() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let resp = alice.get("/no/such/page").await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body = resp.text().await.unwrap();
    assert!(body.contains("<main") && body.contains("404"), "{body}");
    assert!(body.contains("/users/alice") && !body.contains("href=\"/signup\""), "the navigation of a logged-in person");

    let resp = alice.http.delete(alice.url("/settings")).send().await.unwrap();
    assert!(resp.status().is_client_error());
    assert!(resp.text().await.unwrap().contains("/users/alice"));

    let anonymous = app.client().get("/no/such/page").await.text().await.unwrap();
    assert!(anonymous.contains("href=\"/signup\""), "visitors get the visitor's navigation");

    // A form that cannot be parsed (a missing field) is a 4xx page, never a 500.
    let resp = alice.post("/settings/password", &[("current_password", PASSWORD)]).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(resp.text().await.unwrap().contains("<main"));
}

#[actix_web::test]
async fn an_oversized_form_body_is_refused() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let huge = "x".repeat(200 * 1024);
    let resp = alice.post("/settings/password", &[("current_password", &huge), ("new_password", "x"), ("new_password_confirm", "x")]).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[actix_web::test]
async fn static_assets_are_served_with_caching_and_nothing_else_is() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let htmx = client.get(chaat::assets::url("htmx.min.js")).await;
    assert_eq!(htmx.status(), StatusCode::OK);
    assert!(htmx.headers().get("cache-control").unwrap().to_str().unwrap().contains("immutable"));
    assert_eq!(client.get(chaat::assets::url("app.css")).await.status(), StatusCode::OK);
    // Only the content-hashed names (tests/it/wire.rs).
    assert_eq!(client.get("/static/app.css").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(client.get("/static/..%2FCargo.toml").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(client.get("/static/../Cargo.toml").await.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_busy_database_answers_503_in_the_site_layout_within_the_wait() {
    use diesel::RunQueryDsl;
    let settings = chaat::config::Settings { db_pool_size: 1, db_wait_ms: 200, ..test_settings() };
    let app = TestApp::spawn_with(settings).await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;

    // Hold a lock that alice's profile query waits on: the app's only connection is busy.
    let mut locker = app.conn();
    diesel::sql_query("BEGIN").execute(&mut locker).unwrap();
    diesel::sql_query("LOCK TABLE users IN ACCESS EXCLUSIVE MODE").execute(&mut locker).unwrap();
    let slow = actix_web::rt::spawn({
        let url = alice.url("/users/alice");
        let http = alice.http.clone();
        async move { http.get(url).send().await.map(|r| r.status()) }
    });
    let waiting = "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
    let mut blocked = false;
    for _ in 0..100 {
        if count(&mut app.conn(), waiting) >= 1 {
            blocked = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(blocked, "alice's request is waiting on the lock");

    let started = std::time::Instant::now();
    let resp = bob.get("/chats").await;
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "no hang");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().get("retry-after").is_some());
    let body = resp.text().await.unwrap();
    assert!(body.contains("<main") && body.contains("503"), "{body}");

    diesel::sql_query("COMMIT").execute(&mut locker).unwrap();
    assert_eq!(slow.await.unwrap().unwrap(), StatusCode::OK, "the waiting request completes afterwards");
}

#[actix_web::test]
async fn an_unexpected_failure_gives_a_500_page_without_details_and_stores_nothing() {
    use diesel::RunQueryDsl;
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    let mut conn = app.conn();
    diesel::sql_query(
        "CREATE FUNCTION refuse_everything() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'secret internal detail'; END; $$",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query("CREATE TRIGGER refuse BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_everything()")
        .execute(&mut conn)
        .unwrap();
    let resp = alice.send(chat, "hello").await;
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = resp.text().await.unwrap();
    assert!(body.contains("<main") && body.contains("500") && body.contains("/users/alice"), "{body}");
    assert!(!body.contains("secret internal detail"), "no internals shown");
    assert_eq!(count(&mut conn, "SELECT last_seq AS n FROM chats"), 0, "the transaction rolled back");
}

/// An error page is rendered once, for whoever is looking: a logged-in person sees their
/// own navigation with its real badges (not zeros), a visitor the anonymous one.
#[actix_web::test]
async fn an_error_page_shows_the_real_navigation_of_a_logged_in_person() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    assert_eq!(bob.send(chat, "unread by alice").await.status(), StatusCode::SEE_OTHER);
    let carol = app.signed_up("carol").await;
    assert_eq!(carol.send_friend_request(&alice, "hi").await.status(), StatusCode::SEE_OTHER);

    let (status, page) = alice.get_page(&format!("/chats/{}", uuid::Uuid::now_v7())).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("/users/alice"), "alice's navigation");
    assert!(page.contains("1<span class=\"visually-hidden\"> unread message</span>"), "the unread badge: {page}");
    assert!(page.contains("1<span class=\"visually-hidden\"> incoming friend request</span>"), "the request badge: {page}");
    assert_eq!(page.matches("<main").count(), 1, "one page, rendered once");

    let (status, page) = app.client().get_page(&format!("/chats/{chat}/nowhere")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(!page.contains("/users/alice") && page.contains("<main"), "the anonymous layout");
}
