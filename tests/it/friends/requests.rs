//! Sending, answering and unfriending: every rule and refusal; the demo data.

use super::*;

// ---------- Sending ----------

#[actix_web::test]
async fn a_request_is_stored_pending_with_its_greeting_and_shown_to_both() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;

    let resp = alice.send_friend_request("Bob", "  Hi Bob, it's Alice from school!  ").await;

    assert_redirect(&resp, "/friends");
    assert_eq!(requests(&app, "alice", "bob", "pending"), 1);
    assert_eq!(
        n(&app, "SELECT count(*) AS n FROM friend_requests WHERE greeting = 'Hi Bob, it''s Alice from school!' AND responded_at IS NULL"),
        1,
        "the greeting is stored trimmed; a pending request has no responded_at"
    );
    let (_, bobs) = bob.get_page("/friends").await;
    let incoming = select(&bobs, "section[aria-labelledby=incoming-heading] li");
    assert_eq!(incoming.len(), 1);
    assert!(incoming[0].contains("alice") && incoming[0].contains("Hi Bob, it's Alice from school!"), "{}", incoming[0]);
    assert!(incoming[0].contains("/accept") && incoming[0].contains("/reject"));
    let (_, alices) = alice.get_page("/friends").await;
    let outgoing = select(&alices, "section[aria-labelledby=outgoing-heading] li");
    assert_eq!(outgoing.len(), 1);
    assert!(outgoing[0].contains("bob") && outgoing[0].contains("/withdraw") && outgoing[0].contains("Hi Bob"));
}

#[actix_web::test]
async fn a_greeting_has_at_most_200_characters_counting_an_emoji_as_one() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    app.signed_up("bob").await;
    app.signed_up("carol").await;

    let too_long = "😀".repeat(201);
    let resp = alice.post("/friend-requests", &[("to", "bob"), ("greeting", &too_long), ("q", "bo")]).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = body(resp).await;
    assert!(page.contains("Greetings have at most 200 characters."), "the message");
    let row = select(&page, "#person-bob");
    assert_eq!(row.len(), 1, "the search is shown again with bob's row");
    assert!(row[0].contains("class=\"field-error\"") && row[0].contains("aria-invalid=\"true\""), "next to the field");
    assert!(row[0].contains(&format!("value=\"{too_long}\"")), "the input is kept");
    assert_eq!(all_requests(&app), 0);

    let just_right = "😀".repeat(200);
    assert_redirect(&alice.send_friend_request("carol", &just_right).await, "/friends");
    assert_eq!(n(&app, "SELECT count(*) AS n FROM friend_requests WHERE char_length(greeting) = 200"), 1);
}

#[actix_web::test]
async fn refused_requests_get_a_422_with_a_clear_message_and_change_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    app.signed_up("carol").await;
    bob.befriend(&alice).await;
    assert_redirect(&alice.send_friend_request("carol", "hi").await, "/friends");
    let before = snapshot(&app);

    for (what, to, message) in [
        ("an unknown user", "nobody", "There is no one with that username."),
        ("a name no user can have", "<b>x</b>", "There is no one with that username."),
        ("yourself", "alice", "You can’t send a friend request to yourself."),
        ("yourself in capitals", "ALICE", "You can’t send a friend request to yourself."),
        ("a friend", "bob", "You are already friends."),
        ("someone you already asked", "carol", "You already sent a friend request. It is waiting for an answer."),
    ] {
        let resp = alice.send_friend_request(to, "hello again").await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        let page = body(resp).await;
        assert!(page.contains(message), "{what}: expected {message:?}");
        assert!(!page.contains("<b>x</b>"), "{what}: input is escaped");
        assert_eq!(snapshot(&app), before, "{what}: nothing changed");
    }
}

#[actix_web::test]
async fn asking_someone_who_already_asked_you_accepts_their_request_instead() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    assert_redirect(&bob.send_friend_request("alice", "hi alice").await, "/friends");

    let resp = alice.send_friend_request("bob", "hi bob").await;

    assert_redirect(&resp, "/friends");
    assert_eq!(friendships(&app, "alice", "bob"), 1);
    assert_eq!(requests(&app, "bob", "alice", "accepted"), 1, "bob's request was accepted");
    assert_eq!(all_requests(&app), 1, "no second request was created");
    assert_eq!(n(&app, "SELECT count(*) AS n FROM friend_requests WHERE responded_at IS NOT NULL"), 1);
    let (_, bobs) = bob.get_page("/friends").await;
    assert_eq!(select(&bobs, "#friend-alice").len(), 1, "bob sees alice among his friends");
}

// ---------- Answering ----------

#[actix_web::test]
async fn accepting_makes_friends_in_the_same_step_as_closing_the_request() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    bob.send_friend_request("alice", "").await;
    let id = alice.request_from("bob").await;

    assert_redirect(&alice.accept_friend_request(id).await, "/friends");

    assert_eq!(friendships(&app, "alice", "bob"), 1);
    assert_eq!(requests(&app, "bob", "alice", "accepted"), 1);
    assert_eq!(n(&app, "SELECT count(*) AS n FROM friend_requests WHERE responded_at IS NOT NULL"), 1);
    let (_, alices) = alice.get_page("/friends").await;
    let friend = select(&alices, "#friend-bob");
    assert_eq!(friend.len(), 1);
    assert!(select(&alices, "section[aria-labelledby=incoming-heading] li").is_empty(), "no longer incoming");
    let (_, bobs) = bob.get_page("/friends").await;
    assert_eq!(select(&bobs, "#friend-alice").len(), 1, "one row, both directions");
    assert!(select(&bobs, "section[aria-labelledby=outgoing-heading] li").is_empty());
}

#[actix_web::test]
async fn rejecting_and_withdrawing_close_the_request_without_a_friendship() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    bob.send_friend_request("alice", "").await;
    carol.send_friend_request("alice", "").await;

    assert_redirect(&alice.reject_friend_request(alice.request_from("bob").await).await, "/friends");
    assert_redirect(&carol.withdraw_friend_request(carol.request_to("alice").await).await, "/friends");

    assert_eq!(requests(&app, "bob", "alice", "rejected"), 1);
    assert_eq!(requests(&app, "carol", "alice", "withdrawn"), 1);
    assert_eq!(n(&app, "SELECT count(*) AS n FROM friend_requests WHERE responded_at IS NULL"), 0);
    assert_eq!(n(&app, "SELECT count(*) AS n FROM friends"), 0);
    // Closed requests leave the lists, and a new request may follow.
    let (_, alices) = alice.get_page("/friends").await;
    assert!(select(&alices, "section[aria-labelledby=incoming-heading] li").is_empty());
    assert_redirect(&bob.send_friend_request("alice", "second try").await, "/friends");
    assert_eq!(requests(&app, "bob", "alice", "pending"), 1);
}

#[actix_web::test]
async fn only_the_receiver_accepts_or_rejects_and_only_the_sender_withdraws() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    bob.send_friend_request("alice", "").await;
    let id = alice.request_from("bob").await;
    let before = snapshot(&app);

    for (what, client, path) in [
        ("the sender accepts", &bob, format!("/friend-requests/{id}/accept")),
        ("the sender rejects", &bob, format!("/friend-requests/{id}/reject")),
        ("the receiver withdraws", &alice, format!("/friend-requests/{id}/withdraw")),
        ("a stranger accepts", &carol, format!("/friend-requests/{id}/accept")),
        ("a stranger rejects", &carol, format!("/friend-requests/{id}/reject")),
        ("a stranger withdraws", &carol, format!("/friend-requests/{id}/withdraw")),
        ("an unknown request", &alice, format!("/friend-requests/{}/accept", Uuid::now_v7())),
        ("a malformed id", &alice, "/friend-requests/not-a-uuid/accept".to_string()),
    ] {
        assert_eq!(client.post(&path, &[]).await.status(), StatusCode::NOT_FOUND, "{what}");
        assert_eq!(snapshot(&app), before, "{what}: nothing changed");
    }
    assert_eq!(requests(&app, "bob", "alice", "pending"), 1);
}

#[actix_web::test]
async fn answering_a_request_that_is_no_longer_pending_is_a_409_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    bob.send_friend_request("alice", "").await;
    let accepted = alice.request_from("bob").await;
    alice.accept_friend_request(accepted).await;
    carol.send_friend_request("alice", "").await;
    let withdrawn = carol.request_to("alice").await;
    carol.withdraw_friend_request(withdrawn).await;
    let before = snapshot(&app);

    for (what, client, id, verb, message) in [
        ("accepting twice", &alice, accepted, "accept", "You already accepted this friend request."),
        ("rejecting after accepting", &alice, accepted, "reject", "You already accepted this friend request."),
        ("withdrawing an accepted request", &bob, accepted, "withdraw", "This friend request was already accepted."),
        ("accepting a withdrawn request", &alice, withdrawn, "accept", "This friend request was withdrawn."),
        ("withdrawing twice", &carol, withdrawn, "withdraw", "You already withdrew this friend request."),
    ] {
        let resp = client.answer_friend_request(id, verb).await;
        assert_eq!(resp.status(), StatusCode::CONFLICT, "{what}");
        assert!(body(resp).await.contains(message), "{what}: {message:?}");
        assert_eq!(snapshot(&app), before, "{what}: nothing changed, not even responded_at");
    }
}

// ---------- Unfriending ----------

#[actix_web::test]
async fn unfriending_removes_the_friendship_both_ways_and_a_new_request_can_follow() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    bob.befriend(&alice).await;

    alice.unfriend(&bob).await;

    assert_eq!(friendships(&app, "alice", "bob"), 0);
    let (_, bobs) = bob.get_page("/friends").await;
    assert!(select(&bobs, "#friend-alice").is_empty(), "gone for bob too");
    let again = bob.remove_friend(&alice).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(body(again).await.contains("You are not friends with alice."));
    assert_eq!(alice.remove_friend("nobody").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(alice.remove_friend(&alice).await.status(), StatusCode::CONFLICT, "yourself");

    assert_redirect(&bob.post("/friend-requests", &[("to", "alice"), ("greeting", "friends again?")]).await, "/friends");
    assert_eq!(requests(&app, "bob", "alice", "pending"), 1);
    assert_eq!(friendships(&app, "alice", "bob"), 0);
}

// ---------- Demo ----------

#[test]
fn the_demo_adds_the_friendships_of_the_design_notes_once() {
    let db = TestDb::new();
    chaat::demo::create(&db.url, "password123").unwrap();
    let mut conn = db.conn();
    let state = |conn: &mut PgConnection| {
        (
            count(conn, "SELECT count(*) AS n FROM users"),
            count(conn, "SELECT count(*) AS n FROM friends"),
            count(conn, "SELECT count(*) AS n FROM friend_requests"),
        )
    };
    let first = state(&mut conn);
    chaat::demo::create(&db.url, "password123").unwrap();
    assert_eq!(state(&mut conn), first, "running it twice changes nothing");
    assert_eq!(first, (4, 3, 4));
    for (a, b) in [("shahn", "shivam"), ("shahn", "udit"), ("shivam", "udit")] {
        let pair = diesel::sql_query(
            "SELECT count(*) AS n FROM friends f JOIN users a ON a.username = $1 JOIN users b ON b.username = $2 \
             WHERE LEAST(a.user_id, b.user_id) = f.user1 AND GREATEST(a.user_id, b.user_id) = f.user2",
        )
        .bind::<Text, _>(a)
        .bind::<Text, _>(b)
        .get_result::<Scalar>(&mut conn)
        .unwrap()
        .n;
        assert_eq!(pair, 1, "{a}–{b}");
    }
    let hi = "SELECT count(*) AS n FROM friend_requests r JOIN users f ON f.user_id = r.from_user \
              JOIN users t ON t.user_id = r.to_user \
              WHERE f.username = 'atharva' AND t.username = 'shahn' AND r.status = 'pending' AND r.greeting = 'hi'";
    assert_eq!(count(&mut conn, hi), 1);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM friend_requests WHERE status = 'pending'"), 1);
}
