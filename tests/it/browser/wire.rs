//! Bytes on the wire in a real Chromium (issue 19): the page and its assets arrive
//! compressed and still work, and the next visit takes every asset from the cache.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fantoccini::{Client, Locator};

use super::*;
use crate::helpers::{alice_and_bob, TestApp};

/// `[name, transferSize, encodedBodySize, decodedBodySize]` of each `/static/` resource
/// this document loaded.
async fn static_resources(browser: &Client) -> Vec<(String, f64, f64, f64)> {
    let js = "return performance.getEntriesByType('resource').filter(r => r.name.includes('/static/'))\
              .map(r => [r.name, r.transferSize, r.encodedBodySize, r.decodedBodySize]);";
    let rows = browser.execute(js, vec![]).await.unwrap();
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_str().unwrap().to_string(), r[1].as_f64().unwrap(), r[2].as_f64().unwrap(), r[3].as_f64().unwrap()))
        .collect()
}

#[actix_web::test]
async fn chromium_gets_the_page_and_its_assets_compressed_and_keeps_the_assets_for_the_next_visit() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    for i in 0..20 {
        alice.send(chat, &format!("history {i}: the quick brown fox jumps over the lazy dog")).await;
    }
    with_browsers(1, true, |b| async move {
        let browser = &b[0];
        login(browser, &app, "alice").await;
        let chat_url = format!("{}/chats/{chat}", app.address);
        browser.goto(&chat_url).await.unwrap();
        wait_for(browser, Locator::Css("#composer-text"), PAGE, "wire-chat", "the chat page").await;
        wait_until(browser, "return document.readyState === 'complete'", PAGE, "wire-loaded", "the page loads").await;

        let page = browser
            .execute("const n = performance.getEntriesByType('navigation')[0]; return [n.encodedBodySize, n.decodedBodySize];", vec![])
            .await
            .unwrap();
        let (encoded, decoded) = (page[0].as_f64().unwrap(), page[1].as_f64().unwrap());
        assert!(encoded > 0.0 && encoded * 3.0 < decoded, "the page arrives compressed: {encoded} of {decoded} bytes");
        // The stylesheet applies and the scripts run (htmx is up, chat.js marked the page).
        let styled = browser.execute("return getComputedStyle(document.body).display === 'flex';", vec![]).await.unwrap();
        assert_eq!(styled.as_bool(), Some(true), "app.css applies");
        let htmx = browser.execute("return typeof window.htmx === 'object';", vec![]).await.unwrap();
        assert_eq!(htmx.as_bool(), Some(true), "htmx runs");

        // chat.js and attachments.js are new to this page: fetched, compressed.
        let first = static_resources(browser).await;
        let fetched: Vec<_> = first.iter().filter(|r| r.1 > 0.0).collect();
        assert!(fetched.iter().any(|r| r.0.contains("/static/chat.")), "chat.js was fetched: {first:?}");
        for (name, _, encoded, decoded) in &fetched {
            assert!(encoded < decoded, "{name} arrives compressed: {encoded} of {decoded} bytes");
        }

        // The next visit: every asset from the cache, nothing asked of the server.
        browser.goto(&format!("{}/chats", app.address)).await.unwrap();
        browser.goto(&chat_url).await.unwrap();
        wait_for(browser, Locator::Css("#composer-text"), PAGE, "wire-again", "the chat page again").await;
        wait_until(browser, "return document.readyState === 'complete'", PAGE, "wire-loaded-again", "the page loads").await;
        let again = static_resources(browser).await;
        assert!(again.len() >= 8, "{again:?}");
        for (name, transfer, _, _) in &again {
            assert_eq!(*transfer, 0.0, "{name} comes from the cache: {again:?}");
        }
    })
    .await;
}
