//! Hostile input: a clear 4xx, never a 500 or a crash, nothing stored.

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::helpers::{alice_and_bob, count, TestApp};

fn is_clear_refusal(status: StatusCode) -> bool {
    status.is_client_error()
}

#[actix_web::test]
async fn malformed_ids_paths_and_forms_are_refused_without_a_500_and_store_nothing() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    for path in [
        "/chats/not-a-uuid".to_string(),
        "/chats/00000000-0000-0000-0000-000000000000/messages?before=abc".to_string(),
        format!("/chats/{chat}/messages?before=not-a-number"),
        "/display-pictures/..%2F..%2Fetc%2Fpasswd".to_string(),
        "/static/..%2F..%2FCargo.toml".to_string(),
        "/static/%00".to_string(),
        "/users/%00".to_string(),
        "/users/..%2F..".to_string(),
    ] {
        let status = alice.get(&path).await.status();
        assert!(is_clear_refusal(status), "GET {path}: {status}");
    }
    let token = alice.csrf_token().await;
    let messages = format!("/chats/{chat}/messages");
    let bodies: Vec<(&str, String)> = vec![
        ("invalid UTF-8", format!("csrf_token={token}&text=%FF%FE")),
        ("a NUL byte", format!("csrf_token={token}&text=a%00b")),
        ("a repeated field", format!("csrf_token={token}&text=a&text=b")),
        ("a non-UUID client_id", format!("csrf_token={token}&text=a&client_id=nope")),
        ("no text at all", format!("csrf_token={token}")),
    ];
    for (what, body) in bodies {
        let resp = alice
            .http
            .post(alice.url(&messages))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert!(is_clear_refusal(resp.status()), "{what}: {}", resp.status());
    }
    // Unknown extra fields are ignored (the message is fine).
    let resp = alice.post(&messages, &[("text", "fine"), ("colour", "red")]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM messages"), 1, "only the fine message");

    let resp = alice.post(&format!("/friend-requests/{}/accept", "not-a-uuid"), &[]).await;
    assert!(is_clear_refusal(resp.status()));
    let resp = alice.post("/signup", &[("username", "x\0y"), ("password", "a password!"), ("password_confirm", "a password!")]).await;
    assert!(is_clear_refusal(resp.status()));

    let mut huge = HeaderMap::new();
    // actix-http refuses request heads over 128 KiB.
    huge.insert("x-filler", "a".repeat(200 * 1024).parse().unwrap());
    let status = alice.http.get(alice.url("/chats")).headers(huge).send().await.map(|r| r.status());
    assert!(status.as_ref().map_or(true, |s| is_clear_refusal(*s)), "a very long header: {status:?}");
    // (a fresh client: the refused request's connection was closed by the server)
    assert_eq!(app.client().get("/healthz").await.status(), StatusCode::OK, "still serving");
}

#[actix_web::test]
async fn malformed_multipart_and_image_bombs_are_refused() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let token = alice.csrf_token().await;
    let url = alice.url("/settings/display-picture");

    let broken = alice
        .http
        .post(&url)
        .header("content-type", "multipart/form-data; boundary=XYZ")
        .body(format!("--XYZ\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n--XYZ\r\nContent-Disposition: form-data; name=\"picture\"\r\n\r\nno end"))
        .send()
        .await
        .unwrap();
    assert!(is_clear_refusal(broken.status()), "malformed multipart: {}", broken.status());

    // A valid PNG header claiming 100,000 × 100,000 pixels in a few bytes.
    let mut bomb = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&100_000u32.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    bomb.extend_from_slice(&13u32.to_be_bytes());
    bomb.extend_from_slice(&ihdr);
    bomb.extend_from_slice(&[0, 0, 0, 0]);
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", token)
        .part("picture", reqwest::multipart::Part::bytes(bomb).file_name("bomb.png"));
    let resp = alice.http.post(&url).multipart(form).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM display_pictures"), 0);
    assert_eq!(alice.get("/healthz").await.status(), StatusCode::OK);
}

/// PostgreSQL text cannot hold NUL: a search for one used to reach the query and fail
/// with a 500. No username has a control character, so such a search shows nothing.
#[actix_web::test]
async fn a_search_with_a_nul_or_control_character_shows_no_results_instead_of_failing() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let _alfred = app.signed_up("alfred").await;
    for q in ["%00", "al%00", "al%1B", "a%0Dl"] {
        let (status, body) = alice.get_page(&format!("/friends?q={q}")).await;
        assert_eq!(status, StatusCode::OK, "the page for q={q}");
        assert!(!body.contains("alfred"), "q={q} matches no one");
        let htmx = alice.get_htmx(&format!("/friends?q={q}")).await;
        assert_eq!(htmx.status(), StatusCode::OK, "the search fragment for q={q}");
    }
    let (_, body) = alice.get_page("/friends?q=al").await;
    assert!(body.contains("alfred"), "a plain search still finds people");
}
