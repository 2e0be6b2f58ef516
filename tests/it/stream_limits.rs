//! Event streams, sessions and connections (issue 21, points 1 and 2), on real `chaat
//! serve` processes configured through the environment: a stream ends with its session,
//! on every instance, and by itself after its lifetime; one person or one address
//! cannot take an instance's connections, and a reserve stays for everyone else.

use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use reqwest::{Response, StatusCode};
use uuid::Uuid;

use crate::helpers::process::Chaat;
use crate::helpers::sse::{Event, EventStream, Seq, Step};
use crate::helpers::{alice_and_bob, assert_redirect, Actor, Client, TestDb, PASSWORD};

const WAIT: Duration = Duration::from_secs(10);
/// A session's end reaches a stream on another instance through a notification: at
/// once. (The sweep, every 5 s, is only the fallback.)
const ENDS_WITHIN: Duration = Duration::from_secs(3);
/// What "promptly" means for the others while one account floods: the tests share two
/// busy cores; without the caps these requests never got an answer at all.
const PROMPTLY: Duration = Duration::from_secs(5);

fn events_of(chat: Uuid) -> String {
    format!("/chats/{chat}/events")
}

/// Reads `stream` until the server ends it properly; the events it still delivered.
/// Panics if it is still open after `bound` or was cut off instead of ended.
async fn until_it_ends(stream: &mut EventStream, bound: Duration) -> Vec<Event> {
    let deadline = Instant::now() + bound;
    let mut delivered = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match stream.step(left).await {
            Step::Event(event) => delivered.push(event),
            Step::Ended => return delivered,
            Step::Quiet => panic!("the stream is still open after {bound:?} (delivered {:?})", seqs(&delivered)),
            Step::Broken(why) => panic!("the stream was cut off instead of ended: {why}"),
        }
    }
}

fn seqs(events: &[Event]) -> Vec<i64> {
    events.iter().map(|e| e.seq()).collect()
}

#[actix_web::test]
async fn a_logout_on_one_instance_ends_that_session_s_stream_on_another_and_it_delivers_nothing_after() {
    let db = TestDb::new();
    let a = Chaat::serve(&db.url, &[]);
    let b = Chaat::serve(&db.url, &[]);
    let (alice, bob, chat) = alice_and_bob(&a.base).await;
    let bob_on_b = Actor::log_in(&b.base, "bob").await;
    let mut s2 = EventStream::open(&bob_on_b, &events_of(chat), None).await;
    let mut s1 = EventStream::open(&bob.moved_to(&b.base), &events_of(chat), None).await;
    alice.send(chat, "before").await;
    assert_eq!(s2.take(1, WAIT).await[0].seq(), 1, "the stream on B is live");

    assert_redirect(&bob_on_b.moved_to(&a.base).logout().await, "/login");
    let logged_out = Instant::now();
    alice.send(chat, "after the logout").await;
    let late = until_it_ends(&mut s2, ENDS_WITHIN).await;
    assert!(late.is_empty(), "nothing sent after the logout reaches the stream: {:?}", seqs(&late));
    eprintln!("the logged-out session's stream on B ended {:?} after the logout", logged_out.elapsed());

    assert_eq!(seqs(&s1.take(2, WAIT).await), vec![1, 2], "bob's other session's stream goes on");
    // Reconnecting with the old cookie: the login page, and for htmx (whose SSE extension
    // reconnects by itself) a 401, so the page stops reconnecting and goes to the login.
    assert_redirect(&EventStream::request(&bob_on_b, &events_of(chat), Some(1)).await, "/login");
    let htmx = bob_on_b.http.get(bob_on_b.url(&events_of(chat))).header("HX-Request", "true").send().await.unwrap();
    assert_eq!(htmx.status(), StatusCode::UNAUTHORIZED);
}

#[actix_web::test]
async fn logging_out_the_others_or_a_password_change_on_one_instance_ends_the_other_sessions_streams_on_another() {
    let db = TestDb::new();
    let a = Chaat::serve(&db.url, &[]);
    let b = Chaat::serve(&db.url, &[]);
    let (alice, bob, chat) = alice_and_bob(&a.base).await;
    let mut own = EventStream::open(&bob.moved_to(&b.base), &events_of(chat), None).await;

    // "Log out other sessions" on A, by bob's first session.
    let elsewhere = Actor::log_in(&b.base, "bob").await;
    let mut other = EventStream::open(&elsewhere, &events_of(chat), None).await;
    alice.send(chat, "one").await;
    assert_eq!(other.take(1, WAIT).await[0].seq(), 1);
    assert_redirect(&bob.post("/settings/sessions/others/logout", &[]).await, "/settings?done=sessions");
    alice.send(chat, "two").await;
    let late = until_it_ends(&mut other, ENDS_WITHIN).await;
    assert!(late.is_empty(), "nothing after logging out the others: {:?}", seqs(&late));
    assert_eq!(seqs(&own.take(2, WAIT).await), vec![1, 2], "the session that did it keeps its stream");

    // A password change on A, by the same first session.
    let elsewhere = Actor::log_in(&b.base, "bob").await;
    let mut other = EventStream::open(&elsewhere, &events_of(chat), None).await;
    alice.send(chat, "three").await;
    assert_eq!(other.take(1, WAIT).await[0].seq(), 3);
    let new = "a brand new secret";
    let changed =
        bob.post("/settings/password", &[("current_password", PASSWORD), ("new_password", new), ("new_password_confirm", new)]).await;
    assert_redirect(&changed, "/settings?done=password");
    alice.send(chat, "four").await;
    let late = until_it_ends(&mut other, ENDS_WITHIN).await;
    assert!(late.is_empty(), "nothing after the password change: {:?}", seqs(&late));
}

#[actix_web::test]
async fn a_session_that_is_gone_without_a_notification_ends_its_streams_at_the_next_sweep() {
    let db = TestDb::new();
    let a = Chaat::serve(&db.url, &[]);
    let (alice, bob, chat) = alice_and_bob(&a.base).await;
    let mut stream = EventStream::open(&bob, &events_of(chat), None).await;
    alice.send(chat, "hi").await;
    assert_eq!(stream.take(1, WAIT).await[0].seq(), 1);
    // As if the notification were lost (or the session expired): the row just goes.
    let gone = diesel::sql_query("DELETE FROM sessions WHERE user_id = (SELECT user_id FROM users WHERE username = 'bob')")
        .execute(&mut db.conn())
        .unwrap();
    assert_eq!(gone, 1);
    // The sweep runs every 5 s.
    until_it_ends(&mut stream, Duration::from_secs(8)).await;
}

#[actix_web::test]
async fn a_stream_ends_by_itself_after_its_lifetime_and_the_reconnect_loses_nothing() {
    let db = TestDb::new();
    let a = Chaat::serve(&db.url, &[("CHAAT_STREAM_MAX_SECS", "2")]);
    let (alice, bob, chat) = alice_and_bob(&a.base).await;
    let opened = Instant::now();
    let mut stream = EventStream::open(&bob, &events_of(chat), None).await;
    alice.send(chat, "m1").await;
    assert_eq!(stream.take(1, WAIT).await[0].seq(), 1);
    let rest = until_it_ends(&mut stream, Duration::from_secs(6)).await;
    let lived = opened.elapsed();
    assert!(rest.is_empty() && lived >= Duration::from_millis(1500), "ended after {lived:?}, no sooner than its lifetime");

    // Sent while the browser waits to reconnect: the reconnect (Last-Event-ID) brings them.
    alice.send(chat, "m2").await;
    alice.send(chat, "m3").await;
    let mut resumed = EventStream::open(&bob, &events_of(chat), Some(1)).await;
    assert_eq!(seqs(&resumed.take(2, WAIT).await), vec![2, 3]);
    assert!(resumed.next(Duration::from_millis(300)).await.is_none(), "no duplicate");
}

/// What `n` attempts to open `path` at once got within `wait` each: the open streams
/// (kept, so they stay open), the refusals, and how many got no answer at all.
struct Attempts {
    open: Vec<Response>,
    refused: Vec<Response>,
    unanswered: usize,
}

async fn open_many(who: &Client, path: &str, n: usize, wait: Duration) -> Attempts {
    let tries = (0..n).map(|_| tokio::time::timeout(wait, who.http.get(who.url(path)).send()));
    let mut attempts = Attempts { open: vec![], refused: vec![], unanswered: 0 };
    for answer in futures_util::future::join_all(tries).await {
        match answer {
            Ok(Ok(resp)) if resp.status() == StatusCode::OK => attempts.open.push(resp),
            Ok(Ok(resp)) => attempts.refused.push(resp),
            Ok(Err(_)) | Err(_) => attempts.unanswered += 1,
        }
    }
    attempts
}

/// Each refusal has `status`, a `Retry-After` and closes its connection.
fn assert_refused(refused: &[Response], status: StatusCode) {
    for resp in refused {
        assert_eq!(resp.status(), status);
        assert!(resp.headers().get("retry-after").is_some(), "{status} with Retry-After");
        assert_eq!(resp.headers().get("connection").and_then(|v| v.to_str().ok()), Some("close"), "the connection is let go");
    }
}

/// Someone else, on a new connection, still gets `/healthz` and a page promptly.
async fn others_are_served(base: &str, someone: &Actor) {
    let started = Instant::now();
    let fresh = Client::new(base);
    let health = tokio::time::timeout(PROMPTLY, fresh.get("/healthz")).await.expect("/healthz answers promptly");
    assert_eq!(health.status(), StatusCode::OK);
    let (status, _) = tokio::time::timeout(PROMPTLY, someone.get_page("/chats")).await.expect("a page answers promptly");
    assert_eq!(status, StatusCode::OK);
    eprintln!("/healthz and /chats answered in {:?}", started.elapsed());
}

type Body = std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<actix_web::web::Bytes>>>>;

/// Of these open streams, the ones the server has not ended after `wait`.
async fn still_open_after(streams: Vec<Response>, wait: Duration) -> Vec<Body> {
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + wait;
    let checks = streams.into_iter().map(|resp| async move {
        let mut body: Body = Box::pin(resp.bytes_stream());
        loop {
            match tokio::time::timeout_at(deadline, body.next()).await {
                Err(_) => return Some(body),
                Ok(None | Some(Err(_))) => return None,
                Ok(Some(Ok(_))) => {}
            }
        }
    });
    futures_util::future::join_all(checks).await.into_iter().flatten().collect()
}

#[actix_web::test]
async fn one_account_opening_a_hundred_streams_keeps_eight_and_everyone_else_is_still_served() {
    let db = TestDb::new();
    let a = Chaat::serve(&db.url, &[("CHAAT_MAX_CONNECTIONS", "60")]);
    let (alice, bob, chat) = alice_and_bob(&a.base).await;
    let flood = open_many(&alice, &events_of(chat), 100, WAIT).await;
    assert_eq!((flood.open.len(), flood.refused.len(), flood.unanswered), (100, 0, 0), "each answered at once, none refused");
    let kept = still_open_after(flood.open, Duration::from_secs(5)).await;
    assert_eq!(kept.len(), 8, "over 8, each new stream closed alice's oldest");
    others_are_served(&a.base, &bob).await;
    // bob's streams are his own: alice's count is not his.
    let mut bobs = EventStream::open(&bob, &events_of(chat), None).await;
    alice.send(chat, "still live").await;
    assert_eq!(bobs.take(1, WAIT).await[0].seq(), 1);
}

#[actix_web::test]
async fn one_address_and_all_streams_together_are_capped_and_a_reserve_stays_for_everyone_else() {
    let db = TestDb::new();
    // Per address: 32 (the default), with room for 20 streams per person.
    let a = Chaat::serve(&db.url, &[("CHAAT_MAX_CONNECTIONS", "60"), ("CHAAT_STREAMS_PER_PERSON", "20")]);
    // For all streams together (90 % of 60 = 54): no address cap that comes first.
    let b =
        Chaat::serve(&db.url, &[("CHAAT_MAX_CONNECTIONS", "60"), ("CHAAT_STREAMS_PER_PERSON", "20"), ("CHAAT_STREAMS_PER_ADDR", "1000")]);
    let (alice, bob, _) = alice_and_bob(&a.base).await;
    let carol = Actor::sign_up(&a.base, "carol").await;
    let dave = Actor::sign_up(&a.base, "dave").await;
    alice.befriend(&carol).await;
    let group = alice.create_group("Many tabs", &["bob", "carol"]).await;
    let path = events_of(group);

    let alices = open_many(&alice, &path, 20, WAIT).await;
    assert_eq!(alices.open.len(), 20);
    let bobs = open_many(&bob, &path, 20, WAIT).await;
    assert_eq!((bobs.open.len(), bobs.refused.len(), bobs.unanswered), (12, 8, 0), "32 from one address");
    assert_refused(&bobs.refused, StatusCode::TOO_MANY_REQUESTS);
    others_are_served(&a.base, &dave).await;
    drop((alices, bobs));

    let mut held = Vec::new();
    for who in [&alice, &bob, &carol] {
        held.push(open_many(&who.moved_to(&b.base), &path, 20, WAIT).await);
    }
    let open: usize = held.iter().map(|h| h.open.len()).sum();
    let refused: Vec<Response> = held.iter_mut().flat_map(|h| std::mem::take(&mut h.refused)).collect();
    assert_eq!((open, refused.len(), held.iter().map(|h| h.unanswered).sum::<usize>()), (54, 6, 0), "streams take at most 90 %");
    assert_refused(&refused, StatusCode::SERVICE_UNAVAILABLE);
    others_are_served(&b.base, &dave.moved_to(&b.base)).await;
}
