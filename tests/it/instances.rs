//! Instance faults (issue 8.2): two real `chaat serve` processes on one database. One
//! is killed with SIGKILL, or drained with SIGTERM, under load; its clients move to the
//! other.

use std::cell::Cell;
use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

use crate::helpers::process::Chaat;
use crate::helpers::sse::{Event, EventStream, Seq, Step};
use crate::helpers::{alice_and_bob, Actor, TestDb};

#[derive(diesel::QueryableByName, Debug)]
struct Stored {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    seq: i64,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    client_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    text: String,
}

fn stored(db: &TestDb, chat: Uuid) -> Vec<Stored> {
    diesel::sql_query("SELECT seq, client_id, text FROM messages WHERE chat_id = $1 ORDER BY seq")
        .bind::<diesel::sql_types::Uuid, _>(chat)
        .load(&mut db.conn())
        .unwrap()
}

/// Every acknowledged message is stored exactly once, with gap-free seqs.
fn assert_stored_once(rows: &[Stored], acked: &[(Uuid, String)]) {
    assert_eq!(rows.iter().map(|r| r.seq).collect::<Vec<_>>(), (1..=rows.len() as i64).collect::<Vec<_>>(), "gap-free seqs");
    for (id, text) in acked {
        let copies: Vec<_> = rows.iter().filter(|r| r.client_id == Some(*id)).collect();
        assert_eq!(copies.len(), 1, "{text} stored exactly once");
        assert_eq!(&copies[0].text, text);
    }
}

/// Events carry seqs 1, 2, 3, ... (in order, none twice, none skipped), each with the
/// stored message's text.
fn assert_delivered_in_order(events: &[Event], rows: &[Stored]) {
    assert_eq!(events.iter().map(|e| e.seq()).collect::<Vec<_>>(), (1..=events.len() as i64).collect::<Vec<_>>());
    for (event, row) in events.iter().zip(rows) {
        assert!(event.data.contains(&format!(">{}</div>", row.text)), "event {} carries {}", event.seq(), row.text);
    }
}

#[actix_web::test]
async fn clients_of_an_instance_killed_under_load_resume_on_another_and_lose_nothing() {
    let db = TestDb::new();
    let mut a = Chaat::serve(&db.url, &[]);
    let b = Chaat::serve(&db.url, &[]);
    let (alice, bob, chat) = alice_and_bob(&a.base).await;
    alice.csrf_token().await;
    bob.csrf_token().await;
    let path = format!("/chats/{chat}/events");
    let mut stream = EventStream::open(&bob, &path, None).await;

    let acked_count = Cell::new(0usize);
    let all_sent = Cell::new(None::<i64>);
    let sender = |who: &Actor, n: usize| {
        let (on_a, on_b) = (who.moved_to(&a.base), who.moved_to(&b.base));
        let acked_count = &acked_count;
        async move {
            let mut acked = Vec::new();
            let mut current = &on_a;
            for i in 0..25 {
                let (id, text) = (Uuid::new_v4(), format!("s{n}-{i}"));
                // An unanswered send is repeated with the same client_id on the
                // other instance: stored once whether or not the first one was.
                let mut tries = 0;
                while let Err(why) = current.try_send(chat, &text, id).await {
                    tries += 1;
                    assert!(tries < 50, "{text} never acknowledged: {why}");
                    current = &on_b;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                acked.push((id, text));
                acked_count.set(acked_count.get() + 1);
            }
            acked
        }
    };
    let all = futures_util::future::join_all([sender(&alice, 0), sender(&bob, 1), sender(&alice, 2), sender(&bob, 3)]);
    let senders = async {
        let acked: Vec<(Uuid, String)> = all.await.into_iter().flatten().collect();
        all_sent.set(Some(stored(&db, chat).len() as i64));
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
    let bob_on_b = bob.moved_to(&b.base);
    let listener = async {
        let mut events: Vec<Event> = Vec::new();
        let mut reconnects = 0;
        let started = Instant::now();
        loop {
            let last = events.last().map(|e| e.seq()).unwrap_or(0);
            if all_sent.get().is_some_and(|end| last >= end) {
                return (events, reconnects);
            }
            assert!(started.elapsed() < Duration::from_secs(40), "the listener caught up within 40 s (at {last})");
            match stream.step(Duration::from_millis(200)).await {
                Step::Event(event) => events.push(event),
                Step::Quiet => {}
                // Its instance is gone: resume on the other one from the last event seen.
                Step::Ended | Step::Broken(_) => {
                    reconnects += 1;
                    stream = EventStream::open(&bob_on_b, &path, Some(last)).await;
                }
            }
        }
    };
    let (acked, killed_after, (events, reconnects)) = futures_util::join!(senders, killer, listener);

    assert!(killed_after < acked.len(), "the kill came mid-load ({killed_after} of {} acknowledged)", acked.len());
    let status = a.exits_within(Duration::from_secs(5)).await;
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(libc::SIGKILL));
    assert_eq!(reconnects, 1, "the listener moved once");
    let rows = stored(&db, chat);
    assert_eq!(rows.len(), acked.len(), "nothing stored twice or unacknowledged");
    assert_stored_once(&rows, &acked);
    assert_eq!(events.len(), rows.len(), "every stored message delivered");
    assert_delivered_in_order(&events, &rows);
    assert!(stream.next(Duration::from_millis(300)).await.is_none(), "no duplicate after the end");
}

/// `host:port` of a base URL.
fn authority(base: &str) -> &str {
    base.trim_start_matches("http://")
}

#[actix_web::test]
async fn sigterm_drains_in_flight_requests_ends_streams_cleanly_and_exits() {
    let db = TestDb::new();
    let mut a = Chaat::serve(&db.url, &[]);
    let b = Chaat::serve(&db.url, &[]);
    let (alice, bob, chat) = alice_and_bob(&a.base).await;
    bob.csrf_token().await;
    let mut stream = EventStream::open(&bob, &format!("/chats/{chat}/events"), None).await;

    // A form post in flight: head sent (the server's 100 Continue proves it is being
    // handled), half of its body sent.
    let token = alice.csrf_token().await;
    let slow_id = Uuid::new_v4();
    let body = format!("text=in+flight&client_id={slow_id}&csrf_token={token}");
    let mut slow = TcpStream::connect(authority(&a.base)).await.unwrap();
    let head = format!(
        "POST /chats/{chat}/messages HTTP/1.1\r\nHost: {}\r\nCookie: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        authority(&a.base),
        alice.cookie_header(),
        body.len()
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    let mut continued = [0u8; 25];
    tokio::time::timeout(Duration::from_secs(5), slow.read_exact(&mut continued)).await.unwrap().unwrap();
    assert_eq!(&continued, b"HTTP/1.1 100 Continue\r\n\r\n");
    let (first_half, second_half) = body.split_at(body.len() / 2);
    slow.write_all(first_half.as_bytes()).await.unwrap();

    let acked_count = Cell::new(0usize);
    let terminated = Cell::new(false);
    let sender = |who: &Actor, n: usize| {
        let (acked_count, terminated) = (&acked_count, &terminated);
        let who = who.moved_to(&a.base);
        async move {
            let mut acked = Vec::new();
            for i in 0..500 {
                let (id, text) = (Uuid::new_v4(), format!("s{n}-{i}"));
                match who.try_send(chat, &text, id).await {
                    Ok(()) => {
                        acked.push((id, text));
                        acked_count.set(acked_count.get() + 1);
                    }
                    // Once draining, a send may be refused (or reset while it
                    // waited to be accepted), but an answer that started finishes.
                    Err(why) if terminated.get() => {
                        assert!(!why.contains("cut off"), "{text}: {why}");
                        break;
                    }
                    Err(why) => panic!("{text} before SIGTERM: {why}"),
                }
            }
            acked
        }
    };
    let senders = futures_util::future::join_all([sender(&alice, 0), sender(&bob, 1), sender(&alice, 2)]);
    let drain = async {
        let started = Instant::now();
        while acked_count.get() < 10 {
            assert!(started.elapsed() < Duration::from_secs(20), "10 messages sent before SIGTERM");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        a.signal(libc::SIGTERM);
        terminated.set(true);

        // The open stream ends cleanly (its chunked body finishes), well before the
        // shutdown timeout would cut it.
        let mut events = Vec::new();
        loop {
            match stream.step(Duration::from_secs(8)).await {
                Step::Event(event) => events.push(event),
                Step::Ended => break,
                Step::Quiet => panic!("the stream was not ended within 8 s of SIGTERM"),
                Step::Broken(why) => panic!("the stream was cut off, not ended: {why}"),
            }
        }
        // New connections are refused while the in-flight request still runs.
        let started = Instant::now();
        while TcpStream::connect(authority(&a.base)).await.is_ok() {
            assert!(started.elapsed() < Duration::from_secs(5), "new connections refused within 5 s of SIGTERM");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(a.is_running(), "still draining");

        // The in-flight request gets its whole answer.
        slow.write_all(second_half.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut answer)).await.unwrap().unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 303"), "{answer}");
        assert!(answer.contains(&format!("location: /chats/{chat}")), "{answer}");
        events
    };
    let (acked, events) = futures_util::join!(senders, drain);
    let acked: Vec<(Uuid, String)> = acked.into_iter().flatten().collect();

    let status = a.exits_within(Duration::from_secs(12)).await;
    assert!(status.success(), "exit status 0 after a drain: {status:?}");
    let rows = stored(&db, chat);
    assert_stored_once(&rows, &acked);
    assert_stored_once(&rows, &[(slow_id, "in flight".into())]);
    // The browser reconnects elsewhere with Last-Event-ID and gets the rest, once.
    let last = events.last().map(|e| e.seq()).unwrap_or(0);
    let mut resumed = EventStream::open(&bob.moved_to(&b.base), &format!("/chats/{chat}/events"), Some(last)).await;
    let mut events = events;
    events.extend(resumed.take(rows.len() - events.len(), Duration::from_secs(10)).await);
    assert_delivered_in_order(&events, &rows);
    assert!(resumed.next(Duration::from_millis(300)).await.is_none(), "no duplicate");
}
