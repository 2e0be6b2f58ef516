//! Group commit of sends (issue 19, `send_batch`): sends that arrive while a batch is in
//! flight are written together in one transaction. To know what shares a batch, the
//! tests hold a chat's row lock from their own connection: the batch that needs it waits
//! in the database (seen in `pg_stat_activity`) while the next sends queue up behind it
//! (seen in `SendBatcher::waiting`, with one writer), and they all go into the next batch
//! once the lock is released. A transaction's rows share their `xmin`.

use std::cell::Cell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use chaat::config::Settings;
use chaat::db::cluster::Cluster;
use chaat::domain::MessageText;
use chaat::models::message_batch::Outgoing;
use chaat::models::messages::SendOutcome;
use chaat::models::{ChatId, MessageId, UserId};
use chaat::send_batch::SendBatcher;
use chaat::startup::Application;
use diesel::sql_types::{BigInt, Nullable, Text, Uuid as SqlUuid};
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::process::Chaat;
use crate::helpers::{production_waits, test_settings, Actor, TestDb};

/// An in-process instance whose batcher the test can watch.
struct Instance {
    base: String,
    batcher: SendBatcher,
    handle: actix_web::dev::ServerHandle,
}

impl Instance {
    fn start(database_url: &str, settings: Settings) -> Self {
        let app = Application::build(settings, database_url).expect("build the app");
        let base = format!("http://127.0.0.1:{}", app.port());
        let batcher = app.send_batcher();
        let server = app.server();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        Instance { base, batcher, handle }
    }

    /// Waits until `n` sends are queued behind the batch in flight.
    async fn until_waiting(&self, n: usize) {
        let started = Instant::now();
        while self.batcher.waiting() != n {
            assert!(started.elapsed() < Duration::from_secs(20), "{n} sends queued within 20 s (now {})", self.batcher.waiting());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}

/// One writer: a batch in flight holds back every later send.
fn one_writer(settings: Settings) -> Settings {
    Settings { send_batch_writers: 1, ..settings }
}

/// Friends `a` and `b` (signed up at `base`) and their direct chat.
pub(crate) async fn pair(base: &str, a: &str, b: &str) -> (Actor, Actor, Uuid) {
    let a = Actor::sign_up(base, a).await;
    let b = Actor::sign_up(base, b).await;
    a.befriend(&b).await;
    let chat = a.open_direct(&b).await;
    a.csrf_token().await;
    b.csrf_token().await;
    (a, b, chat)
}

/// A transaction of the test's own holding `chat`'s row lock, the lock every send takes.
fn lock_chat(url: &str, chat: Uuid) -> PgConnection {
    let mut conn = PgConnection::establish(url).unwrap();
    diesel::sql_query("BEGIN").execute(&mut conn).unwrap();
    diesel::sql_query("SELECT chat_id FROM chats WHERE chat_id = $1 FOR UPDATE").bind::<SqlUuid, _>(chat).execute(&mut conn).unwrap();
    conn
}

fn release(mut lock: PgConnection) {
    diesel::sql_query("COMMIT").execute(&mut lock).unwrap();
}

/// Waits until a batch of sends waits for a row lock in the database.
async fn until_a_batch_waits_for_a_lock(url: &str) {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let mut conn = PgConnection::establish(url).unwrap();
    let started = Instant::now();
    loop {
        let waiting = diesel::sql_query(
            "SELECT count(*) AS n FROM pg_stat_activity \
              WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%send_messages%'",
        )
        .get_result::<N>(&mut conn)
        .unwrap()
        .n;
        if waiting > 0 {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "a batch waits for the chat's lock within 20 s");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[derive(diesel::QueryableByName, Debug, Clone)]
pub(crate) struct Stored {
    #[diesel(sql_type = SqlUuid)]
    pub chat_id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = BigInt)]
    pub rev: i64,
    #[diesel(sql_type = SqlUuid)]
    pub message_id: Uuid,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub client_id: Option<Uuid>,
    #[diesel(sql_type = Text)]
    pub text: String,
    /// The transaction that wrote it.
    #[diesel(sql_type = Text)]
    pub tx: String,
}

/// Every message of the database, by chat and seq.
pub(crate) fn stored(url: &str) -> Vec<Stored> {
    diesel::sql_query("SELECT chat_id, seq, rev, message_id, client_id, text, xmin::text AS tx FROM messages ORDER BY chat_id, seq")
        .load(&mut PgConnection::establish(url).unwrap())
        .unwrap()
}

fn in_chat(rows: &[Stored], chat: Uuid) -> Vec<Stored> {
    rows.iter().filter(|r| r.chat_id == chat).cloned().collect()
}

fn by_text<'a>(rows: &'a [Stored], text: &str) -> &'a Stored {
    let found: Vec<&Stored> = rows.iter().filter(|r| r.text == text).collect();
    assert_eq!(found.len(), 1, "{text:?} stored exactly once");
    found[0]
}

/// Each chat's seqs and revs are 1, 2, 3, … (every row here is a new message).
fn assert_gap_free(rows: &[Stored]) {
    let mut chats: HashMap<Uuid, Vec<(i64, i64)>> = HashMap::new();
    for r in rows {
        chats.entry(r.chat_id).or_default().push((r.seq, r.rev));
    }
    for (chat, positions) in chats {
        let n = positions.len() as i64;
        assert_eq!(positions, (1..=n).map(|i| (i, i)).collect::<Vec<_>>(), "chat {chat}: gap-free seqs and revs");
    }
}

/// Every acknowledged `(client_id, text)` stored exactly once, and nothing else.
fn assert_stored_once(rows: &[Stored], acked: &[(Uuid, String)]) {
    assert_eq!(rows.len(), acked.len(), "nothing stored twice, nothing unacknowledged stored");
    for (id, text) in acked {
        let copies: Vec<&Stored> = rows.iter().filter(|r| r.client_id == Some(*id)).collect();
        assert_eq!(copies.len(), 1, "{text} stored exactly once");
        assert_eq!(&copies[0].text, text);
    }
}

/// Sends `n` messages into `chat` one after the other as htmx does, each repeated with
/// its `client_id` until acknowledged (`instances()` gives where to try: the next one
/// after a failure); returns what was acknowledged.
async fn send_until_acked(who: &Actor, chat: Uuid, tag: &str, n: usize, instances: &[Actor]) -> Vec<(Uuid, String)> {
    let mut acked = Vec::new();
    let mut at = 0;
    for i in 0..n {
        let (id, text) = (Uuid::new_v4(), format!("{tag}-{i}"));
        let started = Instant::now();
        let mut current = if instances.is_empty() { who } else { &instances[at] };
        while let Err(why) = current.try_send(chat, &text, id).await {
            assert!(started.elapsed() < Duration::from_secs(60), "{text} acknowledged within 60 s: {why}");
            if !instances.is_empty() {
                at = (at + 1).min(instances.len() - 1);
                current = &instances[at];
            }
            // A browser waits a moment before it repeats a send (Retry-After).
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        acked.push((id, text));
    }
    acked
}

#[actix_web::test]
async fn concurrent_sends_into_several_chats_are_all_stored_gap_free_each_answered_with_its_own_seq() {
    let db = TestDb::new();
    let app = Instance::start(&db.url, test_settings());
    let (alice, bob, x) = pair(&app.base, "alice", "bob").await;
    let (carol, dan, y) = pair(&app.base, "carol", "dan").await;
    let (erin, frank, z) = pair(&app.base, "erin", "frank").await;

    // Over HTTP: six people at once on two instances (whose batches lock chats in the
    // same order, so they never deadlock: every send is answered the first time), each
    // message acknowledged before their next.
    let other = Instance::start(&db.url, test_settings());
    let (bob, dan, frank) = (bob.moved_to(&other.base), dan.moved_to(&other.base), frank.moved_to(&other.base));
    let senders = [(&alice, x), (&bob, x), (&carol, y), (&dan, y), (&erin, z), (&frank, z)];
    let acked: Vec<(Uuid, String)> = futures_util::future::join_all(senders.iter().map(|(who, chat)| async move {
        let mut acked = Vec::new();
        for i in 0..15 {
            let (id, text) = (Uuid::new_v4(), format!("{}-{i}", who.name));
            assert_eq!(who.try_send(*chat, &text, id).await, Ok(()), "{text}");
            acked.push((id, text));
        }
        acked
    }))
    .await
    .into_iter()
    .flatten()
    .collect();
    let rows = stored(&db.url);
    assert_stored_once(&rows, &acked);
    assert_gap_free(&rows);

    // Through the batcher itself: 150 sends queued at once, each answered with its own
    // message, seq and rev as stored.
    let ids: HashMap<Uuid, (UserId, UserId)> = [(x, &alice, &bob), (y, &carol, &dan), (z, &erin, &frank)]
        .into_iter()
        .map(|(chat, a, b)| (chat, (user(&db.url, &a.name), user(&db.url, &b.name))))
        .collect();
    let outgoing: Vec<Outgoing> = (0..150)
        .map(|i| {
            let chat = [x, y, z][i % 3];
            let (a, b) = ids[&chat];
            Outgoing {
                chat_id: ChatId::from(chat),
                message_id: MessageId::new_v7(),
                sender: if i % 2 == 0 { a } else { b },
                text: MessageText::parse(&format!("direct {i}")).unwrap(),
                client_id: Some(Uuid::new_v4()),
                reply_to: None,
            }
        })
        .collect();
    let answers = futures_util::future::join_all(outgoing.iter().cloned().map(|o| app.batcher.send(o))).await;
    let rows = stored(&db.url);
    assert_gap_free(&rows);
    for (sent, answer) in outgoing.iter().zip(answers) {
        let message = match answer {
            Ok(SendOutcome::Sent(message)) => message,
            other => panic!("{} was sent: {other:?}", sent.text.as_str()),
        };
        let row = by_text(&rows, sent.text.as_str());
        assert_eq!(message.message_id, sent.message_id);
        assert_eq!(row.message_id, sent.message_id.as_uuid());
        assert_eq!((message.seq.get(), message.rev.get()), (row.seq, row.rev), "{} answered with its own seq", row.text);
        assert_eq!(message.text, row.text);
    }
    // They shared commits: far fewer transactions than messages.
    let direct: Vec<&Stored> = rows.iter().filter(|r| r.text.starts_with("direct ")).collect();
    let transactions = direct.iter().map(|r| &r.tx).collect::<std::collections::HashSet<_>>().len();
    assert!(transactions * 2 <= direct.len(), "{} messages in {transactions} transactions", direct.len());
}

pub(crate) fn user(url: &str, name: &str) -> UserId {
    #[derive(diesel::QueryableByName)]
    struct U {
        #[diesel(sql_type = SqlUuid)]
        user_id: Uuid,
    }
    let u: U = diesel::sql_query("SELECT user_id FROM users WHERE username = $1")
        .bind::<Text, _>(name)
        .get_result(&mut PgConnection::establish(url).unwrap())
        .unwrap();
    UserId::from(u.user_id)
}

#[actix_web::test]
async fn refused_sends_inside_a_batch_get_their_own_answers_and_the_others_are_stored() {
    let db = TestDb::new();
    let app = Instance::start(&db.url, one_writer(test_settings()));
    let (alice, bob, x) = pair(&app.base, "alice", "bob").await;
    let (carol, dan, y) = pair(&app.base, "carol", "dan").await;
    let (erin, frank, z) = pair(&app.base, "erin", "frank").await;
    assert_eq!(carol.post("/users/dan/block", &[]).await.status(), StatusCode::SEE_OTHER);
    let lock = lock_chat(&db.url, x);
    let first = send(&alice, x, "first", "");
    let batch = async {
        until_a_batch_waits_for_a_lock(&db.url).await;
        // Queued behind it, so written together: two good sends and three refused ones.
        let sends = futures_util::future::join_all([
            send(&bob, x, "from bob", ""),
            send(&frank, x, "not my chat", ""),
            send(&dan, y, "across a block", ""),
            send(&alice, x, "a reply to nothing", "999"),
            send(&erin, z, "from erin", ""),
        ]);
        let release_when_queued = async {
            app.until_waiting(5).await;
            // Too long: refused before it is queued, whatever the batch does.
            let too_long = send(&erin, z, &"a".repeat(4001), "").await;
            release(lock);
            too_long
        };
        futures_util::join!(sends, release_when_queued)
    };
    let (first, (answers, too_long)) = futures_util::join!(first, batch);

    assert_eq!(first, StatusCode::SEE_OTHER);
    assert_eq!(too_long, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        answers,
        [
            StatusCode::SEE_OTHER,
            StatusCode::NOT_FOUND,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::UNPROCESSABLE_ENTITY,
            StatusCode::SEE_OTHER
        ]
    );
    let rows = stored(&db.url);
    assert_eq!(rows.len(), 3, "only the good sends are stored: {rows:?}");
    assert_gap_free(&rows);
    let (first, bob, erin) = (by_text(&rows, "first"), by_text(&rows, "from bob"), by_text(&rows, "from erin"));
    assert_eq!(bob.seq, 2);
    assert_eq!(bob.tx, erin.tx, "one transaction wrote the batch");
    assert_ne!(first.tx, bob.tx);
    assert!(in_chat(&rows, y).is_empty());
}

#[actix_web::test]
async fn a_send_that_fails_unexpectedly_inside_a_batch_fails_alone() {
    let db = TestDb::new();
    let app = Instance::start(&db.url, one_writer(test_settings()));
    let (alice, bob, x) = pair(&app.base, "alice", "bob").await;
    let (carol, dan, y) = pair(&app.base, "carol", "dan").await;
    // A failure no guard of the send foresees, for one text only.
    let mut conn = PgConnection::establish(&db.url).unwrap();
    diesel::sql_query(
        "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'poison'; END; $$",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query(
        "CREATE TRIGGER poison BEFORE INSERT ON messages FOR EACH ROW WHEN (NEW.text = 'poison') EXECUTE FUNCTION refuse_poison()",
    )
    .execute(&mut conn)
    .unwrap();

    let lock = lock_chat(&db.url, x);
    let first = send(&alice, x, "first", "");
    let batch = async {
        until_a_batch_waits_for_a_lock(&db.url).await;
        let sends =
            futures_util::future::join_all([send(&bob, x, "from bob", ""), send(&carol, y, "poison", ""), send(&dan, y, "from dan", "")]);
        let release_when_queued = async {
            app.until_waiting(3).await;
            release(lock);
        };
        let (answers, ()) = futures_util::join!(sends, release_when_queued);
        answers
    };
    let (first, answers) = futures_util::join!(first, batch);

    assert_eq!(first, StatusCode::SEE_OTHER);
    assert_eq!(answers, [StatusCode::SEE_OTHER, StatusCode::INTERNAL_SERVER_ERROR, StatusCode::SEE_OTHER]);
    let rows = stored(&db.url);
    assert_eq!(rows.len(), 3, "all but the poisoned send: {rows:?}");
    assert_gap_free(&rows);
    assert_eq!(by_text(&rows, "from dan").seq, 1);
}

/// The composer's plain form post (a fresh `client_id`); its answer's status.
async fn send(who: &Actor, chat: Uuid, text: &str, reply_to: &str) -> StatusCode {
    let id = Uuid::new_v4().to_string();
    who.post(&format!("/chats/{chat}/messages"), &[("text", text), ("client_id", &id), ("reply_to", reply_to)]).await.status()
}

#[actix_web::test]
async fn two_copies_of_a_client_id_in_one_batch_are_stored_once_and_both_answered() {
    let db = TestDb::new();
    let app = Instance::start(&db.url, one_writer(test_settings()));
    let (alice, bob, x) = pair(&app.base, "alice", "bob").await;
    let twice = Uuid::new_v4();

    let lock = lock_chat(&db.url, x);
    let first = alice.try_send(x, "first", Uuid::new_v4());
    let batch = async {
        until_a_batch_waits_for_a_lock(&db.url).await;
        let sends = futures_util::future::join3(
            alice.try_send(x, "twice", twice),
            alice.try_send(x, "twice", twice),
            bob.try_send(x, "other", Uuid::new_v4()),
        );
        let release_when_queued = async {
            app.until_waiting(3).await;
            release(lock);
        };
        let (sent, ()) = futures_util::join!(sends, release_when_queued);
        sent
    };
    let (first, (a, b, other)) = futures_util::join!(first, batch);
    assert_eq!((first, a, b, other), (Ok(()), Ok(()), Ok(()), Ok(())), "every copy is answered as sent");

    let rows = stored(&db.url);
    assert_eq!(rows.len(), 3, "the repeated client_id is stored once: {rows:?}");
    assert_gap_free(&rows);
    let (once, other) = (by_text(&rows, "twice"), by_text(&rows, "other"));
    assert_eq!(once.client_id, Some(twice));
    assert_eq!(once.tx, other.tx, "both copies were in the batch that wrote it");
}

#[actix_web::test]
async fn a_full_queue_answers_503_at_once_and_every_queued_send_is_stored() {
    let db = TestDb::new();
    // Batches of one: the queue holds 16 sends.
    let app = Instance::start(&db.url, Settings { send_batch: 1, ..one_writer(test_settings()) });
    let (alice, bob, x) = pair(&app.base, "alice", "bob").await;

    let lock = lock_chat(&db.url, x);
    let first = alice.try_send(x, "first", Uuid::new_v4());
    let rest = async {
        until_a_batch_waits_for_a_lock(&db.url).await;
        let queued = futures_util::future::join_all((0..16).map(|i| try_send_text(&bob, x, format!("queued {i}"))));
        let overflow = async {
            app.until_waiting(16).await;
            let id = Uuid::new_v4().to_string();
            let refused = alice.post(&format!("/chats/{x}/messages"), &[("text", "one too many"), ("client_id", &id)]).await;
            release(lock);
            refused
        };
        futures_util::join!(queued, overflow)
    };
    let (first, (queued, refused)) = futures_util::join!(first, rest);

    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
    assert_eq!(first, Ok(()));
    assert!(queued.iter().all(Result::is_ok), "{queued:?}");
    let rows = stored(&db.url);
    assert_eq!(rows.len(), 17, "the first and the 16 queued, not the refused one");
    assert_gap_free(&rows);
}

async fn try_send_text(who: &Actor, chat: Uuid, text: String) -> Result<(), String> {
    who.try_send(chat, &text, Uuid::new_v4()).await
}

/// A cluster of its own (stopping the shared one would disturb the other tests).
struct OwnCluster {
    cluster: Cluster,
    dir: std::path::PathBuf,
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[actix_web::test]
async fn a_batch_interrupted_by_a_database_restart_loses_nothing_acknowledged_and_stores_no_retry_twice() {
    let dir = std::env::temp_dir().join(format!("chaat-batch-{}", Uuid::new_v4().simple()));
    let own = OwnCluster { cluster: Cluster::new(&dir).unwrap(), dir };
    own.cluster.init().unwrap();
    own.cluster.start(&["fsync=off"]).unwrap();
    let mut admin = PgConnection::establish(&own.cluster.url("postgres")).unwrap();
    diesel::sql_query("CREATE DATABASE chaat").execute(&mut admin).unwrap();
    drop(admin);
    let url = own.cluster.url("chaat");
    chaat::db::migrate::run_pending(&url).unwrap();
    let app = Instance::start(&url, one_writer(production_waits(test_settings())));
    let (alice, bob, x) = pair(&app.base, "alice", "bob").await;
    let (carol, dan, y) = pair(&app.base, "carol", "dan").await;

    let lock = Cell::new(Some(lock_chat(&url, x)));
    let restarted = Cell::new(false);
    let senders = futures_util::future::join_all(
        [(&alice, x), (&bob, x), (&carol, y), (&dan, y)].map(|(who, chat)| send_until_acked(who, chat, &who.name, 6, &[])),
    );
    let restart = async {
        // A batch is in flight (waiting for the lock) and sends are queued behind it.
        until_a_batch_waits_for_a_lock(&url).await;
        let started = Instant::now();
        while app.batcher.waiting() == 0 {
            assert!(started.elapsed() < Duration::from_secs(20), "sends queue behind the batch in flight");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        own.cluster.stop().unwrap();
        drop(lock.take());
        own.cluster.start(&["fsync=off"]).unwrap();
        restarted.set(true);
    };
    let (acked, ()) = futures_util::join!(senders, restart);
    assert!(restarted.get());
    let acked: Vec<(Uuid, String)> = acked.into_iter().flatten().collect();

    let rows = stored(&url);
    assert_stored_once(&rows, &acked);
    assert_gap_free(&rows);
    assert_eq!(in_chat(&rows, x).len(), 12);
    drop(app);
}

#[actix_web::test]
async fn an_instance_killed_with_a_batch_in_flight_loses_nothing_acknowledged_and_stores_no_retry_twice() {
    let db = TestDb::new();
    let mut a = Chaat::serve(&db.url, &[("CHAAT_SEND_BATCH_WRITERS", "1")]);
    let b = Chaat::serve(&db.url, &[]);
    let (alice, bob, x) = pair(&a.base, "alice", "bob").await;
    let (carol, dan, y) = pair(&a.base, "carol", "dan").await;

    let lock = Cell::new(Some(lock_chat(&db.url, x)));
    let people = [(&alice, x), (&bob, x), (&carol, y), (&dan, y)];
    // Each tries instance a first and moves to b when a does not answer.
    let moved: Vec<[Actor; 2]> = people.iter().map(|(who, _)| [who.moved_to(&a.base), who.moved_to(&b.base)]).collect();
    let senders = futures_util::future::join_all(
        people.iter().zip(&moved).map(|((who, chat), instances)| send_until_acked(who, *chat, &who.name, 6, instances)),
    );
    let kill = async {
        // A batch is in flight on a (waiting for the lock) when a is killed; the
        // database goes on with it once the lock is free.
        until_a_batch_waits_for_a_lock(&db.url).await;
        a.signal(libc::SIGKILL);
        a.exits_within(Duration::from_secs(5)).await;
        release(lock.take().unwrap());
    };
    let (acked, ()) = futures_util::join!(senders, kill);
    let acked: Vec<(Uuid, String)> = acked.into_iter().flatten().collect();

    let rows = stored(&db.url);
    assert_stored_once(&rows, &acked);
    assert_gap_free(&rows);
    assert_eq!(acked.len(), 24);
}
