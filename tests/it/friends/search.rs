//! The user search: prefix, case, limit, yourself, states, LIKE metacharacters.

use super::*;

// ---------- Search ----------

/// Adds people straight to the database (signing up 25 people would hash 25 passwords).
fn add_people(app: &TestApp, names: &[&str]) {
    let mut conn = app.conn();
    for name in names {
        diesel::sql_query("INSERT INTO users (user_id, username, dynamic_salt, pwd_hash) VALUES ($1, $2, 's', 'h')")
            .bind::<diesel::sql_types::Uuid, _>(Uuid::now_v7())
            .bind::<diesel::sql_types::Text, _>(*name)
            .execute(&mut conn)
            .unwrap();
    }
}

fn found(page: &str) -> Vec<String> {
    let doc = Html::parse_document(page);
    doc.select(&Selector::parse("#search-results li .list-name a").unwrap()).map(|a| a.text().collect::<String>()).collect()
}

#[actix_web::test]
async fn search_is_a_case_insensitive_prefix_match_of_at_most_twenty_people_without_yourself() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let many: Vec<String> = (0..25).map(|i| format!("al{i:02}")).collect();
    add_people(&app, &many.iter().map(String::as_str).collect::<Vec<_>>());
    add_people(&app, &["alfred", "bob", "malfoy"]);

    let (status, page) = alice.get_page("/friends?q=AL").await;
    assert_eq!(status, StatusCode::OK);
    let names = found(&page);
    assert_eq!(names.len(), 20, "at most 20");
    assert!(names.iter().all(|n| n.starts_with("al")), "a prefix match: {names:?}");
    assert!(!names.contains(&"alice".to_string()), "yourself excluded");
    assert_eq!(names, many[..20].to_vec(), "in username order");

    let (_, page) = alice.get_page("/friends?q=%20Alf%20").await;
    assert_eq!(found(&page), vec!["alfred"], "not malfoy: a prefix, not a substring");
    assert!(page.contains("value=\"Alf\""), "the search is kept in the field");
    let (_, page) = alice.get_page("/friends?q=alice").await;
    assert!(found(&page).is_empty() && page.contains("No one’s username starts with “alice”"));
    let (_, page) = alice.get_page("/friends?q=").await;
    assert!(found(&page).is_empty() && !page.contains("No one’s username"), "no search, no results");
}

#[actix_web::test]
async fn like_metacharacters_in_a_search_are_taken_literally() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    add_people(&app, &["a_b", "axb", "a.b"]);

    for (q, expected) in
        [("a_", vec!["a_b"]), ("a%25", vec![]), ("%25", vec![]), ("_", vec![]), ("%5C", vec![]), ("a%5C_", vec![]), ("a.", vec!["a.b"])]
    {
        let (status, page) = alice.get_page(&format!("/friends?q={q}")).await;
        assert_eq!(status, StatusCode::OK, "q={q}");
        assert_eq!(found(&page), expected, "q={q}");
    }
}

#[actix_web::test]
async fn search_results_show_each_persons_state_with_the_fitting_button() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let friend = app.signed_up("pal_friend").await;
    app.signed_up("pal_asked").await;
    let asker = app.signed_up("pal_asker").await;
    app.signed_up("pal_none").await;
    friend.befriend(&alice).await;
    alice.send_friend_request("pal_asked", "").await;
    asker.send_friend_request("alice", "please?").await;
    let asked = alice.request_to("pal_asked").await;
    let asking = alice.request_from(&asker).await;

    let (_, page) = alice.get_page("/friends?q=pal").await;

    let row = |name: &str| select(&page, &format!("#person-{name}")).pop().expect(name);
    let f = row("pal_friend");
    assert!(f.contains("Friends since") && f.contains("action=\"/chats/direct\""), "{f}");
    let s = row("pal_asked");
    assert!(s.contains("You sent a friend request") && s.contains(&format!("/friend-requests/{asked}/withdraw")), "{s}");
    let r = row("pal_asker");
    assert!(r.contains("Sent you a friend request") && r.contains("please?"), "{r}");
    assert!(r.contains(&format!("/friend-requests/{asking}/accept")) && r.contains(&format!("/friend-requests/{asking}/reject")));
    let none = row("pal_none");
    assert!(has(&page, "#person-pal_none form[action='/friend-requests'] input[name=to][value=pal_none]"), "{none}");
    assert!(has(&page, "#person-pal_none input[name=q][value=pal]"), "the form brings you back to this search");
}

#[actix_web::test]
async fn htmx_searches_get_only_the_results() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    add_people(&app, &["bob"]);
    let resp = alice.get_htmx("/friends?q=b").await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers().get("vary").and_then(|v| v.to_str().ok()), Some("HX-Request"));
    let fragment = body(resp).await;
    assert!(fragment.trim_start().starts_with("<div id=\"search-results\""), "{fragment}");
    assert!(!fragment.contains("<html") && !fragment.contains("friends-lists"));
    assert_eq!(found(&fragment), vec!["bob"]);
}
