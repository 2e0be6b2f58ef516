//! Behind a balancer (issue 20): every request's TCP peer is the balancer, so the client
//! address that throttles and stream caps count is taken from `X-Forwarded-For`, but
//! only when the peer is one of `CHAAT_TRUSTED_PROXIES`.

use chaat::config::Settings;
use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::helpers::{test_settings, Client, TestApp};

fn forwarded_for(addr: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("X-Forwarded-For", addr.parse().unwrap());
    headers
}

/// A failed login from a new browser that says it comes from `addr`.
async fn login_from(app: &TestApp, addr: &str) -> StatusCode {
    let browser = Client::new(&app.address);
    let token = browser.csrf_token().await;
    let fields = [("username", "nobody"), ("password", "wrong password"), ("csrf_token", token.as_str())];
    browser.post_raw("/login", &fields, forwarded_for(addr)).await.status()
}

fn three_logins_per_addr(trusted: &[&str]) -> Settings {
    Settings { login_attempts_per_addr: 3, trusted_proxies: trusted.iter().map(|t| t.parse().unwrap()).collect(), ..test_settings() }
}

#[actix_web::test]
async fn a_forwarded_address_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn_with(three_logins_per_addr(&[])).await;
    for addr in ["198.51.100.1", "198.51.100.2", "198.51.100.3"] {
        assert_eq!(login_from(&app, addr).await, StatusCode::UNPROCESSABLE_ENTITY);
    }
    // A fourth "address" is still 127.0.0.1, whatever the header says.
    assert_eq!(login_from(&app, "198.51.100.4").await, StatusCode::TOO_MANY_REQUESTS);
}

#[actix_web::test]
async fn behind_a_trusted_proxy_each_forwarded_client_is_counted_apart() {
    let app = TestApp::spawn_with(three_logins_per_addr(&["127.0.0.0/8"])).await;
    for _ in 0..3 {
        assert_eq!(login_from(&app, "198.51.100.1").await, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(login_from(&app, "198.51.100.1").await, StatusCode::TOO_MANY_REQUESTS, "that client waits");
    assert_eq!(login_from(&app, "198.51.100.2").await, StatusCode::UNPROCESSABLE_ENTITY, "another one does not");
    // What a client writes itself, left of the address the proxy appended, is ignored.
    assert_eq!(login_from(&app, "198.51.100.9, 198.51.100.1").await, StatusCode::TOO_MANY_REQUESTS);
    // IPv6 clients count by their /64.
    for _ in 0..3 {
        assert_eq!(login_from(&app, "2001:db8:1:2::a").await, StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(login_from(&app, "2001:db8:1:2:ffff::b").await, StatusCode::TOO_MANY_REQUESTS, "the same /64");
    assert_eq!(login_from(&app, "2001:db8:1:3::a").await, StatusCode::UNPROCESSABLE_ENTITY, "another /64");
}

#[actix_web::test]
async fn the_stream_cap_per_address_counts_the_forwarded_client() {
    let settings = Settings { streams_per_addr: 1, trusted_proxies: vec!["127.0.0.1".parse().unwrap()], ..test_settings() };
    let app = TestApp::spawn_with(settings).await;
    let (alice, bob, carol) = (app.signed_up("alice").await, app.signed_up("bob").await, app.signed_up("carol").await);
    let open = |who: &Client, addr: &'static str| {
        let request = who.http.get(who.url("/events")).headers(forwarded_for(addr));
        async move { request.send().await.unwrap() }
    };
    let first = open(&alice, "198.51.100.1").await;
    assert_eq!(first.status(), StatusCode::OK);
    let other_client = open(&bob, "198.51.100.2").await;
    assert_eq!(other_client.status(), StatusCode::OK, "another client behind the same proxy");
    let same_client = open(&carol, "198.51.100.1").await;
    assert_eq!(same_client.status(), StatusCode::TOO_MANY_REQUESTS, "a second stream of that client");
    drop((first, other_client));
}
