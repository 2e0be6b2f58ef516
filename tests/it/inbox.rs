//! The live inbox (SPEC §6) over real HTTP and real streams: `GET /events` and the chat
//! streams carry named inbox events (`chat`, `badges`, `request`, `typing`, `read`)
//! without `id:`, badges first on every connect; mute, typing, "Seen", notification
//! settings; across two instances; the sweep's digest catches a change nobody announced.

use std::time::Duration;

use diesel::RunQueryDsl;
use reqwest::StatusCode;

use crate::helpers::sse::{EventStream, Seq};
use crate::helpers::{alice_and_bob, assert_redirect, count, count_with, select_attr, test_settings, user_id, Actor, TestApp};

const WAIT: Duration = Duration::from_secs(10);
/// Longer than the sweep's period (5 s) and a round of it.
const SWEEP_WAIT: Duration = Duration::from_secs(15);

/// The unread count a `badges` event carries.
fn unread(badges: &str) -> i64 {
    select_attr(badges, "#inbox-state", "data-unread").expect("inbox state").parse().unwrap()
}

fn requests(badges: &str) -> i64 {
    select_attr(badges, "#inbox-state", "data-requests").expect("inbox state").parse().unwrap()
}

/// Opens `path` and reads its first event, which must be the current badges.
async fn open_with_badges(who: &Actor, path: &str) -> (EventStream, String) {
    let mut stream = EventStream::open(who, path, None).await;
    let first = stream.next_named(WAIT).await.expect("a first event");
    assert_eq!(first.event.as_deref(), Some("badges"), "badges come first");
    assert_eq!(first.id, None, "inbox events carry no id");
    (stream, first.data)
}

#[actix_web::test]
async fn a_message_reaches_the_inbox_on_events_and_on_the_stream_of_another_chat() {
    let app = TestApp::spawn().await;
    let (alice, bob, x) = alice_and_bob(&app.address).await;
    let carol = app.signed_up("carol").await;
    bob.befriend(&carol).await;
    let y = bob.open_direct(&carol).await;

    let (mut inbox, badges) = open_with_badges(&bob, "/events").await;
    assert_eq!(unread(&badges), 0);
    let (mut other_chat, _) = open_with_badges(&bob, &format!("/chats/{y}/events")).await;

    assert_eq!(alice.send(x, "hello from x").await.status(), StatusCode::SEE_OTHER);
    for stream in [&mut inbox, &mut other_chat] {
        let item = stream.wait_named("chat", WAIT, |d| d.contains(&format!("id=\"chat-{x}\""))).await.expect("the chat item");
        assert_eq!(item.id, None);
        assert!(item.data.contains("hello from x") && item.data.contains("data-unread=\"1\""), "{}", item.data);
        let badges = stream.wait_named("badges", WAIT, |d| unread(d) == 1).await.expect("new badges");
        assert!(badges.data.contains("1<span class=\"visually-hidden\"> unread message</span>"), "{}", badges.data);
    }
    // Y's own message events stay as they were: none came for X.
    assert!(other_chat.next(Duration::from_millis(300)).await.is_none(), "no message event of another chat");

    // A page without an open chat opens /events; a live chat page does not (its own
    // stream carries the inbox), and every page's title counts the unread messages.
    let (_, friends_page) = bob.get_page("/friends").await;
    assert!(friends_page.contains("hx-sse:connect=\"/events\""));
    assert!(friends_page.contains("<title>(1) Friends · Chaat</title>"), "the title counts unread messages");
    let (_, chat_page) = bob.get_page(&format!("/chats/{y}")).await;
    assert!(!chat_page.contains("hx-sse:connect=\"/events\"") && chat_page.contains(&format!("hx-sse:connect=\"/chats/{y}/events")));
    assert!(chat_page.contains(&format!("id=\"chat-{x}\"")), "the chat list beside the open chat (two panes)");
}

#[actix_web::test]
async fn badges_come_first_on_every_connect_before_a_replay_and_message_events_are_unchanged() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    for i in 1..=3 {
        alice.send(chat, &format!("m{i}")).await;
    }
    let resp = EventStream::request(&bob, &format!("/chats/{chat}/events"), Some(0)).await;
    use futures_util::StreamExt;
    let mut body = resp.bytes_stream();
    let mut text = String::new();
    while text.matches("id: ").count() < 3 {
        let chunk = tokio::time::timeout(WAIT, body.next()).await.unwrap().unwrap().unwrap();
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
    let badges = text.find("event: badges").expect("badges");
    let first_message = text.find("id: 1").expect("the replay");
    assert!(badges < first_message, "badges before the replay: {text}");
    assert!(!text[..first_message].contains("\nid:"), "no id before the replay's first");
}

#[actix_web::test]
async fn a_friend_request_and_its_answer_arrive_live() {
    let app = TestApp::spawn().await;
    let carol = app.signed_up("carol").await;
    let dave = app.signed_up("dave").await;
    let (mut carols, badges) = open_with_badges(&carol, "/events").await;
    assert_eq!(requests(&badges), 0);
    let (mut daves, _) = open_with_badges(&dave, "/events").await;

    assert_eq!(dave.send_friend_request(&carol, "hi carol").await.status(), StatusCode::SEE_OTHER);
    let request = carols.next_named_as("request", WAIT).await.expect("the request");
    assert!(request.data.contains("hi carol") && request.data.contains("/accept"), "{}", request.data);
    assert!(carols.wait_named("badges", WAIT, |d| requests(d) == 1).await.is_some(), "the Friends badge counts it");
    // The page shows it in a list the live ones go into.
    let (_, page) = carol.get_page("/friends").await;
    assert!(page.contains("id=\"incoming-requests\""));

    let id = carol.request_from(&dave).await;
    assert_eq!(carol.accept_friend_request(id).await.status(), StatusCode::SEE_OTHER);
    let answer = daves.next_named_as("request", WAIT).await.expect("the answer");
    assert!(answer.data.contains("data-status=\"accepted\"") && answer.data.contains("carol"), "{}", answer.data);
    assert!(carols.wait_named("badges", WAIT, |d| requests(d) == 0).await.is_some());
}

#[actix_web::test]
async fn typing_reaches_the_other_participant_at_most_every_3_s_and_is_stored_nowhere() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    let (mut bobs, _) = open_with_badges(&bob, &format!("/chats/{chat}/events")).await;
    let (mut alices, _) = open_with_badges(&alice, &format!("/chats/{chat}/events")).await;
    let rows = |app: &TestApp| count(&mut app.conn(), "SELECT (SELECT count(*) FROM messages) + (SELECT count(*) FROM chats) AS n");
    let before = rows(&app);

    assert_eq!(alice.post_htmx(&format!("/chats/{chat}/typing"), &[]).await.status(), StatusCode::NO_CONTENT);
    let typing = bobs.next_named_as("typing", WAIT).await.expect("typing");
    assert!(typing.data.contains("alice is typing…"), "{}", typing.data);
    assert_eq!(typing.id, None);
    // Within 3 s: answered, not forwarded. A plain form is sent back to the chat.
    assert_eq!(alice.post_htmx(&format!("/chats/{chat}/typing"), &[]).await.status(), StatusCode::NO_CONTENT);
    assert_redirect(&alice.post(&format!("/chats/{chat}/typing"), &[]).await, &format!("/chats/{chat}"));
    assert!(bobs.next_named_as("typing", Duration::from_millis(800)).await.is_none(), "one per 3 s");
    assert!(alices.next_named_as("typing", Duration::from_millis(300)).await.is_none(), "not to herself");
    assert_eq!(rows(&app), before, "stored nowhere");

    let mallory = app.signed_up("mallory").await;
    assert_eq!(mallory.post_htmx(&format!("/chats/{chat}/typing"), &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(mallory.post(&format!("/chats/{chat}/mute"), &[("for", "1h")]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(EventStream::request(&mallory, &format!("/chats/{chat}/events"), None).await.status(), StatusCode::NOT_FOUND);
    let anonymous = app.client();
    assert_redirect(&anonymous.get("/events").await, "/login");
}

#[actix_web::test]
async fn seen_moves_live_when_the_other_person_reads() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    alice.send(chat, "one").await;
    alice.send(chat, "two").await;
    let (mut alices, _) = open_with_badges(&alice, &format!("/chats/{chat}/events")).await;
    assert_eq!(bob.mark_read(chat, "1").await.status(), StatusCode::NO_CONTENT);
    let read = alices.next_named_as("read", WAIT).await.expect("read");
    assert!(read.data.contains("data-seq=\"1\""), "{}", read.data);
    // Opening the chat reads it to the end.
    bob.get_page(&format!("/chats/{chat}")).await;
    assert!(alices.wait_named("read", WAIT, |d| d.contains("data-seq=\"2\"")).await.is_some());
    // The page says where "Seen" goes at first.
    let (_, page) = alice.get_page(&format!("/chats/{chat}")).await;
    assert_eq!(select_attr(&page, "#messages", "data-seen-seq").as_deref(), Some("2"));
}

#[actix_web::test]
async fn a_muted_chat_counts_in_no_badge_or_title_and_shows_its_own_count() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    alice.send(chat, "one").await;
    alice.send(chat, "two").await;
    let (mut bobs, badges) = open_with_badges(&bob, "/events").await;
    assert_eq!(unread(&badges), 2);

    assert_redirect(&bob.post(&format!("/chats/{chat}/mute"), &[("for", "always")]).await, &format!("/chats/{chat}"));
    assert!(bobs.wait_named("badges", WAIT, |d| unread(d) == 0).await.is_some(), "muted: no badge");
    let (_, list) = bob.get_page("/chats").await;
    assert!(list.contains("<title>Chats · Chaat</title>"), "no count in the title");
    assert!(list.contains("data-muted") && list.contains("badge badge-muted\">2<"), "its own count, greyed");
    let (_, page) = bob.get_page("/friends").await;
    assert!(!page.contains("id=\"badge-chats\""));

    assert_redirect(&bob.post(&format!("/chats/{chat}/mute"), &[("for", "off")]).await, &format!("/chats/{chat}"));
    assert!(bobs.wait_named("badges", WAIT, |d| unread(d) == 2).await.is_some(), "unmuted: counted again");
    for bad in ["2h", "", "ALWAYS", "forever"] {
        let resp = bob.post(&format!("/chats/{chat}/mute"), &[("for", bad)]).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        assert!(resp.text().await.unwrap().contains("id=\"mute-error\""));
    }
    for ok in ["1h", "8h", "1w"] {
        assert_redirect(&bob.post(&format!("/chats/{chat}/mute"), &[("for", ok)]).await, &format!("/chats/{chat}"));
    }
    let (_, list) = bob.get_page("/chats").await;
    assert!(list.contains("<title>Chats · Chaat</title>"));
}

#[actix_web::test]
async fn notification_settings_are_kept_and_reach_the_page() {
    let app = TestApp::spawn().await;
    let (_alice, bob, _chat) = alice_and_bob(&app.address).await;
    let (mut bobs, badges) = open_with_badges(&bob, "/events").await;
    assert_eq!(select_attr(&badges, "#inbox-state", "data-notify").as_deref(), Some("off"), "off by default");
    assert_eq!(select_attr(&badges, "#inbox-state", "data-previews").as_deref(), Some("on"), "previews by default");
    assert_redirect(&bob.post("/settings/notifications", &[("notify", "on"), ("previews", "off")]).await, "/settings?done=notifications");
    let changed = bobs.wait_named("badges", WAIT, |d| d.contains("data-notify=\"on\"")).await.expect("settings reach the page");
    assert!(changed.data.contains("data-previews=\"off\""));
    let bob_id = user_id(&app, "bob");
    let on = "SELECT count(*) AS n FROM users WHERE user_id = $1 AND notify AND NOT notify_previews";
    assert_eq!(count_with(&mut app.conn(), on, bob_id), 1);
    let resp = bob.post("/settings/notifications", &[("notify", "yes")]).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count_with(&mut app.conn(), on, bob_id), 1, "nothing changed");
    let (_, page) = bob.get_page("/settings").await;
    assert!(page.contains("id=\"notifications-form\""));
}

#[actix_web::test]
async fn the_inbox_crosses_instances() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_on(first.db.clone(), test_settings()).await;
    let (alice, _bob, chat) = alice_and_bob(&first.address).await;
    let bob = second.logged_in("bob").await;
    let carol = first.signed_up("carol").await;
    let (mut bobs, _) = open_with_badges(&bob, "/events").await;
    let (mut bobs_chat, _) = open_with_badges(&bob, &format!("/chats/{chat}/events")).await;

    alice.send(chat, "across").await;
    assert!(bobs.wait_named("chat", WAIT, |d| d.contains("across")).await.is_some(), "a message");
    assert!(bobs.wait_named("badges", WAIT, |d| unread(d) == 1).await.is_some());
    assert_eq!(bobs_chat.take(1, WAIT).await[0].seq(), 1);

    carol.send_friend_request(&bob, "from the other one").await;
    assert!(bobs.wait_named("request", WAIT, |d| d.contains("from the other one")).await.is_some(), "a request");

    assert_eq!(alice.post_htmx(&format!("/chats/{chat}/typing"), &[]).await.status(), StatusCode::NO_CONTENT);
    assert!(bobs_chat.next_named_as("typing", WAIT).await.is_some(), "typing");

    let (mut alices, _) = open_with_badges(&alice.moved_to(&second.address), &format!("/chats/{chat}/events")).await;
    assert_eq!(bob.moved_to(&first.address).mark_read(chat, "1").await.status(), StatusCode::NO_CONTENT);
    assert!(alices.next_named_as("read", WAIT).await.is_some(), "read");

    bob.moved_to(&first.address).post(&format!("/chats/{chat}/mute"), &[("for", "8h")]).await;
    alice.send(chat, "while muted").await;
    assert!(bobs.wait_named("chat", WAIT, |d| d.contains("while muted") && d.contains("data-muted")).await.is_some(), "mute");
}

#[actix_web::test]
async fn a_change_nobody_announced_reaches_the_inbox_through_the_sweep() {
    let app = TestApp::spawn().await;
    let (_alice, bob, chat) = alice_and_bob(&app.address).await;
    let (mut bobs, _) = open_with_badges(&bob, "/events").await;
    // As if the notification had been lost: the row changes behind the app's back.
    diesel::sql_query("UPDATE chat_participants SET muted_until = now() + interval '1 hour' WHERE chat_id = $1")
        .bind::<diesel::sql_types::Uuid, _>(chat)
        .execute(&mut app.conn())
        .unwrap();
    let item = bobs.wait_named("chat", SWEEP_WAIT, |d| d.contains(&format!("id=\"chat-{chat}\""))).await;
    assert!(item.expect("the sweep's digest found it").data.contains("data-muted"));
}

/// A message whose notification was lost (here: written behind the app's back, so
/// nothing was published) reaches the inbox through the sweep's re-read of the chats
/// its streams listen to, not through the digest (which leaves messages out, so that
/// messages do not wake every inbox for a whole re-read at every sweep).
#[actix_web::test]
async fn a_message_nobody_announced_reaches_the_inbox_through_the_sweep() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    alice.send(chat, "announced").await;
    let (mut bobs, _) = open_with_badges(&bob, "/events").await;
    // First a change only the digest finds: once it arrived, the sweep holds bob's
    // digest (a first digest wakes by itself), so the message below can only come
    // through the chats' re-read.
    diesel::sql_query("UPDATE chat_participants SET muted_until = now() + interval '1 hour' WHERE chat_id = $1")
        .bind::<diesel::sql_types::Uuid, _>(chat)
        .execute(&mut app.conn())
        .unwrap();
    assert!(bobs.wait_named("chat", SWEEP_WAIT, |d| d.contains("data-muted")).await.is_some(), "the digest's change");
    diesel::sql_query(
        "SELECT count(*) FROM send_message($1, gen_random_uuid(), (SELECT user_id FROM users WHERE username = 'alice'), \
         'unannounced words', NULL, 'text', NULL, '{}')",
    )
    .bind::<diesel::sql_types::Uuid, _>(chat)
    .execute(&mut app.conn())
    .unwrap();
    let item = bobs.wait_named("chat", SWEEP_WAIT, |d| d.contains(&format!("id=\"chat-{chat}\""))).await;
    assert!(item.expect("the sweep found the chat's new rev").data.contains("unannounced words"));
}
