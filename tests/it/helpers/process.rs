//! The real `chaat serve` as a child process on a test's database: for signals
//! (SIGKILL, SIGTERM) and for reading its memory and thread count from /proc.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const CHAAT: &str = env!("CARGO_BIN_EXE_chaat");

pub struct Chaat {
    child: Child,
    pub base: String,
}

impl Chaat {
    /// Starts `chaat serve` on 127.0.0.1:0 against `database_url` (2 workers, quiet
    /// logs, throttles loose enough for tests) with `env` on top; waits for its address.
    pub fn serve(database_url: &str, env: &[(&str, &str)]) -> Self {
        let mut command = Command::new(CHAAT);
        command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("CHAAT_BIND", "127.0.0.1:0")
            .env("CHAAT_WORKERS", "2")
            .env("CHAAT_SIGNUPS_PER_ADDR", "1000")
            .env("CHAAT_LOGIN_ATTEMPTS_PER_ADDR", "1000")
            .env("CHAAT_LOGIN_FAILURES_PER_ADDR_AND_USER", "1000")
            .env("CHAAT_FRIEND_REQUESTS_PER_10_MIN", "1000")
            .env("CHAAT_MESSAGES_PER_10_S", "1000000")
            .env("RUST_LOG", std::env::var("TEST_LOG").unwrap_or_else(|_| "error".into()))
            .stdout(Stdio::piped())
            .stderr(if std::env::var_os("TEST_LOG").is_some() { Stdio::inherit() } else { Stdio::null() });
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().expect("start chaat");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        // Keeps reading stdout (where it logs) to the end, so the child never writes
        // into a closed pipe; shows the log lines with TEST_LOG.
        let show = std::env::var_os("TEST_LOG").is_some();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.split("open ").nth(1) {
                    let _ = tx.send(url.trim().to_string());
                } else if show {
                    // Not eprintln!: the test harness would capture it.
                    use std::io::Write;
                    let _ = writeln!(std::io::stderr(), "[chaat] {line}");
                }
            }
        });
        let base = rx.recv_timeout(Duration::from_secs(20)).expect("chaat says where it listens within 20 s");
        Chaat { child, base }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn signal(&self, signal: i32) {
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(self.pid(), signal) }, 0, "kill({signal})");
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// The exit status, waiting at most `bound`; panics if it is still running.
    pub async fn exits_within(&mut self, bound: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(started.elapsed() < bound, "chaat still running after {bound:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts a new measure of peak memory: `VmHWM` is the current `VmRSS` again.
    pub fn reset_peak_memory(&self) {
        std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5").unwrap();
    }

    /// A field of /proc/PID/status as a number (`VmRSS` in KiB, `Threads`).
    pub fn status_field(&self, name: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with(&format!("{name}:"))).unwrap_or_else(|| panic!("{name} in status"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }
}

impl Drop for Chaat {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
