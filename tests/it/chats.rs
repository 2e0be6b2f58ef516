//! Direct chats: find-or-create, the list, the page, sending, history, read state,
//! authorization (issue 4).

use futures_util::future::join_all;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::{assert_redirect, count, patient_settings, Client, TestApp};
use crate::pictures::user_id;

/// Makes two people friends directly in the database (the friends feature has its own tests).
pub fn befriend(app: &TestApp, a: &str, b: &str) {
    use diesel::RunQueryDsl;
    let (a, b) = (user_id(app, a), user_id(app, b));
    let (low, high) = if a < b { (a, b) } else { (b, a) };
    diesel::sql_query("INSERT INTO friends (id, user1, user2) VALUES ($1, $2, $3)")
        .bind::<diesel::sql_types::Uuid, _>(Uuid::now_v7())
        .bind::<diesel::sql_types::Uuid, _>(low)
        .bind::<diesel::sql_types::Uuid, _>(high)
        .execute(&mut app.conn())
        .unwrap();
}

pub fn unfriend(app: &TestApp, a: &str, b: &str) {
    use diesel::RunQueryDsl;
    let (a, b) = (user_id(app, a), user_id(app, b));
    diesel::sql_query("DELETE FROM friends WHERE (user1 = $1 AND user2 = $2) OR (user1 = $2 AND user2 = $1)")
        .bind::<diesel::sql_types::Uuid, _>(a)
        .bind::<diesel::sql_types::Uuid, _>(b)
        .execute(&mut app.conn())
        .unwrap();
}

/// Opens the direct chat of `client` with `friend`; returns its id.
pub async fn open_direct(client: &Client, friend: &str) -> Uuid {
    let resp = client.post("/chats/direct", &[("username", friend)]).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "open the chat with {friend}");
    let location = resp.headers().get("location").unwrap().to_str().unwrap();
    location.strip_prefix("/chats/").unwrap().parse().unwrap()
}

pub async fn send(client: &Client, chat: Uuid, text: &str) -> reqwest::Response {
    client.post(&format!("/chats/{chat}/messages"), &[("text", text), ("client_id", &Uuid::new_v4().to_string())]).await
}

/// alice and bob, friends, with their direct chat.
pub async fn alice_and_bob(app: &TestApp) -> (Client, Client, Uuid) {
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    befriend(app, "alice", "bob");
    let chat = open_direct(&alice, "bob").await;
    (alice, bob, chat)
}

fn seqs(app: &TestApp, chat: Uuid) -> Vec<i64> {
    #[derive(diesel::QueryableByName)]
    struct S {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        seq: i64,
    }
    use diesel::RunQueryDsl;
    diesel::sql_query("SELECT seq FROM messages WHERE chat_id = $1 ORDER BY seq")
        .bind::<diesel::sql_types::Uuid, _>(chat)
        .load::<S>(&mut app.conn())
        .unwrap()
        .into_iter()
        .map(|s| s.seq)
        .collect()
}

#[actix_web::test]
async fn a_direct_chat_is_found_or_created_only_for_friends() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app).await;
    assert_eq!(open_direct(&bob, "alice").await, chat, "the same chat from the other side");
    assert_eq!(open_direct(&alice, "BOB").await, chat, "and again");
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM chats"), 1);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM chat_participants"), 2);

    app.signup("carol").await;
    let resp = alice.post("/chats/direct", &[("username", "carol")]).await;
    assert_eq!(resp.status(), StatusCode::CONFLICT, "carol is not a friend");
    assert!(resp.text().await.unwrap().contains("only message your friends"));
    assert_eq!(alice.post("/chats/direct", &[("username", "nobody")]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM chats"), 1, "nothing created");
}

#[actix_web::test]
async fn ten_concurrent_opens_from_both_sides_make_one_chat() {
    let app = TestApp::spawn().await;
    let alice = app.signup("alice").await;
    let bob = app.signup("bob").await;
    befriend(&app, "alice", "bob");
    alice.csrf_token().await;
    bob.csrf_token().await;
    let opens = (0..10).map(|i| if i % 2 == 0 { open_direct(&alice, "bob") } else { open_direct(&bob, "alice") });
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
    let (alice, _bob, chat) = alice_and_bob(&app).await;
    assert_redirect(&send(&alice, chat, "  hello bob \n").await, &format!("/chats/{chat}"));
    assert_redirect(&send(&alice, chat, "second").await, &format!("/chats/{chat}"));
    assert_eq!(seqs(&app, chat), vec![1, 2]);
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM messages WHERE text = 'hello bob'"), 1);
    assert_eq!(count(&mut conn, "SELECT last_seq AS n FROM chats"), 2);
    assert_eq!(count(&mut conn, &format!("SELECT p.last_read_seq AS n FROM chat_participants p JOIN users u USING (user_id) WHERE u.username = 'alice' AND p.chat_id = '{chat}'")), 2);
    assert_eq!(count(&mut conn, &format!("SELECT p.last_read_seq AS n FROM chat_participants p JOIN users u USING (user_id) WHERE u.username = 'bob' AND p.chat_id = '{chat}'")), 0);
}

#[actix_web::test]
async fn an_empty_or_too_long_message_gets_a_422_with_the_text_kept() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app).await;
    let resp = send(&alice, chat, "   ").await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.unwrap().contains("Write a message first"));

    let long = "ü".repeat(4001);
    let resp = send(&alice, chat, &long).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = resp.text().await.unwrap();
    assert!(body.contains("at most 4000 characters") && body.contains(&long), "the text is kept");

    let resp = alice.post_htmx(&format!("/chats/{chat}/messages"), &[("text", &long)]).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fragment = resp.text().await.unwrap();
    assert!(fragment.contains("id=\"composer\"") && fragment.contains(&long) && !fragment.contains("<html"));

    let exactly = "😀".repeat(4000);
    assert_eq!(send(&alice, chat, &exactly).await.status(), StatusCode::SEE_OTHER, "4000 characters, not bytes");
    assert_eq!(seqs(&app, chat), vec![1]);
}

#[actix_web::test]
async fn an_htmx_send_answers_with_a_fresh_composer() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app).await;
    let resp = alice.post_htmx(&format!("/chats/{chat}/messages"), &[("text", "hi"), ("client_id", &Uuid::new_v4().to_string())]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body = resp.text().await.unwrap();
    assert!(body.contains("<form class=\"composer\"") && body.contains("name=\"client_id\""));
    assert!(body.contains("></textarea>"), "cleared");
}

#[actix_web::test]
async fn the_same_client_id_twice_stores_one_message_even_at_once() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app).await;
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
    let (alice, bob, chat) = alice_and_bob(&app).await;
    let texts: Vec<String> = (0..100).map(|i| format!("message {i}")).collect();
    let sends = texts.iter().enumerate().map(|(i, t)| send(if i % 2 == 0 { &alice } else { &bob }, chat, t));
    let answers = join_all(sends).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::SEE_OTHER));
    assert_eq!(seqs(&app, chat), (1..=100).collect::<Vec<_>>());
    assert_eq!(count(&mut app.conn(), "SELECT last_seq AS n FROM chats"), 100);
}

#[actix_web::test]
async fn the_chat_page_shows_the_latest_fifty_and_older_pages_have_no_gap_or_duplicate() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app).await;
    for i in 1..=120 {
        assert_eq!(send(&alice, chat, &format!("number {i}")).await.status(), StatusCode::SEE_OTHER);
    }
    let (status, page) = alice.get_page(&format!("/chats/{chat}")).await;
    assert_eq!(status, StatusCode::OK);
    let mut seen = seqs_in(&page);
    assert_eq!(seen, (71..=120).collect::<Vec<_>>());
    assert!(page.contains(&format!("/chats/{chat}/messages?before=71")));
    assert!(page.contains("<time datetime="));

    let mut before = 71;
    loop {
        let resp = alice
            .http
            .get(alice.url(&format!("/chats/{chat}/messages?before={before}")))
            .header("HX-Request", "true")
            .send()
            .await
            .unwrap();
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

/// The seqs of the messages in a page, in page order.
pub fn seqs_in(html: &str) -> Vec<i64> {
    html.match_indices("data-seq=\"").map(|(i, m)| html[i + m.len()..].split('"').next().unwrap().parse().unwrap()).collect()
}

#[actix_web::test]
async fn messages_are_escaped_and_the_list_shows_previews_unread_counts_and_order() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app).await;
    app.signup("carol").await;
    befriend(&app, "alice", "carol");
    let carol_chat = open_direct(&alice, "carol").await;
    send(&bob, chat, "<script>alert(1)</script> hi").await;
    send(&bob, chat, "second from bob").await;
    send(&alice, carol_chat, "to carol").await;

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
    assert_eq!(count(&mut app.conn(), &format!("SELECT p.last_read_seq AS n FROM chat_participants p JOIN users u USING (user_id) WHERE u.username = 'alice' AND p.chat_id = '{chat}'")), 2);
}

#[actix_web::test]
async fn marking_read_moves_forward_only_and_never_past_the_end() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app).await;
    for t in ["a", "b", "c"] {
        send(&bob, chat, t).await;
    }
    let path = format!("/chats/{chat}/read");
    let q = format!("SELECT p.last_read_seq AS n FROM chat_participants p JOIN users u USING (user_id) WHERE u.username = 'alice' AND p.chat_id = '{chat}'");
    assert_eq!(alice.post(&path, &[("seq", "2")]).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(count(&mut app.conn(), &q), 2);
    alice.post(&path, &[("seq", "1")]).await;
    assert_eq!(count(&mut app.conn(), &q), 2, "never backwards");
    alice.post(&path, &[("seq", "99")]).await;
    assert_eq!(count(&mut app.conn(), &q), 3, "never past the end");
}

#[actix_web::test]
async fn outsiders_get_404_on_every_chat_url_and_nothing_changes() {
    let app = TestApp::spawn().await;
    let (_alice, bob, chat) = alice_and_bob(&app).await;
    send(&bob, chat, "private").await;
    let eve = app.signup("eve").await;
    for path in [
        format!("/chats/{chat}"),
        format!("/chats/{chat}/messages?before=5"),
        format!("/chats/{chat}/messages?after=0"),
        format!("/chats/{chat}/events"),
    ] {
        assert_eq!(eve.get(&path).await.status(), StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(send(&eve, chat, "intruder").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(eve.post(&format!("/chats/{chat}/read"), &[("seq", "1")]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(eve.get(&format!("/chats/{}", Uuid::now_v7())).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(eve.get("/chats/not-a-uuid").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(seqs(&app, chat), vec![1]);
    assert_redirect(&app.client().get(&format!("/chats/{chat}")).await, "/login");
}

#[actix_web::test]
async fn after_an_unfriend_the_history_stays_readable_and_sending_is_refused() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app).await;
    send(&alice, chat, "before").await;
    unfriend(&app, "alice", "bob");
    let (status, page) = bob.get_page(&format!("/chats/{chat}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("before") && page.contains("no longer friends"));
    let resp = send(&alice, chat, "after").await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = resp.text().await.unwrap();
    assert!(body.contains("no longer friends") && body.contains("after"));
    assert_eq!(seqs(&app, chat), vec![1]);
}

#[actix_web::test]
async fn polling_after_a_seq_returns_what_came_since() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app).await;
    for t in ["one", "two", "three"] {
        send(&bob, chat, t).await;
    }
    let resp = alice.http.get(alice.url(&format!("/chats/{chat}/messages?after=1"))).header("HX-Request", "true").send().await.unwrap();
    let fragment = resp.text().await.unwrap();
    assert_eq!(seqs_in(&fragment), vec![2, 3]);
    assert!(fragment.contains("id=\"msg-"));
}
