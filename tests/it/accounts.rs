//! Signup, login, logout, password change, sessions, profiles (SPEC 2, accounts rows).

use reqwest::StatusCode;

use crate::helpers::{assert_redirect, count, TestApp, PASSWORD};

#[actix_web::test]
async fn signing_up_logs_the_new_user_in_with_a_lower_case_name() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("Alice").await;

    let (status, body) = alice.get_page("/settings").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("alice"), "the navigation names the user");
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM users WHERE username = 'alice'"), 1);
    assert_eq!(
        count(&mut conn, "SELECT count(*) AS n FROM users WHERE pwd_hash LIKE '$argon2id$%' AND length(dynamic_salt) = 32"),
        1,
        "Argon2id with a per-user salt"
    );
}

#[actix_web::test]
async fn a_username_taken_in_another_case_is_refused_and_the_input_kept() {
    let app = TestApp::spawn().await;
    app.signed_up("alice").await;
    let other = app.client();
    let resp = other.signup("ALICE", PASSWORD).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = resp.text().await.unwrap();
    assert!(body.contains("That username is taken"), "{body}");
    assert!(body.contains("value=\"ALICE\""), "the input is kept");
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM users"), 1);
}

#[actix_web::test]
async fn bad_signups_get_a_422_with_the_error_next_to_the_field_and_store_nothing() {
    let app = TestApp::spawn().await;
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        ("a bad name", "ab", PASSWORD, PASSWORD, "at least 3 characters"),
        ("bad characters", "al ice<", PASSWORD, PASSWORD, "Use only letters"),
        ("too long a name", &"a".repeat(33), PASSWORD, PASSWORD, "at most 32 characters"),
        ("a short password", "alice", "short", "short", "at least 8 characters"),
        ("a long password", "alice", &"p".repeat(129), &"p".repeat(129), "at most 128 characters"),
        ("mismatched confirmation", "alice", PASSWORD, "something else", "do not match"),
    ];
    for (what, name, pw, confirm, message) in cases {
        let client = app.client();
        let resp = client.post("/signup", &[("username", name), ("password", pw), ("password_confirm", confirm)]).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        let body = resp.text().await.unwrap();
        assert!(body.contains(message), "{what}: expected {message:?}");
        assert!(body.contains("class=\"field-error\""), "{what}: the error sits next to the field");
        assert!(!body.contains(&format!("value=\"{pw}\"")), "{what}: passwords are not echoed");
    }
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM users"), 0);
}

#[actix_web::test]
async fn login_and_logout() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    assert_redirect(&alice.logout().await, "/login");
    assert_redirect(&alice.get("/settings").await, "/login");

    assert_redirect(&alice.login("ALICE", PASSWORD).await, "/chats");
    assert_eq!(alice.get("/settings").await.status(), StatusCode::OK);
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM sessions WHERE user_id IS NOT NULL"), 1);
}

#[actix_web::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_message() {
    let app = TestApp::spawn().await;
    app.signed_up("alice").await;
    let client = app.client();
    let wrong_password = client.login("alice", "not the password").await;
    assert_eq!(wrong_password.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let a = wrong_password.text().await.unwrap();
    let unknown = client.login("nobody", PASSWORD).await;
    assert_eq!(unknown.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let b = unknown.text().await.unwrap();
    assert!(a.contains("Wrong username or password.") && b.contains("Wrong username or password."));
    assert_redirect(&client.get("/settings").await, "/login");
}

#[actix_web::test]
async fn the_session_key_changes_at_login_and_is_stored_only_hashed() {
    let app = TestApp::spawn().await;
    app.signed_up("alice").await;
    let client = app.client();
    let before = client.get("/login").await;
    assert_eq!(session_cookie(&before), None, "the form's token is in a signed cookie: no session before a login");
    let resp = client.login("alice", PASSWORD).await;
    assert_redirect(&resp, "/chats");
    let first = session_cookie(&resp).expect("a session cookie at login");
    let set_cookie = set_cookie(&resp, "chaat_session").expect("the session cookie is set");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"), "{set_cookie}");
    assert!(!set_cookie.contains("Secure"), "Secure only when configured");

    // A login in a browser that already has a session (its own, or one planted in it:
    // session fixation) gets a new key, and the old key is gone from the store.
    let resp = client.login("alice", PASSWORD).await;
    assert_redirect(&resp, "/chats");
    let second = session_cookie(&resp).expect("a new cookie at login");
    assert_ne!(first, second, "session fixation: the key is renewed");
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM sessions WHERE octet_length(key_hash) <> 32"), 0, "only hashes are stored");
    let replay = app.client();
    let resp = replay.http.get(replay.url("/settings")).header("cookie", format!("chaat_session={first}")).send().await.unwrap();
    assert_redirect(&resp, "/login");
}

fn session_cookie(resp: &reqwest::Response) -> Option<String> {
    resp.cookies().find(|c| c.name() == "chaat_session").map(|c| c.value().to_string())
}

/// The `Set-Cookie` header of the cookie `name`.
fn set_cookie(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).find(|v| v.starts_with(&format!("{name}=")))
}

#[actix_web::test]
async fn the_cookie_is_secure_when_configured() {
    let settings = chaat::config::Settings { cookie_secure: true, ..crate::helpers::test_settings() };
    let app = TestApp::spawn_with(settings).await;
    let resp = app.client().get("/login").await;
    // The login form's token cookie (the session cookie is set the same way, at login).
    let set_cookie = set_cookie(&resp, "chaat_form").expect("the form's token cookie");
    assert!(set_cookie.contains("Secure") && set_cookie.contains("HttpOnly"), "{set_cookie}");
}

#[actix_web::test]
async fn changing_the_password_ends_every_other_session() {
    let app = TestApp::spawn().await;
    let laptop = app.signed_up("alice").await;
    let phone = app.client();
    assert_redirect(&phone.login("alice", PASSWORD).await, "/chats");
    let (_, settings) = laptop.get_page("/settings").await;
    assert!(settings.matches("<time").count() >= 2, "both sessions are listed");

    let new_password = "a brand new password";
    let resp = laptop
        .post(
            "/settings/password",
            &[("current_password", PASSWORD), ("new_password", new_password), ("new_password_confirm", new_password)],
        )
        .await;
    assert_redirect(&resp, "/settings?done=password");
    assert_eq!(laptop.get("/settings").await.status(), StatusCode::OK, "this session stays");
    assert_redirect(&phone.get("/settings").await, "/login");
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM sessions WHERE user_id IS NOT NULL"), 1);

    let again = app.client();
    assert_eq!(again.login("alice", PASSWORD).await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_redirect(&again.login("alice", new_password).await, "/chats");
}

#[actix_web::test]
async fn a_wrong_current_password_or_bad_new_one_changes_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let hash_before = password_hash(&app);
    for (current, new, confirm, message) in [
        ("wrong password", "a new password", "a new password", "not your current password"),
        (PASSWORD, "short", "short", "at least 8 characters"),
        (PASSWORD, "a new password", "another one", "do not match"),
    ] {
        let resp = alice
            .post("/settings/password", &[("current_password", current), ("new_password", new), ("new_password_confirm", confirm)])
            .await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(resp.text().await.unwrap().contains(message), "{message}");
    }
    assert_eq!(password_hash(&app), hash_before);
}

fn password_hash(app: &TestApp) -> String {
    #[derive(diesel::QueryableByName)]
    struct H {
        #[diesel(sql_type = diesel::sql_types::Text)]
        pwd_hash: String,
    }
    use diesel::RunQueryDsl;
    diesel::sql_query("SELECT pwd_hash FROM users").get_result::<H>(&mut app.conn()).unwrap().pwd_hash
}

#[actix_web::test]
async fn log_out_other_sessions_keeps_this_one() {
    let app = TestApp::spawn().await;
    let laptop = app.signed_up("alice").await;
    let phone = app.client();
    phone.login("alice", PASSWORD).await;
    assert_redirect(&laptop.post("/settings/sessions/others/logout", &[]).await, "/settings?done=sessions");
    assert_eq!(laptop.get("/settings").await.status(), StatusCode::OK);
    assert_redirect(&phone.get("/settings").await, "/login");
}

#[actix_web::test]
async fn profiles_show_the_person_and_unknown_names_are_404() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    app.signed_up("bob").await;
    let (status, body) = alice.get_page("/users/bob").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<h1") && body.contains("bob"));
    assert!(body.contains("Send friend request"), "a stranger's profile offers a friend request");
    let (status, own) = alice.get_page("/users/alice").await;
    assert_eq!(status, StatusCode::OK);
    assert!(own.contains("/settings"));
    assert_eq!(alice.get("/users/nobody").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(alice.get("/users/%3Cscript%3E").await.status(), StatusCode::NOT_FOUND);
    assert_redirect(&app.client().get("/users/bob").await, "/login");
}

#[actix_web::test]
async fn the_root_sends_people_where_they_belong() {
    let app = TestApp::spawn().await;
    assert_redirect(&app.client().get("/").await, "/login");
    let alice = app.signed_up("alice").await;
    assert_redirect(&alice.get("/").await, "/chats");
}

#[actix_web::test]
async fn healthz_answers_ok_when_the_database_does() {
    let app = TestApp::spawn().await;
    let resp = app.client().get("/healthz").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.text().await.unwrap(), "ok");
}

#[actix_web::test]
async fn an_expired_session_no_longer_works_and_is_purged() {
    use diesel::RunQueryDsl;
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let mut conn = app.conn();
    diesel::sql_query("UPDATE sessions SET expires_at = now() - interval '1 minute'").execute(&mut conn).unwrap();
    assert_redirect(&alice.get("/settings").await, "/login");
    let purged = chaat::models::sessions::purge_expired(&mut conn).unwrap();
    assert!(purged >= 1);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM sessions WHERE expires_at <= now()"), 0);
}

#[actix_web::test]
async fn an_htmx_request_without_a_login_is_told_to_go_to_the_login_page() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let resp = client.http.get(client.url("/chats")).header("HX-Request", "true").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "htmx ignores headers on a 3xx");
    assert_eq!(resp.headers().get("HX-Redirect").unwrap(), "/login");
}
