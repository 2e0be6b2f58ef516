//! The composer's other ways in (issue 15): a pasted file and a picked one are listed,
//! Remove takes one out before sending (it is never sent); and the picture viewer opens
//! from the keyboard (the link focused, Enter) and gives the focus back on Escape.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fantoccini::Locator;

use super::*;
use crate::helpers::{alice_and_bob, TestApp};

/// Pastes two text files into the composer, as a paste from the clipboard arrives.
const PASTE_TWO: &str = r#"
const data = new DataTransfer();
data.items.add(new File(['kept by paste'], 'keep.txt', { type: 'text/plain' }));
data.items.add(new File(['never sent'], 'drop.txt', { type: 'text/plain' }));
document.getElementById('composer-text').dispatchEvent(new ClipboardEvent('paste', { bubbles: true, cancelable: true, clipboardData: data }));
"#;

const LISTED: &str = "return [...document.querySelectorAll('.composer-file')].map(li => li.textContent).join('|')";

#[actix_web::test]
async fn pasted_and_picked_files_are_listed_and_a_removed_one_is_never_sent() {
    let app = TestApp::spawn().await;
    let (_alice_http, bob_http, chat) = alice_and_bob(&app.address).await;
    let dir = std::env::temp_dir().join(format!("chaat-attach-more-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let picked = dir.join("picked.txt");
    std::fs::write(&picked, "picked from the disk").unwrap();
    with_browsers(1, true, |b| async move {
        let alice = &b[0];
        login(alice, &app, "alice").await;
        alice.goto(&format!("{}/chats/{chat}", app.address)).await.unwrap();
        wait_for(alice, Locator::Css("#composer[data-js]"), PAGE, "more-ready", "the composer set up for files").await;
        alice.execute(PASTE_TWO, vec![]).await.unwrap();
        // Picked with the file input, JavaScript on.
        alice.find(Locator::Css("#composer-files")).await.unwrap().send_keys(picked.to_str().unwrap()).await.unwrap();
        wait_until(
            alice,
            &format!(
                "const t = ({}); return t.includes('keep.txt') && t.includes('drop.txt') && t.includes('picked.txt');",
                LISTED.trim_start_matches("return ")
            ),
            PAGE,
            "more-listed",
            "the pasted and the picked files listed",
        )
        .await;
        alice.find(Locator::Css("button[aria-label='Remove drop.txt']")).await.unwrap().click().await.unwrap();
        wait_until(
            alice,
            &format!("const t = ({}); return !t.includes('drop.txt') && t.includes('keep.txt');", LISTED.trim_start_matches("return ")),
            PAGE,
            "more-removed",
            "Remove takes the file out of the list",
        )
        .await;
        alice.find(Locator::Css("#composer-text")).await.unwrap().send_keys("two files").await.unwrap();
        alice.find(Locator::Css("#composer button[type=submit]")).await.unwrap().click().await.unwrap();
        wait_until(
            alice,
            "return document.querySelectorAll('#messages .attachment-file').length === 2 && !document.querySelector('.composer-file')",
            PAGE,
            "more-sent",
            "the message with its two files",
        )
        .await;
        // What bob's page holds: the two files, never the removed one.
        let (_, page) = bob_http.get_page(&format!("/chats/{chat}")).await;
        let names = crate::helpers::select(&page, ".attachment-file .attachment-name");
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.iter().any(|n| n.contains("keep.txt")) && names.iter().any(|n| n.contains("picked.txt")), "{names:?}");
        assert!(!page.contains("drop.txt"), "the removed file was never sent");
    })
    .await;
    let _ = std::fs::remove_dir_all(dir);
}

#[actix_web::test]
async fn the_viewer_opens_from_the_keyboard_and_escape_gives_the_focus_back() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    let mut png = Vec::new();
    image::DynamicImage::new_rgb8(640, 480).write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    let token = alice.csrf_token().await;
    let form = reqwest::multipart::Form::new()
        .text("csrf_token", token)
        .text("text", "")
        .part("files", reqwest::multipart::Part::bytes(png).file_name("view.png"));
    let resp = alice.http.post(alice.url(&format!("/chats/{chat}/messages"))).multipart(form).send().await.unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::SEE_OTHER);
    with_browsers(1, true, |b| async move {
        let bob = &b[0];
        login(bob, &app, "bob").await;
        bob.goto(&format!("{}/chats/{chat}", app.address)).await.unwrap();
        wait_until(bob, "const i = document.querySelector('.attachment-image img'); return !!i && i.complete;", PAGE, "kbd-preview", "the preview")
            .await;
        bob.execute("document.querySelector('#messages .attachment-image a').focus()", vec![]).await.unwrap();
        bob.active_element().await.unwrap().send_keys("\u{E007}").await.unwrap();
        wait_until(
            bob,
            "const d = document.querySelector('dialog.viewer'); const i = d && d.querySelector('img'); return !!d && d.open && i.complete && i.naturalWidth === 640;",
            PAGE,
            "kbd-viewer",
            "Enter on the focused link opens the viewer",
        )
        .await;
        let inside = bob.execute("return document.querySelector('dialog.viewer').contains(document.activeElement)", vec![]).await.unwrap();
        assert_eq!(inside.as_bool(), Some(true), "the focus moves into the viewer");
        bob.active_element().await.unwrap().send_keys("\u{E00C}").await.unwrap();
        wait_until(bob, "return !document.querySelector('dialog.viewer').open", PAGE, "kbd-viewer-closed", "Escape closes the viewer").await;
        let back = bob.execute("return document.activeElement.matches('.attachment-image a')", vec![]).await.unwrap();
        assert_eq!(back.as_bool(), Some(true), "the focus is back on the link");
    })
    .await;
}
