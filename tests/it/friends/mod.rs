//! Friends (issue 3; SPEC 1 `friend_requests`/`friends`, SPEC 2 friend rows): requests with
//! a greeting, accept / reject / withdraw, unfriend, the /friends page and its search,
//! profiles, the nav count, htmx fragments, the demo data, and concurrency.
//! Every test checks the response and the database afterwards. Shared arrange/assert
//! helpers live here; the tests are in the submodules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::{Response, StatusCode};
use scraper::{Html, Selector};
use uuid::Uuid;

use crate::helpers::{assert_redirect, count, Client, TestApp, TestDb};

mod concurrency;
mod page;
mod requests;
mod search;

// ---------- Arrange / assert helpers ----------

async fn send(client: &Client, to: &str, greeting: &str) -> Response {
    client.post("/friend-requests", &[("to", to), ("greeting", greeting)]).await
}

async fn answer(client: &Client, id: Uuid, verb: &str) -> Response {
    client.post(&format!("/friend-requests/{id}/{verb}"), &[]).await
}

/// alice and bob are friends (bob asked, alice accepted).
async fn befriend(app: &TestApp, a: &Client, b: &Client, a_name: &str, b_name: &str) {
    assert_redirect(&send(b, a_name, "").await, "/friends");
    let id = pending_id(app, b_name, a_name);
    assert_redirect(&answer(a, id, "accept").await, "/friends");
}

fn n(app: &TestApp, sql: &str) -> i64 {
    count(&mut app.conn(), sql)
}

fn user_id(app: &TestApp, name: &str) -> Uuid {
    crate::pictures::user_id(app, name)
}

fn pending_id(app: &TestApp, from: &str, to: &str) -> Uuid {
    #[derive(diesel::QueryableByName)]
    struct R {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        request_id: Uuid,
    }
    diesel::sql_query(
        "SELECT request_id FROM friend_requests r JOIN users f ON f.user_id = r.from_user \
         JOIN users t ON t.user_id = r.to_user WHERE f.username = $1 AND t.username = $2 AND r.status = 'pending'",
    )
    .bind::<diesel::sql_types::Text, _>(from)
    .bind::<diesel::sql_types::Text, _>(to)
    .get_result::<R>(&mut app.conn())
    .expect("a pending request")
    .request_id
}

/// Friendship rows of the pair (0 or 1: the table holds each pair once).
fn friendships(app: &TestApp, a: &str, b: &str) -> i64 {
    n(
        app,
        &format!(
            "SELECT count(*) AS n FROM friends f JOIN users a ON a.username = '{a}' JOIN users b ON b.username = '{b}' \
             WHERE (f.user1 = a.user_id AND f.user2 = b.user_id) OR (f.user1 = b.user_id AND f.user2 = a.user_id)"
        ),
    )
}

/// Requests from `from` to `to` in `status`.
fn requests(app: &TestApp, from: &str, to: &str, status: &str) -> i64 {
    n(
        app,
        &format!(
            "SELECT count(*) AS n FROM friend_requests r JOIN users f ON f.user_id = r.from_user \
             JOIN users t ON t.user_id = r.to_user WHERE f.username = '{from}' AND t.username = '{to}' AND r.status = '{status}'"
        ),
    )
}

/// Pending requests between the two, either direction.
fn pending_between(app: &TestApp, a: &str, b: &str) -> i64 {
    requests(app, a, b, "pending") + requests(app, b, a, "pending")
}

fn all_requests(app: &TestApp) -> i64 {
    n(app, "SELECT count(*) AS n FROM friend_requests")
}

/// The state of the two friendship tables, for "nothing changed" assertions.
fn snapshot(app: &TestApp) -> String {
    #[derive(diesel::QueryableByName)]
    struct S {
        #[diesel(sql_type = diesel::sql_types::Text)]
        s: String,
    }
    diesel::sql_query(
        "SELECT coalesce((SELECT string_agg(request_id::text || status || coalesce(responded_at::text, '-') || greeting, ',' \
           ORDER BY request_id) FROM friend_requests), '') || '|' || \
         coalesce((SELECT string_agg(user1::text || user2::text, ',' ORDER BY user1, user2) FROM friends), '') AS s",
    )
    .get_result::<S>(&mut app.conn())
    .unwrap()
    .s
}

async fn body(resp: Response) -> String {
    resp.text().await.unwrap()
}

/// Whether `css` matches anything in `html` (attribute order does not matter).
fn has(html: &str, css: &str) -> bool {
    !select(html, css).is_empty()
}

fn select(html: &str, css: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse(css).unwrap();
    doc.select(&sel).map(|e| e.html()).collect()
}
