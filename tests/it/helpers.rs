//! Test harness: one PostgreSQL cluster per test process, a migrated template database,
//! a fresh database per test (dropped on Drop), the app on a random port, and a
//! cookie-keeping, non-redirecting HTTP client with CSRF handling.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex, OnceLock};

use chaat::config::Settings;
use chaat::db::cluster::Cluster;
use chaat::startup::Application;
use diesel::{Connection, PgConnection, RunQueryDsl};
use reqwest::header::HeaderMap;
use reqwest::{Response, StatusCode};

pub const PASSWORD: &str = "correct horse battery";

struct Server {
    /// URL of a maintenance database on the cluster (to create and drop test databases).
    admin_url: String,
    /// Builds the URL of a database by name.
    url_for: Box<dyn Fn(&str) -> String + Send + Sync>,
}

const TEMPLATE: &str = "chaat_it_template";

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        chaat::telemetry::init(&std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into()));
        let server = match std::env::var("DATABASE_URL") {
            Ok(url) => {
                let base = url.rsplit_once('/').map(|(b, _)| b.to_string()).expect("DATABASE_URL has a database");
                Server { admin_url: url, url_for: Box::new(move |db| format!("{base}/{db}")) }
            }
            Err(_) => start_private_cluster(),
        };
        let mut admin = PgConnection::establish(&server.admin_url).expect("connect to the test cluster");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {TEMPLATE} WITH (FORCE)")).execute(&mut admin).unwrap();
        diesel::sql_query(format!("CREATE DATABASE {TEMPLATE}")).execute(&mut admin).unwrap();
        chaat::db::migrate::run_pending(&(server.url_for)(TEMPLATE)).expect("migrate the template");
        server
    })
}

/// A cluster in /tmp for this test process; a watchdog shell stops it (SIGINT: fast
/// shutdown) and removes it once this process is gone, even if it was killed.
fn start_private_cluster() -> Server {
    let dir = std::env::temp_dir().join(format!("chaat-it-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cluster = Cluster::new(&dir).expect("PostgreSQL binaries");
    cluster.init().expect("initdb");
    cluster.start(&["fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=500"]).expect("start the test cluster");
    let pid_file = cluster.data_dir().join("postmaster.pid");
    let watchdog = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; \
         kill -INT $(head -1 '{pid}') 2>/dev/null; sleep 2; rm -rf '{dir}'",
        me = std::process::id(),
        pid = pid_file.display(),
        dir = dir.display()
    );
    // Never waited for: it outlives this process by design (it stops the cluster after
    // the test binary is gone, however it ended).
    #[allow(clippy::zombie_processes)]
    std::process::Command::new("sh")
        .arg("-c")
        .arg(watchdog)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the cluster watchdog");
    let admin_url = cluster.url("postgres");
    Server { admin_url, url_for: Box::new(move |db| cluster.url(db)) }
}

/// A fresh database cloned from the migrated template; dropped (with force) on Drop.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub fn new() -> Self {
        let server = server();
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::establish(&server.admin_url).unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE}")).execute(&mut admin).unwrap();
        TestDb { url: (server.url_for)(&name), name }
    }

    pub fn conn(&self) -> PgConnection {
        PgConnection::establish(&self.url).unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut admin) = PgConnection::establish(&server().admin_url) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut admin);
        }
    }
}

/// Settings for tests: a random port, throttles loose enough for many signups from
/// 127.0.0.1 (tests of throttling set their own), and database waits that do not run
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

    /// Signs `username` up (password `PASSWORD`) and returns its logged-in client.
    pub async fn signup(&self, username: &str) -> Client {
        let client = self.client();
        let resp = client.signup(username, PASSWORD).await;
        assert_redirect(&resp, "/chats");
        client
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

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    jar: Arc<reqwest::cookie::Jar>,
    csrf: Mutex<Option<String>>,
}

impl Client {
    pub fn new(base: &str) -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        let http = reqwest::Client::builder().cookie_provider(jar.clone()).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Client { http, base: base.to_string(), jar, csrf: Mutex::new(None) }
    }

    /// The same browser (cookies, CSRF token) talking to another instance.
    pub fn moved_to(&self, base: &str) -> Client {
        let csrf = Mutex::new(self.csrf.lock().unwrap().clone());
        Client { http: self.http.clone(), base: base.to_string(), jar: self.jar.clone(), csrf }
    }

    /// The `Cookie` header this browser sends (for hand-written requests).
    pub fn cookie_header(&self) -> String {
        use reqwest::cookie::CookieStore;
        let url = self.base.parse().unwrap();
        self.jar.cookies(&url).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// GET and return (status, body); remembers the page's CSRF token.
    pub async fn get_page(&self, path: &str) -> (StatusCode, String) {
        let resp = self.get(path).await;
        let status = resp.status();
        let body = resp.text().await.unwrap();
        if let Some(token) = csrf_token_in(&body) {
            *self.csrf.lock().unwrap() = Some(token);
        }
        (status, body)
    }

    /// The session's CSRF token, read from a page (the login page works for anyone:
    /// logged-in visitors are redirected, so fall back to settings).
    pub async fn csrf_token(&self) -> String {
        if let Some(t) = self.csrf.lock().unwrap().clone() {
            return t;
        }
        let (status, _) = self.get_page("/login").await;
        if status == StatusCode::SEE_OTHER {
            self.get_page("/settings").await;
        }
        self.csrf.lock().unwrap().clone().expect("a page with a CSRF token")
    }

    /// Forgets the remembered token (after login, logout, ...: the session changed).
    pub fn forget_csrf(&self) {
        *self.csrf.lock().unwrap() = None;
    }

    /// POSTs a form with the session's CSRF token added.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let token = self.csrf_token().await;
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("csrf_token", &token));
        self.post_raw(path, &fields, HeaderMap::new()).await
    }

    /// POSTs like htmx does: `HX-Request: true` and the token in `X-CSRF-Token`.
    pub async fn post_htmx(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let token = self.csrf_token().await;
        let mut headers = HeaderMap::new();
        headers.insert("HX-Request", "true".parse().unwrap());
        headers.insert("X-CSRF-Token", token.parse().unwrap());
        self.post_raw(path, form, headers).await
    }

    /// POSTs exactly the given fields and headers (no token added).
    pub async fn post_raw(&self, path: &str, form: &[(&str, &str)], headers: HeaderMap) -> Response {
        self.http.post(self.url(path)).headers(headers).form(form).send().await.unwrap()
    }

    pub async fn signup(&self, username: &str, password: &str) -> Response {
        let resp = self.post("/signup", &[("username", username), ("password", password), ("password_confirm", password)]).await;
        self.forget_csrf();
        resp
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        let resp = self.post("/login", &[("username", username), ("password", password)]).await;
        self.forget_csrf();
        resp
    }

    pub async fn logout(&self) -> Response {
        let resp = self.post("/logout", &[]).await;
        self.forget_csrf();
        resp
    }
}

pub use chaat_load::person::csrf_token_in;

#[track_caller]
pub fn assert_redirect(resp: &Response, location: &str) {
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "expected a 303 to {location}");
    assert_eq!(resp.headers().get("location").and_then(|v| v.to_str().ok()), Some(location));
}

/// Runs a scalar SQL query in the test's database (for asserting state).
pub fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    diesel::sql_query(sql).get_result::<N>(conn).unwrap().n
}
