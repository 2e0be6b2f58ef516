//! Direct chats: find-or-create, the list, the page, sending, history, read state,
//! authorization (issue 4).

use diesel::RunQueryDsl;
use futures_util::future::join_all;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::{alice_and_bob, assert_redirect, count, patient_settings, seqs_in, Scalar, TestApp};

/// The seqs of a chat's stored messages, in order.
fn seqs(app: &TestApp, chat: Uuid) -> Vec<i64> {
    #[derive(diesel::QueryableByName)]
    struct S {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
    }
    diesel::sql_query("SELECT seq FROM messages WHERE chat_id = $1 ORDER BY seq")
        .bind::<diesel::sql_types::Uuid, _>(chat)
        .load::<S>(&mut app.conn())
        .unwrap()
        .into_iter()
        .map(|s| s.seq)
        .collect()
}

/// How far `username` has read in `chat`.
fn last_read_seq(app: &TestApp, chat: Uuid, username: &str) -> i64 {
    diesel::sql_query(
        "SELECT p.last_read_seq AS n FROM chat_participants p JOIN users u USING (user_id) WHERE u.username = $1 AND p.chat_id = $2",
    )
    .bind::<diesel::sql_types::Text, _>(username)
    .bind::<diesel::sql_types::Uuid, _>(chat)
    .get_result::<Scalar>(&mut app.conn())
    .unwrap()
    .n
}

#[actix_web::test]
async fn a_direct_chat_is_found_or_created_only_for_friends() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    assert_eq!(bob.open_direct(&alice).await, chat, "the same chat from the other side");
    assert_eq!(alice.open_direct("BOB").await, chat, "and again");
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM chats"), 1);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM chat_participants"), 2);

    app.signed_up("carol").await;
    let resp = alice.post("/chats/direct", &[("username", "carol")]).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT, "carol is not a friend");
    assert!(resp.text().await.unwrap().contains("only message your friends"));
    assert_eq!(alice.post("/chats/direct", &[("username", "nobody")]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM chats"), 1, "nothing created");
}

#[actix_web::test]
async fn ten_concurrent_opens_from_both_sides_make_one_chat() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    alice.befriend(&bob).await;
    alice.csrf_token().await;
    bob.csrf_token().await;
    let opens = (0..10).map(|i| if i % 2 == 0 { alice.open_direct(&bob) } else { bob.open_direct(&alice) });
    let chats = join_all(opens).await;
    assert!(chats.iter().all(|c| *c == chats[0]), "{chats:?}");
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM chats"), 1);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM direct_chats"), 1);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM chat_participants"), 2);
}

#[actix_web::test]
async fn sending_stores_a_trimmed_message_with_the_next_seq_and_reads_it_for_the_sender() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    assert_redirect(&alice.send(chat, "  hello bob \n").await, &format!("/chats/{chat}"));
    assert_redirect(&alice.send(chat, "second").await, &format!("/chats/{chat}"));
    assert_eq!(seqs(&app, chat), vec![1, 2]);
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM messages WHERE text = 'hello bob'"), 1);
    assert_eq!(count(&mut conn, "SELECT last_seq AS n FROM chats"), 2);
    assert_eq!(last_read_seq(&app, chat, "alice"), 2);
    assert_eq!(last_read_seq(&app, chat, "bob"), 0);
}

#[actix_web::test]
async fn an_empty_or_too_long_message_gets_a_422_with_the_text_kept() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    let resp = alice.send(chat, "   ").await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.unwrap().contains("Write a message first"));

    let long = "ü".repeat(4001);
    let resp = alice.send(chat, &long).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = resp.text().await.unwrap();
    assert!(body.contains("at most 4000 characters") && body.contains(&long), "the text is kept");

    let resp = alice.post_htmx(&format!("/chats/{chat}/messages"), &[("text", &long)]).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fragment = resp.text().await.unwrap();
    assert!(fragment.contains("id=\"composer\"") && fragment.contains(&long) && !fragment.contains("<html"));

    let exactly = "😀".repeat(4000);
    assert_eq!(alice.send(chat, &exactly).await.status(), StatusCode::SEE_OTHER, "4000 characters, not bytes");
    assert_eq!(seqs(&app, chat), vec![1]);
}

#[actix_web::test]
async fn an_htmx_send_answers_with_a_fresh_composer() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    let resp = alice.post_htmx(&format!("/chats/{chat}/messages"), &[("text", "hi"), ("client_id", &Uuid::new_v4().to_string())]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.text().await.unwrap();
    assert!(body.contains("<form class=\"composer\"") && body.contains("name=\"client_id\""));
    assert!(body.contains("></textarea>"), "cleared");
}

#[actix_web::test]
async fn the_same_client_id_twice_stores_one_message_even_at_once() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    let client_id = Uuid::new_v4().to_string();
    let path = format!("/chats/{chat}/messages");
    let fields = [("text", "only once"), ("client_id", client_id.as_str())];
    let first = alice.post(&path, &fields).await;
    let again = alice.post(&path, &fields).await;
    assert_eq!(first.status(), again.status());
    assert_eq!(first.headers().get("location"), again.headers().get("location"));
    assert_eq!(seqs(&app, chat), vec![1]);

    let racing = Uuid::new_v4().to_string();
    let fields = [("text", "double click"), ("client_id", racing.as_str())];
    let answers = join_all((0..5).map(|_| alice.post(&path, &fields))).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::SEE_OTHER));
    assert_eq!(seqs(&app, chat), vec![1, 2]);
}

#[actix_web::test]
async fn a_hundred_concurrent_sends_get_seqs_one_to_a_hundred() {
    // Every send queues on the chat row's lock while holding a pooled connection; on a
    // loaded 2-core machine even the tests' 10 s pool wait can run out (503, by design).
    // This test is about seq order, so it waits as long as it takes.
    let app = TestApp::spawn_with(patient_settings()).await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    let texts: Vec<String> = (0..100).map(|i| format!("message {i}")).collect();
    let sends = texts.iter().enumerate().map(|(i, t)| (if i % 2 == 0 { &alice } else { &bob }).send(chat, t));
    let answers = join_all(sends).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::SEE_OTHER));
    assert_eq!(seqs(&app, chat), (1..=100).collect::<Vec<_>>());
    assert_eq!(count(&mut app.conn(), "SELECT last_seq AS n FROM chats"), 100);
}

#[actix_web::test]
async fn the_chat_page_shows_the_latest_fifty_and_older_pages_have_no_gap_or_duplicate() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    for i in 1..=120 {
        assert_eq!(alice.send(chat, &format!("number {i}")).await.status(), StatusCode::SEE_OTHER);
    }
    let (status, page) = alice.get_page(&format!("/chats/{chat}")).await;
    assert_eq!(status, StatusCode::OK);
    let mut seen = seqs_in(&page);
    assert_eq!(seen, (71..=120).collect::<Vec<_>>());
    assert!(page.contains(&format!("/chats/{chat}/messages?before=71")));
    assert!(page.contains("<time datetime="));

    let mut before = 71;
    loop {
        let resp = alice.get_htmx(&format!("/chats/{chat}/messages?before={before}")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        let fragment = resp.text().await.unwrap();
        let older = seqs_in(&fragment);
        assert!(!older.is_empty() && *older.last().unwrap() == before - 1, "no gap at {before}");
        seen.splice(0..0, older.iter().copied());
        match fragment.find("messages?before=") {
            Some(i) => before = fragment[i + 16..].split('"').next().unwrap().parse().unwrap(),
            None => break,
        }
    }
    assert_eq!(seen, (1..=120).collect::<Vec<_>>(), "every message exactly once");
}

#[actix_web::test]
async fn messages_are_escaped_and_the_list_shows_previews_unread_counts_and_order() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    let carol = app.signed_up("carol").await;
    alice.befriend(&carol).await;
    let carol_chat = alice.open_direct(&carol).await;
    bob.send(chat, "<script>alert(1)</script> hi").await;
    bob.send(chat, "second from bob").await;
    alice.send(carol_chat, "to carol").await;

    let (_, list) = alice.get_page("/chats").await;
    assert!(list.find("carol").unwrap() < list.find("second from bob").unwrap(), "newest activity first");
    assert!(list.contains("<span class=\"badge\">2<"), "bob's two unread messages");
    assert!(list.contains("<span class=\"nav-badge") || list.contains("badge"), "a total in the navigation");

    let (_, page) = alice.get_page(&format!("/chats/{chat}")).await;
    assert!(!page.contains("<script>alert(1)"), "escaped");
    assert!(page.contains("class=\"day-separator\"><span>Today<"), "a day separator");
    assert_eq!(page.matches("class=\"message continued\"").count(), 1, "bob's second message is grouped under his first");
    assert!(page.contains("&#60;script&#62;alert(1)&#60;/script&#62; hi"), "shown as text");
    let (_, list) = alice.get_page("/chats").await;
    assert!(!list.contains("<span class=\"badge\">2<"), "viewing the chat read it");
    assert_eq!(last_read_seq(&app, chat, "alice"), 2);
}

#[actix_web::test]
async fn marking_read_moves_forward_only_and_never_past_the_end() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    for t in ["a", "b", "c"] {
        bob.send(chat, t).await;
    }
    assert_eq!(alice.mark_read(chat, "2").await.status(), StatusCode::NO_CONTENT);
    assert_eq!(last_read_seq(&app, chat, "alice"), 2);
    alice.mark_read(chat, "1").await;
    assert_eq!(last_read_seq(&app, chat, "alice"), 2, "never backwards");
    alice.mark_read(chat, "99").await;
    assert_eq!(last_read_seq(&app, chat, "alice"), 3, "never past the end");
}

#[actix_web::test]
async fn outsiders_get_404_on_every_chat_url_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let (_alice, bob, chat) = alice_and_bob(&app.address).await;
    bob.send(chat, "private").await;
    let eve = app.signed_up("eve").await;
    for path in [
        format!("/chats/{chat}"),
        format!("/chats/{chat}/messages?before=5"),
        format!("/chats/{chat}/messages?after=0"),
        format!("/chats/{chat}/events"),
    ] {
        assert_eq!(eve.get(&path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(eve.send(chat, "intruder").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(eve.mark_read(chat, "1").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(eve.get(&format!("/chats/{}", Uuid::now_v7())).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(eve.get("/chats/not-a-uuid").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(seqs(&app, chat), vec![1]);
    assert_redirect(&app.client().get(&format!("/chats/{chat}")).await, "/login");
}

#[actix_web::test]
async fn after_an_unfriend_the_history_stays_readable_and_sending_is_refused() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    alice.send(chat, "before").await;
    alice.unfriend(&bob).await;
    let (status, page) = bob.get_page(&format!("/chats/{chat}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("before") && page.contains("no longer friends"));
    let resp = alice.send(chat, "after").await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = resp.text().await.unwrap();
    assert!(body.contains("no longer friends") && body.contains("after"));
    assert_eq!(seqs(&app, chat), vec![1]);
}

#[actix_web::test]
async fn polling_after_a_seq_returns_what_came_since() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    for t in ["one", "two", "three"] {
        bob.send(chat, t).await;
    }
    let resp = alice.get_htmx(&format!("/chats/{chat}/messages?after=1")).await;
    let fragment = resp.text().await.unwrap();
    assert_eq!(seqs_in(&fragment), vec![2, 3]);
    assert!(fragment.contains("id=\"msg-"));
}
