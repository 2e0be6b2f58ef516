//! Issue 21, points 8–10: caching of private pages, HSTS, the origin check's trust in
//! forwarded headers, and a repeated `client_id` from outside a chat.

use chaat::config::Settings;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::helpers::{alice_and_bob, test_settings, TestApp};

#[actix_web::test]
async fn pages_with_personal_data_or_a_token_are_not_cached_and_hsts_needs_https() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    for path in ["/chats".to_string(), format!("/chats/{chat}"), "/settings".into(), "/friends".into(), "/users/bob".into()] {
        let resp = alice.get(&path).await;
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(resp.headers()["cache-control"], "no-store", "{path}");
    }
    let anonymous = app.client();
    for path in ["/login", "/signup", "/chats/nowhere"] {
        assert_eq!(anonymous.get(path).await.headers()["cache-control"], "no-store", "{path}");
    }
    // What may be cached says so itself.
    let htmx = anonymous.get(chaat::assets::url("htmx.min.js")).await;
    assert!(htmx.headers()["cache-control"].to_str().unwrap().contains("immutable"));
    assert!(!htmx.headers().contains_key("strict-transport-security"), "plain HTTP: no HSTS");

    let secure = TestApp::spawn_with(Settings { cookie_secure: true, ..test_settings() }).await;
    let resp = secure.client().get("/login").await;
    assert!(resp.headers()["strict-transport-security"].to_str().unwrap().starts_with("max-age="), "HTTPS: HSTS");
}

fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.insert(*name, value.parse().unwrap());
    }
    map
}

#[actix_web::test]
async fn the_origin_check_compares_scheme_host_and_port_and_believes_forwarded_headers_only_from_proxies() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let token = alice.csrf_token().await;
    let fields = [("csrf_token", token.as_str())];
    let host = app.address.trim_start_matches("http://").to_string();

    // A page on evil.example claims, through forwarded headers, to be us.
    for spoof in [
        vec![("Origin", "http://evil.example".to_string()), ("X-Forwarded-Host", "evil.example".to_string())],
        vec![("Origin", "http://evil.example".to_string()), ("Forwarded", "host=evil.example;proto=http".to_string())],
        // The same host and port, another scheme.
        vec![("Origin", format!("https://{host}"))],
        // The same host, another port.
        vec![("Origin", format!("http://{}:1", host.split(':').next().unwrap()))],
    ] {
        let resp = alice.post_raw("/logout", &fields, headers(&spoof)).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{spoof:?}");
    }
    assert_eq!(alice.get("/settings").await.status(), StatusCode::OK, "still logged in");

    // Behind a configured proxy (here the test client's own address), the proxy's word
    // about the browser's origin counts: an HTTPS origin on a public name.
    let proxied = TestApp::spawn_with(Settings { trusted_proxies: vec!["127.0.0.1".parse().unwrap()], ..test_settings() }).await;
    let bob = proxied.signed_up("bob").await;
    let token = bob.csrf_token().await;
    let fields = [("csrf_token", token.as_str())];
    let wrong = headers(&[("Origin", "https://chat.example".into()), ("X-Forwarded-Host", "other.example".into())]);
    assert_eq!(bob.post_raw("/logout", &fields, wrong).await.status(), StatusCode::FORBIDDEN);
    let right = headers(&[
        ("Origin", "https://chat.example".into()),
        ("X-Forwarded-Host", "chat.example".into()),
        ("X-Forwarded-Proto", "https".into()),
    ]);
    let resp = bob.post_raw("/logout", &fields, right).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "the proxy's origin");
}

#[actix_web::test]
async fn a_stranger_repeating_their_own_client_id_in_someone_elses_chat_gets_404() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    let carol = app.signed_up("carol").await;
    carol.befriend(&bob).await;
    let carols_chat = carol.open_direct(&bob).await;
    let client_id = uuid::Uuid::now_v7().to_string();
    let sent = carol.post(&format!("/chats/{carols_chat}/messages"), &[("text", "hi bob"), ("client_id", &client_id)]).await;
    assert_eq!(sent.status(), StatusCode::SEE_OTHER);

    let intrusion = carol.post(&format!("/chats/{chat}/messages"), &[("text", "let me in"), ("client_id", &client_id)]).await;
    assert_eq!(intrusion.status(), StatusCode::NOT_FOUND, "the chat of alice and bob stays unknown to carol");
    let (_, page) = alice.get_page(&format!("/chats/{chat}")).await;
    assert!(!page.contains("let me in"));
}
