//! The real app on 127.0.0.1:0 inside the test process, on a test database, and the
//! settings tests start it with.

use std::sync::Arc;

use chaat::config::Settings;
use chaat::startup::Application;
use diesel::PgConnection;

use super::{Actor, Client, TestDb};

/// Settings for tests: a random port, throttles loose enough for many signups, failed
/// logins, friend requests and messages from 127.0.0.1 (tests of throttling set their
/// own), and database waits that do not run
/// out while the machine is starved: four tests run at once on two cores, some of them
/// overloading their own instance on purpose, and a page that waited 1.5 s for a
/// connection would answer 503 (seen: a browser test's chat failed to open). The tests
/// of those bounds set the production values themselves (`production_waits`).
pub fn test_settings() -> Settings {
    Settings {
        bind: "127.0.0.1:0".into(),
        workers: Some(2),
        db_pool_size: 8,
        db_wait_ms: 10_000,
        db_statement_timeout_ms: 30_000,
        signups_per_addr: 1000,
        login_attempts_per_addr: 1000,
        login_failures_per_addr_and_user: 1000,
        friend_requests_per_10_min: 1000,
        messages_per_10_s: 1_000_000,
        ..Settings::defaults()
    }
}

/// `settings` with the production pool wait and statement timeout, for the tests of
/// what an unavailable database looks like.
pub fn production_waits(settings: Settings) -> Settings {
    let production = Settings::defaults();
    Settings { db_wait_ms: production.db_wait_ms, db_statement_timeout_ms: production.db_statement_timeout_ms, ..settings }
}

/// Settings for tests of ordering under many concurrent requests: pool waits that do not
/// run out on a busy machine.
pub fn patient_settings() -> Settings {
    Settings { db_wait_ms: 30_000, db_statement_timeout_ms: 60_000, ..test_settings() }
}

pub struct TestApp {
    pub address: String,
    pub port: u16,
    pub db: Arc<TestDb>,
    handle: actix_web::dev::ServerHandle,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(test_settings()).await
    }

    pub async fn spawn_with(settings: Settings) -> Self {
        Self::spawn_on(Arc::new(TestDb::new()), settings).await
    }

    /// Another instance on the same database (instances share nothing but PostgreSQL).
    pub async fn spawn_on(db: Arc<TestDb>, settings: Settings) -> Self {
        let app = Application::build(settings, &db.url).expect("build the app");
        let port = app.port();
        let server = app.server();
        let handle = server.handle();
        actix_web::rt::spawn(server);
        TestApp { address: format!("http://127.0.0.1:{port}"), port, db, handle }
    }

    pub fn conn(&self) -> PgConnection {
        self.db.conn()
    }

    /// A new browser-like client (its own cookie jar), not logged in.
    pub fn client(&self) -> Client {
        Client::new(&self.address)
    }

    /// `username` signs up here (password `PASSWORD`) and stays logged in.
    pub async fn signed_up(&self, username: &str) -> Actor {
        Actor::sign_up(&self.address, username).await
    }

    /// `username`, who has an account, logs in here from a new browser.
    pub async fn logged_in(&self, username: &str) -> Actor {
        Actor::log_in(&self.address, username).await
    }

    pub async fn stop(&self) {
        self.handle.stop(false).await;
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop the workers (they hold pool connections) before the database is dropped.
        let stop = self.handle.stop(false);
        drop(stop);
    }
}
