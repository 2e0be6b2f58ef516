//! Attachments in real browsers (issue 15): a file dropped into the composer uploads
//! with a progress bar and arrives as a preview for both people; the viewer opens and
//! Escape closes it; without JavaScript the plain file input sends it; axe-core finds
//! nothing serious on a chat page with files, light and dark, phone and desktop.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fantoccini::{Client, Locator};

use super::audit::{axe, axe_source, viewport, OVERFLOW};
use super::*;
use crate::helpers::{alice_and_bob, TestApp};

/// Drops a 640×480 PNG drawn in the page onto the composer, as a file dragged in from
/// the desktop arrives (a `drop` event whose DataTransfer holds the file).
const DROP_PICTURE: &str = r#"
const done = arguments[arguments.length - 1];
const canvas = document.createElement('canvas');
canvas.width = 640; canvas.height = 480;
const g = canvas.getContext('2d');
g.fillStyle = '#3a7'; g.fillRect(0, 0, 640, 480); g.fillStyle = '#fff'; g.fillRect(100, 100, 200, 100);
canvas.toBlob(blob => {
  const file = new File([blob], 'garden.png', { type: 'image/png' });
  const data = new DataTransfer();
  data.items.add(file);
  const form = document.getElementById('composer');
  // Record the highest progress shown (a <progress>'s value is reflected as an attribute).
  window.maxProgress = 0;
  new MutationObserver(records => records.forEach(r => {
    window.maxProgress = Math.max(window.maxProgress, Number(r.target.getAttribute('value')) || 0);
  })).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['value'] });
  form.dispatchEvent(new DragEvent('dragover', { bubbles: true, cancelable: true, dataTransfer: data }));
  form.dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: data }));
  done(true);
}, 'image/png');
"#;

const PREVIEW_LOADED: &str = "const i = document.querySelector('#messages .attachment-image img[alt=\"garden.png\"]'); \
                              return !!i && i.complete && i.naturalWidth > 0 && i.getAttribute('width') === '320' && i.getAttribute('height') === '240';";

#[actix_web::test]
async fn a_dropped_picture_uploads_with_progress_shows_for_both_and_opens_in_the_viewer() {
    let app = TestApp::spawn().await;
    let (_alice_http, _bob_http, chat) = alice_and_bob(&app.address).await;
    with_browsers(2, true, |b| async move {
        let (alice, bob) = (&b[0], &b[1]);
        login(alice, &app, "alice").await;
        login(bob, &app, "bob").await;
        for browser in [alice, bob] {
            browser.goto(&format!("{}/chats/{chat}", app.address)).await.unwrap();
            wait_for(browser, Locator::Css("#composer[data-js]"), PAGE, "attach-ready", "the composer set up for files").await;
        }
        alice.execute_async(DROP_PICTURE, vec![]).await.unwrap();
        let listed = wait_for(alice, Locator::Css(".composer-file"), PAGE, "attach-listed", "the dropped file listed").await;
        let text = listed.text().await.unwrap();
        assert!(text.contains("garden.png") && text.contains("KB") && text.contains("Remove"), "name, size, remove: {text:?}");
        assert!(alice.find(Locator::Css(".composer-file progress")).await.is_ok(), "a progress bar");
        screenshot(alice, "attachments-composer-with-file").await;
        alice.find(Locator::Css("#composer button[type=submit]")).await.unwrap().click().await.unwrap();
        for (browser, who) in [(alice, "alice"), (bob, "bob")] {
            wait_until(browser, PREVIEW_LOADED, PAGE, &format!("attach-preview-{who}"), &format!("{who} sees the preview, 320×240")).await;
        }
        let progress = alice.execute("return window.maxProgress", vec![]).await.unwrap();
        assert_eq!(progress.as_f64(), Some(100.0), "the progress bar filled up");
        wait_until(alice, "return !document.querySelector('.composer-file')", PAGE, "attach-cleared", "the composer emptied").await;

        // bob opens the picture in the viewer and closes it with Escape.
        bob.find(Locator::Css("#messages .attachment-image a")).await.unwrap().click().await.unwrap();
        wait_until(
            bob,
            "const d = document.querySelector('dialog.viewer'); const i = d && d.querySelector('img'); \
             return !!d && d.open && i.complete && i.naturalWidth === 640;",
            PAGE,
            "attach-viewer",
            "the viewer shows the full picture",
        )
        .await;
        screenshot(bob, "attachments-viewer").await;
        bob.active_element().await.unwrap().send_keys("\u{E00C}").await.unwrap();
        wait_until(bob, "return !document.querySelector('dialog.viewer').open", PAGE, "attach-viewer-closed", "Escape closes the viewer")
            .await;
        let focused = bob.execute("return document.activeElement.matches('.attachment-image a')", vec![]).await.unwrap();
        assert_eq!(focused.as_bool(), Some(true), "the focus is back on the picture's link");
    })
    .await;
}

#[actix_web::test]
async fn without_javascript_the_plain_file_input_sends_a_file() {
    let app = TestApp::spawn().await;
    let (_alice_http, _bob_http, chat) = alice_and_bob(&app.address).await;
    let dir = std::env::temp_dir().join(format!("chaat-attach-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("notes.txt");
    std::fs::write(&path, "plain form notes").unwrap();
    with_browsers(1, false, |b| async move {
        let alice = &b[0];
        login(alice, &app, "alice").await;
        alice.goto(&format!("{}/chats/{chat}", app.address)).await.unwrap();
        let input = alice.find(Locator::Css("#composer-files")).await.unwrap();
        assert!(input.is_displayed().await.unwrap(), "the file input is visible without JavaScript");
        input.send_keys(path.to_str().unwrap()).await.unwrap();
        alice.find(Locator::Css("#composer button[type=submit]")).await.unwrap().click().await.unwrap();
        let file = wait_for(alice, Locator::Css("#messages .attachment-file a"), PAGE, "attach-nojs", "the file in the chat").await;
        assert!(file.text().await.unwrap().contains("notes.txt"));
        screenshot(alice, "attachments-nojs").await;
    })
    .await;
    let _ = std::fs::remove_dir_all(dir);
}

async fn seed_files(app: &TestApp) -> uuid::Uuid {
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    let mut png = Vec::new();
    image::DynamicImage::new_rgb8(900, 600).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let token = alice.csrf_token().await;
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", token)
        .text("text", "the plan and a photo")
        .part("files", reqwest::multipart::Part::bytes(png).file_name("view.png"))
        .part("files", reqwest::multipart::Part::bytes(b"%PDF-1.4 plan".to_vec()).file_name("quarterly plan 2027.pdf"));
    let resp = alice.http.post(alice.url(&format!("/chats/{chat}/messages"))).multipart(form).send().await.unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::SEE_OTHER);
    chat
}

async fn audit_chat(browser: &Client, app: &TestApp, chat: uuid::Uuid, name: &str) -> Vec<String> {
    login(browser, app, "bob").await;
    let source = axe_source();
    let mut problems = Vec::new();
    for (width, height, size) in [(375, 812, "phone"), (1280, 800, "desktop")] {
        viewport(browser, width, height).await;
        browser.goto(&format!("{}/chats/{chat}", app.address)).await.unwrap();
        wait_until(
            browser,
            "const i = document.querySelector('.attachment-image img'); return !!i && i.complete;",
            PAGE,
            name,
            "the preview",
        )
        .await;
        problems.extend(axe(browser, &source).await.into_iter().map(|p| format!("{name} {size}: {p}")));
        if width == 375 {
            viewport(browser, 360, 740).await;
            let out: Vec<String> = serde_json::from_value(browser.execute(OVERFLOW, vec![]).await.unwrap()).unwrap();
            problems.extend(out.into_iter().map(|p| format!("{name} 360: {p}")));
            viewport(browser, width, height).await;
        }
        screenshot(browser, &format!("attachments-chat-{name}-{size}")).await;
    }
    problems
}

#[actix_web::test]
async fn a_chat_page_with_files_passes_axe_light_and_dark_and_fits_a_phone() {
    let app = TestApp::spawn().await;
    let chat = seed_files(&app).await;
    with_sessions(&[Session::JS, Session::DARK], |b| async move {
        let mut problems = audit_chat(&b[0], &app, chat, "light").await;
        problems.extend(audit_chat(&b[1], &app, chat, "dark").await);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    })
    .await;
}
