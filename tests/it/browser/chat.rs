//! People chatting in real browsers: two live, a group of three, 200 messages of history,
//! a new display picture, the keyboard alone, and no JavaScript at all.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use fantoccini::{Client, Locator};

use super::*;
use crate::helpers::{alice_and_bob, TestApp};

#[actix_web::test]
async fn two_people_see_each_others_messages_live() {
    let app = TestApp::spawn().await;
    with_browsers(2, true, |b| async move {
        let (alice, bob) = (&b[0], &b[1]);
        signup(alice, &app, "alice").await;
        signup(bob, &app, "bob").await;
        befriend_in_browsers(alice, bob, &app, "bob").await;
        assert_eq!(crate::helpers::count(&mut app.conn(), "SELECT count(*) AS n FROM friends"), 1);
        open_chat(alice, &app, "bob").await;
        open_chat(bob, &app, "alice").await;

        let composer = alice.find(Locator::Css("#composer-text")).await.unwrap();
        composer.send_keys("hello bob\u{E007}").await.unwrap();
        expect_message(bob, "hello bob", LIVE, "bob").await;
        expect_message(alice, "hello bob", LIVE, "alice").await;
        // bob's page is visible: his read marker follows the message that arrived live.
        let read = "SELECT p.last_read_seq AS n FROM chat_participants p JOIN users u USING (user_id) WHERE u.username = 'bob'";
        let mut marked = false;
        for _ in 0..60 {
            if crate::helpers::count(&mut app.conn(), read) == 1 {
                marked = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(marked, "bob's read marker reached the live message");
        // The form came back empty and focused.
        let (value, focused) = composer_state(alice).await;
        assert_eq!(value, "");
        assert!(focused, "the composer keeps the focus after sending");

        bob.find(Locator::Css("#composer-text"))
            .await
            .unwrap()
            .send_keys("hi alice, line one\u{E008}\u{E007}\u{E000}line two\u{E007}")
            .await
            .unwrap();
        expect_message(alice, "line two", LIVE, "alice").await;
        let body = alice.find(Locator::XPath(&message_with("line two"))).await.unwrap().text().await.unwrap();
        assert!(body.contains("line one\nline two"), "Shift+Enter made a new line: {body:?}");
        screenshot(alice, "direct-chat-1280").await;
    })
    .await;
}

async fn composer_state(browser: &Client) -> (String, bool) {
    for _ in 0..60 {
        let v = browser
            .execute("let t = document.getElementById('composer-text'); return [t.value, document.activeElement === t];", vec![])
            .await
            .unwrap();
        let (value, focused) = (v[0].as_str().unwrap_or("").to_string(), v[1].as_bool().unwrap_or(false));
        if value.is_empty() && focused {
            return (value, focused);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let v = browser
        .execute("let t = document.getElementById('composer-text'); return [t.value, document.activeElement === t];", vec![])
        .await
        .unwrap();
    (v[0].as_str().unwrap_or("").to_string(), v[1].as_bool().unwrap_or(false))
}

#[actix_web::test]
async fn without_javascript_the_chat_works_with_plain_forms() {
    let app = TestApp::spawn().await;
    let bob_http = app.signed_up("bob").await;
    app.signed_up("carol").await;
    with_browsers(1, false, |b| async move {
        let alice = &b[0];
        signup(alice, &app, "alice").await;
        // bob asks; alice accepts with a plain form post.
        let asked = bob_http.send_friend_request("alice", "hey").await;
        assert_eq!(asked.status(), reqwest::StatusCode::SEE_OTHER);
        alice.goto(&format!("{}/friends", app.address)).await.unwrap();
        alice.find(Locator::Css("form[action$='/accept'] button")).await.unwrap().click().await.unwrap();
        alice.wait().at_most(PAGE).for_element(Locator::Css("form[action='/chats/direct']")).await.unwrap();
        assert_eq!(crate::helpers::count(&mut app.conn(), "SELECT count(*) AS n FROM friends"), 1);
        // alice finds carol and asks her, without JavaScript.
        alice.goto(&format!("{}/friends?q=car", app.address)).await.unwrap();
        let form = alice.find(Locator::Css("form[action='/friend-requests']:has(input[name=to][value='carol'])")).await.unwrap();
        form.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
        alice.wait().at_most(PAGE).for_element(Locator::XPath("//button[contains(., 'Withdraw')]")).await.unwrap();
        assert_eq!(crate::helpers::count(&mut app.conn(), "SELECT count(*) AS n FROM friend_requests WHERE status = 'pending'"), 1);
        open_chat(alice, &app, "bob").await;
        alice.find(Locator::Css("#composer-text")).await.unwrap().send_keys("sent without javascript").await.unwrap();
        alice.find(Locator::Css("#composer button[type=submit]")).await.unwrap().click().await.unwrap();
        expect_message(alice, "sent without javascript", PAGE, "alice-nojs").await;

        // bob's reply shows after following the refresh link.
        let chat = alice.current_url().await.unwrap();
        let chat_id: uuid::Uuid = chat.path().trim_start_matches("/chats/").parse().unwrap();
        bob_http.send(chat_id, "reply from bob").await;
        alice.find(Locator::LinkText("Refresh")).await.unwrap().click().await.unwrap();
        expect_message(alice, "reply from bob", PAGE, "alice-nojs").await;
    })
    .await;
}

/// alice creates a group with bob and carol through the form on /chats (checkboxes);
/// each of the three sees the others' messages arrive without reloading.
#[actix_web::test]
async fn a_group_of_three_chats_live() {
    let app = TestApp::spawn().await;
    with_browsers(3, true, |b| async move {
        let (alice, bob, carol) = (&b[0], &b[1], &b[2]);
        for (browser, name) in [(alice, "alice"), (bob, "bob"), (carol, "carol")] {
            signup(browser, &app, name).await;
        }
        // Their friendships are made over HTTP, each person in a session of their own.
        let alice_http = app.logged_in("alice").await;
        for friend in ["bob", "carol"] {
            alice_http.befriend(&app.logged_in(friend).await).await;
        }

        alice.goto(&format!("{}/chats", app.address)).await.unwrap();
        alice.find(Locator::Css("details.new-group > summary")).await.unwrap().click().await.unwrap();
        alice.find(Locator::Css("details.new-group input[name=name]")).await.unwrap().send_keys("Weekend trip").await.unwrap();
        for friend in ["bob", "carol"] {
            let tick = format!("details.new-group input[type=checkbox][name=members][value='{friend}']");
            wait_for(alice, Locator::Css(&tick), PAGE, "group-form", &format!("a checkbox for {friend}")).await.click().await.unwrap();
        }
        alice.find(Locator::Css("details.new-group button[type=submit]")).await.unwrap().click().await.unwrap();
        wait_for(alice, Locator::Css("#composer-text"), PAGE, "group-created", "the new group's chat page").await;
        let title = alice.find(Locator::Css("#chat-title")).await.unwrap().text().await.unwrap();
        assert_eq!(title, "Weekend trip");

        // bob and carol find the group in their chat list.
        for (browser, name) in [(bob, "bob"), (carol, "carol")] {
            browser.goto(&format!("{}/chats", app.address)).await.unwrap();
            let row = wait_for(
                browser,
                Locator::XPath("//a[contains(@class,'chat-row')][contains(., 'Weekend trip')]"),
                PAGE,
                name,
                &format!("{name} sees the group in the list"),
            )
            .await;
            row.click().await.unwrap();
            wait_for(browser, Locator::Css("#composer-text"), PAGE, name, &format!("{name} opens the group")).await;
        }
        let people = [(alice, "alice"), (bob, "bob"), (carol, "carol")];
        for (sender, name) in people {
            let text = format!("{name} says hi to the group");
            sender.find(Locator::Css("#composer-text")).await.unwrap().send_keys(&format!("{text}\u{E007}")).await.unwrap();
            for (reader, reader_name) in people {
                expect_message(reader, &text, LIVE, reader_name).await;
            }
        }
        // Everyone sees the three messages in the same order, with who sent them.
        for (reader, reader_name) in people {
            let authors: Vec<String> = serde_json::from_value(
                reader
                    .execute(
                        "return [...document.querySelectorAll('#messages li.message .message-body')].map(b => b.textContent.split(' ')[0])",
                        vec![],
                    )
                    .await
                    .unwrap(),
            )
            .unwrap();
            assert_eq!(authors, ["alice", "bob", "carol"], "{reader_name} sees the messages in order");
        }
        screenshot(carol, "group-chat-live-1280").await;
    })
    .await;
}

/// 200 messages: the page shows the latest 50; "Load earlier messages" brings the rest,
/// each exactly once and in order.
#[actix_web::test]
async fn load_earlier_messages_until_all_200_are_there() {
    let app = TestApp::spawn().await;
    let (alice_http, bob_http, chat) = alice_and_bob(&app.address).await;
    for i in 1..=200 {
        let sender = if i % 3 == 0 { &bob_http } else { &alice_http };
        let resp = sender.send(chat, &format!("message {i:03}")).await;
        assert!(resp.status().is_redirection(), "send {i}");
    }
    with_browsers(1, true, |b| async move {
        let alice = &b[0];
        login(alice, &app, "alice").await;
        alice.goto(&format!("{}/chats/{chat}", app.address)).await.unwrap();
        let count = "return document.querySelectorAll('#messages [data-seq]').length";
        let mut loads = 0;
        loop {
            let n = alice.execute(count, vec![]).await.unwrap().as_u64().unwrap();
            let Ok(button) = alice.find(Locator::Css("#load-older a")).await else { break };
            loads += 1;
            assert!(loads <= 4, "at most 4 pages of 50 (now {n} messages shown)");
            button.click().await.unwrap();
            wait_until(
                alice,
                &format!("return document.querySelectorAll('#messages [data-seq]').length > {n}"),
                PAGE,
                "load-older",
                &format!("more than {n} messages after pressing \"Load earlier messages\" ({loads}×)"),
            )
            .await;
        }
        let shown: Vec<(i64, String)> = serde_json::from_value(
            alice
                .execute(
                    "return [...document.querySelectorAll('#messages [data-seq]')].map(li => [Number(li.dataset.seq), li.querySelector('.message-body').textContent])",
                    vec![],
                )
                .await
                .unwrap(),
        )
        .unwrap();
        let expected: Vec<(i64, String)> = (1..=200).map(|i| (i, format!("message {i:03}"))).collect();
        if shown != expected {
            fail_with_screenshot(alice, "load-older", &format!("every seq 1..=200 exactly once and in order, got {} rows: {:?}…", shown.len(), &shown[..shown.len().min(10)])).await;
        }
        assert_eq!(loads, 3, "three presses for 150 older messages");
        wait_until(alice, "return document.documentElement.scrollHeight <= innerHeight", PAGE, "load-older", "only the messages scroll, not the page").await;
        screenshot(alice, "load-older-1280").await;
    })
    .await;
}

/// A 100×100 PNG in a temporary file.
fn png_file(name: &str) -> std::path::PathBuf {
    let img = image::RgbImage::from_fn(100, 100, |x, y| image::Rgb([(x * 2) as u8, (y * 2) as u8, 180]));
    let path = std::env::temp_dir().join(format!("chaat-{}-{name}.png", std::process::id()));
    img.save(&path).unwrap();
    path
}

/// `naturalWidth` of the avatar of `sender`'s first message, once it has loaded.
async fn avatar_width(browser: &Client, sender: &str, name: &str) -> u64 {
    let js = format!(
        "let li = [...document.querySelectorAll('#messages li.message')].find(li => li.querySelector('.message-author')?.textContent === {sender:?});\
         let img = li && li.querySelector('img.avatar'); if (img) img.loading = 'eager';\
         return img && img.complete && img.naturalWidth > 0 ? img.naturalWidth : null"
    );
    let deadline = std::time::Instant::now() + PAGE;
    loop {
        if let Some(w) = browser.execute(&js, vec![]).await.unwrap().as_u64() {
            return w;
        }
        if std::time::Instant::now() > deadline {
            fail_with_screenshot(browser, name, &format!("the avatar of {sender}'s message loads")).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// bob uploads a picture in settings; alice, who had his generated avatar (64×64 SVG)
/// in her cache, opens the chat again and sees the new one (100×100); so does bob.
#[actix_web::test]
async fn a_new_display_picture_shows_in_the_chat() {
    let app = TestApp::spawn().await;
    let (_alice_http, bob_http, chat) = alice_and_bob(&app.address).await;
    bob_http.send(chat, "my old face").await;
    let png = png_file("bob");
    let upload = png.clone();
    with_browsers(2, true, |b| async move {
        let (alice, bob) = (&b[0], &b[1]);
        login(alice, &app, "alice").await;
        login(bob, &app, "bob").await;
        let chat_url = format!("{}/chats/{chat}", app.address);
        alice.goto(&chat_url).await.unwrap();
        assert_eq!(avatar_width(alice, "bob", "picture-before").await, 64, "the generated avatar first");

        bob.goto(&format!("{}/settings", app.address)).await.unwrap();
        bob.find(Locator::Css("#picture")).await.unwrap().send_keys(upload.to_str().unwrap()).await.unwrap();
        bob.find(Locator::XPath("//button[contains(., 'Upload picture')]")).await.unwrap().click().await.unwrap();
        wait_for(bob, Locator::Css(".notice"), PAGE, "picture-upload", "a confirmation after the upload").await;
        wait_until(
            bob,
            "let i = document.getElementById('current-picture'); return i.complete && i.naturalWidth === 100",
            PAGE,
            "picture-settings",
            "the new picture in settings",
        )
        .await;

        alice.goto(&chat_url).await.unwrap();
        assert_eq!(avatar_width(alice, "bob", "picture-after-alice").await, 100, "alice sees bob's new picture in the chat");
        bob.goto(&chat_url).await.unwrap();
        wait_until(
            bob,
            "let i = document.querySelector('.nav-profile img'); return i.complete && i.naturalWidth === 100",
            PAGE,
            "picture-after-bob",
            "bob's own new picture in the navigation",
        )
        .await;
        screenshot(alice, "picture-in-chat-1280").await;
    })
    .await;
    let _ = std::fs::remove_file(png);
}

/// Presses and releases keys on whatever has the focus (like a person at a keyboard).
async fn press(browser: &Client, keys: &[&[fantoccini::key::Key]]) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let mut actions = KeyActions::new("keyboard".into());
    for chord in keys {
        for key in chord.iter() {
            actions = actions.then(KeyAction::Down { value: char::from(*key) });
        }
        for key in chord.iter().rev() {
            actions = actions.then(KeyAction::Up { value: char::from(*key) });
        }
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

/// What has the focus: a description, whether it is visible and whether it shows a focus ring.
const FOCUS: &str = r#"
let el = document.activeElement;
if (!el || el === document.body) return null;
let r = el.getBoundingClientRect();
let s = getComputedStyle(el);
let visible = r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && r.bottom > 0 && r.right > 0
  && r.top < innerHeight && r.left < innerWidth;
let ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none';
let name = el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '')
  + ' "' + (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().slice(0, 30) + '"';
return [name, visible, ring, el.id === 'composer-text'];
"#;

/// From the top of the chat page, Tab alone reaches the composer, every stop on the way
/// visible and with a focus ring; typing and Enter send, Shift+Enter starts a new line.
#[actix_web::test]
async fn the_keyboard_alone_reaches_the_composer_and_sends() {
    use fantoccini::key::Key;
    let app = TestApp::spawn().await;
    let (_alice_http, _bob_http, chat) = alice_and_bob(&app.address).await;
    with_browsers(1, true, |b| async move {
        let alice = &b[0];
        login(alice, &app, "alice").await;
        alice.goto(&format!("{}/chats/{chat}", app.address)).await.unwrap();
        let mut stops = Vec::new();
        loop {
            press(alice, &[&[Key::Tab]]).await;
            let focus = alice.execute(FOCUS, vec![]).await.unwrap();
            let Some([name, visible, ring, composer]) = focus.as_array().map(|a| [&a[0], &a[1], &a[2], &a[3]]) else {
                fail_with_screenshot(alice, "keyboard", &format!("Tab moves the focus to an element after {stops:?}")).await;
                unreachable!()
            };
            let name = name.as_str().unwrap().to_string();
            stops.push(name.clone());
            if visible != true || ring != true {
                fail_with_screenshot(
                    alice,
                    "keyboard",
                    &format!("the focused {name} is visible ({visible}) with a focus ring ({ring}); stops: {stops:?}"),
                )
                .await;
            }
            if composer == true {
                break;
            }
            assert!(stops.len() < 30, "Tab reaches the composer within 30 stops: {stops:?}");
        }
        assert!(stops[0].contains("skip-link"), "the first stop is the skip link: {stops:?}");
        eprintln!("Tab stops to the composer: {stops:#?}");
        screenshot(alice, "keyboard-composer-focused").await;

        type_text(alice, "typed on a keyboard").await;
        press(alice, &[&[Key::Enter]]).await;
        expect_message(alice, "typed on a keyboard", LIVE, "keyboard").await;
        let (value, focused) = composer_state(alice).await;
        assert_eq!(value, "", "the composer is emptied after sending");
        assert!(focused, "the composer keeps the focus after sending");

        type_text(alice, "first line").await;
        press(alice, &[&[Key::Shift, Key::Enter]]).await;
        type_text(alice, "second line").await;
        let value = alice.execute("return document.getElementById('composer-text').value", vec![]).await.unwrap();
        assert_eq!(value.as_str(), Some("first line\nsecond line"), "Shift+Enter made a new line, nothing was sent");
        press(alice, &[&[Key::Enter]]).await;
        expect_message(alice, "second line", LIVE, "keyboard").await;
        let body = alice.find(Locator::XPath(&message_with("second line"))).await.unwrap().text().await.unwrap();
        assert_eq!(body, "first line\nsecond line");
    })
    .await;
}

#[actix_web::test]
async fn without_event_streams_the_chat_page_polls_for_new_messages() {
    let settings = chaat::config::Settings { event_streams: false, ..crate::helpers::test_settings() };
    let app = TestApp::spawn_with(settings).await;
    let bob_http = app.signed_up("bob").await;
    with_browsers(1, true, |b| async move {
        let alice = &b[0];
        signup(alice, &app, "alice").await;
        app.logged_in("alice").await.befriend(&bob_http).await;
        open_chat(alice, &app, "bob").await;
        let chat = alice.current_url().await.unwrap();
        let chat_id: uuid::Uuid = chat.path().trim_start_matches("/chats/").parse().unwrap();
        for i in 1..=2 {
            bob_http.send(chat_id, &format!("polled {i}")).await;
            // The stream answers 503; chat.js polls ?after= every 3 s.
            expect_message(alice, &format!("polled {i}"), PAGE, "alice-polling").await;
        }
        let shown = alice
            .execute("return Array.from(document.querySelectorAll('#messages [data-seq]')).map(e => e.dataset.seq).join(',')", vec![])
            .await
            .unwrap();
        assert_eq!(shown.as_str(), Some("1,2"), "each message once, in order");
        let errors =
            alice.execute("return document.querySelectorAll('#messages main, #messages .error-page').length", vec![]).await.unwrap();
        assert_eq!(errors.as_i64(), Some(0), "no error page swapped into the list");
    })
    .await;
}
