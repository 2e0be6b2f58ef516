//! `start` (issue 19): how soon a new instance answers and how much memory it holds
//! idle. The app's binary is started `runs` times as one more instance of the running
//! database (`DATABASE_URL`, so no cluster is started: "with PostgreSQL already
//! running"), each time timed from the spawn to the first 200 of `/healthz`; its
//! resident memory is read from `/proc` when idle (after `settle`) and after one page
//! (`GET /login`), then it is stopped (SIGTERM). Medians, with the spread.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::json;

use crate::h1::Conn;
use crate::{rss_kib, Report, Target};

#[derive(Debug, Clone)]
pub struct StartOptions {
    /// The app's binary (`chaat`), started with `serve`.
    pub app: PathBuf,
    /// Its port on 127.0.0.1 (free; not the running app's).
    pub port: u16,
    pub runs: usize,
    /// How long the started app is left alone before its idle memory is read.
    pub settle: Duration,
}

/// One start's figures.
#[derive(Debug, Clone, Copy)]
struct Run {
    ready: Duration,
    idle_kib: u64,
    /// Of `idle_kib`, the private (anonymous) part; the rest is the binary's and the
    /// libraries' pages, shared with every other process that maps them.
    idle_anon_kib: u64,
    page_kib: u64,
}

/// A start that takes longer is a failure.
const READY_LIMIT: Duration = Duration::from_secs(30);
/// How often `/healthz` is tried while the app starts (the figures' resolution).
const POLL: Duration = Duration::from_millis(1);
const STOP_LIMIT: Duration = Duration::from_secs(10);

pub async fn run(target: &Target, opts: &StartOptions) -> anyhow::Result<Report> {
    if std::env::var_os("DATABASE_URL").is_none() {
        bail!("start needs DATABASE_URL (a running PostgreSQL): without it the app would start a cluster of its own");
    }
    // The running app's own memory as the scenario starts (right after its start in
    // `make bench`, where this scenario runs first).
    let bench_app = target.watched.server_pid.and_then(rss_kib);
    let mut runs = Vec::new();
    for _ in 0..opts.runs.max(1) {
        runs.push(one(opts).await?);
    }
    let ready = median(runs.iter().map(|r| r.ready.as_secs_f64() * 1000.0).collect());
    let idle = median(runs.iter().map(|r| r.idle_kib as f64 / 1024.0).collect());
    let page = median(runs.iter().map(|r| r.page_kib as f64 / 1024.0).collect());
    let anon = median(runs.iter().map(|r| r.idle_anon_kib as f64 / 1024.0).collect());
    let r1 = |x: f64| (x * 10.0).round() / 10.0;
    let all = |f: &dyn Fn(&Run) -> f64| runs.iter().map(|r| r1(f(r))).collect::<Vec<_>>();
    let json = json!({
        "scenario": "start", "runs": runs.len(), "ready_ms": r1(ready[1]), "ready_ms_min_max": [r1(ready[0]), r1(ready[2])],
        "rss_idle_mib": r1(idle[1]), "rss_idle_anon_mib": r1(anon[1]), "rss_after_page_mib": r1(page[1]),
        "each": { "ready_ms": all(&|r| r.ready.as_secs_f64() * 1000.0), "rss_idle_mib": all(&|r| r.idle_kib as f64 / 1024.0),
                  "rss_after_page_mib": all(&|r| r.page_kib as f64 / 1024.0) },
        "bench_app_rss_mib": bench_app.map(|k| r1(k as f64 / 1024.0)), "ok": true,
    });
    let text = format!(
        "start: {} starts of a new instance against the running PostgreSQL (medians; targets ≤ 100 ms, ≤ 20 MiB)\n  exec → first 200 on /healthz {} ms (min {}, max {})\n  RSS idle {} MiB ({} MiB of it private, the rest the binary's and libraries' shared pages), after one page {} MiB{}",
        runs.len(),
        r1(ready[1]),
        r1(ready[0]),
        r1(ready[2]),
        r1(idle[1]),
        r1(anon[1]),
        r1(page[1]),
        bench_app.map(|k| format!("\n  the bench's app (own cluster) before any load: {} MiB", r1(k as f64 / 1024.0))).unwrap_or_default(),
    );
    Ok(Report { text, json, ok: true })
}

/// [min, median, max] (the lower median of an even count).
fn median(mut xs: Vec<f64>) -> [f64; 3] {
    xs.sort_by(f64::total_cmp);
    match xs.len() {
        0 => [0.0; 3],
        n => [xs[0], xs[(n - 1) / 2], xs[n - 1]],
    }
}

async fn one(opts: &StartOptions) -> anyhow::Result<Run> {
    let addr = SocketAddr::from(([127, 0, 0, 1], opts.port));
    let log_path = std::env::temp_dir().join(format!("chaat-start-{}.log", opts.port));
    let log = std::fs::File::create(&log_path)?;
    let started = Instant::now();
    let child = Command::new(&opts.app)
        .arg("serve")
        .env("CHAAT_BIND", addr.to_string())
        .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", opts.app.display()))?;
    let mut app = Running(child);
    let ready = loop {
        if let Some(status) = app.0.try_wait()? {
            bail!("the app exited ({status}) before answering: {}", std::fs::read_to_string(&log_path).unwrap_or_default());
        }
        if get(addr, "/healthz").await.is_ok_and(|status| status == 200) {
            break started.elapsed();
        }
        if started.elapsed() > READY_LIMIT {
            bail!("the app did not answer /healthz within {READY_LIMIT:?}; its log: {}", log_path.display());
        }
        tokio::time::sleep(POLL).await;
    };
    let pid = app.0.id();
    tokio::time::sleep(opts.settle).await;
    let idle_kib = rss_kib(pid).context("reading the app's RSS")?;
    let idle_anon_kib = status_kib(pid, "RssAnon:").context("reading the app's RssAnon")?;
    let status = get(addr, "/login").await?;
    if status != 200 {
        bail!("GET /login answered {status}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let page_kib = rss_kib(pid).context("reading the app's RSS")?;
    app.stop().await?;
    let _ = std::fs::remove_file(&log_path);
    Ok(Run { ready, idle_kib, idle_anon_kib, page_kib })
}

/// A `kB` field of `/proc/PID/status` (`RssAnon:`, `VmRSS:`).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix(field))?.split_whitespace().next()?.parse().ok()
}

/// One GET on a connection of its own; the status.
async fn get(addr: SocketAddr, path: &str) -> anyhow::Result<u16> {
    let mut conn = Conn::connect(addr).await?;
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nuser-agent: chaat-load\r\naccept: */*\r\nconnection: close\r\n\r\n");
    conn.write_all(request.as_bytes()).await?;
    let head = conn.read_head().await?;
    conn.skip_body(head.framing).await?;
    Ok(head.status)
}

/// The started app, killed if a run fails before stopping it.
struct Running(Child);

impl Running {
    /// SIGTERM, then up to `STOP_LIMIT` for it to end (SIGKILL after that).
    async fn stop(&mut self) -> anyhow::Result<()> {
        let pid = libc::pid_t::try_from(self.0.id())?;
        // SAFETY: kill only sends a signal to our own child, which has not been reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let asked = Instant::now();
        while asked.elapsed() < STOP_LIMIT {
            if self.0.try_wait()?.is_some() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.0.kill()?;
        self.0.wait()?;
        bail!("the app did not stop within {STOP_LIMIT:?} of SIGTERM")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_come_with_the_spread() {
        assert_eq!(median(vec![5.0, 1.0, 3.0]), [1.0, 3.0, 5.0]);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), [1.0, 2.0, 4.0]);
        assert_eq!(median(Vec::new()), [0.0; 3]);
    }
}
