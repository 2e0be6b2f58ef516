//! The live inbox in real browsers (SPEC §6): the list reorders and the badge and title
//! change without a reload; a third tab still loads while two tabs hold streams; typing
//! shows and goes; a notification is shown for a hidden tab and opens the chat.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use fantoccini::{Client, Locator};

use super::*;
use crate::helpers::{Actor, TestApp};

/// alice–bob (chat `x`) and bob–carol (chat `y`, with the newest message), over HTTP.
async fn three_people(app: &TestApp) -> (Actor, Actor, Actor, uuid::Uuid, uuid::Uuid) {
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    alice.befriend(&bob).await;
    bob.befriend(&carol).await;
    let x = alice.open_direct(&bob).await;
    alice.send(x, "an old one").await;
    let y = carol.open_direct(&bob).await;
    carol.send(y, "the newest").await;
    (alice, bob, carol, x, y)
}

const INBOX_LIVE: &str = "return document.documentElement.dataset.inbox === 'live'";

/// The id of the list's first item.
async fn first_item(browser: &Client) -> String {
    browser
        .execute("const li = document.querySelector('#chat-list > li'); return li ? li.id : '';", vec![])
        .await
        .unwrap()
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[actix_web::test]
async fn the_list_reorders_and_the_badge_and_title_change_without_reload() {
    let app = TestApp::spawn().await;
    let (alice, _bob, _carol, x, y) = three_people(&app).await;
    with_browsers(1, true, |b| async move {
        let bob = &b[0];
        login(bob, &app, "bob").await;
        assert_eq!(first_item(bob).await, format!("chat-{y}"), "carol's chat is the newest");
        wait_until(bob, "return document.title === '(2) Chats · Chaat'", PAGE, "inbox-title", "two unread").await;
        // Marks the page, so a reload would be seen.
        bob.execute("window.__sameDocument = true; return true;", vec![]).await.unwrap();
        wait_until(bob, INBOX_LIVE, PAGE, "inbox-live", "bob's stream is up").await;

        alice.send(x, "news from alice").await;
        wait_until(
            bob,
            &format!("return document.querySelector('#chat-list > li').id === 'chat-{x}'"),
            LIVE,
            "inbox-reorder",
            "alice's chat moves to the top",
        )
        .await;
        wait_until(bob, "return document.title === '(3) Chats · Chaat'", LIVE, "inbox-title", "the title counts the new message").await;
        wait_until(
            bob,
            "const b = document.getElementById('badge-chats'); return !!b && b.textContent.startsWith('3')",
            LIVE,
            "inbox-badge",
            "the badge says 3",
        )
        .await;
        let preview = bob.find(Locator::Css(&format!("#chat-{x} .chat-row-preview"))).await.unwrap().text().await.unwrap();
        assert_eq!(preview, "news from alice");
        assert_eq!(bob.execute("return window.__sameDocument === true", vec![]).await.unwrap().as_bool(), Some(true), "no reload");
        screenshot(bob, "inbox-list-live-1280").await;

        // Two panes: the list stays beside the open chat, which is marked current.
        bob.goto(&format!("{}/chats/{y}", app.address)).await.unwrap();
        let pane = bob.find(Locator::Css("nav.inbox-list-pane")).await.unwrap();
        assert!(pane.is_displayed().await.unwrap(), "the list beside the chat at 1280 px");
        assert!(bob.find(Locator::Css(&format!("#chat-{y} a[aria-current=page]"))).await.is_ok());
        wait_until(bob, INBOX_LIVE, PAGE, "inbox-live", "the chat page's stream is up").await;
        alice.send(x, "while bob reads carol").await;
        wait_until(
            bob,
            &format!("return document.querySelector('#chat-list > li').id === 'chat-{x}'"),
            LIVE,
            "inbox-two-panes",
            "the list beside the chat is live",
        )
        .await;
        screenshot(bob, "inbox-two-panes-1280").await;
        bob.set_window_size(375, 812).await.unwrap();
        assert!(!bob.find(Locator::Css("nav.inbox-list-pane")).await.unwrap().is_displayed().await.unwrap(), "one pane on a phone");
    })
    .await;
}

#[actix_web::test]
async fn a_third_tab_loads_while_two_tabs_hold_streams() {
    let app = TestApp::spawn().await;
    let (alice, _bob, _carol, x, _y) = three_people(&app).await;
    with_browsers(1, true, |b| async move {
        let bob = &b[0];
        login(bob, &app, "bob").await;
        bob.goto(&format!("{}/chats/{x}", app.address)).await.unwrap();
        let first = bob.window().await.unwrap();
        // A second tab on /chats (its stream is /events); a third tab browses.
        let second = bob.new_window(true).await.unwrap();
        bob.switch_to_window(second.handle).await.unwrap();
        bob.goto(&format!("{}/chats", app.address)).await.unwrap();
        let third = bob.new_window(true).await.unwrap();
        bob.switch_to_window(third.handle).await.unwrap();
        for path in ["/friends", "/settings", "/chats", "/friends", "/settings", "/chats"] {
            bob.goto(&format!("{}{path}", app.address)).await.unwrap();
            wait_until(
                bob,
                "return document.readyState === 'complete' && !!document.querySelector('h1')",
                PAGE,
                "third-tab",
                &format!("{path} loads in the third tab"),
            )
            .await;
        }
        // The streams of the other tabs are still live (also while not in front).
        alice.send(x, "to the background tabs").await;
        bob.switch_to_window(first).await.unwrap();
        expect_message(bob, "to the background tabs", PAGE, "first-tab").await;
    })
    .await;
}

#[actix_web::test]
async fn typing_shows_and_disappears() {
    let app = TestApp::spawn().await;
    let (_alice, _bob, _carol, x, _y) = three_people(&app).await;
    with_browsers(2, true, |b| async move {
        let (alice, bob) = (&b[0], &b[1]);
        login(alice, &app, "alice").await;
        login(bob, &app, "bob").await;
        alice.goto(&format!("{}/chats/{x}", app.address)).await.unwrap();
        bob.goto(&format!("{}/chats/{x}", app.address)).await.unwrap();
        wait_until(bob, "return !!document.querySelector('#messages') && document.querySelector('#typing').hidden", PAGE, "typing", "bob's page is open").await;
        // Both streams are up: bob's badges arrived (the first event of every stream).
        wait_until(alice, INBOX_LIVE, PAGE, "typing", "alice's stream is up").await;
        wait_until(bob, INBOX_LIVE, PAGE, "typing", "bob's stream is up").await;
        alice.find(Locator::Css("#composer-text")).await.unwrap().send_keys("hel").await.unwrap();
        wait_until(bob, "const t = document.getElementById('typing'); return !t.hidden && t.textContent === 'alice is typing…'", LIVE, "typing-shown", "bob sees alice typing").await;
        screenshot(bob, "inbox-typing-1280").await;
        alice.find(Locator::Css("#composer-text")).await.unwrap().send_keys("lo bob\u{E007}").await.unwrap();
        expect_message(bob, "hello bob", LIVE, "typing-message").await;
        wait_until(bob, "return document.getElementById('typing').hidden", LIVE, "typing-gone", "her message arrived: typing is gone").await;
        // Seen: bob read it (his page is visible), alice's page says so under her message.
        wait_until(alice, "const s = document.querySelector('li.message.mine .seen-marker'); return !!s && s.closest('li').textContent.includes('hello bob')", PAGE, "seen", "alice sees Seen under her message").await;
    })
    .await;
}

/// With the permission granted (the browser's Notification is replaced by one that
/// records, granted) and the tab hidden, a message from alice shows a notification with
/// her text; clicking it opens the chat. Settings asks for the permission on the click.
#[actix_web::test]
async fn a_hidden_tab_notifies_and_the_notification_opens_the_chat() {
    let app = TestApp::spawn().await;
    let (alice, _bob, _carol, x, _y) = three_people(&app).await;
    with_browsers(1, true, |b| async move {
        let bob = &b[0];
        login(bob, &app, "bob").await;
        bob.goto(&format!("{}/settings", app.address)).await.unwrap();
        bob.execute(SPY, vec![]).await.unwrap();
        bob.execute("window.Notification.permission = 'default'; return true;", vec![]).await.unwrap();
        bob.find(Locator::Css("#notifications-form input[name=notify][value=on]")).await.unwrap().click().await.unwrap();
        bob.find(Locator::Css("#notifications-form button[type=submit]")).await.unwrap().click().await.unwrap();
        wait_until(bob, "return location.search === '?done=notifications'", PAGE, "notify-settings", "the settings were saved").await;
        let asked = bob.execute("return sessionStorage.getItem('asked')", vec![]).await.unwrap();
        assert_eq!(asked.as_str(), Some("1"), "turning notifications on asked for the permission");
        let on = "SELECT count(*) AS n FROM users WHERE username = 'bob' AND notify";
        assert_eq!(crate::helpers::count(&mut app.conn(), on), 1);

        bob.goto(&format!("{}/chats", app.address)).await.unwrap();
        bob.execute(SPY, vec![]).await.unwrap();
        bob.execute(HIDDEN, vec![]).await.unwrap();
        // The first badges (with the settings) arrive first.
        wait_until(bob, INBOX_LIVE, PAGE, "notify", "the stream is up, its badges (with the settings) arrived").await;
        alice.send(x, "are you there?").await;
        wait_until(bob, "return window.__notes.length === 1", LIVE, "notify-shown", "one notification").await;
        let note = bob.execute("return [window.__notes[0].title, window.__notes[0].body]", vec![]).await.unwrap();
        assert_eq!(note[0].as_str(), Some("alice"));
        assert_eq!(note[1].as_str(), Some("are you there?"), "previews are on by default");
        bob.execute("window.__notes[0].onclick(); return true;", vec![]).await.unwrap();
        wait_until(bob, &format!("return location.pathname === '/chats/{x}'"), PAGE, "notify-click", "the click opens the chat").await;
    })
    .await;
}

/// Replaces the browser's Notification with one that records what it shows, with the
/// permission granted; `requestPermission` records that it was asked.
const SPY: &str = r#"
    window.__notes = [];
    function Spy(title, options) { this.title = title; this.body = options && options.body; this.close = function () {}; window.__notes.push(this); }
    Spy.permission = 'granted';
    Spy.requestPermission = function () { sessionStorage.setItem('asked', '1'); Spy.permission = 'granted'; return Promise.resolve('granted'); };
    window.Notification = Spy;
    return true;
"#;

/// The tab as the page sees it when it is not in front.
const HIDDEN: &str = r#"
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: function () { return 'hidden'; } });
    Object.defineProperty(document, 'hidden', { configurable: true, get: function () { return true; } });
    return true;
"#;
