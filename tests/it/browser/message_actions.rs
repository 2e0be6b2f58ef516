//! Message actions in real browsers (issue 14): an inline edit seen live by the other
//! person, reacting, replying and following the quote to the highlighted message,
//! deleting through the confirmation, and the keyboard alone through a message's actions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fantoccini::key::Key;
use fantoccini::{Client, Locator};

use super::*;
use crate::helpers::{alice_and_bob, TestApp};

/// The element of the message containing `text` (its `<li>`).
fn li_with(text: &str) -> String {
    format!("//ol[@id='messages']/li[.//div[contains(@class,'message-body')][contains(., '{text}')]]")
}

async fn open_actions(browser: &Client, text: &str) {
    let summary = format!("{}//details[contains(@class,'message-actions')]/summary", li_with(text));
    browser.find(Locator::XPath(&summary)).await.unwrap().click().await.unwrap();
}

async fn keys(browser: &Client, keys: &[Key]) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let mut actions = KeyActions::new("keyboard".into());
    for key in keys {
        actions = actions.then(KeyAction::Down { value: char::from(*key) }).then(KeyAction::Up { value: char::from(*key) });
    }
    browser.perform_actions(actions).await.unwrap();
}

async fn type_text(browser: &Client, text: &str) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let mut actions = KeyActions::new("keyboard".into());
    for c in text.chars() {
        actions = actions.then(KeyAction::Down { value: c }).then(KeyAction::Up { value: c });
    }
    browser.perform_actions(actions).await.unwrap();
}

#[actix_web::test]
async fn edit_inline_react_reply_and_delete_seen_live() {
    let app = TestApp::spawn().await;
    let (alice_http, _bob_http, chat) = alice_and_bob(&app.address).await;
    alice_http.send(chat, "see you at noon").await;
    with_browsers(2, true, |b| async move {
        let (alice, bob) = (&b[0], &b[1]);
        login(alice, &app, "alice").await;
        login(bob, &app, "bob").await;
        let url = format!("{}/chats/{chat}", app.address);
        alice.goto(&url).await.unwrap();
        bob.goto(&url).await.unwrap();
        expect_message(bob, "see you at noon", PAGE, "bob").await;

        // Edit inline: Escape cancels, Enter saves; bob sees it change live.
        open_actions(alice, "see you at noon").await;
        alice.find(Locator::Css("a.edit-link")).await.unwrap().click().await.unwrap();
        let editor = wait_for(alice, Locator::Css(".inline-editor textarea"), LIVE, "inline-editor", "the inline editor opens").await;
        editor.send_keys(" (nope)").await.unwrap();
        keys(alice, &[Key::Escape]).await;
        wait_until(alice, "return !document.querySelector('.inline-editor')", LIVE, "edit-cancel", "Escape closes the editor").await;
        expect_message(alice, "see you at noon", LIVE, "alice").await;
        open_actions(alice, "see you at noon").await;
        alice.find(Locator::Css("a.edit-link")).await.unwrap().click().await.unwrap();
        let editor = wait_for(alice, Locator::Css(".inline-editor textarea"), LIVE, "inline-editor", "the inline editor opens").await;
        editor.clear().await.unwrap();
        editor.send_keys("see you at one\u{E007}").await.unwrap();
        expect_message(bob, "see you at one", LIVE, "bob-sees-edit").await;
        expect_message(alice, "see you at one", LIVE, "alice-sees-edit").await;
        wait_until(bob, "return document.body.innerText.includes('(edited)')", LIVE, "edited-mark", "bob sees (edited)").await;
        screenshot(bob, "message-actions-edited-1280").await;

        // React: bob's quick 👍; alice sees the count move.
        open_actions(bob, "see you at one").await;
        bob.find(Locator::Css(".quick-reactions button[value='👍']")).await.unwrap().click().await.unwrap();
        let counted = "return [...document.querySelectorAll('button.reaction')].some(b => b.getAttribute('aria-label') === arguments[0])";
        let js = counted.replace("arguments[0]", "'👍 1: bob'");
        wait_until(alice, &js, LIVE, "reaction-alice", "alice sees bob's 👍").await;
        alice.find(Locator::Css("button.reaction")).await.unwrap().click().await.unwrap();
        let js = counted.replace("arguments[0]", "'👍 2: you and alice'");
        wait_until(bob, &js, LIVE, "reaction-bob", "bob sees the count move to 2").await;

        // Reply, then follow the quote to the highlighted message.
        open_actions(bob, "see you at one").await;
        bob.find(Locator::Css("a.reply-link")).await.unwrap().click().await.unwrap();
        let composer = wait_for(bob, Locator::Css("#composer-reply input[name=reply_to][value='1']"), PAGE, "reply", "the composer answers").await;
        drop(composer);
        bob.find(Locator::Css("#composer-text")).await.unwrap().send_keys("one works\u{E007}").await.unwrap();
        expect_message(alice, "one works", LIVE, "alice-reply").await;
        let quote = format!("{}//a[contains(@class,'quote')]", li_with("one works"));
        let quote = wait_for(alice, Locator::XPath(&quote), LIVE, "quote", "the reply quotes the original").await;
        assert!(quote.text().await.unwrap().contains("see you at one"));
        quote.click().await.unwrap();
        wait_for(alice, Locator::Css("li.highlighted[data-seq='1']"), PAGE, "permalink", "the permalink highlights the message").await;
        wait_until(
            alice,
            "let r = document.querySelector('li.highlighted').getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight",
            LIVE,
            "permalink-scrolled",
            "the highlighted message is scrolled into view",
        )
        .await;
        screenshot(alice, "message-actions-permalink-1280").await;

        // Delete through the confirmation; bob sees it go.
        alice.goto(&url).await.unwrap();
        open_actions(alice, "see you at one").await;
        alice.find(Locator::Css("a.delete-link")).await.unwrap().click().await.unwrap();
        let confirm = wait_for(alice, Locator::Css("form[action$='/delete'] button"), PAGE, "delete", "the confirmation").await;
        confirm.click().await.unwrap();
        wait_for(alice, Locator::Css("#messages"), PAGE, "deleted", "back in the chat").await;
        let gone = "return [...document.querySelectorAll('#messages li.deleted')].length === 1 && !document.getElementById('messages').innerText.includes('see you at one')";
        wait_until(bob, gone, LIVE, "deleted-bob", "bob sees \"Message deleted\"").await;
        wait_until(alice, gone, LIVE, "deleted-alice", "alice sees \"Message deleted\"").await;
        screenshot(bob, "message-actions-deleted-1280").await;
    })
    .await;
}

/// Which element has the focus, whether it is visible and shows a focus ring.
const FOCUS: &str = r#"
let el = document.activeElement;
if (!el || el === document.body) return null;
let r = el.getBoundingClientRect();
let s = getComputedStyle(el);
let visible = r.width > 0 && r.height > 0 && s.visibility !== 'hidden';
let ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none';
return [el.tagName.toLowerCase() + ' ' + (el.getAttribute('aria-label') || el.innerText || '').trim().slice(0, 30), visible, ring];
"#;

async fn tab_to(browser: &Client, wanted: &str, name: &str) {
    for _ in 0..40 {
        keys(browser, &[Key::Tab]).await;
        let focus = browser.execute(FOCUS, vec![]).await.unwrap();
        let Some(f) = focus.as_array() else { continue };
        let (what, visible, ring) = (f[0].as_str().unwrap_or(""), f[1] == true, f[2] == true);
        if !visible || !ring {
            fail_with_screenshot(browser, name, &format!("the focused {what} is visible ({visible}) with a ring ({ring})")).await;
        }
        if what.contains(wanted) {
            return;
        }
    }
    fail_with_screenshot(browser, name, &format!("Tab reaches {wanted}")).await;
}

#[actix_web::test]
async fn the_keyboard_alone_reacts_and_edits_with_visible_focus() {
    let app = TestApp::spawn().await;
    let (alice_http, _bob_http, chat) = alice_and_bob(&app.address).await;
    alice_http.send(chat, "keyboard please").await;
    with_browsers(1, true, |b| async move {
        let alice = &b[0];
        login(alice, &app, "alice").await;
        alice.goto(&format!("{}/chats/{chat}", app.address)).await.unwrap();
        expect_message(alice, "keyboard please", PAGE, "alice").await;
        tab_to(alice, "Actions for this message", "kbd-summary").await;
        keys(alice, &[Key::Enter]).await;
        tab_to(alice, "button 🎉", "kbd-react").await;
        screenshot(alice, "message-actions-keyboard-focus").await;
        keys(alice, &[Key::Enter]).await;
        let js = "return !!document.querySelector('button.reaction[aria-label=\"🎉 1: you\"]')";
        wait_until(alice, js, LIVE, "kbd-reacted", "the reaction is there").await;
        // The message was swapped in: start again from the top, open the menu, edit.
        alice.execute("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)", vec![]).await.unwrap();
        tab_to(alice, "Actions for this message", "kbd-summary-2").await;
        keys(alice, &[Key::Enter]).await;
        tab_to(alice, "a Edit", "kbd-edit").await;
        keys(alice, &[Key::Enter]).await;
        wait_until(alice, "return document.activeElement && document.activeElement.tagName === 'TEXTAREA' && !!document.activeElement.closest('.inline-editor')", LIVE, "kbd-editor", "the editor has the focus").await;
        keys(alice, &[Key::End]).await;
        type_text(alice, " now").await;
        keys(alice, &[Key::Enter]).await;
        expect_message(alice, "keyboard please now", LIVE, "kbd-saved").await;
        wait_until(alice, "return !!document.activeElement && !!document.activeElement.closest('.message-actions')", LIVE, "kbd-focus-back", "the focus returns to the message's actions").await;
    })
    .await;
}

/// Without JavaScript: the menu (`<details>`), a quick reaction, the edit page, the
/// reply link and the delete confirmation, each a plain form and a 303.
#[actix_web::test]
async fn without_javascript_every_action_is_a_plain_form() {
    let app = TestApp::spawn().await;
    let (alice_http, _bob_http, chat) = alice_and_bob(&app.address).await;
    alice_http.send(chat, "no scripts here").await;
    with_browsers(1, false, |b| async move {
        let alice = &b[0];
        login(alice, &app, "alice").await;
        let url = format!("{}/chats/{chat}", app.address);
        alice.goto(&url).await.unwrap();
        open_actions(alice, "no scripts here").await;
        alice.find(Locator::Css(".quick-reactions button[value='🎉']")).await.unwrap().click().await.unwrap();
        wait_for(alice, Locator::Css("button.reaction[aria-label='🎉 1: you']"), PAGE, "nojs-react", "the reaction, after a 303").await;

        open_actions(alice, "no scripts here").await;
        alice.find(Locator::Css("a.edit-link")).await.unwrap().click().await.unwrap();
        let text = wait_for(alice, Locator::Css("#edit-text"), PAGE, "nojs-edit", "the edit page").await;
        text.clear().await.unwrap();
        text.send_keys("no scripts, edited").await.unwrap();
        alice.find(Locator::Css("form[action$='/edit'] button[type=submit]")).await.unwrap().click().await.unwrap();
        expect_message(alice, "no scripts, edited", PAGE, "nojs-edited").await;

        open_actions(alice, "no scripts, edited").await;
        alice.find(Locator::Css("a.reply-link")).await.unwrap().click().await.unwrap();
        wait_for(alice, Locator::Css("#composer-reply input[name=reply_to][value='1']"), PAGE, "nojs-reply", "the reply form").await;
        alice.find(Locator::Css("#composer-text")).await.unwrap().send_keys("and a reply").await.unwrap();
        alice.find(Locator::Css("#composer button[type=submit]")).await.unwrap().click().await.unwrap();
        expect_message(alice, "and a reply", PAGE, "nojs-replied").await;
        wait_for(alice, Locator::Css("a.quote"), PAGE, "nojs-quote", "the quote").await;

        open_actions(alice, "no scripts, edited").await;
        alice.find(Locator::Css("a.delete-link")).await.unwrap().click().await.unwrap();
        wait_for(alice, Locator::Css("form[action$='/delete'] button"), PAGE, "nojs-confirm", "the confirmation")
            .await
            .click()
            .await
            .unwrap();
        wait_for(alice, Locator::Css("li.deleted"), PAGE, "nojs-deleted", "Message deleted").await;
        wait_until(
            alice,
            "return document.body.innerText.includes('Original message deleted')",
            PAGE,
            "nojs-quote-gone",
            "the quote says so",
        )
        .await;
        screenshot(alice, "message-actions-nojs-1280").await;
    })
    .await;
}
