//! `chaat-load`: drives a running Chaat on 127.0.0.1 like browsers do and reports what
//! it measured (a readable summary, then one line of JSON). Exits 1 when messages were
//! lost or requests failed, 2 when the scenario could not be set up.
//!
//! ```text
//! chaat-load --base http://127.0.0.1:8080 dm --pairs 50 --seconds 10
//! chaat-load --base http://127.0.0.1:8080 fanout --streams 10000 --chats 200 --server-pid PID
//! chaat-load --base http://127.0.0.1:8080 pages --concurrency 64 --seconds 10 --accept-encoding 'gzip, deflate, br, zstd'
//! chaat-load --base http://127.0.0.1:8080 mixed --pairs 20 --seconds 10
//! chaat-load --base http://127.0.0.1:8080 files --photos 100 --server-pid PID
//! chaat-load --base http://127.0.0.1:8080 bytes --accept-encoding 'gzip, deflate, br' --server-pid PID
//! DATABASE_URL=... chaat-load --base http://127.0.0.1:8080 start --app target/release/chaat --port 8090
//! ```

use std::process::ExitCode;
use std::time::Duration;

use chaat_load::dm::DmOptions;
use chaat_load::fanout::FanoutOptions;
use chaat_load::mixed::MixedOptions;
use chaat_load::pages::PagesOptions;
use chaat_load::{self as load, Target};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Load generator for Chaat (127.0.0.1 only)")]
struct Cli {
    /// The running app; only http://127.0.0.1:PORT is accepted.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    /// Signups in flight at once.
    #[arg(long, default_value_t = 8)]
    signup_concurrency: usize,
    /// The app's pid: its resident memory (fanout) and CPU per message or request.
    #[arg(long, global = true)]
    server_pid: Option<u32>,
    /// The PostgreSQL postmaster's pid: CPU of its backends per message or request.
    #[arg(long, global = true)]
    db_pid: Option<u32>,
    /// Worker threads of the generator. One by default: its tasks wait on sockets
    /// almost all the time, and on one thread a task woken by its socket runs at once,
    /// with no hand-over between workers (futex wake-ups, cross-thread cache traffic).
    #[arg(long, global = true, default_value_t = 1)]
    threads: usize,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// P pairs; senders post back to back while partners listen on the event stream.
    Dm {
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 100_000)]
        max_messages: usize,
        #[arg(long, default_value_t = 5.0)]
        grace_seconds: f64,
    },
    /// N event streams over C chats, a trickle of messages; server memory with --server-pid.
    Fanout {
        #[arg(long, default_value_t = 1000)]
        streams: usize,
        #[arg(long, default_value_t = 100)]
        chats: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 20.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        grace_seconds: f64,
        #[arg(long, default_value_t = 64)]
        open_concurrency: usize,
    },
    /// P pairs; senders cycle send, reply, edit, react while partners listen (issue 14).
    Mixed {
        #[arg(long, default_value_t = 20)]
        pairs: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 100_000)]
        max_actions: usize,
    },
    /// Attachments: a file of --big-mib up and down, then --photos small photos up and
    /// their previews and full pictures down; the app's peak RSS with --server-pid.
    Files {
        #[arg(long, default_value_t = 25)]
        big_mib: usize,
        #[arg(long, default_value_t = 100)]
        photos: usize,
        #[arg(long, default_value_t = 4)]
        concurrency: usize,
    },
    /// The bytes of a first and a repeat visit to a chat page and what it loads; with
    /// --server-pid, the app's CPU per page request as it is and compressed.
    Bytes {
        #[arg(long, default_value_t = 50)]
        history: usize,
        /// `identity` measures what is sent without compression.
        #[arg(long, default_value = chaat_load::bytes::CHROMIUM_ACCEPT_ENCODING)]
        accept_encoding: String,
        #[arg(long, default_value_t = 2000)]
        cpu_requests: usize,
    },
    /// Starts the app (--app) --runs times as a new instance of the running database
    /// (DATABASE_URL) on --port: time to the first 200 of /healthz, RSS idle and after a page.
    Start {
        #[arg(long)]
        app: std::path::PathBuf,
        #[arg(long)]
        port: u16,
        #[arg(long, default_value_t = 5)]
        runs: usize,
        #[arg(long, default_value_t = 1.0)]
        settle_seconds: f64,
    },
    /// GET /chats and /chats/{id} (with history) at a fixed concurrency.
    Pages {
        #[arg(long, default_value_t = 8)]
        pairs: usize,
        #[arg(long, default_value_t = 50)]
        history: usize,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 1_000_000)]
        max_requests: usize,
        /// The `Accept-Encoding` of every request (a browser's by default); `none` sends
        /// none, as the scenario did before (the app then compresses nothing).
        #[arg(long, default_value = chaat_load::pages::BROWSER_ACCEPT_ENCODING)]
        accept_encoding: String,
    },
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.0, 3600.0))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match cli.threads {
        0 | 1 => tokio::runtime::Builder::new_current_thread().enable_all().build(),
        n => tokio::runtime::Builder::new_multi_thread().worker_threads(n).enable_all().build(),
    };
    match runtime {
        Ok(runtime) => runtime.block_on(run(cli)),
        Err(e) => {
            eprintln!("chaat-load: no runtime: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> ExitCode {
    let nofile = load::raise_open_files_limit();
    let mut target = match Target::new(&cli.base) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("chaat-load: {e}");
            return ExitCode::from(2);
        }
    };
    target.signup_concurrency = cli.signup_concurrency;
    target.watched = load::process_cpu::Watched { server_pid: cli.server_pid, db_pid: cli.db_pid };
    let result = match cli.scenario {
        Scenario::Dm { pairs, seconds, max_messages, grace_seconds } => {
            load::dm::run(&target, &DmOptions { pairs, duration: secs(seconds), max_messages, grace: secs(grace_seconds) }).await
        }
        Scenario::Fanout { streams, chats, seconds, rate, grace_seconds, open_concurrency } => {
            if streams as u64 + 256 > nofile {
                eprintln!("chaat-load: warning: open-files limit {nofile} is below {streams} streams; raise `ulimit -n`");
            }
            let opts = FanoutOptions {
                streams: streams.min(10_000),
                chats,
                duration: secs(seconds),
                messages_per_sec: rate.clamp(0.1, 1000.0),
                grace: secs(grace_seconds),
                open_concurrency,
                server_pid: cli.server_pid,
            };
            load::fanout::run(&target, &opts).await
        }
        Scenario::Mixed { pairs, seconds, max_actions } => {
            load::mixed::run(&target, &MixedOptions { pairs, duration: secs(seconds), max_actions }).await
        }
        Scenario::Files { big_mib, photos, concurrency } => {
            let opts = chaat_load::files::FilesOptions {
                big_bytes: big_mib.clamp(1, 25) * 1024 * 1024,
                photos: photos.min(1000),
                concurrency: concurrency.clamp(1, 64),
                server_pid: cli.server_pid,
            };
            load::files::run(&target, &opts).await
        }
        Scenario::Bytes { history, accept_encoding, cpu_requests } => {
            let opts = chaat_load::bytes::BytesOptions {
                history: history.min(10_000),
                accept_encoding,
                cpu_requests: cpu_requests.min(1_000_000),
            };
            load::bytes::run(&target, &opts).await
        }
        Scenario::Start { app, port, runs, settle_seconds } => {
            let opts = chaat_load::start::StartOptions { app, port, runs: runs.clamp(1, 50), settle: secs(settle_seconds) };
            load::start::run(&target, &opts).await
        }
        Scenario::Pages { pairs, history, concurrency, seconds, max_requests, accept_encoding } => {
            let accept_encoding = (accept_encoding != "none").then_some(accept_encoding);
            let opts = PagesOptions { pairs, history, concurrency, duration: secs(seconds), max_requests, accept_encoding };
            load::pages::run(&target, &opts).await
        }
    };
    match result {
        Ok(report) => {
            println!("{}", report.text);
            println!("{}", report.json);
            if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("chaat-load: {e:#}");
            ExitCode::from(2)
        }
    }
}
