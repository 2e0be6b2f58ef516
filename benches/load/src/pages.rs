//! `pages`: people load their chat list and a chat page (50 messages of history) at a
//! fixed concurrency, as fast as the app answers.
//!
//! Each request carries a browser's `Accept-Encoding` unless told otherwise
//! ([`PagesOptions::accept_encoding`]), so the app compresses as it would for a browser
//! and its CPU per request includes the coding. Bodies are not decoded (reqwest is built
//! without decompression): the bytes counted per page are those on the wire.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::process_cpu::{per_unit, Sample};
use crate::setup::{self, Pair};
use crate::stats::{describe, Latencies};
use crate::{Report, Target};

#[derive(Debug, Clone)]
pub struct PagesOptions {
    /// Pairs of people (each pair's chat is filled with `history` messages).
    pub pairs: usize,
    pub history: usize,
    pub concurrency: usize,
    pub duration: Duration,
    /// Upper bound of requests per worker, whatever the duration.
    pub max_requests: usize,
    /// The `Accept-Encoding` of every request; `None` sends none (the app then
    /// compresses nothing). Browsers always send one: [`BROWSER_ACCEPT_ENCODING`].
    pub accept_encoding: Option<String>,
}

/// What Chromium (since 123) and Firefox (since 126) send over HTTPS.
pub const BROWSER_ACCEPT_ENCODING: &str = "gzip, deflate, br, zstd";

/// The bytes of one kind of page as received (bodies as encoded) and their coding.
#[derive(Debug, Default, Clone)]
struct Received {
    bodies: usize,
    body_bytes: u64,
    /// The `Content-Encoding` of the last answer ("" for none).
    coding: String,
}

impl Received {
    fn add(&mut self, bytes: usize, coding: &str) {
        self.bodies += 1;
        self.body_bytes += bytes as u64;
        if self.coding != coding {
            self.coding = coding.to_string();
        }
    }

    fn merge(&mut self, other: Received) {
        self.bodies += other.bodies;
        self.body_bytes += other.body_bytes;
        if !other.coding.is_empty() {
            self.coding = other.coding;
        }
    }

    fn mean(&self) -> u64 {
        self.body_bytes / self.bodies.max(1) as u64
    }
}

#[derive(Default)]
struct Worker {
    list: Latencies,
    chat: Latencies,
    list_bytes: Received,
    chat_bytes: Received,
    errors: Vec<String>,
}

pub async fn run(target: &Target, opts: &PagesOptions) -> anyhow::Result<Report> {
    let pairs: Vec<Arc<Pair>> = setup::pairs(target, opts.pairs.max(1)).await?.into_iter().map(Arc::new).collect();
    for pair in &pairs {
        setup::fill(pair, opts.history).await?;
    }
    let started = Instant::now();
    let cpu_before = target.watched.sample();
    let workers: Vec<_> =
        (0..opts.concurrency.max(1)).map(|w| tokio::spawn(work(pairs[w % pairs.len()].clone(), w, opts.clone()))).collect();
    let mut all = Worker::default();
    for w in workers {
        let w = w.await?;
        all.list.extend(w.list);
        all.chat.extend(w.chat);
        all.list_bytes.merge(w.list_bytes);
        all.chat_bytes.merge(w.chat_bytes);
        all.errors.extend(w.errors);
    }
    let elapsed = started.elapsed();
    Ok(report(opts, elapsed, all, [cpu_before, target.watched.sample()]))
}

async fn work(pair: Arc<Pair>, w: usize, opts: PagesOptions) -> Worker {
    let mut out = Worker::default();
    // Half the workers are the pair's first person, half the second.
    let person = if (w / 2).is_multiple_of(2) { &pair.a } else { &pair.b };
    let chat_path = format!("/chats/{}", pair.chat);
    let end = Instant::now() + opts.duration;
    let mut i = 0;
    while Instant::now() < end && i < opts.max_requests {
        let is_list = (i + w).is_multiple_of(2);
        let path = if is_list { "/chats" } else { chat_path.as_str() };
        let t0 = Instant::now();
        let result = async {
            let mut req = person.http.get(person.url(path));
            if let Some(accept) = &opts.accept_encoding {
                req = req.header(reqwest::header::ACCEPT_ENCODING, accept.as_str());
            }
            let resp = req.send().await?;
            let status = resp.status();
            let coding = resp.headers().get(reqwest::header::CONTENT_ENCODING).cloned();
            let body = resp.bytes().await?;
            if status != reqwest::StatusCode::OK || body.is_empty() {
                anyhow::bail!("GET {path} answered {status}");
            }
            Ok((body.len(), coding))
        }
        .await;
        match result {
            Ok((bytes, coding)) => {
                let coding = coding.as_ref().and_then(|c| c.to_str().ok()).unwrap_or_default();
                if is_list {
                    out.list.push(t0.elapsed());
                    out.list_bytes.add(bytes, coding);
                } else {
                    out.chat.push(t0.elapsed());
                    out.chat_bytes.add(bytes, coding);
                }
            }
            Err(e) => {
                out.errors.push(e.to_string());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        i += 1;
    }
    out
}

fn report(opts: &PagesOptions, elapsed: Duration, mut all: Worker, cpu: [Option<Sample>; 2]) -> Report {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let done = all.list.len() + all.chat.len();
    let rps = (done as f64 / secs * 10.0).round() / 10.0;
    let (list, chat) = (all.list.summary(), all.chat.summary());
    let mut both = Latencies::default();
    both.extend(all.list.clone());
    both.extend(all.chat.clone());
    let overall = both.summary();
    let errors = all.errors.len();
    all.errors.truncate(5);
    let ok = errors == 0;
    let (cpu_json, cpu_line) = per_unit(cpu[0], cpu[1], done, "request");
    let json = json!({
        "scenario": "pages", "concurrency": opts.concurrency, "history": opts.history,
        "accept_encoding": opts.accept_encoding,
        "chat_list_body_bytes": all.list_bytes.mean(), "chat_list_coding": all.list_bytes.coding,
        "chat_page_body_bytes": all.chat_bytes.mean(), "chat_page_coding": all.chat_bytes.coding,
        "seconds": (secs * 10.0).round() / 10.0, "requests": done, "requests_per_sec": rps,
        "all_ms": overall, "chat_list_ms": list, "chat_page_ms": chat, "errors": errors,
        "cpu_per_request": cpu_json, "first_errors": all.errors, "ok": ok,
    });
    let text = format!(
        "pages: concurrency {} for {:.1} s ({} messages per chat), Accept-Encoding: {}\n  {done} requests = {rps} req/s\n  all        {}\n  /chats     {}  {} B body {}\n  /chats/id  {}  {} B body {}\n  errors {errors}{cpu_line}{}",
        opts.concurrency,
        secs,
        opts.history,
        opts.accept_encoding.as_deref().unwrap_or("(none sent)"),
        describe(&overall),
        describe(&list),
        all.list_bytes.mean(),
        all.list_bytes.coding,
        describe(&chat),
        all.chat_bytes.mean(),
        all.chat_bytes.coding,
        if all.errors.is_empty() { String::new() } else { format!("\n  first errors: {:?}", all.errors) }
    );
    Report { text, json, ok }
}
