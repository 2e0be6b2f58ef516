//! The last gaps of account safety (issue 17) and of the live inbox (issue 13): recovery
//! codes for accounts made through the provider, a block reaching an open group stream
//! and both inboxes live (also when its poke is lost), the export cap, list items
//! refreshed by edits (also through the sweep), a message between a page's render and
//! its stream's connect, and an account deletion taking its reactions off open pages.

use std::time::{Duration, Instant};

use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;
use reqwest::StatusCode;

use crate::account_safety::{codes_in, recover, unzip};
use crate::helpers::sse::{EventStream, Seq};
use crate::helpers::{alice_and_bob, assert_redirect, count, count_with, select, select_attr, Actor, TestApp, PASSWORD};
use crate::oidc::{app_with_provider, sign_in_at_provider, AtProvider};

const WAIT: Duration = Duration::from_secs(10);
/// Longer than the sweep's period (5 s) and a round of it.
const SWEEP_WAIT: Duration = Duration::from_secs(15);

/// Opens `path` and reads its first event, which must be the current badges.
async fn open_with_badges(who: &Actor, path: &str) -> (EventStream, String) {
    let mut stream = EventStream::open(who, path, None).await;
    let first = stream.next_named(WAIT).await.expect("a first event");
    assert_eq!(first.event.as_deref(), Some("badges"), "badges come first");
    (stream, first.data)
}

fn requests(badges: &str) -> i64 {
    select_attr(badges, "#inbox-state", "data-requests").expect("inbox state").parse().unwrap()
}

fn exec(conn: &mut PgConnection, sql: &str) {
    diesel::sql_query(sql).execute(conn).unwrap();
}

// ---------- recovery codes of an account made through the provider ----------

#[actix_web::test]
async fn an_account_made_through_the_provider_gets_its_codes_and_recover_sets_its_first_password() {
    let (app, provider) = app_with_provider().await;
    let browser = app.client();
    let callback = sign_in_at_provider(&browser, &provider, AtProvider::LogIn("sub-erin")).await;
    assert_redirect(&browser.get(&callback).await, "/auth/oidc/username");
    browser.get_page("/auth/oidc/username").await;
    // Made and logged in: on to the first codes, as a password signup is.
    assert_redirect(&browser.post("/auth/oidc/username", &[("username", "erin")]).await, "/signup/recovery-codes");
    browser.forget_csrf();
    let (status, page) = browser.get_page("/signup/recovery-codes").await;
    assert_eq!(status, StatusCode::OK);
    let codes = codes_in(&page);
    assert_eq!(codes.len(), 10, "ten codes at a provider signup: {page}");
    let mut conn = app.conn();
    let erin = "(SELECT user_id FROM users WHERE username = 'erin')";
    assert_eq!(count(&mut conn, &format!("SELECT count(*) AS n FROM recovery_codes WHERE user_id = {erin}")), 10);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM users WHERE username = 'erin' AND pwd_hash IS NULL"), 1);
    // Shown once: a reload goes to Settings, which counts them.
    assert_redirect(&browser.get("/signup/recovery-codes").await, "/settings");
    let (_, settings) = browser.get_page("/settings").await;
    assert_eq!(select(&settings, "#codes-left"), vec!["<strong id=\"codes-left\">10</strong>".to_string()], "the codes left");

    // Without a password, /recover sets one (Decisions), ends every session and logs in.
    let elsewhere = app.client();
    assert_redirect(&recover(&elsewhere, "erin", &codes[3], PASSWORD).await, "/chats");
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM users WHERE username = 'erin' AND pwd_hash IS NOT NULL"), 1);
    assert_eq!(count(&mut conn, &format!("SELECT count(*) AS n FROM recovery_codes WHERE user_id = {erin}")), 9);
    assert_redirect(&browser.get("/chats").await, "/login");
    assert_redirect(&app.client().login("erin", PASSWORD).await, "/chats");
    // The provider still signs in, straight to the chats.
    let again = app.client();
    let callback = sign_in_at_provider(&again, &provider, AtProvider::LogIn("sub-erin")).await;
    assert_redirect(&again.get(&callback).await, "/chats");
}

// ---------- a block, live ----------

#[actix_web::test]
async fn a_block_while_my_group_stream_is_open_collapses_their_next_message_live() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    carol.befriend(&alice).await;
    carol.befriend(&bob).await;
    let group = carol.create_group("team", &[&alice, &bob]).await;
    let (mut mine, _) = open_with_badges(&alice, &format!("/chats/{group}/events")).await;
    let (mut carols, _) = open_with_badges(&carol, &format!("/chats/{group}/events")).await;
    assert_eq!(bob.send(group, "before the block").await.status(), StatusCode::SEE_OTHER);
    let event = mine.next(WAIT).await.expect("a message");
    assert!(!event.data.contains("message-blocked"), "{}", event.data);
    carols.next(WAIT).await.expect("a message");

    // The same stream, no reconnect: the block applies to the next message.
    assert_redirect(&alice.post("/users/bob/block", &[]).await, "/users/bob");
    assert_eq!(bob.send(group, "after the block").await.status(), StatusCode::SEE_OTHER);
    let event = mine.next(WAIT).await.expect("the message arrives live");
    assert!(event.data.contains("after the block"), "{}", event.data);
    assert!(event.data.contains("message-blocked") && event.data.contains("Message from someone you blocked"), "{}", event.data);
    let event = carols.next(WAIT).await.expect("the message arrives live");
    assert!(!event.data.contains("message-blocked"), "only for me: {}", event.data);

    // And an unblock shows the next one whole again, on the same stream.
    assert_redirect(&alice.post("/users/bob/unblock", &[]).await, "/users/bob");
    assert_eq!(bob.send(group, "after the unblock").await.status(), StatusCode::SEE_OTHER);
    let event = mine.next(WAIT).await.expect("the message arrives live");
    assert!(event.data.contains("after the unblock") && !event.data.contains("message-blocked"), "{}", event.data);
}

#[actix_web::test]
async fn a_block_and_an_unblock_reach_both_inboxes_live() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    carol.befriend(&alice).await;
    carol.befriend(&bob).await;
    let group = carol.create_group("team", &[&alice, &bob]).await;
    assert_eq!(bob.send(group, "words of bob").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(alice.send_friend_request(&bob, "hi bob").await.status(), StatusCode::SEE_OTHER);
    let (mut alices, _) = open_with_badges(&alice, "/events").await;
    let (mut bobs, badges) = open_with_badges(&bob, "/events").await;
    assert_eq!(requests(&badges), 1, "alice's request waits");
    let item = format!("id=\"chat-{group}\"");

    assert_redirect(&alice.post("/users/bob/block", &[]).await, "/users/bob");
    // Mine: the group's preview no longer shows bob's message.
    let changed = alices.wait_named("chat", WAIT, |d| d.contains(&item)).await.expect("my list item changes");
    assert!(!changed.data.contains("words of bob"), "{}", changed.data);
    // Theirs: my request is withdrawn, their badge drops (nothing says "blocked").
    assert!(bobs.wait_named("badges", WAIT, |d| requests(d) == 0).await.is_some(), "their badge follows");

    assert_redirect(&alice.post("/users/bob/unblock", &[]).await, "/users/bob");
    let changed = alices.wait_named("chat", WAIT, |d| d.contains(&item)).await.expect("my list item changes back");
    assert!(changed.data.contains("words of bob"), "{}", changed.data);
}

// ---------- the export cap ----------

/// Waits (bounded) until `n` backends of the test database wait for a lock.
async fn wait_for_lock_waiters(conn: &mut PgConnection, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let waiting =
            count(conn, "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'");
        if waiting >= n {
            return;
        }
        assert!(Instant::now() < deadline, "{n} lock waiters within 20 s (saw {waiting})");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn read_all(mut resp: reqwest::Response) -> Vec<u8> {
    let mut bytes = vec![];
    while let Some(chunk) = resp.chunk().await.unwrap() {
        bytes.extend_from_slice(&chunk);
    }
    bytes
}

#[actix_web::test]
async fn a_third_export_while_two_are_streaming_is_refused_with_503_and_retry_after() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    assert_eq!(alice.send(chat, "something to export").await.status(), StatusCode::SEE_OTHER);
    // Two exports held mid-way: the archive reads `friends` after the profile, and this
    // connection keeps that table locked until it lets go.
    let mut lock = app.conn();
    exec(&mut lock, "BEGIN");
    exec(&mut lock, "LOCK TABLE friends IN ACCESS EXCLUSIVE MODE");
    let first = alice.get("/settings/export").await;
    let second = bob.get("/settings/export").await;
    assert_eq!((first.status(), second.status()), (StatusCode::OK, StatusCode::OK));
    wait_for_lock_waiters(&mut app.conn(), 2).await;

    // The cap is the instance's (each export holds a pooled connection): anyone's third
    // waits for a slot, told when to come back; nothing was started for it.
    for who in [&alice, &bob] {
        let third = who.get("/settings/export").await;
        assert_eq!(third.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(third.headers().get("retry-after").is_some(), "Retry-After");
    }
    exec(&mut lock, "ROLLBACK");
    for resp in [first, second] {
        let files = unzip(&read_all(resp).await);
        assert!(files.iter().any(|(name, _)| name == &format!("chats/{chat}.json")), "a whole archive");
    }
    // Both slots are free again.
    let again = alice.get("/settings/export").await;
    assert_eq!(again.status(), StatusCode::OK);
    assert!(!unzip(&read_all(again).await).is_empty());
}

// ---------- the inbox follows edits (issue 13 and 14) ----------

#[actix_web::test]
async fn an_edit_or_deletion_of_the_last_message_refreshes_the_others_list_item_live_and_through_the_sweep() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    assert_eq!(alice.send(chat, "first words").await.status(), StatusCode::SEE_OTHER);
    let (mut bobs, _) = open_with_badges(&bob, "/events").await;
    let item = format!("id=\"chat-{chat}\"");

    let edit = alice.post(&format!("/chats/{chat}/messages/1/edit"), &[("text", "second words")]).await;
    assert_eq!(edit.status(), StatusCode::SEE_OTHER);
    let changed = bobs.wait_named("chat", WAIT, |d| d.contains(&item) && d.contains("second words")).await;
    assert!(changed.is_some(), "the edit's preview reaches the other person's list");

    // A change nobody announced (as if its notification was lost): the sweep re-reads
    // each watched chat's rev, so it finds an edit as it finds a new message.
    diesel::sql_query(
        "WITH c AS (UPDATE chats SET last_rev = last_rev + 1 WHERE chat_id = $1 RETURNING last_rev) \
         UPDATE messages SET text = 'third words', rev = (SELECT last_rev FROM c) WHERE chat_id = $1 AND seq = 1",
    )
    .bind::<SqlUuid, _>(chat)
    .execute(&mut app.conn())
    .unwrap();
    let changed = bobs.wait_named("chat", SWEEP_WAIT, |d| d.contains(&item) && d.contains("third words")).await;
    assert!(changed.is_some(), "the sweep found the unannounced edit");

    assert_eq!(alice.post(&format!("/chats/{chat}/messages/1/delete"), &[]).await.status(), StatusCode::SEE_OTHER);
    let changed = bobs.wait_named("chat", WAIT, |d| d.contains(&item) && d.contains("Message deleted")).await;
    assert!(changed.is_some(), "the deletion's preview");
}

#[actix_web::test]
async fn a_block_nobody_announced_reaches_my_streams_through_the_sweep() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    carol.befriend(&alice).await;
    carol.befriend(&bob).await;
    let group = carol.create_group("team", &[&alice, &bob]).await;
    assert_eq!(bob.send(group, "words of bob").await.status(), StatusCode::SEE_OTHER);
    let (mut inbox, _) = open_with_badges(&alice, "/events").await;
    let (mut chat, _) = open_with_badges(&alice, &format!("/chats/{group}/events")).await;
    let item = format!("id=\"chat-{group}\"");
    // First a change only the sweep announces (a mute behind the app's back): once it
    // arrived, the sweep holds a digest of mine (its first one wakes my streams anyway).
    diesel::sql_query("UPDATE chat_participants SET muted_until = now() + interval '1 hour' WHERE chat_id = $1")
        .bind::<SqlUuid, _>(group)
        .execute(&mut app.conn())
        .unwrap();
    for stream in [&mut inbox, &mut chat] {
        assert!(stream.wait_named("chat", SWEEP_WAIT, |d| d.contains(&item) && d.contains("data-muted")).await.is_some(), "the mute");
    }
    // As if the block's poke had been lost: the row appears behind the app's back.
    diesel::sql_query(
        "INSERT INTO blocks (blocker, blocked) SELECT a.user_id, b.user_id FROM users a, users b \
          WHERE a.username = 'alice' AND b.username = 'bob'",
    )
    .execute(&mut app.conn())
    .unwrap();
    // The sweep's digest names my blocks: my list's preview drops bob's words, on both
    // streams (the chat stream's inbox re-read also takes the new block list).
    for stream in [&mut inbox, &mut chat] {
        let changed = stream.wait_named("chat", SWEEP_WAIT, |d| d.contains(&item)).await.expect("the sweep found the block");
        assert!(!changed.data.contains("words of bob"), "{}", changed.data);
    }
    assert_eq!(bob.send(group, "after it").await.status(), StatusCode::SEE_OTHER);
    let event = chat.next(WAIT).await.expect("the message arrives live");
    assert!(event.data.contains("after it") && event.data.contains("message-blocked"), "{}", event.data);
}

// ---------- between a page's render and its stream's connect ----------

/// The stream URL a page gives its stream.
fn stream_url(page: &str, css: &str) -> String {
    select_attr(page, css, "hx-sse:connect").unwrap_or_else(|| panic!("a stream in {css}: {page}"))
}

#[actix_web::test]
async fn a_message_between_a_pages_render_and_its_streams_connect_reaches_the_list() {
    let app = TestApp::spawn().await;
    let (alice, bob, x) = alice_and_bob(&app.address).await;
    let carol = app.signed_up("carol").await;
    bob.befriend(&carol).await;
    let y = bob.open_direct(&carol).await;
    assert_eq!(carol.send(y, "older").await.status(), StatusCode::SEE_OTHER);

    // Nothing changed since the page: the list is the page's, only the badges come.
    let (_, page) = bob.get_page("/chats").await;
    let url = stream_url(&page, "#inbox-stream");
    assert!(url.starts_with("/events?list="), "{url}");
    let (mut stream, _) = open_with_badges(&bob, &url).await;
    assert!(stream.next_named(Duration::from_millis(500)).await.is_none(), "nothing more at the connect");
    drop(stream);

    // The list page, then a message, then the stream: the item comes at the connect.
    let (_, page) = bob.get_page("/chats").await;
    assert_eq!(alice.send(x, "in between").await.status(), StatusCode::SEE_OTHER);
    let (mut stream, _) = open_with_badges(&bob, &stream_url(&page, "#inbox-stream")).await;
    // Every item comes (oldest change first), so the list ends in order with x on top.
    let first = stream.next_named_as("chat", WAIT).await.expect("the items, the list having changed since the page");
    assert!(first.data.contains(&format!("id=\"chat-{y}\"")), "{}", first.data);
    let item = stream.next_named_as("chat", WAIT).await.expect("the item changed since the page");
    assert!(item.data.contains(&format!("id=\"chat-{x}\"")) && item.data.contains("in between"), "{}", item.data);
    drop(stream);

    // A chat page's own stream (the list beside the chat) does the same.
    let (_, page) = bob.get_page(&format!("/chats/{y}")).await;
    let url = stream_url(&page, "#messages");
    assert!(url.starts_with(&format!("/chats/{y}/events?since=")) && url.contains("&list="), "{url}");
    assert_eq!(alice.send(x, "while the chat page loads").await.status(), StatusCode::SEE_OTHER);
    let (mut stream, _) = open_with_badges(&bob, &url).await;
    let item = stream.wait_named("chat", WAIT, |d| d.contains(&format!("id=\"chat-{x}\""))).await.expect("the item");
    assert!(item.data.contains("while the chat page loads"), "{}", item.data);
}

// ---------- an account deletion takes its reactions off open pages ----------

#[actix_web::test]
async fn deleting_an_account_gives_each_message_it_reacted_to_a_new_rev_that_reaches_open_pages() {
    let app = TestApp::spawn().await;
    let (alice, bob, direct) = alice_and_bob(&app.address).await;
    let carol = app.signed_up("carol").await;
    bob.befriend(&carol).await;
    let group = bob.create_group("team", &[&alice, &carol]).await;
    assert_eq!(bob.send(direct, "react to me").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(bob.send(group, "and to me").await.status(), StatusCode::SEE_OTHER);
    let mut conn = app.conn();
    let group_seq = count_with(&mut conn, "SELECT seq AS n FROM messages WHERE chat_id = $1 AND text = 'and to me'", group);
    for (chat, seq) in [(direct, 1), (group, group_seq)] {
        let react = alice.post(&format!("/chats/{chat}/messages/{seq}/reactions"), &[("emoji", "🦀")]).await;
        assert_eq!(react.status(), StatusCode::SEE_OTHER);
    }
    let last_rev = |conn: &mut PgConnection, chat| count_with(conn, "SELECT last_rev AS n FROM chats WHERE chat_id = $1", chat);
    let (direct_rev, group_rev) = (last_rev(&mut conn, direct), last_rev(&mut conn, group));
    let mut bobs_direct = EventStream::open(&bob, &format!("/chats/{direct}/events?since={direct_rev}"), None).await;
    let mut carols_group = EventStream::open(&carol, &format!("/chats/{group}/events?since={group_rev}"), None).await;

    let resp = alice.post("/settings/delete-account", &[("current_password", PASSWORD), ("confirm", "alice")]).await;
    assert_redirect(&resp, "/login");
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM message_reactions"), 0);

    // The direct chat: its message comes again without the reaction, as an update.
    let event = bobs_direct.next(WAIT).await.expect("the message again");
    assert_eq!(event.event.as_deref(), Some("update"));
    assert_eq!(event.seq(), direct_rev + 1, "the chat's next rev");
    assert!(event.data.contains("react to me") && !event.data.contains("🦀"), "{}", event.data);
    // The group: the same, then the line of leaving.
    let event = carols_group.next(WAIT).await.expect("the message again");
    assert_eq!(event.event.as_deref(), Some("update"));
    assert!(event.data.contains("and to me") && !event.data.contains("🦀"), "{}", event.data);
    let line = carols_group.next(WAIT).await.expect("the line of leaving");
    assert!(line.data.contains("Deleted account left"), "{}", line.data);
    assert_eq!(last_rev(&mut conn, direct), direct_rev + 1);
    let holds =
        "SELECT count(*) AS n FROM messages m JOIN chats c USING (chat_id) WHERE m.chat_id = $1 AND m.rev = c.last_rev AND m.seq = 1";
    assert_eq!(count_with(&mut conn, holds, direct), 1, "the message holds the chat's latest rev");
    // A page loaded now shows no reaction either.
    let (_, page) = carol.get_page(&format!("/chats/{group}")).await;
    assert!(select(&page, "#messages").concat().contains("and to me") && !page.contains("🦀"));
}
