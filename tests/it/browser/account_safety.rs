//! Account safety in a real browser (SPEC §10): block from a profile and see the chat
//! refuse; save recovery codes at signup and recover with one; download the export;
//! delete the account through its confirmation. axe-core runs on each new page (the
//! Nu HTML Checker checks them in `audit`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fantoccini::{Client, Locator};

use super::audit::{axe, axe_source};
use super::*;
use crate::helpers::{count, TestApp};

/// axe-core finds no serious or critical violation on the current page.
async fn assert_axe_clean(browser: &Client, name: &str) {
    let found = axe(browser, &axe_source()).await;
    if !found.is_empty() {
        screenshot(browser, &format!("failed-axe-{name}")).await;
        panic!("{name}: {}", found.join("\n"));
    }
    screenshot(browser, name).await;
}

async fn fill(browser: &Client, css: &str, text: &str) {
    browser.find(Locator::Css(css)).await.unwrap().send_keys(text).await.unwrap();
}

async fn click(browser: &Client, css: &str) {
    browser.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
}

async fn wait_for_path(browser: &Client, app: &TestApp, path: &str, name: &str) {
    let url = format!("{}{path}", app.address);
    wait_until(browser, &format!("return location.href === {url:?}"), PAGE, name, &format!("at {path}")).await;
}

#[actix_web::test]
async fn block_from_a_profile_and_the_chat_refuses() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    alice.befriend(&bob).await;
    let chat = alice.open_direct(&bob).await;
    bob.send(chat, "hello before").await;
    let app = &app;
    // Without JavaScript the form posts at once (with it, app.js asks first).
    with_sessions(&[Session::NO_JS], |b| async move {
        let browser = &b[0];
        login(browser, app, "alice").await;
        browser.goto(&format!("{}/users/bob", app.address)).await.unwrap();
        click(browser, "form[action='/users/bob/block'] button").await;
        wait_for(browser, Locator::Css("form[action='/users/bob/unblock']"), PAGE, "blocked-profile", "the Unblock button").await;
        browser.goto(&format!("{}/chats/{chat}", app.address)).await.unwrap();
        let closed = wait_for(browser, Locator::Css("#composer.composer-closed"), PAGE, "blocked-chat", "the refusal line").await;
        assert!(closed.text().await.unwrap().contains("You blocked bob"));
        assert!(browser.find(Locator::Css("#composer-text")).await.is_err(), "no send form");
        let history = browser.find(Locator::XPath(&message_with("hello before"))).await;
        assert!(history.is_ok(), "the history stays readable");
    })
    .await;
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM blocks"), 1);
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM friends"), 0);
}

#[actix_web::test]
async fn save_recovery_codes_at_signup_then_recover_with_one() {
    let app = TestApp::spawn().await;
    let app = &app;
    with_sessions(&[Session::JS, Session::DARK], |b| async move {
        let (browser, other) = (&b[0], &b[1]);
        browser.goto(&format!("{}/signup", app.address)).await.unwrap();
        fill(browser, "#username", "alice").await;
        fill(browser, "#password", PASSWORD).await;
        fill(browser, "#password_confirm", PASSWORD).await;
        click(browser, "form[action='/signup'] button[type=submit]").await;
        wait_for_path(browser, app, "/signup/recovery-codes", "signup-codes").await;
        let mut codes = vec![];
        for code in browser.find_all(Locator::Css("ol.recovery-codes code")).await.unwrap() {
            codes.push(code.text().await.unwrap());
        }
        assert_eq!(codes.len(), 10);
        let download = browser.find(Locator::Css("a[download]")).await.unwrap();
        let href = download.attr("href").await.unwrap().unwrap();
        assert!(href.starts_with("data:text/plain") && href.contains(&codes[0]), "the codes as a text file, never in an HTTP URL");
        assert!(download.attr("download").await.unwrap().unwrap().ends_with(".txt"));
        let print_hides_nav = browser
            .execute(
                "return [...document.styleSheets].some(s => [...s.cssRules].some(r => r.media && r.media.mediaText === 'print'))",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(print_hides_nav, true, "a print stylesheet");
        assert_axe_clean(browser, "recovery-codes-1280-light").await;
        click(browser, "a.btn[href='/chats']").await;
        wait_for_path(browser, app, "/chats", "signup-continue").await;

        // Another browser (dark), the password forgotten: recover with a code.
        other.goto(&format!("{}/login", app.address)).await.unwrap();
        click(other, "a[href='/recover']").await;
        wait_for_path(other, app, "/recover", "recover-form").await;
        assert_axe_clean(other, "recover-1280-dark").await;
        fill(other, "#username", "alice").await;
        fill(other, "#code", &codes[3]).await;
        fill(other, "#new_password", "brand new password").await;
        fill(other, "#new_password_confirm", "brand new password").await;
        click(other, "form[action='/recover'] button[type=submit]").await;
        wait_for_path(other, app, "/chats", "recovered").await;
        // The first browser's session ended with the recovery.
        browser.goto(&format!("{}/settings", app.address)).await.unwrap();
        wait_for_path(browser, app, "/login", "old-session-ended").await;
        other.goto(&format!("{}/settings", app.address)).await.unwrap();
        let left = wait_for(other, Locator::Css("#codes-left"), PAGE, "codes-left", "how many codes are left").await;
        assert_eq!(left.text().await.unwrap(), "9");
        assert_axe_clean(other, "settings-safety-1280-dark").await;
    })
    .await;
}

#[actix_web::test]
async fn the_export_downloads_a_zip_and_deleting_asks_first() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    alice.befriend(&bob).await;
    let chat = alice.open_direct(&bob).await;
    alice.send(chat, "a message that stays").await;
    let app = &app;
    with_sessions(&[Session::JS], |b| async move {
        let browser = &b[0];
        login(browser, app, "alice").await;
        browser.goto(&format!("{}/settings", app.address)).await.unwrap();
        let link = browser.find(Locator::Css("a[href='/settings/export'][download]")).await.unwrap();
        assert!(link.is_displayed().await.unwrap());
        // What the link downloads, fetched as the browser would (same cookies).
        let fetched = browser
            .execute_async(
                "const done = arguments[0]; fetch('/settings/export').then(async r => { \
                   const b = new Uint8Array(await r.arrayBuffer()); \
                   done([r.status, r.headers.get('content-type'), r.headers.get('content-disposition'), b[0], b[1], b.length]); \
                 }).catch(e => done(['failed', String(e)]));",
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(fetched[0], 200, "{fetched}");
        assert_eq!(fetched[1], "application/zip");
        assert!(fetched[2].as_str().unwrap().starts_with("attachment; filename=\"chaat-export-alice.zip\""));
        assert_eq!((fetched[3].as_u64(), fetched[4].as_u64()), (Some(u64::from(b'P')), Some(u64::from(b'K'))), "a ZIP");

        // Deleting: the password, my name typed, and the browser's confirmation.
        fill(browser, "#delete_password", PASSWORD).await;
        fill(browser, "#confirm", "alice").await;
        click(browser, "form[action='/settings/delete-account'] button[type=submit]").await;
        let mut asked = None;
        for _ in 0..100 {
            if let Ok(text) = browser.get_alert_text().await {
                asked = Some(text);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(asked.as_deref(), Some("Delete your account for good?"));
        browser.accept_alert().await.unwrap();
        wait_for_path(browser, app, "/login", "deleted").await;
    })
    .await;
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM users WHERE username = 'alice'"), 0);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM messages WHERE text = 'a message that stays'"), 1);
    let (_, page) = bob.get_page(&format!("/chats/{chat}")).await;
    assert!(page.contains("a message that stays") && page.contains("Deleted account"));
}
