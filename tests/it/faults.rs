//! Database faults: PostgreSQL stops for a moment while people chat, then comes back.

use std::time::{Duration, Instant};

use chaat::db::cluster::Cluster;
use chaat::startup::Application;
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::sse::{EventStream, Seq};
use crate::helpers::{alice_and_bob, production_waits, test_settings};

/// A cluster of its own (stopping the shared one would disturb the other tests).
struct OwnCluster {
    cluster: Cluster,
    dir: std::path::PathBuf,
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self.cluster.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn healthz(base: &str) -> StatusCode {
    match reqwest::get(format!("{base}/healthz")).await {
        Ok(resp) => resp.status(),
        Err(_) => StatusCode::BAD_GATEWAY,
    }
}

#[actix_web::test]
async fn the_database_goes_away_and_comes_back_and_nothing_acknowledged_is_lost() {
    let dir = std::env::temp_dir().join(format!("chaat-fault-{}", Uuid::new_v4().simple()));
    let own = OwnCluster { cluster: Cluster::new(&dir).unwrap(), dir };
    own.cluster.init().unwrap();
    own.cluster.start(&["fsync=off"]).unwrap();
    let mut admin = PgConnection::establish(&own.cluster.url("postgres")).unwrap();
    diesel::sql_query("CREATE DATABASE chaat").execute(&mut admin).unwrap();
    drop(admin);
    let url = own.cluster.url("chaat");
    chaat::db::migrate::run_pending(&url).unwrap();

    let app = Application::build(production_waits(test_settings()), &url).unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let server = app.server();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let (alice, bob, chat) = alice_and_bob(&base).await;
    let mut stream = EventStream::open(&bob, &format!("/chats/{chat}/events"), None).await;
    let mut acknowledged = 0;
    for i in 0..3 {
        assert_eq!(alice.send(chat, &format!("before {i}")).await.status(), StatusCode::SEE_OTHER);
        acknowledged += 1;
    }

    own.cluster.stop().unwrap();
    let started = Instant::now();
    let refused = alice.send(chat, "during the outage").await.status();
    assert!(started.elapsed() < Duration::from_secs(2), "answered within 2 s, not hung");
    assert_eq!(refused, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(healthz(&base).await, StatusCode::SERVICE_UNAVAILABLE);

    own.cluster.start(&["fsync=off"]).unwrap();
    // The same process recovers by itself (dead pooled connections are dropped as met).
    let mut healthy = 0;
    for _ in 0..100 {
        if healthz(&base).await == StatusCode::OK {
            healthy += 1;
            if healthy >= 10 {
                break;
            }
        } else {
            healthy = 0;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(healthy >= 10, "/healthz is 200 again");
    for i in 0..3 {
        let mut status = StatusCode::SERVICE_UNAVAILABLE;
        // A request may still meet a connection that died with the server: it is told
        // 503 (and the connection dropped), so the client retries, as htmx would.
        for _ in 0..10 {
            status = alice.send(chat, &format!("after {i}")).await.status();
            if status != StatusCode::SERVICE_UNAVAILABLE {
                break;
            }
        }
        assert_eq!(status, StatusCode::SEE_OTHER);
        acknowledged += 1;
    }

    // Every acknowledged message reached bob's open stream, in order, exactly once.
    let events = stream.take(acknowledged, Duration::from_secs(15)).await;
    assert_eq!(events.iter().map(|e| e.seq()).collect::<Vec<_>>(), (1..=acknowledged as i64).collect::<Vec<_>>());
    assert!(stream.next(Duration::from_millis(300)).await.is_none(), "no duplicate");
    handle.stop(false).await;
}
