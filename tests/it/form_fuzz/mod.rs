//! A bounded property test of the form parsers, through the real app: randomly generated
//! urlencoded and malformed bodies go to every form endpoint with a valid session and
//! CSRF token. Every answer must be a 2xx, 3xx or 4xx, in time; afterwards the database
//! must hold only values the domain types accept as they are.
//!
//! The run is random; a failure names its seed, and `FORM_FUZZ_SEED=<seed>` repeats it.

mod bodies;

use std::time::{Duration, Instant};

use chaat::domain::{Greeting, GroupName, MessageText, Username};
use diesel::RunQueryDsl;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use reqwest::StatusCode;

use crate::helpers::{Client, TestApp};
use bodies::{case, Case, REPLACEMENT};

/// Cases per endpoint: 660 requests in all, some seconds on a debug build.
const CASES: usize = 60;
/// No answer may take longer (a hang is a failure, not a wait).
const ANSWER_WITHIN: Duration = Duration::from_secs(15);
/// The whole run stops and fails past this.
const BUDGET: Duration = Duration::from_secs(240);

struct Endpoint {
    path: String,
    fields: &'static [&'static str],
    /// Signup and login: each case comes from a fresh anonymous visitor.
    anonymous: bool,
}

fn endpoint(path: impl Into<String>, fields: &'static [&'static str], anonymous: bool) -> Endpoint {
    Endpoint { path: path.into(), fields, anonymous }
}

#[actix_web::test]
async fn random_and_malformed_form_bodies_get_a_clear_answer_and_store_nothing_invalid() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    let _dave = app.signed_up("dave").await; // not a friend: requests to dave are stored
    alice.befriend(&bob).await;
    alice.befriend(&carol).await;
    let direct = alice.open_direct(&bob).await;
    let group = alice.create_group("team", &[&bob]).await;
    let endpoints = [
        endpoint("/signup", &["username", "password", "password_confirm"], true),
        endpoint("/login", &["username", "password"], true),
        endpoint("/friend-requests", &["to", "greeting", "return_to", "q"], false),
        endpoint(format!("/chats/{direct}/messages"), &["text", "client_id"], false),
        endpoint(format!("/chats/{direct}/read"), &["seq"], false),
        endpoint("/chats/direct", &["username"], false),
        endpoint("/chats/group", &["name", "members", "members"], false),
        endpoint(format!("/chats/{group}/rename"), &["name"], false),
        endpoint(format!("/chats/{group}/members"), &["username"], false),
        endpoint(format!("/chats/{direct}/mute"), &["for"], false),
        endpoint("/settings/notifications", &["notify", "previews"], false),
        endpoint("/friends/dave/remove", &["return_to", "q"], false),
        // Never the right current password: a change would end the session under test.
        endpoint("/settings/password", &["current_password", "new_password", "new_password_confirm"], false),
    ];

    let seed: u64 = std::env::var("FORM_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(rand::random);
    let mut seed_bytes = [0u8; 32];
    seed_bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(Config::default(), TestRng::from_seed(RngAlgorithm::ChaCha, &seed_bytes));
    let started = Instant::now();
    let mut statuses = std::collections::BTreeMap::<(&str, u16), usize>::new();
    for target in &endpoints {
        let strategy = case(target.fields);
        for _ in 0..CASES {
            assert!(started.elapsed() < BUDGET, "the run took over {BUDGET:?} (seed {seed})");
            let case = strategy.new_tree(&mut runner).expect("a case").current();
            let fresh;
            let client: &Client = if target.anonymous {
                fresh = app.client();
                &fresh
            } else {
                &alice
            };
            let status = send_case(client, &target.path, &case).await;
            let status = status.unwrap_or_else(|e| panic!("POST {} {case}: {e} (seed {seed})", target.path));
            assert!(status < 500, "POST {} answered {status}: {case} (seed {seed})", target.path);
            *statuses.entry((target.path.as_str(), status)).or_default() += 1;
        }
    }
    eprintln!("form fuzz (seed {seed}): statuses {statuses:?} in {:?}", started.elapsed());
    assert!(statuses.keys().any(|(_, s)| *s < 400), "some cases got through (seed {seed}): {statuses:?}");

    assert_eq!(alice.get("/chats").await.status(), StatusCode::OK, "alice's session survived");
    assert_eq!(app.client().get("/healthz").await.status(), StatusCode::OK, "still serving");
    assert_everything_stored_is_valid(&app, seed);
}

/// Sends one case; the status, or why there was none (a hang, a dropped connection).
async fn send_case(client: &Client, path: &str, case: &Case) -> Result<u16, String> {
    let token = client.csrf_token().await;
    let (body, token_in_header) = case.render(&token);
    let mut request = client.http.post(client.url(path)).timeout(ANSWER_WITHIN).body(body);
    if let Some(content_type) = case.content_type {
        request = request.header("content-type", content_type);
    }
    if token_in_header {
        request = request.header("X-CSRF-Token", token);
    }
    if case.htmx {
        request = request.header("HX-Request", "true");
    }
    let resp = request.send().await.map_err(|e| format!("no answer: {e}"))?;
    let status = resp.status().as_u16();
    // Read the whole answer: a body that never ends is a hang too.
    resp.bytes().await.map_err(|e| format!("the answer did not finish: {e}"))?;
    Ok(status)
}

/// Every stored value parses, through its domain type, to itself, and nothing holds the
/// replacement character that a lossy decoding would leave.
fn assert_everything_stored_is_valid(app: &TestApp, seed: u64) {
    let mut conn = app.conn();
    let texts = strings(&mut conn, "SELECT text AS s FROM messages WHERE kind = 'text'");
    let greetings = strings(&mut conn, "SELECT greeting AS s FROM friend_requests");
    eprintln!("form fuzz (seed {seed}): {} messages and {} friend requests stored", texts.len(), greetings.len());
    for text in &texts {
        assert_eq!(MessageText::parse(text).map(MessageText::into_string).as_ref(), Ok(text), "message (seed {seed})");
    }
    for line in strings(&mut conn, "SELECT text AS s FROM messages WHERE kind = 'system'") {
        assert!(!line.trim().is_empty() && !line.contains(['\r', '\0']), "system line {line:?} (seed {seed})");
    }
    for name in strings(&mut conn, "SELECT name AS s FROM chats WHERE is_group") {
        assert_eq!(GroupName::parse(&name).map(|n| n.as_str().to_string()), Ok(name.clone()), "group (seed {seed})");
    }
    for greeting in greetings {
        assert_eq!(Greeting::parse(&greeting).map(|g| g.as_str().to_string()), Ok(greeting.clone()), "greeting (seed {seed})");
    }
    for username in strings(&mut conn, "SELECT username AS s FROM users") {
        assert_eq!(Username::parse(&username).map(|u| u.to_string()), Ok(username.clone()), "user (seed {seed})");
    }
    let everything = strings(
        &mut conn,
        "SELECT text AS s FROM messages UNION ALL SELECT name FROM chats WHERE name IS NOT NULL \
         UNION ALL SELECT greeting FROM friend_requests UNION ALL SELECT username FROM users",
    );
    assert!(everything.iter().all(|s| !s.contains(REPLACEMENT)), "a lossy decoding was stored (seed {seed})");
}

fn strings(conn: &mut diesel::PgConnection, sql: &str) -> Vec<String> {
    #[derive(diesel::QueryableByName)]
    struct S {
        #[diesel(sql_type = diesel::sql_types::Text)]
        s: String,
    }
    diesel::sql_query(sql).load::<S>(conn).unwrap().into_iter().map(|r| r.s).collect()
}
