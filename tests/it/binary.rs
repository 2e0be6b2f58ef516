//! The `chaat` binary itself: serving, graceful shutdown, a clear line when PostgreSQL
//! is missing, and `demo`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{count, TestDb};

const CHAAT: &str = env!("CARGO_BIN_EXE_chaat");

#[actix_web::test]
async fn serve_prints_where_to_open_it_and_stops_cleanly_on_sigterm() {
    let db = TestDb::new();
    let mut child = Command::new(CHAAT)
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("CHAAT_BIND", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).find(|l| l.contains("open http://")))
        .join()
        .unwrap()
        .expect("a line saying where to open the app");
    let url = line.split("open ").nth(1).unwrap().trim().to_string();
    let health = reqwest::get(format!("{url}/healthz")).await.unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);

    // SIGTERM: graceful shutdown, exit status 0, within the drain timeout.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "chaat did not stop after SIGTERM");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}

#[test]
fn missing_postgresql_binaries_give_one_line_naming_the_package() {
    let dir = std::env::temp_dir().join(format!("chaat-nopg-{}", std::process::id()));
    let out = Command::new(CHAAT)
        .arg("migrate")
        .env_remove("DATABASE_URL")
        .env("CHAAT_DATA_DIR", &dir)
        .env("PG_BIN", "/nonexistent")
        .env("RUST_LOG", "off")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("install the Debian package `postgresql`"), "{stderr}");
}

#[test]
fn demo_creates_the_people_of_the_design_notes_once() {
    let db = TestDb::new();
    for _ in 0..2 {
        let out = Command::new(CHAAT)
            .args(["demo", "--password", "demo-password"])
            .env("DATABASE_URL", &db.url)
            .env("RUST_LOG", "off")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut conn = db.conn();
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM users WHERE username IN ('shahn', 'shivam', 'udit', 'atharva')"), 4);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM users"), 4);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM friends"), 3, "shahn–shivam, shahn–udit, shivam–udit");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM friend_requests r JOIN users f ON f.user_id = r.from_user JOIN users t ON t.user_id = r.to_user \
                           WHERE r.status = 'pending' AND f.username = 'atharva' AND t.username = 'shahn' AND r.greeting = 'hi'"
        ),
        1
    );
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM direct_chats"), 2, "udit/shahn and shivam/shahn");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM messages m JOIN users u ON u.user_id = m.sender WHERE u.username = 'shivam' AND m.text = 'helloo'"
        ),
        1
    );
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM chats WHERE is_group AND name = 'group-1'"), 1);
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM chat_participants p JOIN chats c USING (chat_id) WHERE c.name = 'group-1'"), 3);
}
