//! The live event stream (SSE): order, resume, two instances, a lost LISTEN connection.

use std::time::Duration;

use diesel::RunQueryDsl;
use reqwest::StatusCode;

use crate::helpers::sse::{EventStream, Seq};
use crate::helpers::{alice_and_bob, count, patient_settings, test_settings, Actor, TestApp};

const WAIT: Duration = Duration::from_secs(10);

#[actix_web::test]
async fn the_stream_delivers_a_hundred_messages_in_order() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    let mut stream = EventStream::open(&bob, &format!("/chats/{chat}/events"), None).await;
    for i in 1..=100 {
        assert_eq!(alice.send(chat, &format!("m{i}")).await.status(), StatusCode::SEE_OTHER);
    }
    let events = stream.take(100, WAIT).await;
    assert_eq!(events.iter().map(|e| e.seq()).collect::<Vec<_>>(), (1..=100).collect::<Vec<_>>());
    assert!(events[0].data.contains("m1<") && events[0].data.contains("id=\"msg-"));
    assert!(!events[0].data.contains("mine"), "rendered as bob sees it");
    assert!(events.iter().all(|e| e.event.is_none()), "unnamed events (type `message`)");
    assert!(stream.next(Duration::from_millis(300)).await.is_none(), "no duplicate");
}

#[actix_web::test]
async fn concurrent_senders_reach_the_stream_in_seq_order_without_gaps() {
    // Every send queues on the chat row's lock while holding a pooled connection; on a
    // loaded 2-core machine even the tests' 10 s pool wait can run out (503, by design).
    // This test is about seq order, so it waits as long as it takes.
    let app = TestApp::spawn_with(patient_settings()).await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    let mut stream = EventStream::open(&alice, &format!("/chats/{chat}/events"), None).await;
    let texts: Vec<String> = (0..60).map(|i| format!("c{i}")).collect();
    futures_util::future::join_all(texts.iter().enumerate().map(|(i, t)| (if i % 2 == 0 { &alice } else { &bob }).send(chat, t))).await;
    let events = stream.take(60, WAIT).await;
    assert_eq!(events.iter().map(|e| e.seq()).collect::<Vec<_>>(), (1..=60).collect::<Vec<_>>());
}

#[actix_web::test]
async fn a_stream_resumed_with_last_event_id_gets_exactly_the_missed_messages() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    for i in 1..=10 {
        alice.send(chat, &format!("m{i}")).await;
    }
    let mut resumed = EventStream::open(&bob, &format!("/chats/{chat}/events"), Some(7)).await;
    let replay = resumed.take(3, WAIT).await;
    assert_eq!(replay.iter().map(|e| e.seq()).collect::<Vec<_>>(), vec![8, 9, 10]);
    alice.send(chat, "live").await;
    let live = resumed.take(1, WAIT).await;
    assert_eq!(live[0].seq(), 11, "then live, no gap or duplicate at the seam");
    assert!(resumed.next(Duration::from_millis(300)).await.is_none());

    // `since` works the same for a page that opens the stream.
    let mut since = EventStream::open(&bob, &format!("/chats/{chat}/events?since=9"), None).await;
    assert_eq!(since.take(2, WAIT).await.iter().map(|e| e.seq()).collect::<Vec<_>>(), vec![10, 11]);
}

#[actix_web::test]
async fn a_stream_without_a_position_starts_at_the_end() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    alice.send(chat, "old").await;
    let mut stream = EventStream::open(&bob, &format!("/chats/{chat}/events"), None).await;
    alice.send(chat, "new").await;
    assert_eq!(stream.take(1, WAIT).await[0].seq(), 2);
}

#[actix_web::test]
async fn a_message_posted_on_one_instance_reaches_a_stream_on_another() {
    let (_first, _second, alice, chat, mut stream) = bob_listening_on_a_second_instance().await;
    for i in 1..=20 {
        alice.send(chat, &format!("across {i}")).await;
    }
    let events = stream.take(20, WAIT).await;
    assert_eq!(events.iter().map(|e| e.seq()).collect::<Vec<_>>(), (1..=20).collect::<Vec<_>>());
    assert!(events[19].data.contains("across 20"));
}

#[actix_web::test]
async fn killing_the_listen_connection_loses_no_event() {
    let (first, _second, alice, chat, mut stream) = bob_listening_on_a_second_instance().await;
    alice.send(chat, "before").await;
    assert_eq!(stream.take(1, WAIT).await[0].seq(), 1);

    for round in 0..3 {
        wait_for_listeners(&first, 2).await;
        let killed = diesel::sql_query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'chaat-listener'",
        )
        .execute(&mut first.conn())
        .unwrap();
        assert!(killed >= 1, "round {round}: a LISTEN connection was terminated");
        for i in 0..5 {
            alice.send(chat, &format!("during {round}.{i}")).await;
        }
    }
    let events = stream.take(15, WAIT).await;
    assert_eq!(events.iter().map(|e| e.seq()).collect::<Vec<_>>(), (2..=16).collect::<Vec<_>>());
    assert!(stream.next(Duration::from_millis(300)).await.is_none(), "no duplicate");
}

#[actix_web::test]
async fn the_stream_sends_a_heartbeat_at_once() {
    let app = TestApp::spawn().await;
    let (_alice, bob, chat) = alice_and_bob(&app.address).await;
    let resp = EventStream::request(&bob, &format!("/chats/{chat}/events"), None).await;
    assert_eq!(resp.headers().get("cache-control").unwrap(), "no-cache");
    let mut body = resp.bytes_stream();
    use futures_util::StreamExt;
    let first = tokio::time::timeout(WAIT, body.next()).await.unwrap().unwrap().unwrap();
    let text = String::from_utf8_lossy(&first);
    assert!(text.starts_with(':') || text.starts_with("retry:"), "{text}");
}

/// Waits (bounded) until `n` LISTEN connections are up on the test database.
async fn wait_for_listeners(app: &TestApp, n: i64) {
    let sql = "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'chaat-listener'";
    for _ in 0..200 {
        if count(&mut app.conn(), sql) >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("expected {n} LISTEN connections within 10 s");
}

/// Two instances on one database; alice (on the first) and bob chat, and bob's event
/// stream is open on the second.
async fn bob_listening_on_a_second_instance() -> (TestApp, TestApp, Actor, uuid::Uuid, EventStream) {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_on(first.db.clone(), test_settings()).await;
    let (alice, _bob, chat) = alice_and_bob(&first.address).await;
    let bob_elsewhere = second.logged_in("bob").await;
    let stream = EventStream::open(&bob_elsewhere, &format!("/chats/{chat}/events"), None).await;
    (first, second, alice, chat, stream)
}
