//! The header's search box with JavaScript (issue 16): typing updates the results in
//! place, debounced, and the address bar follows, so the search can be shared.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fantoccini::Locator;

use super::*;
use crate::helpers::{alice_and_bob, TestApp};

#[actix_web::test]
async fn typing_in_the_header_box_updates_the_results_and_the_address() {
    let app = TestApp::spawn().await;
    let (alice_http, _bob, chat) = alice_and_bob(&app.address).await;
    for t in ["walrus tusk", "walnut shell"] {
        assert!(alice_http.send(chat, t).await.status().is_redirection());
    }
    with_browsers(1, true, |b| async move {
        let alice = &b[0];
        login(alice, &app, "alice").await;
        let snippets = "[...document.querySelectorAll('#search-messages .search-snippet')].map(e => e.textContent).sort().join('|')";
        let box_ = alice.find(Locator::Css("#site-search-q")).await.unwrap();
        box_.send_keys("wal").await.unwrap();
        wait_until(
            alice,
            &format!("return ({snippets}) === 'walnut shell|walrus tusk' && location.pathname === '/search' && new URLSearchParams(location.search).get('q') === 'wal'"),
            PAGE,
            "search-typed",
            "both messages found as alice types, and the address says /search?q=wal",
        )
        .await;
        // Still on the same document: htmx swapped <main>, the box kept its focus and text.
        alice.find(Locator::Css("#site-search-q")).await.unwrap().send_keys("n").await.unwrap();
        wait_until(
            alice,
            &format!("return ({snippets}) === 'walnut shell' && new URLSearchParams(location.search).get('q') === 'waln'"),
            PAGE,
            "search-narrowed",
            "one more letter narrows the results and the address",
        )
        .await;
        let focused = alice.execute("return document.activeElement.id", vec![]).await.unwrap();
        assert_eq!(focused.as_str(), Some("site-search-q"), "typing is never interrupted");
    })
    .await;
}
