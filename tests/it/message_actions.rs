//! Messages people can change, answer and react to (issue 14, SPEC §7): each rule with
//! its refusal and the database after it; revs under concurrency; resuming from every
//! rev; two instances; erasure checked in SQL; escaping.

use std::time::Duration;

use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use diesel::RunQueryDsl;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::sse::{EventStream, Seq as _};
use crate::helpers::{alice_and_bob, count, count_with, has, select, select_attr, seqs_in, test_settings, Actor, TestApp};

const WAIT: Duration = Duration::from_secs(10);

fn path(chat: Uuid, seq: i64, action: &str) -> String {
    format!("/chats/{chat}/messages/{seq}/{action}")
}

async fn edit(who: &Actor, chat: Uuid, seq: i64, text: &str) -> reqwest::Response {
    who.post(&path(chat, seq, "edit"), &[("text", text)]).await
}

async fn react(who: &Actor, chat: Uuid, seq: i64, emoji: &str) -> reqwest::Response {
    who.post(&path(chat, seq, "reactions"), &[("emoji", emoji)]).await
}

async fn delete(who: &Actor, chat: Uuid, seq: i64) -> reqwest::Response {
    who.post(&path(chat, seq, "delete"), &[]).await
}

async fn reply(who: &Actor, chat: Uuid, to: &str, text: &str) -> reqwest::Response {
    who.post(&format!("/chats/{chat}/messages"), &[("text", text), ("client_id", &Uuid::new_v4().to_string()), ("reply_to", to)]).await
}

/// The chat's `last_rev`.
fn last_rev(app: &TestApp, chat: Uuid) -> i64 {
    count_with(&mut app.conn(), "SELECT last_rev AS n FROM chats WHERE chat_id = $1", chat)
}

/// (seq, rev, text, deleted) of every message of the chat, by seq.
fn rows(app: &TestApp, chat: Uuid) -> Vec<(i64, i64, String, bool)> {
    #[derive(diesel::QueryableByName)]
    struct R {
        #[diesel(sql_type = BigInt)]
        seq: i64,
        #[diesel(sql_type = BigInt)]
        rev: i64,
        #[diesel(sql_type = Text)]
        text: String,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        deleted: bool,
    }
    diesel::sql_query("SELECT seq, rev, text, deleted_at IS NOT NULL AS deleted FROM messages WHERE chat_id = $1 ORDER BY seq")
        .bind::<SqlUuid, _>(chat)
        .load::<R>(&mut app.conn())
        .unwrap()
        .into_iter()
        .map(|r| (r.seq, r.rev, r.text, r.deleted))
        .collect()
}

async fn page(who: &Actor, path: &str) -> String {
    let (status, body) = who.get_page(path).await;
    assert_eq!(status, StatusCode::OK, "{path}");
    body
}

/// The message at `seq` on the chat page, as `who` sees it.
async fn message_html(who: &Actor, chat: Uuid, seq: i64) -> String {
    let body = page(who, &format!("/chats/{chat}")).await;
    select(&body, &format!("li[data-seq=\"{seq}\"]")).pop().unwrap_or_else(|| panic!("message {seq} on the page"))
}

#[actix_web::test]
async fn the_sender_edits_within_a_day_and_the_earlier_text_is_kept() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    alice.send(chat, "helo").await;
    assert_eq!(last_rev(&app, chat), 1);

    let done = edit(&alice, chat, 1, "hello").await;
    assert_eq!(done.status(), StatusCode::SEE_OTHER);
    let back = done.headers()["location"].to_str().unwrap().to_string();
    assert!(back.starts_with(&format!("/chats/{chat}#msg-")), "back to the message: {back}");
    assert_eq!(rows(&app, chat), vec![(1, 2, "hello".into(), false)], "the text replaced, a new rev");
    assert_eq!(last_rev(&app, chat), 2);
    let shown = message_html(&bob, chat, 1).await;
    assert!(shown.contains("hello") && shown.contains("(edited)"), "{shown}");
    assert!(has(&shown, "li[data-seq=\"1\"][data-rev=\"2\"]"));

    edit(&alice, chat, 1, "hello!").await;
    let history = page(&bob, &path(chat, 1, "history")).await;
    let earlier: Vec<String> = select(&history, ".edit-history .message-body");
    assert_eq!(earlier.len(), 2, "oldest first, without the current one");
    assert!(earlier[0].contains(">helo<") && earlier[1].contains(">hello<"), "{earlier:?}");

    // The same text again changes nothing.
    assert_eq!(edit(&alice, chat, 1, "  hello!  ").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(last_rev(&app, chat), 3);

    // Refusals: another participant, bad text, too late, a seq that is not there.
    assert_eq!(edit(&bob, chat, 1, "mine now").await.status(), StatusCode::FORBIDDEN);
    let invalid = edit(&alice, chat, 1, "   ").await;
    assert_eq!(invalid.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = invalid.text().await.unwrap();
    assert!(has(&body, "#edit-error") && has(&body, "textarea#edit-text[aria-invalid=\"true\"]"), "error next to the field");
    assert_eq!(edit(&alice, chat, 9, "x").await.status(), StatusCode::NOT_FOUND);
    diesel::sql_query("UPDATE messages SET sent_time = now() - interval '25 hours' WHERE chat_id = $1")
        .bind::<SqlUuid, _>(chat)
        .execute(&mut app.conn())
        .unwrap();
    assert_eq!(edit(&alice, chat, 1, "late").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(rows(&app, chat), vec![(1, 3, "hello!".into(), false)], "nothing refused was stored");
    assert_eq!(count_with(&mut app.conn(), "SELECT count(*) AS n FROM message_edits", chat), 2);
    // Without JavaScript: the edit page has the form with the text.
    alice.send(chat, "fresh").await;
    let form = page(&alice, &path(chat, 2, "edit")).await;
    assert!(has(&form, "form[action$=\"/messages/2/edit\"] textarea[name=\"text\"]") && form.contains(">fresh</textarea>"));
    assert_eq!(bob.get_page(&path(chat, 2, "edit")).await.0, StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn a_deleted_message_is_erased_from_every_table_and_takes_nothing_more() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    alice.send(chat, "secret one").await;
    edit(&alice, chat, 1, "secret two").await;
    react(&bob, chat, 1, "👍").await;
    reply(&bob, chat, "1", "what secret?").await;
    let before = last_rev(&app, chat);

    assert_eq!(delete(&bob, chat, 1).await.status(), StatusCode::FORBIDDEN, "a direct chat has no owner");
    let confirm = page(&alice, &path(chat, 1, "delete")).await;
    assert!(has(&confirm, "form[method=\"post\"][action$=\"/messages/1/delete\"] button"), "a confirmation step");
    assert_eq!(delete(&alice, chat, 1).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(last_rev(&app, chat), before + 2, "the deletion, and the reply whose quote changed");
    let after = rows(&app, chat);
    assert_eq!(after[0], (1, before + 1, String::new(), true), "the row stays, its text gone");

    // Erased, not hidden: no table holds the text any more.
    let mut conn = app.conn();
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let n = |conn: &mut diesel::PgConnection, sql: &str| diesel::sql_query(sql).get_result::<N>(conn).unwrap().n;
    assert_eq!(n(&mut conn, "SELECT count(*) AS n FROM messages WHERE text LIKE '%secret one%' OR text LIKE '%secret two%'"), 0);
    assert_eq!(n(&mut conn, "SELECT count(*) AS n FROM message_edits"), 0);
    assert_eq!(n(&mut conn, "SELECT count(*) AS n FROM message_reactions"), 0);
    assert_eq!(
        n(
            &mut conn,
            "SELECT count(*) AS n FROM (SELECT to_jsonb(t) AS j FROM (SELECT * FROM message_edits) t) x WHERE j::text LIKE '%secret%'"
        ),
        0
    );

    // It shows as deleted, the reply's quote says so, and it takes nothing more.
    let shown = message_html(&bob, chat, 1).await;
    assert!(shown.contains("Message deleted") && !shown.contains("secret"), "{shown}");
    let the_reply = message_html(&bob, chat, 2).await;
    assert!(the_reply.contains("Original message deleted") && !the_reply.contains("secret two"), "{the_reply}");
    assert_eq!(edit(&alice, chat, 1, "back").await.status(), StatusCode::CONFLICT);
    assert_eq!(react(&alice, chat, 1, "👍").await.status(), StatusCode::CONFLICT);
    assert_eq!(delete(&alice, chat, 1).await.status(), StatusCode::CONFLICT);
    assert_eq!(bob.get_page(&path(chat, 1, "history")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(last_rev(&app, chat), before + 2, "refusals take no rev");
}

#[actix_web::test]
async fn a_groups_owner_deletes_anyones_message_a_member_only_their_own() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    alice.befriend(&bob).await;
    alice.befriend(&carol).await;
    let group = alice.create_group("crew", &["bob", "carol"]).await;
    bob.send(group, "from bob").await; // seq 2 (1 is "alice created the group")
    carol.send(group, "from carol").await; // seq 3
    assert_eq!(delete(&carol, group, 2).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(delete(&bob, group, 3).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(delete(&alice, group, 2).await.status(), StatusCode::SEE_OTHER, "the owner");
    assert_eq!(delete(&carol, group, 3).await.status(), StatusCode::SEE_OTHER, "the sender");
    // System lines: nobody changes them.
    assert_eq!(edit(&alice, group, 1, "x").await.status(), StatusCode::CONFLICT);
    assert_eq!(delete(&alice, group, 1).await.status(), StatusCode::CONFLICT);
    assert_eq!(react(&bob, group, 1, "👍").await.status(), StatusCode::CONFLICT);
    // Someone no longer in the group: 404 for all of it.
    alice.remove_member(group, "carol").await;
    let seq = rows(&app, group).len() as i64;
    bob.send(group, "after carol").await;
    for resp in [
        edit(&carol, group, seq + 1, "x").await,
        react(&carol, group, seq + 1, "👍").await,
        delete(&carol, group, seq + 1).await,
        carol.get(&path(group, seq + 1, "history")).await,
    ] {
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    }
}

#[actix_web::test]
async fn reactions_toggle_name_who_reacted_and_stop_at_twenty_distinct() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    alice.send(chat, "party?").await;
    assert_eq!(react(&alice, chat, 1, "🎉").await.status(), StatusCode::SEE_OTHER);
    react(&bob, chat, 1, "🎉").await;
    let shown = message_html(&bob, chat, 1).await;
    let label = select_attr(&shown, "button.reaction", "aria-label").unwrap();
    assert_eq!(label, "🎉 2: alice and you", "who reacted, in the HTML itself");
    assert_eq!(select_attr(&shown, "button.reaction", "aria-pressed").as_deref(), Some("true"));
    react(&bob, chat, 1, "🎉").await;
    assert_eq!(
        count_with(
            &mut app.conn(),
            "SELECT count(*) AS n FROM message_reactions r JOIN messages m USING (message_id) WHERE m.chat_id = $1",
            chat
        ),
        1,
        "toggled off"
    );
    assert_eq!(last_rev(&app, chat), 4, "each toggle is a change");

    for bad in ["", "a", "👍👍", "<script>alert(1)</script>", "1"] {
        let resp = react(&bob, chat, 1, bad).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        let body = resp.text().await.unwrap();
        assert!(has(&body, "#react-error") && !body.contains("<script>alert"), "escaped, error next to the field");
    }
    let emoji = ["😀", "😁", "😂", "🤣", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰", "😗", "😙", "🥲", "😚", "🙂"];
    for e in &emoji[1..] {
        assert_eq!(react(&alice, chat, 1, e).await.status(), StatusCode::SEE_OTHER);
    }
    assert_eq!(react(&bob, chat, 1, "🤔").await.status(), StatusCode::UNPROCESSABLE_ENTITY, "a 21st distinct emoji");
    assert_eq!(react(&bob, chat, 1, "😁").await.status(), StatusCode::SEE_OTHER, "one it has already");
    let distinct = count_with(
        &mut app.conn(),
        "SELECT count(DISTINCT emoji) AS n FROM message_reactions r JOIN messages m USING (message_id) WHERE m.chat_id = $1",
        chat,
    );
    assert_eq!(distinct, 20);
    // Without JavaScript: a page to choose any emoji.
    let choose = page(&bob, &path(chat, 1, "reactions")).await;
    assert!(has(&choose, "label[for=\"react-emoji\"]") && has(&choose, "input#react-emoji[name=\"emoji\"]"));
}

#[actix_web::test]
async fn replies_quote_their_original_of_the_same_chat_only() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    let carol = app.signed_up("carol").await;
    alice.befriend(&carol).await;
    let other = alice.open_direct(&carol).await;
    alice.send(other, "carol's secret").await;
    let long = "x".repeat(130);
    alice.send(chat, &long).await;

    assert_eq!(reply(&bob, chat, "1", "answer").await.status(), StatusCode::SEE_OTHER);
    let shown = message_html(&alice, chat, 2).await;
    let href = select_attr(&shown, "a.quote", "href").unwrap();
    assert!(href.starts_with(&format!("/chats/{chat}?at=1#msg-")), "{href}");
    let quoted = select(&shown, "a.quote .quote-text").pop().unwrap();
    assert!(quoted.contains(&"x".repeat(120)) && !quoted.contains(&"x".repeat(121)), "the first 120 characters");
    assert!(shown.contains("alice"), "the original's sender");

    // A seq of another chat (carol's has seq 1 too, but the key is per chat), past the
    // end, itself, or no number: 422, nothing stored, nothing leaked.
    for bad in ["3", "99", "0", "-1", "abc"] {
        let resp = reply(&bob, chat, bad, "sneaky").await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let body = resp.text().await.unwrap();
        assert!(!body.contains("carol's secret") && body.contains("sneaky"), "text kept, nothing leaked");
    }
    assert_eq!(rows(&app, chat).len(), 2);
    assert_eq!(last_rev(&app, chat), 2, "refused sends take no rev");

    // Without JavaScript: ?reply_to= puts the reply into the send form.
    let form = page(&bob, &format!("/chats/{chat}?reply_to=2")).await;
    assert_eq!(select_attr(&form, "#composer input[name=\"reply_to\"]", "value").as_deref(), Some("2"));
}

#[actix_web::test]
async fn the_permalink_shows_25_each_side_highlighted_with_older_and_newer_links() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    for i in 1..=120 {
        alice.send(chat, &format!("m{i}")).await;
    }
    let body = page(&bob, &format!("/chats/{chat}?at=60")).await;
    assert_eq!(seqs_in(&body), (35..=85).collect::<Vec<_>>());
    assert!(has(&body, "li.highlighted[data-seq=\"60\"][aria-current=\"true\"]"));
    assert_eq!(select(&body, "li.highlighted").len(), 1);
    assert!(has(&body, "a[href$=\"messages?before=35\"]") && has(&body, "a.newer-messages"), "older and newer links");
}

#[actix_web::test]
async fn mentions_link_members_highlight_them_and_mark_the_chat_list_until_read() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    let dave = app.signed_up("dave").await;
    alice.befriend(&bob).await;
    alice.befriend(&carol).await;
    alice.befriend(&dave).await;
    let group = alice.create_group("crew", &["bob", "carol"]).await;
    alice.send(group, "hi @Bob, ask @dave and mail x@carol.org").await;
    let list = page(&bob, "/chats").await;
    assert!(has(&list, ".chat-row-mention"), "bob sees @");
    let list = page(&carol, "/chats").await;
    assert!(!has(&list, ".chat-row-mention"), "an address is no mention");

    let mut conn = app.conn();
    let (bob_id, chat_id) = (crate::helpers::user_id(&app, "bob"), group);
    assert!(chaat::models::mentions::unread_for(&mut conn, bob_id.into(), chat_id.into()).unwrap(), "the inbox's hook");

    let shown = message_html(&bob, group, 2).await;
    assert!(has(&shown, "a.mention.mention-me[href=\"/users/bob\"]"), "{shown}");
    assert!(has(&shown, "li.mentions-me"));
    assert!(!has(&shown, "a[href=\"/users/dave\"]"), "dave is no member: plain text");
    // Opening the chat read it: the @ goes.
    let list = page(&bob, "/chats").await;
    assert!(!has(&list, ".chat-row-mention"));
    assert!(!chaat::models::mentions::unread_for(&mut conn, bob_id.into(), chat_id.into()).unwrap());
    let _ = dave;
}

#[actix_web::test]
async fn in_a_direct_chat_editing_and_reacting_need_no_friendship_sending_does() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    alice.send(chat, "before").await;
    alice.unfriend(&bob).await;
    assert_eq!(edit(&alice, chat, 1, "after").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(react(&bob, chat, 1, "👍").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(alice.send(chat, "new").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[actix_web::test]
async fn edited_text_is_escaped_and_htmx_gets_the_message_back() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    alice.send(chat, "plain").await;
    let resp = alice.post_htmx(&path(chat, 1, "edit"), &[("text", "<img src=x onerror=alert(1)>")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let fragment = resp.text().await.unwrap();
    assert!(
        fragment.trim_start().starts_with("<li") && fragment.contains("&#60;img src=x") && !fragment.contains("<img src=x"),
        "{fragment}"
    );
    let shown = message_html(&bob, chat, 1).await;
    assert!(!shown.contains("<img src=x") && shown.contains("&lt;img src=x"), "re-serialised by the parser");
}

#[actix_web::test]
async fn changes_arrive_live_as_updates_and_polling_returns_them() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    alice.send(chat, "one").await;
    let mut stream = EventStream::open(&bob, &format!("/chats/{chat}/events?since=1"), None).await;
    // Each change waits for its event: a stream that catches up after a later change
    // sends a message once, in its current form (SPEC §7), so sending all three first
    // could rightly give "two" with its reaction's rev and no event of its own.
    let mut events = vec![];
    edit(&alice, chat, 1, "one!").await;
    events.extend(stream.take(1, WAIT).await);
    alice.send(chat, "two").await;
    events.extend(stream.take(1, WAIT).await);
    react(&bob, chat, 2, "👍").await;
    events.extend(stream.take(1, WAIT).await);
    assert_eq!(events.iter().map(|e| e.seq()).collect::<Vec<_>>(), vec![2, 3, 4], "ids are revs");
    assert_eq!(events[0].event.as_deref(), Some("update"));
    assert!(events[0].data.contains("one!") && events[0].data.contains("data-seq=\"1\""));
    assert_eq!(events[1].event, None, "a new message is unnamed");
    assert_eq!(events[2].event.as_deref(), Some("update"));
    assert!(events[2].data.contains("aria-label=\"👍 1: you\""));

    let polled = bob.get_htmx(&format!("/chats/{chat}/messages?after=2&since=1")).await.text().await.unwrap();
    assert_eq!(seqs_in(&polled), vec![1, 2], "changed after rev 1, in rev order");
}

#[actix_web::test]
async fn resuming_from_every_rev_gives_exactly_the_rest_once_in_current_form() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    // A mixed chat: sends, replies, edits (one edited twice), reactions, a deletion.
    alice.send(chat, "a").await; // rev 1
    bob.send(chat, "b").await; // 2
    reply(&alice, chat, "1", "c").await; // 3
    edit(&alice, chat, 1, "a2").await; // 4, and 5 for the reply that quotes it
    react(&bob, chat, 3, "👍").await; // 6
    edit(&alice, chat, 1, "a3").await; // 7, and 8 for the reply
    bob.send(chat, "d").await; // 9
    delete(&bob, chat, 2).await; // 10
    react(&alice, chat, 4, "🎉").await; // 11
    let end = last_rev(&app, chat);
    assert_eq!(end, 11);
    // rev of each message now: seq1 → 7, seq3 → 8, seq2 → 10, seq4 → 11.
    let expected: Vec<(i64, i64)> = vec![(7, 1), (8, 3), (10, 2), (11, 4)]; // (rev, seq) by rev
    for from in 0..=end {
        let mut stream = EventStream::open(&bob, &format!("/chats/{chat}/events"), Some(from)).await;
        let want: Vec<(i64, i64)> = expected.iter().copied().filter(|(rev, _)| *rev > from).collect();
        let got = stream.take(want.len(), WAIT).await;
        let got_pairs: Vec<(i64, i64)> = got.iter().map(|e| (e.seq(), seqs_in(&e.data)[0])).collect();
        assert_eq!(got_pairs, want, "from rev {from}");
        assert!(stream.next(Duration::from_millis(300)).await.is_none(), "nothing more from {from}");
        for e in &got {
            let seq = seqs_in(&e.data)[0];
            let current = match seq {
                1 => "a3",
                2 => "Message deleted",
                3 => "a3", // its quote shows the original as it is now
                _ => "d",
            };
            assert!(e.data.contains(current), "current form of {seq} from {from}");
        }
    }
}

#[actix_web::test]
async fn concurrent_edits_reactions_deletions_and_sends_keep_the_revs_gap_free() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    alice.befriend(&bob).await;
    alice.befriend(&carol).await;
    let group = alice.create_group("busy", &["bob", "carol"]).await; // seq 1
    for i in 0..6 {
        alice.send(group, &format!("a{i}")).await; // seqs 2..=7
    }
    let start = last_rev(&app, group);
    let people = [&alice, &bob, &carol];
    let mut work = Vec::new();
    for (i, who) in people.iter().enumerate() {
        for seq in 2..=7i64 {
            work.push(async move {
                let emoji = ["👍", "🎉", "😂"][i];
                let r = react(who, group, seq, emoji).await.status();
                let e = if i == 0 { edit(who, group, seq, &format!("edited {seq}")).await.status() } else { StatusCode::CONFLICT };
                let s = who.send(group, &format!("{} {seq}", who.name)).await.status();
                (r, e, s)
            });
        }
    }
    let results = futures_util::future::join_all(work).await;
    let deleted = delete(&alice, group, 7).await.status();
    assert_eq!(deleted, StatusCode::SEE_OTHER);
    let changes = results.iter().map(|(r, e, s)| [r, e, s].iter().filter(|s| ***s == StatusCode::SEE_OTHER).count() as i64).sum::<i64>();
    assert_eq!(changes, 18 + 6 + 18, "every action went through");
    let end = last_rev(&app, group);
    assert_eq!(end - start, changes + 1, "one rev per change, none lost, none twice");
    // Each message's rev is unique (the key) and the counter is its maximum.
    let max = count_with(&mut app.conn(), "SELECT max(rev) AS n FROM messages WHERE chat_id = $1", group);
    assert_eq!(max, end);
    // Every reaction is there, but on the deleted message.
    let reactions = count_with(
        &mut app.conn(),
        "SELECT count(*) AS n FROM message_reactions r JOIN messages m USING (message_id) WHERE m.chat_id = $1",
        group,
    );
    assert_eq!(reactions, 3 * 5);
    // Seqs stay gap-free.
    let seqs: Vec<i64> = rows(&app, group).iter().map(|r| r.0).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>());
}

#[actix_web::test]
async fn a_change_on_one_instance_reaches_a_stream_on_another() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_on(first.db.clone(), test_settings()).await;
    let (alice, _bob, chat) = alice_and_bob(&first.address).await;
    alice.send(chat, "hello").await;
    let bob_elsewhere = second.logged_in("bob").await;
    let mut stream = EventStream::open(&bob_elsewhere, &format!("/chats/{chat}/events?since=1"), None).await;
    edit(&alice, chat, 1, "hello there").await;
    let mut events = stream.take(1, WAIT).await;
    // (Changed again before the other instance read it, it would come once, as rev 3.)
    react(&alice, chat, 1, "👍").await;
    events.extend(stream.take(1, WAIT).await);
    assert_eq!(events.iter().map(|e| e.seq()).collect::<Vec<_>>(), vec![2, 3]);
    assert!(events.iter().all(|e| e.event.as_deref() == Some("update")));
    assert!(events[0].data.contains("hello there") && events[1].data.contains("👍 1"));
}

/// The load generator's `mixed` scenario (sends, replies, edits, reactions) runs
/// against the real app without an error (its figures are for `make bench`).
#[actix_web::test]
async fn a_short_mixed_load_run_has_no_error() {
    let app = TestApp::spawn_with(test_settings()).await;
    let mut target = chaat_load::Target::new(&app.address).unwrap();
    target.signup_concurrency = 4;
    let opts = chaat_load::mixed::MixedOptions { pairs: 2, duration: Duration::from_secs(3), max_actions: 2_000 };
    let report = chaat_load::mixed::run(&target, &opts).await.unwrap();
    println!("{}\n{}", report.text, report.json);
    assert_eq!(report.json["errors"], 0, "{}", report.text);
    for kind in ["send_ms", "reply_ms", "edit_ms", "react_ms"] {
        assert!(report.json["latency"][kind]["n"].as_u64().unwrap_or(0) > 0, "{kind}: {}", report.text);
    }
    assert!(report.ok);
}

/// Search finds no deleted message, by its words or by `from:` alone (SPEC §9).
#[actix_web::test]
async fn a_deleted_message_is_not_found_by_search() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    alice.send(chat, "zebra crossing").await;
    alice.send(chat, "zebra stripes").await;
    assert_eq!(delete(&alice, chat, 1).await.status(), StatusCode::SEE_OTHER);
    for q in ["zebra", "from:alice"] {
        let body = page(&bob, &format!("/search?q={}", q.replace(':', "%3A"))).await;
        let links: Vec<String> = select(&body, &format!("a[href^=\"/chats/{chat}?at=\"]"));
        let at = |seq: i64| links.iter().any(|l| l.contains(&format!("?at={seq}#")) || l.contains(&format!("?at={seq}\"")));
        assert!(!at(1), "{q}: {links:?}");
        assert!(at(2), "{q}: the other one is found: {links:?}");
    }
}

/// Message actions beside blocking (SPEC §7 with §10): in a shared group, the message of
/// someone I blocked folds whole, its actions included (still usable once revealed); its
/// mention of me marks neither the message nor my chat list, nor the inbox's hook; the
/// blocked sender sees their mention as before; the others see nothing folded.
#[actix_web::test]
async fn a_blocked_persons_mention_marks_nothing_and_their_message_folds_with_its_actions() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    carol.befriend(&alice).await;
    carol.befriend(&bob).await;
    let group = carol.create_group("team", &["alice", "bob"]).await;
    assert_eq!(alice.post("/users/bob/block", &[]).await.status(), StatusCode::SEE_OTHER);
    bob.send(group, "hey @alice and @carol").await;
    let seq = count_with(&mut app.conn(), "SELECT last_seq AS n FROM chats WHERE chat_id = $1", group);

    let list = page(&alice, "/chats").await;
    assert!(!has(&list, ".chat-row-mention"), "no @ for a blocked person's mention");
    let list = page(&carol, "/chats").await;
    assert!(has(&list, ".chat-row-mention"), "carol's @ stays");
    let mut conn = app.conn();
    let alice_id = crate::helpers::user_id(&app, "alice");
    assert!(!chaat::models::mentions::unread_for(&mut conn, alice_id.into(), group.into()).unwrap(), "nothing for the inbox");

    let shown = message_html(&alice, group, seq).await;
    assert!(!has(&shown, "li.mentions-me"), "{shown}");
    let folded = select(&shown, "details.message-blocked");
    assert_eq!(folded.len(), 1, "{shown}");
    assert!(has(&folded[0], "form.message-tools details.message-actions"), "its actions fold with it: {shown}");
    assert_eq!(react(&alice, group, seq, "👍").await.status(), StatusCode::SEE_OTHER, "revealed, it takes a reaction");
    let for_bob = message_html(&bob, group, seq).await;
    assert!(has(&for_bob, "a.mention[href=\"/users/alice\"]") && !has(&for_bob, "details.message-blocked"), "bob sees no change");
    let for_carol = message_html(&carol, group, seq).await;
    assert!(has(&for_carol, "li.mentions-me") && !has(&for_carol, "details.message-blocked"));
}

/// The compact menu keeps everything a browser needs, with and without JavaScript: the
/// form posts the emoji and the session's token to the message's reactions URL; htmx's
/// target (the message) and swap come once from the page; the quick reactions are named
/// by their group and emoji; the links go where they went. Reacting through htmx answers
/// the message alone, which that target swaps in.
#[actix_web::test]
async fn a_message_menu_is_one_form_whose_htmx_target_comes_from_the_page() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    alice.send(chat, "compact").await;
    let body = page(&bob, &format!("/chats/{chat}")).await;
    let section = select_attr(&body, "section.chat", "hx-target:inherited");
    assert_eq!(section.as_deref(), Some("closest li"), "the page names the reaction forms' target");
    assert_eq!(select_attr(&body, "section.chat", "hx-swap:inherited").as_deref(), Some("outerHTML"));
    assert_eq!(select_attr(&body, "#messages", "hx-target").as_deref(), Some("this"), "the stream's list keeps its own");
    assert_eq!(select_attr(&body, "#composer", "hx-target").as_deref(), Some("this"), "so does the composer");

    let shown = message_html(&bob, chat, 1).await;
    let reactions = path(chat, 1, "reactions");
    assert_eq!(select_attr(&shown, "form.message-tools", "action").as_deref(), Some(reactions.as_str()));
    assert_eq!(select_attr(&shown, "form.message-tools", "method").as_deref(), Some("post"));
    assert_eq!(select_attr(&shown, "form.message-tools", "hx-post").as_deref(), Some(reactions.as_str()));
    let token = select_attr(&shown, "form.message-tools input[type=hidden][name=csrf_token]", "value");
    assert_eq!(token, Some(bob.csrf_token().await), "the plain form carries the token");
    assert_eq!(select_attr(&shown, ".quick-reactions", "aria-label").as_deref(), Some("React with"));
    let quick = select(&shown, ".quick-reactions button[name=emoji]");
    assert_eq!(quick.len(), 6, "{shown}");
    assert!(has(&shown, ".quick-reactions button[name=emoji][value='👍']"), "{shown}");
    assert!(!has(&shown, ".quick-reactions button[type=button]"), "each submits its emoji: {shown}");
    let summary = select_attr(&shown, "details.message-actions > summary", "aria-label");
    assert_eq!(summary.as_deref(), Some("Actions for this message"));
    assert!(has(&shown, &format!("a[href='{reactions}']")), "other emoji: {shown}");
    assert!(has(&shown, &format!("a.reply-link[href='/chats/{chat}?reply_to=1#composer-text']")), "{shown}");
    let mine = message_html(&alice, chat, 1).await;
    assert!(has(&mine, &format!("a.edit-link[href='{}']", path(chat, 1, "edit"))), "{mine}");
    assert!(has(&mine, &format!("a.delete-link[href='{}']", path(chat, 1, "delete"))), "{mine}");

    let token = bob.csrf_token().await;
    let answer = bob
        .http
        .post(bob.url(&reactions))
        .header("HX-Request", "true")
        .header("X-CSRF-Token", token)
        .form(&[("emoji", "👍")])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let fragment = answer.text().await.unwrap();
    assert!(fragment.trim_start().starts_with("<li class=\"message"), "the message alone, for closest li: {fragment}");
    assert_eq!(select_attr(&fragment, "button.reaction", "aria-label").as_deref(), Some("👍 1: you"));
}

/// A database that took account safety (000022) and search speed (000023) before
/// message actions (main's order of landing): 000021 then runs on it, 000025 after it,
/// and the one send left keeps both the block guard and the rev. (000033 changes the
/// tables of 000021, so it goes back first and runs again last.)
#[actix_web::test]
async fn message_actions_migrate_a_database_already_past_account_safety() {
    use diesel::migration::MigrationSource;
    use diesel_migrations::MigrationHarness;
    let db = crate::helpers::TestDb::new();
    let mut conn = db.conn();
    let all = MigrationSource::<diesel::pg::Pg>::migrations(&chaat::db::migrate::MIGRATIONS).unwrap();
    for name in ["000033_chat_id_on_children", "000025_message_actions_functions", "000021_message_actions"] {
        let m = all.iter().find(|m| m.name().to_string().ends_with(name)).unwrap_or_else(|| panic!("{name}"));
        conn.revert_migration(m.as_ref()).unwrap_or_else(|e| panic!("revert {name}: {e}"));
    }
    let has_rev = "SELECT count(*) AS n FROM information_schema.columns WHERE table_name = 'messages' AND column_name = 'rev'";
    assert_eq!(crate::helpers::count(&mut conn, has_rev), 0, "as main was");
    // A message sent the way main sends (the 6-argument send of 000022).
    for sql in [
        "INSERT INTO users (user_id, username, dynamic_salt, pwd_hash) VALUES \
           ('00000000-0000-7000-8000-00000000000a', 'alice', 's', 'h'), ('00000000-0000-7000-8000-00000000000b', 'bob', 's', 'h')",
        "INSERT INTO chats (chat_id, name, is_group, created_by) \
           VALUES ('00000000-0000-7000-8000-0000000000c1', 'crew', true, '00000000-0000-7000-8000-00000000000a')",
        "INSERT INTO chat_participants (chat_id, user_id) VALUES \
           ('00000000-0000-7000-8000-0000000000c1', '00000000-0000-7000-8000-00000000000a'), \
           ('00000000-0000-7000-8000-0000000000c1', '00000000-0000-7000-8000-00000000000b')",
        "SELECT * FROM send_message('00000000-0000-7000-8000-0000000000c1', gen_random_uuid(), \
           '00000000-0000-7000-8000-00000000000a', 'before', NULL, 'text')",
    ] {
        diesel::sql_query(sql).execute(&mut conn).unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    chaat::db::migrate::run_pending(&db.url).expect("000021 and 000025 run after 000023");
    assert_eq!(crate::helpers::count(&mut conn, "SELECT count(*) AS n FROM pg_proc WHERE proname = 'send_message'"), 1, "one send");
    assert_eq!(crate::helpers::count(&mut conn, "SELECT rev AS n FROM messages WHERE seq = 1"), 1, "an old message's rev is its seq");
    let sent = "SELECT count(*) AS n FROM send_message('00000000-0000-7000-8000-0000000000c1', gen_random_uuid(), \
                  '00000000-0000-7000-8000-00000000000b', 'hi @alice', NULL, 'text', 1, '{alice}')";
    assert_eq!(crate::helpers::count(&mut conn, sent), 1);
    assert_eq!(
        crate::helpers::count(&mut conn, "SELECT (last_rev * 10 + (SELECT count(*) FROM message_mentions)) AS n FROM chats"),
        21,
        "rev 2, one mention"
    );
    assert_eq!(crate::helpers::count(&mut conn, "SELECT count(*) AS n FROM chats_as_seen WHERE last_rev = 2"), 2, "the view's rev");
    let guarded = "SELECT count(*) AS n FROM pg_proc WHERE proname = 'send_message' AND prosrc LIKE '%blocked_between%'";
    assert_eq!(crate::helpers::count(&mut conn, guarded), 1, "the block guard of 000022");
}

/// The inbox's hook (SPEC §6 with §7): a mention of me marks my chat list item live with
/// "@" through the `chat` event, and makes a muted chat's item notify; an edit that
/// takes the mention away updates the item live too (the inbox listens to revs).
#[actix_web::test]
async fn a_mention_marks_the_inbox_item_live_and_notifies_even_in_a_muted_chat() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    alice.befriend(&bob).await;
    let group = alice.create_group("crew", &["bob"]).await;
    assert_eq!(bob.post(&format!("/chats/{group}/mute"), &[("for", "always")]).await.status(), StatusCode::SEE_OTHER);
    let mut bobs = EventStream::open(&bob, "/events", None).await;
    assert_eq!(bobs.next_named(WAIT).await.and_then(|e| e.event).as_deref(), Some("badges"), "badges first");
    let item = format!("id=\"chat-{group}\"");

    alice.send(group, "no mention here").await;
    let plain = bobs.wait_named("chat", WAIT, |d| d.contains(&item) && d.contains("no mention here")).await.expect("the item");
    assert!(!plain.data.contains("data-notifies") && !plain.data.contains("chat-row-mention"), "muted: no notification");

    alice.send(group, "@bob look").await;
    let mentioned = bobs.wait_named("chat", WAIT, |d| d.contains(&item) && d.contains("look")).await.expect("the item again");
    assert!(mentioned.data.contains("data-notifies") && mentioned.data.contains("data-mention"), "{}", mentioned.data);
    assert!(mentioned.data.contains("chat-row-mention"), "the @");

    let seq = count_with(&mut app.conn(), "SELECT last_seq AS n FROM chats WHERE chat_id = $1", group);
    assert_eq!(edit(&alice, group, seq, "look").await.status(), StatusCode::SEE_OTHER);
    let edited = bobs.wait_named("chat", WAIT, |d| d.contains(&item) && !d.contains("chat-row-mention")).await;
    assert!(edited.is_some(), "the edit took the mention away: the @ goes live");
}

/// A send with files (multipart, issue 15) takes `reply_to` as the plain form does: a
/// reply with its files; a reply to no message of the chat is 422 and stores nothing.
/// Deleting the message erases its files in the same transaction.
#[actix_web::test]
async fn a_send_with_files_replies_and_a_deletion_erases_its_files() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    alice.send(chat, "the original").await;
    let multipart = |reply_to: &str, with_file: bool| {
        let (alice, reply_to) = (&alice, reply_to.to_string());
        async move {
            let token = alice.csrf_token().await;
            let mut body = String::new();
            for (name, value) in [("csrf_token", token.as_str()), ("text", "with a file"), ("reply_to", reply_to.as_str())] {
                body.push_str(&format!("--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"));
            }
            if with_file {
                body.push_str("--XyZ\r\nContent-Disposition: form-data; name=\"files\"; filename=\"notes.txt\"\r\n");
                body.push_str("Content-Type: application/octet-stream\r\n\r\nsome notes\r\n");
            }
            body.push_str("--XyZ--\r\n");
            alice
                .http
                .post(alice.url(&format!("/chats/{chat}/messages")))
                .header("Content-Type", "multipart/form-data; boundary=XyZ")
                .body(body)
                .send()
                .await
                .unwrap()
        }
    };
    let files = |app: &TestApp| count(&mut app.conn(), "SELECT count(*) AS n FROM attachments");
    assert_eq!(multipart("1", true).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(rows(&app, chat).len(), 2);
    assert_eq!(count_with(&mut app.conn(), "SELECT reply_to AS n FROM messages WHERE chat_id = $1 AND seq = 2", chat), 1);
    assert_eq!(files(&app), 1);
    let shown = message_html(&bob, chat, 2).await;
    assert!(has(&shown, "a.quote") && has(&shown, ".attachment a"), "the quote and the file: {shown}");

    for (reply_to, with_file) in [("99", true), ("abc", true), ("abc", false)] {
        assert_eq!(multipart(reply_to, with_file).await.status(), StatusCode::UNPROCESSABLE_ENTITY, "{reply_to} {with_file}");
    }
    assert_eq!((rows(&app, chat).len(), files(&app)), (2, 1), "nothing stored");

    assert_eq!(delete(&alice, chat, 2).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(files(&app), 0, "its files erased");
}
