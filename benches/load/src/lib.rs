//! `chaat_load`, the load generator behind the `chaat-load` binary: it drives a running
//! Chaat over HTTP exactly as browsers do (signup form with its CSRF token, cookie
//! sessions, friend requests, direct chats, htmx-style message posts, SSE streams) and
//! measures what people feel.
//! Traffic goes to 127.0.0.1 only; every loop is bounded in time and count.
//!
//! Scenarios: [`dm`] (pairs chatting back to back), [`fanout`] (many open streams, a
//! trickle of messages), [`pages`] (chat list and chat page at a fixed concurrency),
//! [`files`] (attachments: a 25 MiB file and 100 small photos, in and out), [`bytes`]
//! (the bytes of a first and a repeat visit to a chat page), [`start`] (a new
//! instance's time to its first answer and its idle memory).
//!
//! A crate of its own (a workspace member, not a dependency of the server) so that the
//! server does not carry an HTTP client; it uses nothing of `chaat`, only HTTP. The
//! integration tests use it as a dev-dependency (their SSE reader and CSRF helper).

pub mod bytes;
pub mod dm;
pub mod fanout;
pub mod files;
pub mod h1;
pub mod mixed;
pub mod pages;
pub mod person;
pub mod poster;
pub mod process_cpu;
pub mod setup;
pub mod sse;
pub mod start;
pub mod stats;

use std::time::Duration;

use process_cpu::Watched;

/// Where the app runs and how friendships are made.
#[derive(Debug, Clone)]
pub struct Target {
    /// `http://127.0.0.1:PORT` (checked by [`Target::new`]).
    pub base: String,
    /// Prefix of generated usernames (unique per run).
    pub run_id: String,
    /// Per-request time limit.
    pub request_timeout: Duration,
    /// Signups in flight at once (Argon2 is the server's most expensive request).
    pub signup_concurrency: usize,
    /// The server's and database's processes, to measure their CPU per unit of work.
    pub watched: Watched,
}

impl Target {
    /// Refuses every base URL whose host is not 127.0.0.1.
    pub fn new(base: &str) -> anyhow::Result<Self> {
        let url = url::Url::parse(base)?;
        if url.scheme() != "http" || url.host_str() != Some("127.0.0.1") || url.port().is_none() {
            anyhow::bail!("refusing {base}: the load generator only talks to http://127.0.0.1:PORT");
        }
        let base = format!("http://127.0.0.1:{}", url.port().unwrap_or(80));
        // Six random hex digits (the start of a v4 UUID is random), unique per run.
        let run_id = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
        Ok(Target { base, run_id, request_timeout: Duration::from_secs(10), signup_concurrency: 8, watched: Watched::default() })
    }
}

/// Raises the soft open-files limit to the hard limit (each stream is a socket).
/// Returns the limit now in force.
pub fn raise_open_files_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 0;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
    }
    lim.rlim_cur
}

/// The resident memory of a process in KiB (`VmRSS` in `/proc/PID/status`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What a scenario measured: a readable summary, one JSON object, and whether it passed
/// (no lost messages, no errors where the scenario says so).
#[derive(Debug, Clone)]
pub struct Report {
    pub text: String,
    pub json: serde_json::Value,
    pub ok: bool,
}
