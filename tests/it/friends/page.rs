//! The /friends page, profiles, the nav count, htmx fragments and no-JS flows.

use super::*;

// ---------- The page ----------

#[actix_web::test]
async fn the_friends_page_shows_friends_and_both_kinds_of_requests_with_their_buttons() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    app.signed_up("dave").await;
    bob.befriend(&alice).await;
    carol.send_friend_request("alice", "we met at <the> café").await;
    alice.send_friend_request("dave", "hello dave").await;

    let (status, page) = alice.get_page("/friends").await;

    assert_eq!(status, StatusCode::OK);
    let friend = &select(&page, "#friend-bob")[0];
    assert!(friend.contains(&format!("src=\"/display-pictures/{}\"", user_id(&app, "bob"))), "avatar");
    assert!(friend.contains("href=\"/users/bob\""), "name links to the profile");
    assert!(has(&page, "#friend-bob time[datetime]"), "since when");
    assert!(has(&page, "#friend-bob form[action='/chats/direct'] input[name=username][value=bob]"), "Message");
    assert!(friend.contains("action=\"/friends/bob/remove\""), "Remove");
    let incoming = &select(&page, "section[aria-labelledby=incoming-heading] li")[0];
    assert!(incoming.contains("we met at &lt;the&gt; café"), "greeting, escaped");
    assert!(has(&page, "section[aria-labelledby=incoming-heading] li time[datetime]"));
    let outgoing = &select(&page, "section[aria-labelledby=outgoing-heading] li")[0];
    assert!(outgoing.contains("dave") && outgoing.contains("hello dave") && outgoing.contains("/withdraw"));
    // Every form posts with the CSRF token; every visible input has a label.
    let forms = select(&page, "main form[method=post]");
    assert!(forms.len() >= 5);
    for form in &forms {
        assert!(form.contains("name=\"csrf_token\""), "{form}");
    }
    let doc = Html::parse_document(&page);
    for input in doc.select(&Selector::parse("main input:not([type=hidden])").unwrap()) {
        let id = input.value().attr("id").expect("inputs have ids");
        assert_eq!(select(&page, &format!("label[for=\"{id}\"]")).len(), 1, "a label for #{id}");
    }
}

#[actix_web::test]
async fn an_empty_friends_page_says_what_to_do_next() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let (status, page) = alice.get_page("/friends").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("class=\"empty-state\"") && page.contains("No friends yet"));
    assert!(page.contains("When someone sends you a friend request, it shows up here."));
    assert!(page.contains("You have no requests waiting for an answer."));
    assert_redirect(&app.client().get("/friends").await, "/login");
}

// ---------- No-JS flows and where they return ----------

#[actix_web::test]
async fn plain_posts_return_to_the_profile_or_search_they_came_from_and_nowhere_else() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    app.signed_up("carol").await;
    app.signed_up("dave").await;

    assert_redirect(&alice.post("/friend-requests", &[("to", "bob"), ("return_to", "/users/bob")]).await, "/users/bob");
    assert_redirect(&alice.post("/friend-requests", &[("to", "carol"), ("q", "ca")]).await, "/friends?q=ca");
    let hostile = alice.post("/friend-requests", &[("to", "dave"), ("return_to", "https://evil.example/")]).await;
    assert_redirect(&hostile, "/friends");
    let id = bob.request_from("alice").await;
    assert_redirect(&bob.post(&format!("/friend-requests/{id}/accept"), &[("return_to", "//evil.example")]).await, "/friends");
    assert_eq!(friendships(&app, "alice", "bob"), 1);
    assert_eq!(requests(&app, "alice", "carol", "pending") + requests(&app, "alice", "dave", "pending"), 2);
}

#[actix_web::test]
async fn a_post_without_the_csrf_token_is_refused_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    app.signed_up("bob").await;
    let resp = alice.post_raw("/friend-requests", &[("to", "bob")], reqwest::header::HeaderMap::new()).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(all_requests(&app), 0);
}

// ---------- htmx ----------

#[actix_web::test]
async fn htmx_actions_on_the_friends_page_answer_with_the_lists_and_partials() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    app.signed_up("carol").await;
    bob.send_friend_request("alice", "hi").await;
    let id = alice.request_from("bob").await;

    let resp = alice.post_htmx(&format!("/friend-requests/{id}/accept"), &[("q", "b")]).await;

    assert_eq!(resp.status(), StatusCode::OK);
    let fragment = body(resp).await;
    assert!(fragment.trim_start().starts_with("<div id=\"friends-lists\""), "the lists block");
    assert!(!fragment.contains("<html") && !fragment.contains("<h1"), "a fragment, not a page");
    assert!(fragment.contains("You and bob are friends now."), "a notice");
    assert!(fragment.contains("<hx-partial hx-target=\"#friends-notice\""));
    assert!(fragment.contains("<hx-partial hx-target=\"#nav-friends\" hx-swap=\"outerHTML\">"), "the nav count");
    assert!(fragment.contains("<hx-partial hx-target=\"#search-results\""), "the search, refreshed for q");
    assert!(select(&fragment, "#search-results #person-bob").iter().any(|r| r.contains("Friends since")));
    assert_eq!(select(&fragment, "#friends-lists #friend-bob").len(), 1);
    assert_eq!(friendships(&app, "alice", "bob"), 1);

    // Send from a search row, then withdraw: both answered in place.
    let resp = alice.post_htmx("/friend-requests", &[("to", "carol"), ("greeting", "hey"), ("q", "car")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let fragment = body(resp).await;
    assert!(fragment.contains("Friend request sent to carol."));
    assert!(select(&fragment, "#person-carol").iter().any(|r| r.contains("You sent a friend request")));
    let carols = alice.request_to("carol").await;
    let resp = alice.post_htmx(&format!("/friend-requests/{carols}/withdraw"), &[]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(body(resp).await.contains("You withdrew your friend request to carol."));
    assert_eq!(requests(&app, "alice", "carol", "withdrawn"), 1);
}

#[actix_web::test]
async fn htmx_refusals_answer_with_the_fresh_fragment_and_the_same_status() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    bob.send_friend_request("alice", "").await;
    let id = alice.request_from("bob").await;
    let rejected = alice.post_htmx(&format!("/friend-requests/{id}/reject"), &[]).await;
    assert_eq!(rejected.status(), StatusCode::OK);
    assert!(body(rejected).await.contains("You rejected bob’s friend request."));
    let before = snapshot(&app);

    let conflict = alice.post_htmx(&format!("/friend-requests/{id}/accept"), &[]).await;
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    let fragment = body(conflict).await;
    assert!(fragment.trim_start().starts_with("<div id=\"friends-lists\"") && fragment.contains("notice-error"));
    assert!(fragment.contains("You already rejected this friend request."));
    let missing = bob.post_htmx(&format!("/friend-requests/{id}/accept"), &[]).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(body(missing).await.trim_start().starts_with("<div id=\"friends-lists\""));
    assert_eq!(snapshot(&app), before);

    // A bad greeting: the form fragment with the error and the input, 422 (htmx swaps it).
    let long = "x".repeat(201);
    let resp = alice.post_htmx("/friend-requests", &[("to", "bob"), ("greeting", &long), ("q", "bob")]).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fragment = body(resp).await;
    let row = select(&fragment, "#person-bob").pop().expect("bob's row in the search partial");
    assert!(row.contains("Greetings have at most 200 characters.") && row.contains(&format!("value=\"{long}\"")));
    assert_eq!(snapshot(&app), before);
}

// ---------- Profiles ----------

#[actix_web::test]
async fn profiles_show_the_friendship_state_with_the_fitting_button_and_their_forms_work() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;

    // None: a request form that comes back here, plain and htmx.
    let (_, page) = alice.get_page("/users/bob").await;
    let block = select(&page, "#friendship").pop().unwrap();
    assert!(block.contains("action=\"/friend-requests\"") && block.contains("hx-post=\"/friend-requests\""));
    assert!(has(&page, "#friendship input[name=return_to][value='/users/bob']"));
    let resp = alice.post_htmx("/friend-requests", &[("to", "bob"), ("greeting", "hi from alice"), ("return_to", "/users/bob")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let fragment = body(resp).await;
    assert!(fragment.trim_start().starts_with("<div id=\"friendship\""), "{fragment}");
    assert!(fragment.contains("Request sent") && fragment.contains("/withdraw"));
    assert!(fragment.contains("<hx-partial hx-target=\"#nav-friends\""));
    assert_eq!(requests(&app, "alice", "bob", "pending"), 1);

    // Received: the greeting with accept and reject; accepting without JS comes back here.
    let (_, page) = bob.get_page("/users/alice").await;
    let block = select(&page, "#friendship").pop().unwrap();
    assert!(block.contains("hi from alice") && block.contains("/accept") && block.contains("/reject"));
    let id = bob.request_from("alice").await;
    let accepted = bob.post(&format!("/friend-requests/{id}/accept"), &[("return_to", "/users/alice")]).await;
    assert_redirect(&accepted, "/users/alice");
    assert_eq!(friendships(&app, "alice", "bob"), 1);

    // Friends: message and remove; removing with htmx shows the request form again.
    let (_, page) = alice.get_page("/users/bob").await;
    let block = select(&page, "#friendship").pop().unwrap();
    assert!(block.contains("Friends") && block.contains("action=\"/chats/direct\"") && block.contains("/friends/bob/remove"));
    let resp = alice.post_htmx("/friends/bob/remove", &[("return_to", "/users/bob")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let fragment = body(resp).await;
    assert!(fragment.contains("bob is no longer your friend.") && fragment.contains("Send friend request"));
    assert_eq!(friendships(&app, "alice", "bob"), 0);

    // A refused request on a profile: 422, the error next to the field, the input kept.
    let long = "y".repeat(201);
    let resp = alice.post("/friend-requests", &[("to", "bob"), ("greeting", &long), ("return_to", "/users/bob")]).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let page = body(resp).await;
    assert!(page.contains("<h1 class=\"profile-name\">bob</h1>"), "the profile again");
    let block = select(&page, "#friendship").pop().unwrap();
    assert!(block.contains("field-error") && block.contains(&format!("value=\"{long}\"")));
    let (_, own) = alice.get_page("/users/alice").await;
    assert!(!select(&own, "#friendship").pop().unwrap().contains("<form"), "no friendship buttons on your own profile");
}

// ---------- Navigation ----------

fn nav_badge(page: &str) -> Option<String> {
    let doc = Html::parse_document(page);
    let badge = doc.select(&Selector::parse("#nav-friends .badge").unwrap()).next()?;
    Some(badge.text().collect::<String>())
}

#[actix_web::test]
async fn the_navigation_counts_incoming_pending_requests() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    let dave = app.signed_up("dave").await;
    bob.send_friend_request("alice", "").await;
    carol.send_friend_request("alice", "").await;
    dave.send_friend_request("alice", "").await;
    alice.send_friend_request("bob", "").await; // accepts bob's instead

    let (_, page) = alice.get_page("/settings").await;
    assert_eq!(nav_badge(&page).as_deref(), Some("2 incoming friend requests"));
    let (_, page) = carol.get_page("/settings").await;
    assert_eq!(nav_badge(&page), None, "outgoing requests are not counted");

    let resp = alice.post_htmx(&format!("/friend-requests/{}/reject", alice.request_from("carol").await), &[]).await;
    let partial = body(resp).await;
    assert_eq!(nav_badge(&partial).as_deref(), Some("1 incoming friend request"), "the partial refreshes the count");
    dave.withdraw_friend_request(dave.request_to("alice").await).await;
    let (_, page) = alice.get_page("/friends").await;
    assert_eq!(nav_badge(&page), None);
    assert_eq!(n(&app, "SELECT count(*) AS n FROM friend_requests WHERE status = 'pending'"), 0);
}
