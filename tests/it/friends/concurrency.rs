//! Concurrency: simultaneous requests end in one friendship and no stray request.

use super::*;

// ---------- Concurrency ----------
//
// Two ways to make requests collide: free-running (many rounds of requests sent at once),
// and gated: the test holds a SHARE lock on friend_requests, so each request's write
// waits at the lock; once all of them wait, the lock is released and they run at once.

/// Holds writes to friend_requests until `release` (the requests queue at the lock).
struct Gate {
    conn: PgConnection,
}

impl Gate {
    fn close(db_url: &str) -> Self {
        let mut conn = PgConnection::establish(db_url).unwrap();
        diesel::sql_query("BEGIN").execute(&mut conn).unwrap();
        diesel::sql_query("LOCK TABLE friend_requests IN SHARE MODE").execute(&mut conn).unwrap();
        Gate { conn }
    }

    /// Waits (bounded) until `n` backends of this database wait for friend_requests.
    async fn wait_for(&mut self, n: i64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let waiting = "SELECT count(*) AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
                       WHERE d.datname = current_database() AND l.relation = 'friend_requests'::regclass AND NOT l.granted";
        while count(&mut self.conn, waiting) < n {
            assert!(Instant::now() < deadline, "the requests never reached the gate");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn release(mut self) {
        diesel::sql_query("COMMIT").execute(&mut self.conn).unwrap();
    }
}

async fn gated<A, B>(app: &TestApp, a: A, b: B) -> (Response, Response)
where
    A: std::future::Future<Output = Response>,
    B: std::future::Future<Output = Response>,
{
    let mut gate = Gate::close(&app.db.url);
    let open = async move {
        gate.wait_for(2).await;
        gate.release();
    };
    let (ra, rb, ()) = tokio::join!(a, b, open);
    (ra, rb)
}

fn location(resp: &Response) -> Option<&str> {
    resp.headers().get("location").and_then(|v| v.to_str().ok())
}

#[actix_web::test]
async fn two_people_asking_each_other_at_the_same_moment_become_friends_exactly_once() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    alice.csrf_token().await;
    bob.csrf_token().await;

    for round in 0..8 {
        let (a, b) = if round % 2 == 0 {
            gated(&app, alice.send_friend_request("bob", "hi bob"), bob.send_friend_request("alice", "hi alice")).await
        } else {
            tokio::join!(alice.send_friend_request("bob", "hi bob"), bob.send_friend_request("alice", "hi alice"))
        };

        assert_eq!((a.status(), b.status()), (StatusCode::SEE_OTHER, StatusCode::SEE_OTHER), "round {round}");
        assert_eq!(friendships(&app, "alice", "bob"), 1, "round {round}: one friendship row");
        assert_eq!(pending_between(&app, "alice", "bob"), 0, "round {round}: no stray pending request");
        assert_eq!(n(&app, "SELECT count(*) AS n FROM friend_requests WHERE status = 'accepted'"), round + 1, "round {round}");
        assert_eq!(all_requests(&app), round + 1, "round {round}: the second send accepted the first");
        alice.unfriend(&bob).await;
    }
}

#[actix_web::test]
async fn the_same_accept_clicked_twice_at_once_makes_one_friendship() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    alice.csrf_token().await;

    for round in 0..8 {
        assert_redirect(&bob.send_friend_request("alice", "").await, "/friends");
        let id = alice.request_from("bob").await;
        let (a, b) = if round % 2 == 0 {
            gated(&app, alice.accept_friend_request(id), alice.accept_friend_request(id)).await
        } else {
            tokio::join!(alice.accept_friend_request(id), alice.accept_friend_request(id))
        };

        let mut statuses = [a.status(), b.status()];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::SEE_OTHER, StatusCode::CONFLICT], "round {round}: one wins, one is told");
        assert_eq!(friendships(&app, "alice", "bob"), 1, "round {round}");
        assert_eq!(pending_between(&app, "alice", "bob"), 0, "round {round}");
        alice.unfriend(&bob).await;
    }
}

#[actix_web::test]
async fn a_request_racing_an_accept_never_leaves_a_pending_request_between_friends() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    alice.csrf_token().await;
    bob.csrf_token().await;

    for round in 0..6 {
        assert_redirect(&alice.send_friend_request("bob", "").await, "/friends");
        let id = bob.request_from("alice").await;
        let (accepted, again) = if round % 2 == 0 {
            gated(&app, bob.accept_friend_request(id), alice.send_friend_request("bob", "hello?")).await
        } else {
            tokio::join!(bob.accept_friend_request(id), alice.send_friend_request("bob", "hello?"))
        };

        assert_redirect(&accepted, "/friends");
        assert_eq!(again.status(), StatusCode::UNPROCESSABLE_ENTITY, "round {round}");
        let why = body(again).await;
        assert!(why.contains("You already sent a friend request") || why.contains("You are already friends."), "round {round}");
        assert_eq!(friendships(&app, "alice", "bob"), 1, "round {round}");
        assert_eq!(pending_between(&app, "alice", "bob"), 0, "round {round}");
        alice.unfriend(&bob).await;
    }
}

#[actix_web::test]
async fn many_requests_both_ways_at_once_end_in_one_friendship() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    alice.csrf_token().await;
    bob.csrf_token().await;

    for round in 0..6 {
        let sends = [(&alice, &bob), (&bob, &alice), (&alice, &bob), (&bob, &alice)].map(|(from, to)| from.send_friend_request(to, ""));
        let responses = futures_util::future::join_all(sends).await;

        for resp in &responses {
            assert!(
                location(resp) == Some("/friends") || resp.status() == StatusCode::UNPROCESSABLE_ENTITY,
                "round {round}: {}",
                resp.status()
            );
        }
        assert_eq!(friendships(&app, "alice", "bob"), 1, "round {round}");
        assert_eq!(pending_between(&app, "alice", "bob"), 0, "round {round}");
        bob.unfriend(&alice).await;
    }
}
