//! `fanout`: many open event streams spread over chats, a steady trickle of messages;
//! how late messages arrive, how many streams fail, and the server's memory.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::json;
use tokio::sync::watch;

use crate::setup::{self, Pair};
use crate::sse::{EventStream, MARK};
use crate::stats::{describe, Latencies};
use crate::{rss_kib, Report, Target};

#[derive(Debug, Clone)]
pub struct FanoutOptions {
    pub streams: usize,
    /// Chats (one pair of friends each) the streams are spread over.
    pub chats: usize,
    pub duration: Duration,
    pub messages_per_sec: f64,
    pub grace: Duration,
    /// Streams being opened at once.
    pub open_concurrency: usize,
    pub server_pid: Option<u32>,
}

/// Per message number: its chat and when its POST started.
type SentAt = Arc<Vec<OnceLock<(usize, Instant)>>>;
/// Per chat: how many messages were acknowledged, once sending is over.
type Finals = watch::Receiver<Option<Arc<Vec<usize>>>>;

struct StreamResult {
    latency: Latencies,
    received: usize,
    expected: usize,
    dropped: Option<String>,
}

/// How long opening all streams may take (10,000 open in ~4 s on 2 cores).
const OPEN_PHASE_LIMIT: Duration = Duration::from_secs(60);

pub async fn run(target: &Target, opts: &FanoutOptions) -> anyhow::Result<Report> {
    let chats = opts.chats.clamp(1, opts.streams.max(1));
    let pairs: Vec<Arc<Pair>> = setup::pairs(target, chats).await?.into_iter().map(Arc::new).collect();
    let rss_before = opts.server_pid.and_then(rss_kib);
    let max_messages = (opts.messages_per_sec * opts.duration.as_secs_f64()).ceil() as usize + 1;
    let sent_at: SentAt = Arc::new((0..max_messages).map(|_| OnceLock::new()).collect());
    let (finals_tx, finals_rx) = watch::channel(None);

    let open_started = Instant::now();
    let limit = opts.duration + opts.grace * 2 + Duration::from_secs(60);
    let opened: Vec<_> = stream::iter(0..opts.streams)
        .map(|i| {
            let pair = pairs[i % chats].clone();
            async move {
                // Bounded as a whole too: past the deadline the rest count as failed.
                if open_started.elapsed() > OPEN_PHASE_LIMIT {
                    anyhow::bail!("not opened: the open phase passed {OPEN_PHASE_LIMIT:?}");
                }
                let who = if (i / chats).is_multiple_of(2) { &pair.a } else { &pair.b };
                EventStream::open(who, &format!("/chats/{}/events", pair.chat)).await.map(|s| (i % chats, s))
            }
        })
        .buffer_unordered(opts.open_concurrency.max(1))
        .collect()
        .await;
    let open_secs = open_started.elapsed().as_secs_f64();
    let mut failed_opens = Vec::new();
    let mut tasks = Vec::new();
    for o in opened {
        match o {
            Ok((chat, s)) => tasks.push(tokio::spawn(listen(s, chat, sent_at.clone(), finals_rx.clone(), limit))),
            Err(e) => failed_opens.push(e.to_string()),
        }
    }
    let rss_open = opts.server_pid.and_then(rss_kib);

    // The trickle: one message every 1/rate seconds, round robin over the chats.
    let (mut acked, mut send_errors, mut rss_peak) = (vec![0usize; chats], Vec::new(), rss_open);
    let every = Duration::from_secs_f64(1.0 / opts.messages_per_sec.max(0.001));
    let mut tick = tokio::time::interval(every);
    let end = Instant::now() + opts.duration;
    for (n, slot) in sent_at.iter().enumerate() {
        tick.tick().await;
        if Instant::now() >= end {
            break;
        }
        let chat = n % chats;
        let _ = slot.set((chat, Instant::now()));
        match pairs[chat].a.send(pairs[chat].chat, &format!("{MARK}{chat}-{n}. trickle message {n}")).await {
            Ok(()) => acked[chat] += 1,
            Err(e) => send_errors.push(e.to_string()),
        }
        if n % 50 == 0 {
            rss_peak = rss_peak.max(opts.server_pid.and_then(rss_kib));
        }
    }
    let _ = finals_tx.send(Some(Arc::new(acked.clone())));
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await?);
    }
    let rss_end = opts.server_pid.and_then(rss_kib);
    let rss = [rss_before, rss_open, rss_peak.max(rss_end), rss_end];
    Ok(report(opts, open_secs, acked.iter().sum(), failed_opens, send_errors, results, rss))
}

async fn listen(mut s: EventStream, chat: usize, sent_at: SentAt, mut finals: Finals, limit: Duration) -> StreamResult {
    let mut r = StreamResult { latency: Latencies::default(), received: 0, expected: 0, dropped: None };
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    let mut seen = std::collections::HashSet::new();
    loop {
        if let Some(f) = finals.borrow().as_ref() {
            r.expected = f[chat];
            if seen.len() >= r.expected {
                return r;
            }
        }
        tokio::select! {
            _ = &mut deadline => return r,
            changed = finals.changed() => if changed.is_err() { return r },
            event = s.next_block() => match event {
                Ok(Some(block)) => {
                    let now = Instant::now();
                    let Some((c, n)) = block.marker() else { continue };
                    if c == chat && seen.insert(n) {
                        r.received += 1;
                        if let Some((_, t0)) = sent_at.get(n).and_then(|s| s.get()) {
                            r.latency.push(now.saturating_duration_since(*t0));
                        }
                    }
                }
                Ok(None) => { r.dropped = Some("ended by the server".into()); return r }
                Err(e) => { r.dropped = Some(e.to_string()); return r }
            },
        }
    }
}

fn report(
    opts: &FanoutOptions,
    open_secs: f64,
    acked: usize,
    mut failed_opens: Vec<String>,
    mut send_errors: Vec<String>,
    results: Vec<StreamResult>,
    rss: [Option<u64>; 4],
) -> Report {
    let mut delivery = Latencies::default();
    let (mut lost, mut dropped, mut first_drops) = (0, 0, Vec::new());
    let open_streams = results.len();
    for r in results {
        lost += r.expected.saturating_sub(r.received);
        if let Some(d) = r.dropped {
            dropped += 1;
            if first_drops.len() < 3 {
                first_drops.push(d);
            }
        }
        delivery.extend(r.latency);
    }
    let d = delivery.summary();
    let (nfail, nsend_err) = (failed_opens.len(), send_errors.len());
    failed_opens.truncate(3);
    send_errors.truncate(3);
    let mib = |k: Option<u64>| k.map(|k| (k as f64 / 1024.0 * 10.0).round() / 10.0);
    let ok = lost == 0 && nfail == 0 && dropped == 0 && nsend_err == 0;
    let json = json!({
        "scenario": "fanout", "streams": opts.streams, "open_streams": open_streams, "chats": opts.chats,
        "open_seconds": (open_secs * 10.0).round() / 10.0, "messages": acked, "deliveries": delivery.len(),
        "delivery_ms": d, "failed_streams": nfail, "dropped_streams": dropped, "lost": lost, "send_errors": nsend_err,
        "server_rss_mib": { "before": mib(rss[0]), "streams_open": mib(rss[1]), "peak": mib(rss[2]), "end": mib(rss[3]) },
        "first_errors": failed_opens.iter().chain(&send_errors).chain(&first_drops).collect::<Vec<_>>(), "ok": ok,
    });
    let text = format!(
        "fanout: {} streams over {} chats (opened in {open_secs:.1} s), {acked} messages\n  delivery {} ({} deliveries)\n  failed streams {nfail}, dropped streams {dropped}, lost deliveries {lost}, send errors {nsend_err}\n  server RSS MiB: before {:?}, streams open {:?}, peak {:?}",
        opts.streams,
        opts.chats,
        describe(&d),
        delivery.len(),
        mib(rss[0]),
        mib(rss[1]),
        mib(rss[2]),
    );
    Report { text, json, ok }
}
