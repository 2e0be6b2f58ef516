//! Overload (issue 8.3): an exhausted pool answers 503 with Retry-After within the
//! pool wait, with bounded threads and memory; slow clients are cut off and do not stop
//! others from being served.

use std::cell::Cell;
use std::time::{Duration, Instant};

use diesel::RunQueryDsl;
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use uuid::Uuid;

use chaat::config::Settings;

use crate::helpers::process::Chaat;
use crate::helpers::{alice_and_bob, count, count_with, test_settings, Actor, Client, TestApp, TestDb, PASSWORD};

/// Opens a connection and sends `request` (which says `Connection: close`).
async fn send_request(addr: &str, request: &str) -> (TcpStream, Instant) {
    let mut conn = TcpStream::connect(addr).await.unwrap();
    conn.write_all(request.as_bytes()).await.unwrap();
    (conn, Instant::now())
}

/// The whole answer and how long after its request it came; panics after `bound`.
async fn answer(mut conn: TcpStream, sent: Instant, bound: Duration) -> (String, Duration) {
    let mut answer = Vec::new();
    tokio::time::timeout(bound, conn.read_to_end(&mut answer))
        .await
        .unwrap_or_else(|_| panic!("no answer within {bound:?}: a request queued without bound"))
        .unwrap();
    (String::from_utf8_lossy(&answer).into_owned(), sent.elapsed())
}

/// Locks the chat's row in `locker`'s open transaction: sends to it wait for the lock.
fn lock_chat(locker: &mut diesel::PgConnection, chat: Uuid) {
    diesel::sql_query("SELECT 1 FROM chats WHERE chat_id = $1 FOR UPDATE")
        .bind::<diesel::sql_types::Uuid, _>(chat)
        .execute(locker)
        .unwrap();
}

#[actix_web::test]
async fn with_the_pool_exhausted_a_burst_gets_503_and_retry_after_in_bounded_time_and_memory() {
    let db = TestDb::new();
    // Statements may wait a minute here: the pool must stay exhausted during the burst.
    // Sends each in their own transaction (no group commit), so that two stuck sends
    // surely hold both connections.
    let server = Chaat::serve(
        &db.url,
        &[("CHAAT_DB_POOL_SIZE", "2"), ("CHAAT_DB_WAIT_MS", "1500"), ("CHAAT_DB_STATEMENT_TIMEOUT_MS", "60000"), ("CHAAT_SEND_BATCH", "0")],
    );
    let addr = server.base.trim_start_matches("http://").to_string();
    let (alice, _bob, chat) = alice_and_bob(&server.base).await;
    alice.csrf_token().await;

    // Exhaust the pool: the chat row is locked here, so two sends each hold one of the
    // two pooled connections, waiting for the lock.
    let mut locker = db.conn();
    diesel::sql_query("BEGIN").execute(&mut locker).unwrap();
    lock_chat(&mut locker, chat);
    let stuck: Vec<_> = (0..2)
        .map(|i| {
            let alice = alice.moved_to(&server.base);
            actix_web::rt::spawn(async move { alice.try_send(chat, &format!("stuck {i}"), Uuid::new_v4()).await })
        })
        .collect();
    let waiting = "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'";
    let started = Instant::now();
    while count(&mut db.conn(), waiting) < 2 {
        assert!(started.elapsed() < Duration::from_secs(10), "two sends waiting on the lock");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (rss_before, threads_before) = (server.status_field("VmRSS"), server.status_field("Threads"));
    // A burst far beyond the pool (without the gate, each request would hold a thread):
    // health checks and a logged-in page, each on its own connection. Connections open
    // one after the other (a flood of SYNs would measure the kernel's backlog instead).
    const BURST: usize = 400;
    let health = format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let page = format!("GET /chats HTTP/1.1\r\nHost: {addr}\r\nCookie: {}\r\nConnection: close\r\n\r\n", alice.cookie_header());
    let done = Cell::new(false);
    let max_threads = Cell::new(threads_before);
    let sampler = async {
        while !done.get() {
            max_threads.set(max_threads.get().max(server.status_field("Threads")));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let burst = async {
        let mut sent = Vec::with_capacity(BURST);
        for i in 0..BURST {
            sent.push(send_request(&addr, if i % 2 == 0 { &health } else { &page }).await);
        }
        let answers = futures_util::future::join_all(sent.into_iter().map(|(conn, at)| answer(conn, at, Duration::from_secs(15)))).await;
        done.set(true);
        answers
    };
    let (answers, ()) = futures_util::join!(burst, sampler);

    for (answer, took) in &answers {
        assert!(answer.starts_with("HTTP/1.1 503"), "{}", answer.lines().next().unwrap_or("nothing"));
        assert!(answer.to_ascii_lowercase().contains("\r\nretry-after: 2\r\n"), "Retry-After: {answer}");
        // The pool wait (1.5 s) plus a generous margin for a busy machine: bounded.
        assert!(*took < Duration::from_secs(10), "answered after {took:?}");
    }
    let rss_after = server.status_field("VmRSS");
    assert!(
        max_threads.get() <= threads_before + 16,
        "threads stayed bounded: {threads_before} before, {} at most during the burst",
        max_threads.get()
    );
    assert!(rss_after < rss_before + 64 * 1024, "memory stayed bounded: {rss_before} KiB before, {rss_after} KiB after");

    // Released, the waiting sends complete and the instance serves again.
    diesel::sql_query("ROLLBACK").execute(&mut locker).unwrap();
    for handle in stuck {
        assert_eq!(handle.await.unwrap(), Ok(()));
    }
    assert_eq!(reqwest::get(format!("{}/healthz", server.base)).await.unwrap().status(), StatusCode::OK);
}

#[actix_web::test]
async fn a_send_stuck_on_a_slow_database_answers_503_after_the_statement_timeout_and_can_be_repeated() {
    let app = TestApp::spawn_with(Settings { db_statement_timeout_ms: 1000, ..test_settings() }).await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    let mut locker = app.conn();
    diesel::sql_query("BEGIN").execute(&mut locker).unwrap();
    lock_chat(&mut locker, chat);

    let client_id = Uuid::new_v4();
    let (path, id) = (format!("/chats/{chat}/messages"), client_id.to_string());
    let started = Instant::now();
    let resp = tokio::time::timeout(Duration::from_secs(10), alice.post(&path, &[("text", "slow"), ("client_id", &id)]))
        .await
        .expect("no answer within 10 s: the send waits on the lock without bound");
    let took = started.elapsed();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    assert!(took < Duration::from_secs(5), "a 1 s statement timeout ends the wait (took {took:?})");

    diesel::sql_query("ROLLBACK").execute(&mut locker).unwrap();
    let stored = "SELECT count(*) AS n FROM messages WHERE client_id = $1";
    assert_eq!(count_with(&mut app.conn(), stored, client_id), 0, "the cancelled send stored nothing");
    assert_eq!(alice.post(&path, &[("text", "slow"), ("client_id", &id)]).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(count_with(&mut app.conn(), stored, client_id), 1, "the repeat is stored once");
}

#[actix_web::test]
async fn a_login_whose_session_cannot_be_written_in_time_answers_503_not_500() {
    let app = TestApp::spawn_with(Settings { db_statement_timeout_ms: 1000, ..test_settings() }).await;
    app.signed_up("alice").await;
    let visitor = app.client();
    visitor.csrf_token().await;
    // Sessions can be read but not written: the login's new session waits, then times out.
    let mut locker = app.conn();
    diesel::sql_query("BEGIN").execute(&mut locker).unwrap();
    diesel::sql_query("LOCK TABLE sessions IN EXCLUSIVE MODE").execute(&mut locker).unwrap();

    let resp = tokio::time::timeout(Duration::from_secs(10), visitor.login("alice", PASSWORD)).await.expect("answered within 10 s");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    assert!(resp.text().await.unwrap().contains("briefly unavailable"), "the site's 503 page");

    diesel::sql_query("ROLLBACK").execute(&mut locker).unwrap();
    assert_eq!(visitor.login("alice", PASSWORD).await.status(), StatusCode::SEE_OTHER, "the repeat logs in");
}

/// How a slow client's connection ended.
#[derive(Debug, PartialEq)]
enum Cut {
    /// The server closed it, after this answer (a 408) or without a word ("").
    ByServer(String),
    /// Still open when the client ran out of bytes to trickle.
    Never,
}

/// Sends `prefix` at once, then one byte of `trickle` every 500 ms, until the server
/// closes the connection or `trickle` runs out. Counts itself in `started` once going.
async fn slow_client(addr: String, prefix: String, trickle: Vec<u8>, started: &Cell<usize>) -> Cut {
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    conn.write_all(prefix.as_bytes()).await.unwrap();
    started.set(started.get() + 1);
    let (mut reader, mut writer) = conn.into_split();
    let (mut sink, mut answer) = ([0u8; 512], Vec::new());
    for byte in trickle {
        let wait = tokio::time::sleep(Duration::from_millis(500));
        tokio::select! {
            // Any answer here is the 408 before the close; then EOF or a reset.
            read = reader.read(&mut sink) => match read {
                Ok(0) | Err(_) => return Cut::ByServer(String::from_utf8_lossy(&answer).into_owned()),
                Ok(n) => answer.extend_from_slice(&sink[..n]),
            },
            _ = wait => {}
        }
        if writer.write_all(&[byte]).await.is_err() {
            return Cut::ByServer(String::from_utf8_lossy(&answer).into_owned());
        }
    }
    Cut::Never
}

#[actix_web::test]
async fn slow_clients_are_cut_off_and_do_not_keep_others_from_being_served() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let addr = format!("127.0.0.1:{}", app.port);
    let started = Cell::new(0);
    // Headers one byte every 500 ms (the head never ends within 20 s) ...
    let endless_head: Vec<u8> = b"X-Slow: yes\r\n".iter().copied().cycle().take(40).collect();
    let heads = (0..300).map(|_| slow_client(addr.clone(), "GET /login HTTP/1.1\r\n".into(), endless_head.clone(), &started));
    // ... and form bodies the same way (the head is complete).
    let body_head = format!(
        "POST /login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nusername=alice&password="
    );
    let bodies = (0..20).map(|_| slow_client(addr.clone(), body_head.clone(), vec![b'x'; 40], &started));
    // ... and picture uploads, logged in (multipart bodies are read by the handler).
    let upload_head = format!(
        "POST /settings/display-picture HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\
         Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 1000\r\n\r\n\
         --XX\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n\
         --XX\r\nContent-Disposition: form-data; name=\"picture\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n",
        token = alice.csrf_token().await,
        cookie = alice.cookie_header()
    );
    let uploads = (0..10).map(|_| slow_client(addr.clone(), upload_head.clone(), vec![b'x'; 40], &started));
    let slow = async {
        futures_util::join!(
            futures_util::future::join_all(heads),
            futures_util::future::join_all(bodies),
            futures_util::future::join_all(uploads)
        )
    };

    let normal = async {
        let since = Instant::now();
        while started.get() < 330 {
            assert!(since.elapsed() < Duration::from_secs(10), "slow clients connected");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Meanwhile a person is served as usual, each page within a "no hang" bound.
        for _ in 0..10 {
            let (status, body) = tokio::time::timeout(Duration::from_secs(3), alice.get_page("/chats")).await.expect("served within 3 s");
            assert_eq!(status, StatusCode::OK);
            assert!(body.contains("alice"));
            let login = tokio::time::timeout(Duration::from_secs(3), app.client().get_page("/login")).await.expect("served within 3 s");
            assert_eq!(login.0, StatusCode::OK);
        }
        let bob = app.client();
        assert_eq!(bob.signup("bob", PASSWORD).await.status(), StatusCode::SEE_OTHER, "a form post too");
    };
    let since = Instant::now();
    let ((heads, bodies, uploads), ()) = futures_util::join!(slow, normal);

    // The server cut every slow client off (the head after its request timeout, 5 s;
    // the form body after the form timeout, 10 s; the upload after its deadline, 10 s for
    // 1000 declared bytes); none outlasted its 20 s of trickling.
    let never = |cuts: &[Cut]| cuts.iter().filter(|c| **c == Cut::Never).count();
    assert!(heads.iter().all(|cut| matches!(cut, Cut::ByServer(_))), "{} heads never cut", never(&heads));
    // A body cut off is told why before the close.
    let timed_out = |cut: &Cut| matches!(cut, Cut::ByServer(answer) if answer.starts_with("HTTP/1.1 408"));
    assert!(bodies.iter().all(timed_out), "{} bodies never cut; {:?}", never(&bodies), bodies.first());
    assert!(uploads.iter().all(timed_out), "{} uploads never cut; {:?}", never(&uploads), uploads.first());
    assert!(since.elapsed() < Duration::from_secs(20));
}

#[actix_web::test]
async fn a_burst_of_logins_hashes_a_few_passwords_at_a_time_in_bounded_memory() {
    let db = TestDb::new();
    let server = Chaat::serve(&db.url, &[]);
    Actor::sign_up(&server.base, "alice").await;
    // Each visitor has the login page (a session and its CSRF token) before the burst.
    const BURST: usize = 24;
    let visitors: Vec<_> = (0..BURST).map(|_| Client::new(&server.base)).collect();
    for visitor in &visitors {
        visitor.csrf_token().await;
    }
    let rss_before = server.status_field("VmRSS");

    let answers = futures_util::future::join_all(visitors.iter().map(|v| v.login("alice", PASSWORD))).await;

    for resp in &answers {
        match resp.status() {
            StatusCode::SEE_OTHER => {}
            StatusCode::SERVICE_UNAVAILABLE => assert!(resp.headers().contains_key("retry-after")),
            other => panic!("a login answered {other}"),
        }
    }
    assert!(answers.iter().any(|r| r.status() == StatusCode::SEE_OTHER), "logins succeed");
    // Argon2id takes 19 MiB per hash: one per core at a time, not one per request.
    let cores = std::thread::available_parallelism().unwrap().get().min(BURST) as u64;
    let peak = server.status_field("VmHWM");
    assert!(
        peak < rss_before + (cores * 20 + 100) * 1024,
        "peak memory {peak} KiB with {rss_before} KiB before the burst: hashes ran all at once"
    );
}
