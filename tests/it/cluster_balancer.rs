//! Beyond one machine (issue 20), on real engines started as processes by
//! `.ci/cluster.sh` (the same script `make cluster-demo` and the benchmark use): a
//! PostgreSQL primary, a hot standby that streams from it, PgBouncer in transaction
//! mode in front of the primary, two `chaat serve` processes using all three, and HAProxy
//! in front of them. Every request of the tests goes through HAProxy.

use std::cell::Cell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::process::Chaat;
use crate::helpers::sse::{Event, EventStream, Seq, Step};
use crate::helpers::{alice_and_bob, Actor, Scalar};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The databases and the balancer of one test, in a directory of their own; stopped
/// and removed on Drop, and by a watchdog if the test process dies first.
struct Cluster {
    dir: PathBuf,
    urls: HashMap<String, String>,
}

impl Cluster {
    fn up() -> Self {
        let dir = std::env::temp_dir().join(format!("chaat-cl-{}", &Uuid::new_v4().simple().to_string()[..12]));
        let watchdog = format!(
            "while kill -0 {me} 2>/dev/null; do sleep 1; done; bash '{ROOT}/.ci/cluster.sh' down '{dir}'; rm -rf '{dir}'",
            me = std::process::id(),
            dir = dir.display()
        );
        // Never waited for: it outlives this process by design.
        #[allow(clippy::zombie_processes)]
        Command::new("sh")
            .arg("-c")
            .arg(watchdog)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn the cluster watchdog");
        let mut cluster = Cluster { dir, urls: HashMap::new() };
        let printed = cluster.script(&["db-up"]);
        cluster.urls = printed.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect();
        cluster
    }

    fn script(&self, args: &[&str]) -> String {
        let (command, rest) = args.split_first().unwrap();
        let out = Command::new("bash")
            .arg(".ci/cluster.sh")
            .arg(command)
            .arg(&self.dir)
            .args(rest)
            .env("CLUSTER_FAST", "1")
            // Few server connections for two instances' pools: consecutive transactions
            // of one pooled connection land on different server connections.
            .env("POOLER_POOL_SIZE", "4")
            .current_dir(ROOT)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cluster.sh {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn url(&self, key: &str) -> &str {
        &self.urls[key]
    }

    /// `chaat serve` with its pool through PgBouncer, LISTEN and migrations straight to
    /// the primary, heavy reads on the standby, and HAProxy (127.0.0.1) trusted.
    fn instance(&self) -> Chaat {
        Chaat::serve(
            self.url("POOLER_URL"),
            &[
                ("CHAAT_DATABASE_DIRECT_URL", self.url("DIRECT_URL")),
                ("CHAAT_DATABASE_READ_URL", self.url("STANDBY_URL")),
                ("CHAAT_DB_TRANSACTION_POOLING", "true"),
                ("CHAAT_TRUSTED_PROXIES", "127.0.0.1"),
            ],
        )
    }

    /// HAProxy over `instances` on a free port; its base URL once it answers.
    async fn balancer(&self, instances: &[&Chaat]) -> String {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut args = vec!["balancer-up".to_string(), port.to_string()];
        args.extend(instances.iter().map(|i| i.base.trim_start_matches("http://").to_string()));
        let printed = self.script(&args.iter().map(String::as_str).collect::<Vec<_>>());
        let base = printed.trim().strip_prefix("BALANCER_URL=").unwrap().to_string();
        let started = Instant::now();
        while !reqwest::get(format!("{base}/healthz")).await.is_ok_and(|r| r.status() == StatusCode::OK) {
            assert!(started.elapsed() < Duration::from_secs(10), "the balancer answers within 10 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        base
    }

    fn conn(&self, key: &str) -> PgConnection {
        PgConnection::establish(self.url(key)).unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(".ci/cluster.sh").arg("down").arg(&self.dir).current_dir(ROOT).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The htmx "load earlier" fragment of the page before `before`.
async fn history(who: &Actor, chat: Uuid, before: i64) -> String {
    let resp = who.get_htmx(&format!("/chats/{chat}/messages?before={before}")).await;
    assert_eq!(resp.status(), StatusCode::OK, "history before {before}");
    resp.text().await.unwrap()
}

/// The search page for `word`, which must find the message at `seq`.
async fn finds(who: &Actor, word: &str, seq: i64) {
    let (status, page) = who.get_page(&format!("/search?q={word}")).await;
    assert_eq!(status, StatusCode::OK, "search {word}");
    assert!(page.contains(&format!("?at={seq}#")), "search {word} finds the message at seq {seq}");
}

/// Sends `text` (the chat's message number `seq`), then reads it back at once in a
/// page of history and in the search.
async fn send_and_read_back(alice: &Actor, chat: Uuid, text: &str, seq: i64) {
    assert_eq!(alice.send(chat, text).await.status(), StatusCode::SEE_OTHER, "{text}");
    assert!(history(alice, chat, seq + 1).await.contains(&format!(">{text}<")), "the history right after the send shows {text}");
    finds(alice, text, seq).await;
}

/// Rows of `messages` the standby's own backends have read (the app's reads there; its
/// check that it caught up reads only `chats`).
fn standby_message_scans(standby: &mut PgConnection) -> i64 {
    diesel::sql_query(
        "SELECT (coalesce(sum(seq_scan), 0) + coalesce(sum(idx_scan), 0))::bigint AS n FROM pg_stat_user_tables WHERE relname = 'messages'",
    )
    .get_result::<Scalar>(standby)
    .unwrap()
    .n
}

fn last_rev(conn: &mut PgConnection, chat: Uuid) -> i64 {
    diesel::sql_query("SELECT last_rev AS n FROM chats WHERE chat_id = $1")
        .bind::<diesel::sql_types::Uuid, _>(chat)
        .get_result::<Scalar>(conn)
        .unwrap()
        .n
}

#[actix_web::test]
async fn through_the_balancer_people_read_their_writes_and_a_standby_that_stops_refuses_nothing() {
    let cluster = Cluster::up();
    let (a, b) = (cluster.instance(), cluster.instance());
    let lb = cluster.balancer(&[&a, &b]).await;
    let (alice, bob, chat) = alice_and_bob(&lb).await;
    bob.csrf_token().await;
    let path = format!("/chats/{chat}/events");
    let mut stream = EventStream::open(&bob, &path, None).await;

    // More than a page of history, sent through both instances (and PgBouncer): each
    // message reaches bob's stream, on whichever instance it is, once and in order.
    for i in 1..=60 {
        assert_eq!(alice.send(chat, &format!("m{i}")).await.status(), StatusCode::SEE_OTHER);
    }
    let events = stream.take(60, Duration::from_secs(20)).await;
    assert_eq!(events.iter().map(|e| e.seq()).collect::<Vec<_>>(), (1..=60).collect::<Vec<_>>());

    // Read-your-writes: right after a send, a page of history and the search show it.
    for seq in 61..=66 {
        send_and_read_back(&alice, chat, &format!("fresh{seq}"), seq).await;
    }

    // A standby that falls behind (replay paused) is not read: the latest message shows.
    let mut standby = cluster.conn("STANDBY_URL");
    diesel::sql_query("SELECT pg_wal_replay_pause()").execute(&mut standby).unwrap();
    send_and_read_back(&alice, chat, "paused67", 67).await;
    assert!(last_rev(&mut standby, chat) < 67, "the standby had not replayed it");
    diesel::sql_query("SELECT pg_wal_replay_resume()").execute(&mut standby).unwrap();

    // Once it caught up, the standby serves the history pages.
    let mut primary = cluster.conn("DIRECT_URL");
    let started = Instant::now();
    while last_rev(&mut standby, chat) < last_rev(&mut primary, chat) {
        assert!(started.elapsed() < Duration::from_secs(10), "the standby catches up within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let scans = standby_message_scans(&mut standby);
    let started = Instant::now();
    // Statistics reach the view when a backend ends a transaction a second after its last report.
    while standby_message_scans(&mut standby) == scans {
        assert!(started.elapsed() < Duration::from_secs(20), "history pages are read from the standby");
        assert!(history(&alice, chat, 40).await.contains(">m39<"));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The standby stops: every read falls back to the primary, nothing is refused.
    cluster.script(&["standby-stop"]);
    drop(standby);
    for seq in 68..=72 {
        send_and_read_back(&alice, chat, &format!("after{seq}"), seq).await;
    }
    assert!(history(&alice, chat, 11).await.contains(">m10<"));
    let export = alice.get("/settings/export").await;
    assert_eq!(export.status(), StatusCode::OK);
    assert!(export.bytes().await.unwrap().starts_with(b"PK"), "a ZIP from the primary");

    // And bob's stream had every message once, in order.
    let rest = stream.take(12, Duration::from_secs(20)).await;
    assert_eq!(rest.iter().map(|e| e.seq()).collect::<Vec<_>>(), (61..=72).collect::<Vec<_>>());
    assert!(stream.next(Duration::from_millis(300)).await.is_none(), "no duplicate");
}

#[derive(diesel::QueryableByName, Debug)]
struct Stored {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    client_id: Option<Uuid>,
}

fn stored(conn: &mut PgConnection, chat: Uuid) -> Vec<Stored> {
    diesel::sql_query("SELECT seq, client_id FROM messages WHERE chat_id = $1 ORDER BY seq")
        .bind::<diesel::sql_types::Uuid, _>(chat)
        .load(conn)
        .unwrap()
}

#[actix_web::test]
async fn an_instance_killed_behind_the_balancer_under_load_loses_nothing_and_its_streams_resume_on_the_other() {
    let cluster = Cluster::up();
    let (mut a, b) = (cluster.instance(), cluster.instance());
    let lb = cluster.balancer(&[&a, &b]).await;
    let (alice, bob, chat) = alice_and_bob(&lb).await;
    alice.csrf_token().await;
    bob.csrf_token().await;
    let path = format!("/chats/{chat}/events");
    // Two streams opened one after the other: round robin puts one on each instance.
    let (first, second) = (EventStream::open(&bob, &path, None).await, EventStream::open(&bob, &path, None).await);

    let acked_count = Cell::new(0usize);
    let all_sent = Cell::new(None::<i64>);
    let sender = |who: &Actor, n: usize| {
        let (who, acked_count) = (who.moved_to(&lb), &acked_count);
        async move {
            let mut acked = Vec::new();
            for i in 0..25 {
                let (id, text) = (Uuid::new_v4(), format!("s{n}-{i}"));
                // An unanswered send is repeated through the balancer with the same
                // client_id: stored once whether or not the first one was.
                let mut tries = 0;
                while let Err(why) = who.try_send(chat, &text, id).await {
                    tries += 1;
                    assert!(tries < 50, "{text} never acknowledged: {why}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                acked.push(id);
                acked_count.set(acked_count.get() + 1);
            }
            acked
        }
    };
    let mut primary = cluster.conn("DIRECT_URL");
    let all = futures_util::future::join_all([sender(&alice, 0), sender(&bob, 1), sender(&alice, 2), sender(&bob, 3)]);
    let senders = async {
        let acked: Vec<Uuid> = all.await.into_iter().flatten().collect();
        all_sent.set(Some(stored(&mut primary, chat).len() as i64));
        acked
    };
    let killer = async {
        let started = Instant::now();
        while acked_count.get() < 20 {
            assert!(started.elapsed() < Duration::from_secs(30), "20 messages acknowledged before the kill");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        a.signal(libc::SIGKILL);
        acked_count.get()
    };
    let listen = |mut stream: EventStream| {
        let (all_sent, bob, path) = (&all_sent, &bob, &path);
        async move {
            let mut events: Vec<Event> = Vec::new();
            let mut reconnects = 0;
            let started = Instant::now();
            loop {
                let last = events.last().map(|e| e.seq()).unwrap_or(0);
                if all_sent.get().is_some_and(|end| last >= end) {
                    return (events, reconnects, stream);
                }
                assert!(started.elapsed() < Duration::from_secs(60), "the listener caught up within 60 s (at {last})");
                match stream.step(Duration::from_millis(200)).await {
                    Step::Event(event) => events.push(event),
                    Step::Quiet => {}
                    // Its instance is gone: the browser reconnects through the balancer,
                    // from the last event it saw.
                    Step::Ended | Step::Broken(_) => {
                        reconnects += 1;
                        stream = EventStream::open(bob, path, Some(last)).await;
                    }
                }
            }
        }
    };
    let listeners = futures_util::future::join(listen(first), listen(second));
    let (acked, killed_after, ((events_1, reconnects_1, mut s1), (events_2, reconnects_2, mut s2))) =
        futures_util::join!(senders, killer, listeners);

    assert!(killed_after < acked.len(), "the kill came mid-load ({killed_after} of {} acknowledged)", acked.len());
    let status = a.exits_within(Duration::from_secs(5)).await;
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
    assert_eq!(reconnects_1 + reconnects_2, 1, "the one stream on the killed instance moved, once");
    let rows = stored(&mut primary, chat);
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=rows.len() as i64).collect::<Vec<_>>(), "gap-free seqs");
    assert_eq!(rows.len(), acked.len(), "nothing stored twice or unacknowledged");
    for id in &acked {
        assert_eq!(rows.iter().filter(|r| r.client_id == Some(*id)).count(), 1, "{id} stored exactly once");
    }
    for events in [&events_1, &events_2] {
        assert_eq!(
            events.iter().map(|e| e.seq()).collect::<Vec<_>>(),
            (1..=rows.len() as i64).collect::<Vec<_>>(),
            "delivered once, in order"
        );
    }
    for stream in [&mut s1, &mut s2] {
        assert!(stream.next(Duration::from_millis(300)).await.is_none(), "no duplicate after the end");
    }
}
