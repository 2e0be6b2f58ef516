//! Friends (issue 3; SPEC 1 `friend_requests`/`friends`, SPEC 2 friend rows): requests with
//! a greeting, accept / reject / withdraw, unfriend, the /friends page and its search,
//! profiles, the nav count, htmx fragments, the demo data, and concurrency.
//! Every test checks the response and the database afterwards. The people are actors
//! (`crate::helpers::Actor`); readers of the friendship tables live here; the tests are
//! in the submodules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::{Response, StatusCode};
use scraper::{Html, Selector};
use uuid::Uuid;

use crate::helpers::{assert_redirect, count, has, select, user_id, Scalar, TestApp, TestDb};

mod concurrency;
mod page;
mod requests;
mod search;

// ---------- Assert helpers ----------

fn n(app: &TestApp, sql: &str) -> i64 {
    count(&mut app.conn(), sql)
}

/// Friendship rows of the pair (0 or 1: the table holds each pair once).
fn friendships(app: &TestApp, a: &str, b: &str) -> i64 {
    diesel::sql_query(
        "SELECT count(*) AS n FROM friends f JOIN users a ON a.username = $1 JOIN users b ON b.username = $2 \
         WHERE (f.user1 = a.user_id AND f.user2 = b.user_id) OR (f.user1 = b.user_id AND f.user2 = a.user_id)",
    )
    .bind::<Text, _>(a)
    .bind::<Text, _>(b)
    .get_result::<Scalar>(&mut app.conn())
    .unwrap()
    .n
}

/// Requests from `from` to `to` in `status`.
fn requests(app: &TestApp, from: &str, to: &str, status: &str) -> i64 {
    diesel::sql_query(
        "SELECT count(*) AS n FROM friend_requests r JOIN users f ON f.user_id = r.from_user \
         JOIN users t ON t.user_id = r.to_user WHERE f.username = $1 AND t.username = $2 AND r.status = $3",
    )
    .bind::<Text, _>(from)
    .bind::<Text, _>(to)
    .bind::<Text, _>(status)
    .get_result::<Scalar>(&mut app.conn())
    .unwrap()
    .n
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
