//! Message-action gaps the audit of issue 14 found (SPEC §7): changes through a killed
//! LISTEN connection and through the sweep alone, resuming across instances from every
//! rev, a deletion inside a concurrent batch, and erasure checked in every table.

use std::time::{Duration, Instant};

use diesel::sql_types::{Text, Uuid as SqlUuid};
use diesel::RunQueryDsl;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::sse::{EventStream, Seq as _};
use crate::helpers::{alice_and_bob, count, count_with, seqs_in, test_settings, Actor, TestApp};

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

fn last_rev(app: &TestApp, chat: Uuid) -> i64 {
    count_with(&mut app.conn(), "SELECT last_rev AS n FROM chats WHERE chat_id = $1", chat)
}

const LISTENERS: &str =
    "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'chaat-listener'";

async fn wait_for_listeners(app: &TestApp, n: i64) {
    let started = Instant::now();
    while count(&mut app.conn(), LISTENERS) < n {
        assert!(started.elapsed() < WAIT, "{n} LISTEN connections up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn edits_and_reactions_arrive_once_through_a_killed_listen_connection() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_on(first.db.clone(), test_settings()).await;
    let (alice, _bob, chat) = alice_and_bob(&first.address).await;
    for t in ["one", "two", "three"] {
        assert_eq!(alice.send(chat, t).await.status(), StatusCode::SEE_OTHER);
    }
    let bob_there = second.logged_in("bob").await;
    let mut stream = EventStream::open(&bob_there, &format!("/chats/{chat}/events?since=3"), None).await;
    let mut want = Vec::new();
    for round in 0..3i64 {
        wait_for_listeners(&first, 2).await;
        let killed = diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'chaat-listener'",
        )
        .execute(&mut first.conn())
        .unwrap();
        assert!(killed >= 1, "round {round}: a LISTEN connection was terminated");
        assert_eq!(edit(&alice, chat, round + 1, &format!("edited {round}")).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(react(&alice, chat, round + 1, "👍").await.status(), StatusCode::SEE_OTHER);
        want.extend([(4 + 2 * round, round + 1), (5 + 2 * round, round + 1)]);
    }
    // A message changed twice before a stream read it comes once, in its latest form;
    // whatever was coalesced, every message comes with its last rev, nothing twice.
    let mut got: Vec<(i64, i64)> = Vec::new();
    let mut last = std::collections::BTreeMap::new();
    let started = Instant::now();
    while got.iter().map(|(rev, _)| *rev).max() != Some(9) {
        assert!(started.elapsed() < Duration::from_secs(20), "every change arrived: {got:?}");
        let Some(e) = stream.next(Duration::from_secs(1)).await else { continue };
        assert_eq!(e.event.as_deref(), Some("update"));
        let seq = seqs_in(&e.data)[0];
        assert!(e.data.contains(&format!("edited {}", seq - 1)), "{}", e.data);
        got.push((e.seq(), seq));
        last.insert(seq, e.data);
    }
    assert!(stream.next(Duration::from_millis(500)).await.is_none(), "no duplicate: {got:?}");
    let revs: Vec<i64> = got.iter().map(|(r, _)| *r).collect();
    assert!(revs.windows(2).all(|w| w[0] < w[1]), "in rev order: {got:?}");
    let mut seqs: Vec<i64> = got.iter().map(|(_, s)| *s).collect();
    seqs.dedup();
    assert_eq!(seqs, vec![1, 2, 3], "each message in rev order: {got:?} (of {want:?})");
    assert!(last.values().all(|d| d.contains("👍 1")), "each message's last form has its reaction");
}

#[actix_web::test]
async fn a_change_nobody_announced_reaches_the_stream_by_the_sweep() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    assert_eq!(alice.send(chat, "before").await.status(), StatusCode::SEE_OTHER);
    let mut stream = EventStream::open(&bob, &format!("/chats/{chat}/events?since=1"), None).await;
    // An edit written behind the app's back: the next rev, no NOTIFY.
    let mut conn = app.conn();
    diesel::sql_query(
        "WITH c AS (UPDATE chats SET last_rev = last_rev + 1 WHERE chat_id = $1 RETURNING last_rev) \
         UPDATE messages SET text = $2, rev = (SELECT last_rev FROM c) WHERE chat_id = $1 AND seq = 1",
    )
    .bind::<SqlUuid, _>(chat)
    .bind::<Text, _>("swept in")
    .execute(&mut conn)
    .unwrap();
    // Within two sweeps (SWEEP_EVERY is 5 s).
    let e = stream.next(Duration::from_secs(12)).await.expect("the sweep found the change");
    assert_eq!((e.seq(), e.event.as_deref()), (2, Some("update")));
    assert!(e.data.contains("swept in") && e.data.contains("data-seq=\"1\""), "{}", e.data);
    assert!(stream.next(Duration::from_millis(500)).await.is_none(), "once");
}

#[actix_web::test]
async fn resuming_on_another_instance_from_every_rev_gives_exactly_the_rest_once() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_on(first.db.clone(), test_settings()).await;
    let (alice, bob, chat) = alice_and_bob(&first.address).await;
    alice.send(chat, "a").await; // rev 1
    bob.send(chat, "b").await; // 2
    edit(&alice, chat, 1, "a2").await; // 3
    react(&bob, chat, 2, "🎉").await; // 4
    alice.send(chat, "c").await; // 5
    assert_eq!(alice.post(&path(chat, 3, "delete"), &[]).await.status(), StatusCode::SEE_OTHER); // 6
    edit(&alice, chat, 1, "a3").await; // 7
    let end = last_rev(&first, chat);
    assert_eq!(end, 7);
    let expected = [(4, 2), (6, 3), (7, 1)]; // (rev, seq) of each message now, by rev
    let bob_there = bob.moved_to(&second.address);
    for from in 0..=end {
        let mut stream = EventStream::open(&bob_there, &format!("/chats/{chat}/events"), Some(from)).await;
        let want: Vec<(i64, i64)> = expected.iter().copied().filter(|(rev, _)| *rev > from).collect();
        let got: Vec<(i64, i64)> = stream.take(want.len(), WAIT).await.iter().map(|e| (e.seq(), seqs_in(&e.data)[0])).collect();
        assert_eq!(got, want, "from rev {from} on the other instance");
        assert!(stream.next(Duration::from_millis(300)).await.is_none(), "nothing more from {from}");
    }
    // And a change made on the first instance after the resume reaches it live.
    let mut stream = EventStream::open(&bob_there, &format!("/chats/{chat}/events"), Some(end)).await;
    react(&alice, chat, 1, "👍").await;
    let e = stream.take(1, WAIT).await.remove(0);
    assert_eq!((e.seq(), seqs_in(&e.data)[0]), (8, 1));
}

#[actix_web::test]
async fn a_deletion_inside_a_concurrent_batch_of_edits_and_reactions_keeps_the_revs_gap_free() {
    let app = TestApp::spawn_with(crate::helpers::patient_settings()).await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    alice.befriend(&bob).await;
    alice.befriend(&carol).await;
    let group = alice.create_group("busy", &["bob", "carol"]).await; // seq 1
    for i in 0..3 {
        assert_eq!(alice.send(group, &format!("a{i}")).await.status(), StatusCode::SEE_OTHER);
        // seqs 2..=4
    }
    let target = 3i64;
    let start = last_rev(&app, group);
    let people = [&alice, &bob, &carol];
    type Work<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = (&'static str, StatusCode)> + 'a>>;
    let mut work: Vec<Work<'_>> = Vec::new();
    let owner = &alice;
    for round in 0..4 {
        for (i, who) in people.iter().enumerate() {
            let emoji = ["👍", "🎉", "😂", "❤️"][(i + round) % 4];
            work.push(Box::pin(async move { ("react", react(who, group, target, emoji).await.status()) }));
        }
        let text = format!("edit {round}");
        work.push(Box::pin(async move { ("edit", edit(owner, group, target, &text).await.status()) }));
        if round == 1 {
            // The owner deletes (bob, a member, may not: 403 whatever the moment).
            work.push(Box::pin(async { ("delete", alice.post(&path(group, target, "delete"), &[]).await.status()) }));
            work.push(Box::pin(async { ("member delete", bob.post(&path(group, target, "delete"), &[]).await.status()) }));
        }
    }
    let results = futures_util::future::join_all(work).await;
    let mut changes = 0;
    for (what, status) in &results {
        match *what {
            "delete" => assert_eq!(*status, StatusCode::SEE_OTHER, "the deletion went through"),
            "member delete" => assert!(*status == StatusCode::FORBIDDEN || *status == StatusCode::CONFLICT, "{status}"),
            _ => assert!(*status == StatusCode::SEE_OTHER || *status == StatusCode::CONFLICT, "{what}: {status}"),
        }
        if *status == StatusCode::SEE_OTHER {
            changes += 1;
        }
    }
    assert_eq!(last_rev(&app, group) - start, changes, "one rev per change that went through: {results:?}");
    let max = count_with(&mut app.conn(), "SELECT max(rev) AS n FROM messages WHERE chat_id = $1", group);
    assert_eq!(max, last_rev(&app, group));
    let left = count_with(
        &mut app.conn(),
        "SELECT count(*) AS n FROM message_reactions r JOIN messages m USING (message_id) WHERE m.chat_id = $1 AND m.deleted_at IS NOT NULL",
        group,
    );
    assert_eq!(left, 0, "no reaction on the deleted message");
    let edits = count_with(
        &mut app.conn(),
        "SELECT count(*) AS n FROM message_edits e JOIN messages m USING (message_id) WHERE m.chat_id = $1",
        group,
    );
    assert_eq!(edits, 0, "no earlier text of it kept");
    let text = count_with(&mut app.conn(), "SELECT count(*) AS n FROM messages WHERE chat_id = $1 AND seq = 3 AND text = ''", group);
    assert_eq!(text, 1, "its text erased");
}

#[actix_web::test]
async fn a_deleted_message_leaves_its_words_in_no_table_at_all() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    alice.befriend(&bob).await;
    let group = alice.create_group("erasure", &["bob"]).await; // seq 1
                                                               // Text, a mention, edits, reactions, a file, a reply quoting it: everything a
                                                               // message can leave behind.
    assert_eq!(alice.send(group, "zanzibarword @bob look").await.status(), StatusCode::SEE_OTHER); // 2
    assert_eq!(edit(&alice, group, 2, "zanzibarword twice @bob").await.status(), StatusCode::SEE_OTHER);
    assert_eq!(react(&bob, group, 2, "👍").await.status(), StatusCode::SEE_OTHER);
    let token = alice.csrf_token().await;
    let file = b"zanzibarword in a file".to_vec();
    let body = crate::attachments::body(&token, "zanzibarword with a file", Uuid::new_v4(), &[("zanzibarword.txt", &file)]);
    assert_eq!(crate::attachments::post_body(&alice, group, body, false).await.status(), StatusCode::SEE_OTHER); // 3
    let reply = bob
        .post(&format!("/chats/{group}/messages"), &[("text", "what?"), ("client_id", &Uuid::new_v4().to_string()), ("reply_to", "2")])
        .await;
    assert_eq!(reply.status(), StatusCode::SEE_OTHER); // 4

    #[derive(diesel::QueryableByName)]
    struct Table {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let tables: Vec<String> = diesel::sql_query(
        "SELECT table_name::text AS name FROM information_schema.tables \
          WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .load::<Table>(&mut app.conn())
    .unwrap()
    .into_iter()
    .map(|t| t.name)
    .collect();
    assert!(tables.len() > 10 && tables.iter().any(|t| t == "attachment_chunks") && tables.iter().any(|t| t == "message_mentions"));
    // Text in any column (jsonb), and bytes (a bytea shows in jsonb as hex).
    let hex: String = b"zanzibar".iter().map(|b| format!("{b:02x}")).collect();
    let holding = |app: &TestApp| -> Vec<String> {
        let mut conn = app.conn();
        tables
            .iter()
            .filter(|t| {
                // The names are the catalogue's, not input; quoted as identifiers.
                let sql = format!(
                    "SELECT count(*) AS n FROM \"{t}\" t WHERE to_jsonb(t)::text ILIKE '%zanzibar%' OR to_jsonb(t)::text LIKE '%{hex}%'"
                );
                count(&mut conn, &sql) > 0
            })
            .cloned()
            .collect()
    };
    let before = holding(&app);
    for t in ["messages", "message_edits", "attachments", "attachment_chunks"] {
        assert!(before.iter().any(|b| b == t), "the scan sees the word in {t}: {before:?}");
    }
    assert_eq!(alice.post(&path(group, 2, "delete"), &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(alice.post(&path(group, 3, "delete"), &[]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(holding(&app), Vec::<String>::new(), "no table holds a deleted message's words");
    let deleted = |sql: &str| count(&mut app.conn(), sql);
    assert_eq!(
        deleted("SELECT count(*) AS n FROM message_mentions x JOIN messages m USING (chat_id, seq) WHERE m.deleted_at IS NOT NULL"),
        0,
        "mentions"
    );
    for t in ["message_reactions", "message_edits", "attachments"] {
        let n = deleted(&format!("SELECT count(*) AS n FROM {t} x JOIN messages m USING (message_id) WHERE m.deleted_at IS NOT NULL"));
        assert_eq!(n, 0, "{t} keeps nothing of a deleted message");
    }
    assert_eq!(deleted("SELECT count(*) AS n FROM attachment_chunks"), 0, "the only file's chunks");
    assert_eq!(deleted("SELECT count(*) AS n FROM message_mentions"), 0, "the only mention was in a deleted message");
}
