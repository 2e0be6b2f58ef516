//! Group chats (issue 5): creating, adding, removing, renaming, leaving, owner hand-over,
//! system lines in seq order and live, losing access at once, the chat list, the demo.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use diesel::RunQueryDsl;
use futures_util::future::join_all;
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::sse::{EventStream, Seq};
use crate::helpers::{assert_redirect, count, count_with, group_fields, test_settings, user_id, Actor, Scalar, TestApp, TestDb};

const WAIT: Duration = Duration::from_secs(10);

#[derive(diesel::QueryableByName, Debug, PartialEq, Eq)]
struct Row {
    #[diesel(sql_type = diesel::sql_types::Text)]
    a: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    b: String,
}

/// `(username, role)` of a chat's participants, by username.
fn members(app: &TestApp, chat: Uuid) -> Vec<(String, String)> {
    diesel::sql_query("SELECT u.username AS a, p.role AS b FROM chat_participants p JOIN users u USING (user_id) WHERE p.chat_id = $1 ORDER BY u.username")
        .bind::<diesel::sql_types::Uuid, _>(chat)
        .load::<Row>(&mut app.conn())
        .unwrap()
        .into_iter()
        .map(|r| (r.a, r.b))
        .collect()
}

fn roles(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// The texts of a chat's system lines, in seq order.
fn system_lines(app: &TestApp, chat: Uuid) -> Vec<String> {
    diesel::sql_query("SELECT text AS a, kind AS b FROM messages WHERE chat_id = $1 AND kind = 'system' ORDER BY seq")
        .bind::<diesel::sql_types::Uuid, _>(chat)
        .load::<Row>(&mut app.conn())
        .unwrap()
        .into_iter()
        .map(|r| r.a)
        .collect()
}

/// A scalar query about `chat` (`$1`) and a piece of text (`$2`).
fn count_with_text(app: &TestApp, sql: &str, chat: Uuid, text: &str) -> i64 {
    diesel::sql_query(sql)
        .bind::<diesel::sql_types::Uuid, _>(chat)
        .bind::<diesel::sql_types::Text, _>(text)
        .get_result::<Scalar>(&mut app.conn())
        .unwrap()
        .n
}

/// The seq of a message with this text (the newest one), if any.
fn seq_of(app: &TestApp, chat: Uuid, text: &str) -> Option<i64> {
    let sql = "SELECT COALESCE(max(seq), -1) AS n FROM messages WHERE chat_id = $1 AND text = $2";
    Some(count_with_text(app, sql, chat, text)).filter(|n| *n >= 0)
}

fn unread(app: &TestApp, chat: Uuid, username: &str) -> i64 {
    let sql = "SELECT c.last_seq - p.last_read_seq AS n FROM chat_participants p JOIN chats c USING (chat_id) \
               JOIN users u ON u.user_id = p.user_id WHERE c.chat_id = $1 AND u.username = $2";
    count_with_text(app, sql, chat, username)
}

/// alice, bob and carol; alice is friends with both; bob and carol are friends too.
async fn alice_bob_carol(app: &TestApp) -> (Actor, Actor, Actor) {
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    alice.befriend(&bob).await;
    alice.befriend(&carol).await;
    bob.befriend(&carol).await;
    (alice, bob, carol)
}

/// Every URL of a chat answers 404 to `outsider`, and nothing changes.
async fn assert_no_access(app: &TestApp, outsider: &Actor, chat: Uuid, who: &str) {
    let before = count(&mut app.conn(), "SELECT count(*) AS n FROM messages");
    for path in [
        format!("/chats/{chat}"),
        format!("/chats/{chat}/messages?after=0"),
        format!("/chats/{chat}/messages?before=9"),
        format!("/chats/{chat}/events"),
    ] {
        assert_eq!(outsider.get(&path).await.status(), StatusCode::NOT_FOUND, "{who}: GET {path}");
    }
    assert_eq!(outsider.send(chat, "still here?").await.status(), StatusCode::NOT_FOUND, "{who}: send");
    assert_eq!(outsider.mark_read(chat, "1").await.status(), StatusCode::NOT_FOUND, "{who}: read");
    assert_eq!(outsider.add_member(chat, "alice").await.status(), StatusCode::NOT_FOUND, "{who}: add");
    assert_eq!(outsider.remove_member(chat, "alice").await.status(), StatusCode::NOT_FOUND, "{who}: remove");
    assert_eq!(outsider.rename_group(chat, "mine now").await.status(), StatusCode::NOT_FOUND, "{who}: rename");
    assert_eq!(outsider.leave(chat).await.status(), StatusCode::NOT_FOUND, "{who}: leave");
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM messages"), before, "{who}: nothing stored");
}

#[actix_web::test]
async fn a_new_group_has_the_creator_as_owner_and_the_chosen_friends_as_members() {
    let app = TestApp::spawn().await;
    let (alice, bob, _carol) = alice_bob_carol(&app).await;
    app.signed_up("dave").await;

    let (status, list) = alice.get_page("/chats").await;
    assert_eq!(status, StatusCode::OK);
    assert!(list.contains("action=\"/chats/group\""), "the form is on /chats");
    assert!(list.contains("name=\"members\" value=\"bob\"") && list.contains("name=\"members\" value=\"carol\""), "friends as checkboxes");
    assert!(!list.contains("value=\"dave\""), "only friends are offered");

    let chat = alice.create_group("  Weekend trip ", &["bob", "carol", "bob"]).await;
    assert_eq!(members(&app, chat), roles(&[("alice", "owner"), ("bob", "member"), ("carol", "member")]));
    assert_eq!(
        count_with(&mut app.conn(), "SELECT count(*) AS n FROM chats WHERE chat_id = $1 AND is_group AND name = 'Weekend trip'", chat),
        1
    );
    assert_eq!(system_lines(&app, chat), vec!["alice created the group"]);
    assert_eq!((unread(&app, chat, "alice"), unread(&app, chat, "bob")), (0, 1), "the news is unread for the others");

    let (status, page) = bob.get_page(&format!("/chats/{chat}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Weekend trip") && page.contains("Members (3)"));
    assert!(page.contains("class=\"system-line\"") && page.contains("alice created the group"));

    let resp = alice.post_htmx("/chats/group", &group_fields("By htmx", &["carol"])).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let to = resp.headers().get("HX-Redirect").unwrap().to_str().unwrap().to_string();
    let htmx_chat: Uuid = to.strip_prefix("/chats/").unwrap().parse().unwrap();
    assert_eq!(members(&app, htmx_chat), roles(&[("alice", "owner"), ("carol", "member")]));
}

#[actix_web::test]
async fn a_new_group_with_someone_who_is_not_a_friend_is_refused_naming_them() {
    let app = TestApp::spawn().await;
    let (alice, _bob, _carol) = alice_bob_carol(&app).await;
    app.signed_up("dave").await;
    let resp = alice.post("/chats/group", &group_fields("Trip", &["bob", "dave", "nobody"])).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = resp.text().await.unwrap();
    assert!(body.contains("these are not: dave, nobody."), "names who is not a friend");
    assert!(body.contains("value=\"Trip\""), "the name is kept");
    assert!(body.contains("value=\"bob\" checked") && !body.contains("value=\"carol\" checked"), "the ticks are kept");
    assert!(body.contains("<details class=\"card new-group\" open>"), "the form is open");
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM chats"), 0, "nothing created");
}

#[actix_web::test]
async fn bad_group_names_and_an_empty_member_list_are_refused_with_the_input_kept() {
    let app = TestApp::spawn().await;
    let (alice, _bob, _carol) = alice_bob_carol(&app).await;
    let long = "é".repeat(81);
    let cases = [
        ("", &["bob"][..], "Give the group a name.", "an empty name"),
        ("   ", &["bob"][..], "Give the group a name.", "a blank name"),
        (long.as_str(), &["bob"][..], "at most 80 characters", "81 characters"),
        ("a\tb", &["bob"][..], "one line of text", "a control character"),
        ("Lonely", &[][..], "Choose at least one friend.", "no members"),
    ];
    for (name, chosen, error, description) in cases {
        let resp = alice.post("/chats/group", &group_fields(name, chosen)).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{description}");
        let body = resp.text().await.unwrap();
        assert!(body.contains(error), "{description}: the message");
        assert!(chosen.is_empty() || body.contains("value=\"bob\" checked"), "{description}: ticks kept");
    }
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM chats"), 0);
    let exactly = "é".repeat(80);
    let chat = alice.create_group(&exactly, &["bob"]).await;
    assert_eq!(count_with(&mut app.conn(), "SELECT char_length(name)::bigint AS n FROM chats WHERE chat_id = $1", chat), 80);
}

#[actix_web::test]
async fn any_member_adds_a_friend_of_theirs_and_only_friends() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    app.signed_up("dave").await;
    alice.befriend(&bob).await;
    bob.befriend(&carol).await;
    let chat = alice.create_group("Trip", &["bob"]).await;
    alice.send(chat, "before carol").await;

    assert_redirect(&bob.add_member(chat, "carol").await, &format!("/chats/{chat}"));
    assert_eq!(members(&app, chat), roles(&[("alice", "owner"), ("bob", "member"), ("carol", "member")]));
    assert_eq!(system_lines(&app, chat), vec!["alice created the group", "bob added carol"]);
    assert_eq!(unread(&app, chat, "carol"), 1, "only the line that added her is new to carol");
    let (status, page) = carol.get_page(&format!("/chats/{chat}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("bob added carol"));

    let resp = alice.add_member(chat, "dave").await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "dave is nobody's friend here");
    let body = resp.text().await.unwrap();
    assert!(body.contains("You can only add your friends, and dave is not one."));
    assert!(body.contains("<details class=\"members-panel\" open>"), "the panel shows the error");
    assert_eq!(alice.add_member(chat, "no such user!").await.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_redirect(&alice.add_member(chat, "bob").await, &format!("/chats/{chat}"));
    assert_eq!(system_lines(&app, chat).len(), 2, "adding a member again changes nothing");
    assert_eq!(members(&app, chat).len(), 3);

    let resp = bob.post_htmx(&format!("/chats/{chat}/members"), &[("username", "alice")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers().get("HX-Redirect").unwrap(), &format!("/chats/{chat}"));
}

#[actix_web::test]
async fn only_the_owner_removes_people_and_the_removed_lose_access_at_once() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = alice_bob_carol(&app).await;
    let chat = alice.create_group("Trip", &["bob", "carol"]).await;

    assert_eq!(bob.remove_member(chat, "carol").await.status(), StatusCode::FORBIDDEN, "bob is not the owner");
    assert_eq!(bob.remove_member(chat, "alice").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(members(&app, chat).len(), 3);

    assert_redirect(&alice.remove_member(chat, "bob").await, &format!("/chats/{chat}"));
    assert_eq!(members(&app, chat), roles(&[("alice", "owner"), ("carol", "member")]));
    assert_eq!(system_lines(&app, chat).last().unwrap(), "alice removed bob");
    assert_no_access(&app, &bob, chat, "bob, removed").await;
    assert_eq!(alice.remove_member(chat, "bob").await.status(), StatusCode::NOT_FOUND, "not in the group any more");
    assert_eq!(alice.remove_member(chat, "nobody").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(carol.get(&format!("/chats/{chat}")).await.status(), StatusCode::OK);

    let (_, alices) = alice.get_page(&format!("/chats/{chat}")).await;
    assert!(alices.contains(&format!("/chats/{chat}/members/carol/remove")), "the owner sees remove buttons");
    assert!(!alices.contains(&format!("/chats/{chat}/members/alice/remove")), "not for herself");
    let (_, carols) = carol.get_page(&format!("/chats/{chat}")).await;
    assert!(!carols.contains("/remove\""), "members see none");
    assert!(carols.contains(&format!("/chats/{chat}/rename")) && carols.contains(&format!("/chats/{chat}/leave")));
    assert!(carols.contains("Owner") && carols.contains("(you)"));
}

#[actix_web::test]
async fn removing_yourself_is_leaving() {
    let app = TestApp::spawn().await;
    let (alice, bob, _carol) = alice_bob_carol(&app).await;
    let chat = alice.create_group("Trip", &["bob", "carol"]).await;
    assert_redirect(&bob.remove_member(chat, "bob").await, "/chats");
    assert_eq!(members(&app, chat), roles(&[("alice", "owner"), ("carol", "member")]));
    assert_eq!(system_lines(&app, chat).last().unwrap(), "bob left");
}

#[actix_web::test]
async fn any_member_renames_the_group_for_everyone() {
    let app = TestApp::spawn().await;
    let (alice, bob, _carol) = alice_bob_carol(&app).await;
    let chat = alice.create_group("Trip", &["bob"]).await;
    assert_redirect(&bob.rename_group(chat, " Trip to Goa ").await, &format!("/chats/{chat}"));
    assert_eq!(system_lines(&app, chat).last().unwrap(), "bob renamed the group to Trip to Goa");
    let (_, page) = alice.get_page(&format!("/chats/{chat}")).await;
    assert!(page.contains("<h1 id=\"chat-title\">Trip to Goa</h1>"));

    let resp = alice.rename_group(chat, "   ").await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.unwrap().contains("Give the group a name."));
    let long = "x".repeat(81);
    let resp = alice.rename_group(chat, &long).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.unwrap().contains(&format!("value=\"{long}\"")), "the input is kept");
    assert_redirect(&alice.rename_group(chat, "Trip to Goa").await, &format!("/chats/{chat}"));
    assert_eq!(system_lines(&app, chat).len(), 2, "the same name again changes nothing");
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM chats WHERE name = 'Trip to Goa'"), 1);
}

#[actix_web::test]
async fn when_the_owner_leaves_the_longest_standing_member_becomes_owner() {
    let app = TestApp::spawn().await;
    // carol signs up first, so her user_id is the lowest: joined_at must decide, not it.
    let carol = app.signed_up("carol").await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    alice.befriend(&bob).await;
    alice.befriend(&carol).await;
    let chat = alice.create_group("Trip", &["bob"]).await;
    assert_redirect(&alice.add_member(chat, "carol").await, &format!("/chats/{chat}"));

    assert_redirect(&alice.leave(chat).await, "/chats");
    assert_eq!(members(&app, chat), roles(&[("bob", "owner"), ("carol", "member")]));
    let lines = system_lines(&app, chat);
    assert_eq!(lines[lines.len() - 2..], ["alice left".to_string(), "bob is now the owner".to_string()]);
    assert_no_access(&app, &alice, chat, "alice, gone").await;
    assert_redirect(&bob.remove_member(chat, "carol").await, &format!("/chats/{chat}"));

    // Members who joined together: the lower user_id breaks the tie.
    let together = alice.create_group("Together", &["bob", "carol"]).await;
    assert_redirect(&alice.leave(together).await, "/chats");
    assert_eq!(members(&app, together), roles(&[("bob", "member"), ("carol", "owner")]));
}

#[actix_web::test]
async fn the_last_one_out_deletes_the_group_for_everyone() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_on(first.db.clone(), test_settings()).await;
    let (alice, bob, _carol) = alice_bob_carol(&first).await;
    let chat = alice.create_group("Trip", &["bob"]).await;
    bob.send(chat, "bye").await;
    assert_redirect(&bob.leave(chat).await, "/chats");
    assert_eq!(members(&first, chat), roles(&[("alice", "owner")]));

    let alice_elsewhere = second.logged_in("alice").await;
    let mut here = EventStream::open(&alice, &format!("/chats/{chat}/events"), None).await;
    let mut there = EventStream::open(&alice_elsewhere, &format!("/chats/{chat}/events"), None).await;
    assert_redirect(&alice.leave(chat).await, "/chats");
    assert!(here.ends_within(WAIT).await, "her stream on this instance ends");
    assert!(there.ends_within(WAIT).await, "and on the other one");
    let mut conn = first.conn();
    for (table, sql) in [
        ("chats", "SELECT count(*) AS n FROM chats WHERE chat_id = $1"),
        ("chat_participants", "SELECT count(*) AS n FROM chat_participants WHERE chat_id = $1"),
        ("messages", "SELECT count(*) AS n FROM messages WHERE chat_id = $1"),
    ] {
        assert_eq!(count_with(&mut conn, sql, chat), 0, "{table}");
    }
    assert_no_access(&first, &alice, chat, "alice").await;
    assert_no_access(&first, &bob, chat, "bob").await;
}

#[actix_web::test]
async fn a_direct_chat_takes_no_members_renames_or_leaves() {
    let app = TestApp::spawn().await;
    let (alice, bob, _carol) = alice_bob_carol(&app).await;
    let eve = app.signed_up("eve").await;
    let chat = alice.open_direct("bob").await;
    for (resp, what) in [
        (alice.add_member(chat, "carol").await, "add"),
        (alice.rename_group(chat, "Us").await, "rename"),
        (alice.rename_group(chat, "").await, "an invalid rename"),
        (bob.leave(chat).await, "leave"),
        (alice.remove_member(chat, "bob").await, "remove"),
    ] {
        assert_eq!(resp.status(), StatusCode::CONFLICT, "{what}");
        assert!(resp.text().await.unwrap().contains("A direct chat is between its two people only"), "{what}: why");
    }
    assert_eq!(members(&app, chat), roles(&[("alice", "member"), ("bob", "member")]));
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM chats WHERE name IS NOT NULL"), 0);
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM messages"), 0);
    assert_no_access(&app, &eve, chat, "eve, outsider").await;
    let (_, page) = alice.get_page(&format!("/chats/{chat}")).await;
    assert!(!page.contains("members-panel"), "the direct chat page has no members panel");
}

#[actix_web::test]
async fn the_database_refuses_a_third_participant_in_a_direct_chat() {
    let app = TestApp::spawn().await;
    let (alice, _bob, _carol) = alice_bob_carol(&app).await;
    let chat = alice.open_direct("bob").await;
    let carol = user_id(&app, "carol");
    let refused = diesel::sql_query("INSERT INTO chat_participants (chat_id, user_id) VALUES ($1, $2)")
        .bind::<diesel::sql_types::Uuid, _>(chat)
        .bind::<diesel::sql_types::Uuid, _>(carol)
        .execute(&mut app.conn())
        .unwrap_err();
    assert!(refused.to_string().contains("a direct chat has exactly its two people"), "{refused}");
    let moved = diesel::sql_query("UPDATE chat_participants SET user_id = $2 WHERE chat_id = $1 AND user_id <> $2")
        .bind::<diesel::sql_types::Uuid, _>(chat)
        .bind::<diesel::sql_types::Uuid, _>(carol)
        .execute(&mut app.conn());
    assert!(moved.is_err(), "nor swapped in by an update");
    assert_eq!(members(&app, chat), roles(&[("alice", "member"), ("bob", "member")]));
}

#[actix_web::test]
async fn outsiders_get_404_on_every_group_url() {
    let app = TestApp::spawn().await;
    let (alice, _bob, _carol) = alice_bob_carol(&app).await;
    let eve = app.signed_up("eve").await;
    alice.befriend(&eve).await;
    let chat = alice.create_group("Trip", &["bob"]).await;
    assert_no_access(&app, &eve, chat, "eve").await;
    assert_eq!(eve.post("/chats/not-a-uuid/leave", &[]).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(eve.leave(Uuid::now_v7()).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(members(&app, chat).len(), 2);
}

#[actix_web::test]
async fn concurrent_adds_of_the_same_friend_make_one_row_and_one_line() {
    let app = TestApp::spawn().await;
    let (alice, bob, _carol) = alice_bob_carol(&app).await;
    let chat = alice.create_group("Trip", &["bob"]).await;
    bob.csrf_token().await;
    let adds = (0..10).map(|i| (if i % 2 == 0 { &alice } else { &bob }).add_member(chat, "carol"));
    let answers = join_all(adds).await;
    assert!(answers.iter().all(|r| r.status() == StatusCode::SEE_OTHER), "{:?}", answers.iter().map(|r| r.status()).collect::<Vec<_>>());
    let carols = "SELECT count(*) AS n FROM chat_participants p JOIN users u USING (user_id) WHERE p.chat_id = $1 AND u.username = 'carol'";
    assert_eq!(count_with(&mut app.conn(), carols, chat), 1);
    let added: Vec<_> = system_lines(&app, chat).into_iter().filter(|l| l.ends_with("added carol")).collect();
    assert_eq!(added.len(), 1, "{added:?}");
}

#[actix_web::test]
async fn a_send_racing_a_removal_is_refused_or_stored_before_it_never_after() {
    let app = TestApp::spawn().await;
    let (alice, bob, _carol) = alice_bob_carol(&app).await;
    let chat = alice.create_group("Race", &["carol"]).await;
    bob.csrf_token().await;
    let (mut refused, mut before) = (0, 0);
    for round in 0..20 {
        assert_redirect(&alice.add_member(chat, "bob").await, &format!("/chats/{chat}"));
        let text = format!("racing {round}");
        let (sent, removed) = tokio::join!(bob.send(chat, &text), alice.remove_member(chat, "bob"));
        assert_redirect(&removed, &format!("/chats/{chat}"));
        let removal = seq_of(&app, chat, "alice removed bob").unwrap();
        match (sent.status(), seq_of(&app, chat, &text)) {
            (StatusCode::NOT_FOUND, None) => refused += 1,
            (StatusCode::SEE_OTHER, Some(seq)) => {
                assert!(seq < removal, "round {round}: message {seq} stored after the removal {removal}");
                before += 1;
            }
            (status, seq) => panic!("round {round}: send answered {status} and stored {seq:?}"),
        }
    }
    assert_eq!(refused + before, 20);
    let seqs = count_with(&mut app.conn(), "SELECT count(DISTINCT seq) AS n FROM messages WHERE chat_id = $1", chat);
    assert_eq!(seqs, count_with(&mut app.conn(), "SELECT last_seq AS n FROM chats WHERE chat_id = $1", chat), "seqs stay gap-free");
}

#[actix_web::test]
async fn membership_lines_arrive_live_in_seq_order_with_the_messages() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = alice_bob_carol(&app).await;
    let chat = alice.create_group("Trip", &["bob"]).await;
    let mut stream = EventStream::open(&alice, &format!("/chats/{chat}/events"), None).await;
    bob.send(chat, "hello").await;
    assert_redirect(&bob.add_member(chat, "carol").await, &format!("/chats/{chat}"));
    assert_redirect(&carol.rename_group(chat, "Goa").await, &format!("/chats/{chat}"));
    carol.send(chat, "hi all").await;
    assert_redirect(&carol.leave(chat).await, "/chats");
    let events = stream.take(5, WAIT).await;
    assert_eq!(events.iter().map(|e| e.seq()).collect::<Vec<_>>(), (2..=6).collect::<Vec<_>>());
    let expected = ["hello", "bob added carol", "carol renamed the group to Goa", "hi all", "carol left"];
    for (event, text) in events.iter().zip(expected) {
        assert!(event.data.contains(&format!("{text}<")), "{text} in {}", event.data);
    }
    assert!(events[1].data.contains("class=\"system-line\"") && !events[0].data.contains("system-line"));
    assert!(stream.next(Duration::from_millis(300)).await.is_none(), "the others' streams go on");
}

#[actix_web::test]
async fn a_removed_person_s_streams_end_on_every_instance() {
    let first = TestApp::spawn().await;
    let second = TestApp::spawn_on(first.db.clone(), test_settings()).await;
    let (alice, bob, _carol) = alice_bob_carol(&first).await;
    let chat = alice.create_group("Trip", &["bob", "carol"]).await;
    let bob_elsewhere = second.logged_in("bob").await;
    let mut here = EventStream::open(&bob, &format!("/chats/{chat}/events"), None).await;
    let mut there = EventStream::open(&bob_elsewhere, &format!("/chats/{chat}/events"), None).await;
    let mut alices = EventStream::open(&alice, &format!("/chats/{chat}/events"), None).await;
    alice.send(chat, "still with us").await;
    assert_eq!(there.take(1, WAIT).await[0].seq(), 2, "the other instance's stream is live");

    assert_redirect(&alice.remove_member(chat, "bob").await, &format!("/chats/{chat}"));
    assert!(here.ends_within(WAIT).await, "bob's stream on this instance ends");
    assert!(there.ends_within(WAIT).await, "bob's stream on the other instance ends");
    let seen = alices.take(2, WAIT).await;
    assert!(seen[1].data.contains("alice removed bob<"), "the others see the line");
    assert_no_access(&first, &bob_elsewhere, chat, "bob on the other instance").await;
    alice.send(chat, "after bob").await;
    assert_eq!(alices.take(1, WAIT).await[0].seq(), 4, "the others' streams go on");
}

/// The `<li>` of a chat in the chat list.
fn list_row(list: &str, chat: Uuid) -> &str {
    let start = list.find(&format!("href=\"/chats/{chat}\"")).unwrap_or_else(|| panic!("{chat} listed"));
    let end = list[start..].find("</li>").unwrap() + start;
    &list[start..end]
}

#[actix_web::test]
async fn the_list_shows_groups_and_direct_chats_together_newest_first_with_unread_counts() {
    let app = TestApp::spawn().await;
    let (alice, bob, carol) = alice_bob_carol(&app).await;
    let direct = alice.open_direct("bob").await;
    let group = alice.create_group("Trip", &["bob", "carol"]).await;
    bob.send(direct, "one").await;
    bob.send(direct, "two").await;
    for t in ["a", "b", "c"] {
        carol.send(group, t).await;
    }
    let (_, list) = alice.get_page("/chats").await;
    let (group_at, direct_at) = (list.find(&format!("/chats/{group}\"")).unwrap(), list.find(&format!("/chats/{direct}\"")).unwrap());
    assert!(group_at < direct_at, "the group had the newest message");
    let row = list_row(&list, group);
    assert!(row.contains("Trip") && row.contains("carol: c"), "name and preview: {row}");
    assert!(row.contains("<span class=\"badge\">3<"), "three unread in the group: {row}");
    assert_eq!(row.matches("/display-pictures/").count(), 3, "a few member pictures");
    assert!(list_row(&list, direct).contains("<span class=\"badge\">2<"), "two unread from bob");

    bob.send(direct, "three").await;
    let (_, list) = alice.get_page("/chats").await;
    assert!(
        list.find(&format!("/chats/{direct}\"")).unwrap() < list.find(&format!("/chats/{group}\"")).unwrap(),
        "now the direct chat is newest"
    );
    assert!(list_row(&list, direct).contains("<span class=\"badge\">3<"));
    alice.get_page(&format!("/chats/{group}")).await;
    let (_, list) = alice.get_page("/chats").await;
    assert!(!list_row(&list, group).contains("class=\"badge\""), "viewing the group read it");
}

#[test]
fn chaat_demo_adds_group_1_once_the_friendships_exist() {
    let db = TestDb::new();
    chaat::demo::create(&db.url, "demo-password").unwrap();
    let mut conn = db.conn();
    // The demo makes its friendships itself, before the group (the friends tests check them).
    chaat::demo::create(&db.url, "demo-password").unwrap();
    chaat::demo::create(&db.url, "demo-password").unwrap();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM chats WHERE is_group AND name = 'group-1'"), 1);
    let owners = "SELECT count(*) AS n FROM chat_participants p JOIN users u USING (user_id) JOIN chats c USING (chat_id) \
                  WHERE c.name = 'group-1' AND u.username = 'shahn' AND p.role = 'owner'";
    let members = "SELECT count(*) AS n FROM chat_participants p JOIN users u USING (user_id) JOIN chats c USING (chat_id) \
                   WHERE c.name = 'group-1' AND u.username IN ('shivam', 'udit') AND p.role = 'member'";
    let everyone = "SELECT count(*) AS n FROM chat_participants p JOIN chats c USING (chat_id) WHERE c.name = 'group-1'";
    assert_eq!(count(&mut conn, owners), 1);
    assert_eq!(count(&mut conn, members), 2);
    assert_eq!(count(&mut conn, everyone), 3);
}
