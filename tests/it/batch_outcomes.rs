//! What one batch of sends answers (`models::message_batch::send_all`, the set-based
//! `send_messages` of migration 000034), called on the test's own connection so that
//! the test decides exactly which sends share the statement: each send's outcome and
//! seq, whatever else the batch holds, and which of the two ways wrote it (the set, or
//! 000029's send-by-send function for a batch with a reply to one of its own sends).

use chaat::domain::MessageText;
use chaat::models::message_batch::{self, InvalidText, Outgoing};
use chaat::models::messages::{MessageView, SendOutcome};
use chaat::models::{ChatId, MessageId, Seq, UserId};
use diesel::sql_types::{BigInt, Text, Uuid as SqlUuid};
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::StatusCode;
use uuid::Uuid;

use crate::batch::{pair, stored, user};
use crate::helpers::{test_settings, TestApp};

fn outgoing(chat: Uuid, sender: UserId, text: &str, client_id: Uuid, reply_to: Option<i64>) -> Outgoing {
    Outgoing {
        chat_id: ChatId::from(chat),
        message_id: MessageId::new_v7(),
        sender,
        text: MessageText::parse(text).unwrap(),
        client_id: Some(client_id),
        reply_to: reply_to.and_then(Seq::new),
    }
}

/// `send_all` in a transaction of its own, and how many times it fell back to writing
/// the sends one by one (000029's function, counted by `track_functions`).
fn send_batch(url: &str, batch: &[Outgoing]) -> (Vec<Result<SendOutcome, InvalidText>>, i64) {
    #[derive(diesel::QueryableByName)]
    struct Calls {
        #[diesel(sql_type = BigInt)]
        calls: i64,
    }
    let mut conn = PgConnection::establish(url).unwrap();
    conn.transaction(|conn| {
        diesel::sql_query("SET LOCAL track_functions = 'pl'").execute(conn)?;
        let outcomes = message_batch::send_all(conn, batch)?;
        let in_turn: Calls = diesel::sql_query(
            "SELECT coalesce(sum(calls), 0)::bigint AS calls FROM pg_stat_xact_user_functions WHERE funcname = 'send_messages_in_turn'",
        )
        .get_result(conn)?;
        Ok::<_, diesel::result::Error>((outcomes, in_turn.calls))
    })
    .unwrap()
}

fn sent(outcome: &Result<SendOutcome, InvalidText>) -> &MessageView {
    match outcome {
        Ok(SendOutcome::Sent(m)) => m,
        other => panic!("expected sent, got {other:?}"),
    }
}

fn repeated(outcome: &Result<SendOutcome, InvalidText>) -> &MessageView {
    match outcome {
        Ok(SendOutcome::Repeated(m)) => m,
        other => panic!("expected repeated, got {other:?}"),
    }
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Counters {
    #[diesel(sql_type = BigInt)]
    last_seq: i64,
    #[diesel(sql_type = BigInt)]
    last_rev: i64,
}

fn counters(url: &str, chat: Uuid) -> Counters {
    diesel::sql_query("SELECT last_seq, last_rev FROM chats WHERE chat_id = $1")
        .bind::<SqlUuid, _>(chat)
        .get_result(&mut PgConnection::establish(url).unwrap())
        .unwrap()
}

fn read_marker(url: &str, chat: Uuid, who: UserId) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct Marker {
        #[diesel(sql_type = BigInt)]
        last_read_seq: i64,
    }
    let m: Marker = diesel::sql_query("SELECT last_read_seq FROM chat_participants WHERE chat_id = $1 AND user_id = $2")
        .bind::<SqlUuid, _>(chat)
        .bind::<SqlUuid, _>(who.as_uuid())
        .get_result(&mut PgConnection::establish(url).unwrap())
        .unwrap();
    m.last_read_seq
}

#[actix_web::test]
async fn one_batch_of_sends_refusals_and_repeats_gets_each_outcome_and_gap_free_seqs() {
    let app = TestApp::spawn_with(test_settings()).await;
    let url = app.db.url.clone();
    let (alice, _bob, x) = pair(&app.address, "alice", "bob").await;
    let (carol, _dan, y) = pair(&app.address, "carol", "dan").await;
    let frank = app.signed_up("frank").await;
    assert_eq!(carol.post("/users/dan/block", &[]).await.status(), StatusCode::SEE_OTHER);
    let group = alice.create_group("crew", &["bob"]).await;
    let (a, b, d, f) = (user(&url, "alice"), user(&url, "bob"), user(&url, "dan"), user(&url, "frank"));
    // Stored before the batch: x's message 1, with the client_id `old`.
    let old = Uuid::new_v4();
    assert_eq!(alice.try_send(x, "before", old).await, Ok(()));
    drop(frank);

    let twice = Uuid::new_v4();
    let batch = [
        outgoing(x, a, "one", twice, None),
        outgoing(x, b, "two", Uuid::new_v4(), Some(1)),
        outgoing(y, d, "across a block", Uuid::new_v4(), None),
        outgoing(x, a, "one, again", twice, None),
        outgoing(x, a, "before, again", old, None),
        outgoing(x, f, "not my chat", Uuid::new_v4(), None),
        outgoing(x, a, "a reply to nothing", Uuid::new_v4(), Some(999)),
        outgoing(group, a, "hi @bob and @frank", Uuid::new_v4(), None),
        outgoing(x, b, "three", Uuid::new_v4(), None),
    ];
    let (outcomes, in_turn) = send_batch(&url, &batch);
    assert_eq!(in_turn, 0, "written as a set, not send by send");
    assert_eq!(outcomes.len(), batch.len());

    let one = sent(&outcomes[0]);
    assert_eq!((one.seq.get(), one.rev.get(), one.text.as_str(), one.chat_id), (2, 2, "one", ChatId::from(x)));
    assert_eq!(one.message_id, batch[0].message_id);
    let two = sent(&outcomes[1]);
    assert_eq!((two.seq.get(), two.sender_name.as_str()), (3, "bob"));
    let quote = two.quote.as_ref().expect("a reply carries its quote");
    assert_eq!((quote.seq.get(), quote.excerpt.as_str(), quote.sender_name.as_str()), (1, "before", "alice"));
    assert!(matches!(outcomes[2], Ok(SendOutcome::NotFriends)), "{:?}", outcomes[2]);
    assert_eq!(repeated(&outcomes[3]).message_id, one.message_id, "a copy later in the batch answers the first");
    let before = repeated(&outcomes[4]);
    assert_eq!((before.seq.get(), before.text.as_str()), (1, "before"));
    assert!(matches!(outcomes[5], Ok(SendOutcome::NotParticipant)), "{:?}", outcomes[5]);
    assert!(matches!(outcomes[6], Ok(SendOutcome::NoSuchReply)), "{:?}", outcomes[6]);
    let hi = sent(&outcomes[7]);
    assert_eq!(hi.mentions, ["bob"], "only members of the group are mentioned");
    assert_eq!(sent(&outcomes[8]).seq.get(), 4);

    let rows = stored(&url);
    let in_x: Vec<(i64, i64, &str)> = rows.iter().filter(|r| r.chat_id == x).map(|r| (r.seq, r.rev, r.text.as_str())).collect();
    assert_eq!(in_x, [(1, 1, "before"), (2, 2, "one"), (3, 3, "two"), (4, 4, "three")]);
    assert!(rows.iter().all(|r| r.chat_id != y), "nothing across the block");
    assert_eq!(counters(&url, x), Counters { last_seq: 4, last_rev: 4 });
    assert_eq!((read_marker(&url, x, a), read_marker(&url, x, b)), (2, 4), "each sender has read their own last message");
    let txs: std::collections::HashSet<&str> =
        rows.iter().filter(|r| ["one", "two", "three", "hi @bob and @frank"].contains(&r.text.as_str())).map(|r| r.tx.as_str()).collect();
    assert_eq!(txs.len(), 1, "one transaction");
}

#[actix_web::test]
async fn a_reply_to_a_send_of_the_same_batch_is_written_send_by_send_and_quotes_it() {
    let app = TestApp::spawn_with(test_settings()).await;
    let url = app.db.url.clone();
    let (alice, _bob, x) = pair(&app.address, "alice", "bob").await;
    let (a, b) = (user(&url, "alice"), user(&url, "bob"));
    assert_eq!(alice.try_send(x, "first", Uuid::new_v4()).await, Ok(()));

    let batch = [outgoing(x, a, "question", Uuid::new_v4(), None), outgoing(x, b, "answer", Uuid::new_v4(), Some(2))];
    let (outcomes, in_turn) = send_batch(&url, &batch);
    assert_eq!(in_turn, 1, "the batch went to 000029's function");
    assert_eq!(sent(&outcomes[0]).seq.get(), 2);
    let answer = sent(&outcomes[1]);
    assert_eq!(answer.seq.get(), 3);
    assert_eq!(answer.quote.as_ref().map(|q| q.excerpt.as_str()), Some("question"));
}

#[actix_web::test]
async fn a_client_id_stored_meanwhile_by_another_transaction_fails_the_batch_and_each_send_alone_is_right() {
    let app = TestApp::spawn_with(test_settings()).await;
    let url = app.db.url.clone();
    let (alice, bob, x) = pair(&app.address, "alice", "bob").await;
    let carol = app.signed_up("carol").await;
    alice.befriend(&carol).await;
    let z = alice.open_direct(&carol).await;
    let (a, b) = (user(&url, "alice"), user(&url, "bob"));
    drop(bob);
    let reused = Uuid::new_v4();

    // Another transaction (as if another instance's batch) stores alice's `reused` in z
    // and has not committed yet when the batch writes it in x.
    let mut other = PgConnection::establish(&url).unwrap();
    diesel::sql_query("BEGIN").execute(&mut other).unwrap();
    let first = message_batch::send_all(&mut other, &[outgoing(z, a, "in z", reused, None)]).unwrap();
    assert!(matches!(first[0], Ok(SendOutcome::Sent(_))));
    let batch = [outgoing(x, a, "in x", reused, None), outgoing(x, b, "after it", Uuid::new_v4(), None)];
    let writing = {
        let (url, batch) = (url.clone(), batch.clone());
        std::thread::spawn(move || message_batch::send_all(&mut PgConnection::establish(&url).unwrap(), &batch))
    };
    until_waiting_for_another_transaction(&url);
    diesel::sql_query("COMMIT").execute(&mut other).unwrap();
    let failed = writing.join().unwrap();
    assert!(failed.is_err(), "the skip would have moved bob's seq: the batch fails whole: {failed:?}");
    assert!(stored(&url).iter().all(|r| r.chat_id != x), "nothing of the batch stored");

    // What the batcher then does: each alone.
    let mut conn = PgConnection::establish(&url).unwrap();
    let again = message_batch::send_all(&mut conn, &batch[..1]).unwrap();
    assert_eq!(repeated(&again[0]).text, "in z", "the copy stored meanwhile answers");
    let after = message_batch::send_all(&mut conn, &batch[1..]).unwrap();
    assert_eq!(sent(&after[0]).seq.get(), 1, "no gap");
}

/// Until a `send_messages` waits for another transaction (a row it must insert or lock).
fn until_waiting_for_another_transaction(url: &str) {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = PgConnection::establish(url).unwrap();
    let started = std::time::Instant::now();
    loop {
        let n: N = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity \
              WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1",
        )
        .bind::<Text, _>("%send_messages%")
        .get_result(&mut conn)
        .unwrap();
        if n.n > 0 {
            return;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "the batch waits within 20 s");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The settings a SQL function of the app runs with (`SET …` in its definition), as
/// `name=value` joined by commas; empty without any.
pub(crate) fn function_settings(conn: &mut PgConnection, function: &str) -> String {
    #[derive(diesel::QueryableByName)]
    struct Settings {
        #[diesel(sql_type = Text)]
        settings: String,
    }
    diesel::sql_query(
        "SELECT coalesce(array_to_string(proconfig, ','), '') AS settings FROM pg_proc \
          WHERE proname = $1 AND pronamespace = 'public'::regnamespace",
    )
    .bind::<Text, _>(function)
    .get_result::<Settings>(conn)
    .unwrap()
    .settings
}

/// Migration 000040: `send_messages` keeps generic plans whatever a batch's size (a
/// one-send batch made PostgreSQL plan the outcomes read-back anew on every call). On
/// one connection, past PostgreSQL's five custom plans, one-send batches that alternate
/// a send and a reply to it (the `mixed` scenario's pattern) are each answered as the
/// first were: the seq, and the reply's quote.
#[actix_web::test]
async fn one_send_batches_on_one_connection_keep_their_answers_with_the_plans_cached() {
    let app = TestApp::spawn_with(test_settings()).await;
    let url = app.db.url.clone();
    let (_alice, _bob, x) = pair(&app.address, "alice", "bob").await;
    let (a, b) = (user(&url, "alice"), user(&url, "bob"));
    let mut conn = PgConnection::establish(&url).unwrap();
    assert_eq!(function_settings(&mut conn, "send_messages"), "plan_cache_mode=force_generic_plan");

    for round in 0..8i64 {
        let seq = 2 * round + 1;
        let said = format!("question {round}");
        let asked = message_batch::send_all(&mut conn, &[outgoing(x, a, &said, Uuid::new_v4(), None)]).unwrap();
        assert_eq!((sent(&asked[0]).seq.get(), sent(&asked[0]).quote.is_none()), (seq, true), "round {round}");
        let answered = message_batch::send_all(&mut conn, &[outgoing(x, b, "answer", Uuid::new_v4(), Some(seq))]).unwrap();
        let answer = sent(&answered[0]);
        let quote = answer.quote.as_ref().expect("a reply carries its quote");
        assert_eq!(
            (answer.seq.get(), quote.seq.get(), quote.excerpt.as_str(), quote.sender_name.as_str()),
            (seq + 1, seq, said.as_str(), "alice")
        );
    }
}

/// Migration 000042: a batch whose sends are all written is answered from the write
/// itself (no read-back). Each outcome is the message as stored: its seq, rev, sent
/// time and text, a reply's quote, and the group members it mentions (sorted, the
/// sender included, a non-member left out), the same mentions `message_mentions` holds.
#[actix_web::test]
async fn an_all_written_batch_answers_each_send_as_stored_with_its_quote_and_mentions() {
    #[derive(diesel::QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        seq: i64,
        #[diesel(sql_type = diesel::sql_types::Timestamptz)]
        sent_time: chrono::DateTime<chrono::Utc>,
        #[diesel(sql_type = Text)]
        mentioned: String,
    }
    let app = TestApp::spawn_with(test_settings()).await;
    let url = app.db.url.clone();
    let (alice, _bob, x) = pair(&app.address, "alice", "bob").await;
    let _frank = app.signed_up("frank").await;
    let group = alice.create_group("crew", &["bob"]).await;
    let (a, b) = (user(&url, "alice"), user(&url, "bob"));
    assert_eq!(alice.try_send(x, "before", Uuid::new_v4()).await, Ok(()));

    let batch = [
        outgoing(x, b, "a reply", Uuid::new_v4(), Some(1)),
        outgoing(group, a, "@frank, @bob and me, @alice", Uuid::new_v4(), None),
        outgoing(x, a, "plain", Uuid::new_v4(), None),
    ];
    let (outcomes, in_turn) = send_batch(&url, &batch);
    assert_eq!(in_turn, 0);
    let answered: Vec<&MessageView> = outcomes.iter().map(sent).collect();

    let reply = answered[0];
    assert_eq!((reply.seq.get(), reply.rev.get(), reply.text.as_str(), reply.sender_name.as_str()), (2, 2, "a reply", "bob"));
    assert_eq!(reply.reply_to.map(Seq::get), Some(1));
    let quote = reply.quote.as_ref().expect("a reply carries its quote");
    let before = stored(&url).into_iter().find(|r| r.text == "before").unwrap();
    assert_eq!(
        (quote.seq.get(), quote.message_id.as_uuid(), quote.excerpt.as_str(), quote.sender_name.as_str(), quote.deleted),
        (1, before.message_id, "before", "alice", false)
    );
    let mentioning = answered[1];
    assert_eq!((mentioning.chat_id, mentioning.sender_name.as_str()), (ChatId::from(group), "alice"));
    assert_eq!(mentioning.mentions, ["alice", "bob"], "the members mentioned, sorted; frank is not one");
    assert!(mentioning.quote.is_none() && reply.mentions.is_empty());
    assert_eq!((answered[2].seq.get(), answered[2].rev.get(), answered[2].text.as_str()), (3, 3, "plain"));

    let mut conn = PgConnection::establish(&url).unwrap();
    for (sent, out) in batch.iter().zip(&answered) {
        assert_eq!(out.message_id, sent.message_id);
        let row: Row = diesel::sql_query(
            "SELECT m.seq, m.sent_time, coalesce(string_agg(u.username, ',' ORDER BY u.username), '') AS mentioned
               FROM messages m LEFT JOIN message_mentions mm ON mm.chat_id = m.chat_id AND mm.seq = m.seq
               LEFT JOIN users u ON u.user_id = mm.user_id
              WHERE m.message_id = $1 GROUP BY m.seq, m.sent_time",
        )
        .bind::<SqlUuid, _>(sent.message_id.as_uuid())
        .get_result(&mut conn)
        .unwrap();
        assert_eq!((row.seq, row.sent_time, row.mentioned), (out.seq.get(), out.sent_time, out.mentions.join(",")));
    }
}
