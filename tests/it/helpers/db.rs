//! One PostgreSQL cluster per test process (a throwaway one, or DATABASE_URL's), a
//! migrated template database, and a fresh database per test, dropped on Drop.

use std::sync::OnceLock;

use chaat::db::cluster::Cluster;
use diesel::{Connection, PgConnection, RunQueryDsl};

struct Server {
    /// URL of a maintenance database on the cluster (to create and drop test databases).
    admin_url: String,
    /// Builds the URL of a database by name.
    url_for: Box<dyn Fn(&str) -> String + Send + Sync>,
}

const TEMPLATE: &str = "chaat_it_template";

// The CREATE/DROP DATABASE statements below are formatted: a database name is an
// identifier, and identifiers cannot be bound as parameters. The names are ours
// (TEMPLATE, or `t_` and a UUID's hex digits), never input.

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
