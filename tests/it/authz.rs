//! The authorization matrix: every route of SPEC 2 against an anonymous visitor, a
//! logged-in stranger, a participant or friend, and an owner, with the expected status.
//! Rows run top to bottom and actors left to right, so rows that change state come last
//! and their expectations account for what the earlier actors did.

use reqwest::StatusCode;

use crate::helpers::{user_id, Client, TestApp};

const ANON: usize = 0;

struct Row {
    method: &'static str,
    path: String,
    form: Vec<(&'static str, String)>,
    /// anonymous, stranger (eve), participant/friend (bob), owner (alice)
    expect: [u16; 4],
}

fn get(path: String, expect: [u16; 4]) -> Row {
    Row { method: "GET", path, form: vec![], expect }
}

fn post(path: String, form: &[(&'static str, &str)], expect: [u16; 4]) -> Row {
    Row { method: "POST", path, form: form.iter().map(|(k, v)| (*k, v.to_string())).collect(), expect }
}

async fn request(client: &Client, row: &Row) -> reqwest::Response {
    match row.method {
        "GET" => client.get(&row.path).await,
        _ => {
            let fields: Vec<(&str, &str)> = row.form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            client.post(&row.path, &fields).await
        }
    }
}

#[actix_web::test]
async fn every_route_answers_each_kind_of_visitor_as_the_table_says() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    let eve = app.signed_up("eve").await;
    alice.befriend(&bob).await;
    alice.befriend(&carol).await;
    let direct = alice.open_direct(&bob).await;
    let group = alice.create_group("team", &[&bob]).await;
    let asked = eve.send_friend_request(&bob, "hi").await;
    assert_eq!(asked.status(), StatusCode::SEE_OTHER);
    let request_id = bob.request_from(&eve).await;
    let anonymous = app.client();
    anonymous.csrf_token().await; // so that POSTs test authorization, not CSRF
    let alice_id = user_id(&app, "alice");

    let g = |rest: &str| format!("/chats/{group}{rest}");
    let rows = vec![
        get("/".into(), [303, 303, 303, 303]),
        get("/healthz".into(), [200, 200, 200, 200]),
        get("/signup".into(), [200, 200, 200, 200]),
        get("/login".into(), [200, 303, 303, 303]),
        get("/settings".into(), [303, 200, 200, 200]),
        get(format!("/display-pictures/{alice_id}"), [303, 200, 200, 200]),
        get("/users/alice".into(), [303, 200, 200, 200]),
        get("/friends".into(), [303, 200, 200, 200]),
        get("/chats".into(), [303, 200, 200, 200]),
        get(g(""), [303, 404, 200, 200]),
        get(g("/messages?before=5"), [303, 404, 200, 200]),
        get(g("/messages?after=0"), [303, 404, 200, 200]),
        get(g("/events"), [303, 404, 200, 200]),
        get(format!("/chats/{direct}"), [303, 404, 200, 200]),
        get(format!("/chats/{direct}/events"), [303, 404, 200, 200]),
        post(g("/messages"), &[("text", "hello")], [303, 404, 303, 303]),
        post(g("/read"), &[("seq", "1")], [303, 404, 204, 204]),
        post(format!("/chats/{direct}/messages"), &[("text", "hi")], [303, 404, 303, 303]),
        post(g("/rename"), &[("name", "renamed")], [303, 404, 303, 303]),
        // bob is not carol's friend (422); alice is and adds her.
        post(g("/members"), &[("username", "carol")], [303, 404, 422, 303]),
        // Only the owner removes people.
        post(g("/members/carol/remove"), &[], [303, 404, 403, 303]),
        // Direct chats take no members, renames or leaves; outsiders see nothing.
        post(format!("/chats/{direct}/rename"), &[("name", "x")], [303, 404, 409, 409]),
        post("/chats/direct".into(), &[("username", "bob")], [303, 409, 409, 303]),
        post("/chats/group".into(), &[("name", "new"), ("members", "bob")], [303, 422, 422, 303]),
        post("/friend-requests".into(), &[("to", "carol"), ("greeting", "")], [303, 303, 303, 422]),
        // eve sent it, bob receives it: only bob may accept; afterwards it is not pending.
        post(format!("/friend-requests/{request_id}/accept"), &[], [303, 404, 303, 404]),
        post("/friends/carol/remove".into(), &[], [303, 409, 409, 303]),
        post("/settings/sessions/others/logout".into(), &[], [303, 303, 303, 303]),
        post(g("/leave"), &[], [303, 404, 303, 303]),
    ];
    let actors: [&Client; 4] = [&anonymous, &eve, &bob, &alice];
    let mut mismatches = vec![];
    for row in &rows {
        for (i, actor) in actors.iter().enumerate() {
            let resp = request(actor, row).await;
            let got = resp.status().as_u16();
            let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            if got != row.expect[i] {
                mismatches.push(format!(
                    "{} {} as {}: expected {}, got {got}",
                    row.method,
                    row.path,
                    ["anonymous", "eve", "bob", "alice"][i],
                    row.expect[i]
                ));
            } else if i == ANON && got == 303 && row.path != "/" && location != "/login" {
                mismatches.push(format!("{} {} as anonymous: redirected to {location}, not /login", row.method, row.path));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
