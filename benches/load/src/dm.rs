//! `dm`: P pairs of friends; each sender posts back to back while the partner listens
//! on the chat's event stream. Every acknowledged message must arrive.

use std::fmt::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::watch;

use crate::poster::Poster;
use crate::process_cpu::{per_unit, Sample};
use crate::setup::{self, Pair};
use crate::sse::{EventStream, MARK};
use crate::stats::{describe, Latencies};
use crate::{Report, Target};

#[derive(Debug, Clone)]
pub struct DmOptions {
    pub pairs: usize,
    pub duration: Duration,
    /// Upper bound of messages per sender, whatever the duration.
    pub max_messages: usize,
    /// How long after the last acknowledgement a message may still arrive.
    pub grace: Duration,
}

struct Sent {
    /// Per message number: when its POST started, and whether it was acknowledged.
    at: Vec<(Instant, bool)>,
    latency: Latencies,
    errors: Vec<String>,
}

struct Received {
    at: Vec<(usize, Instant)>,
    duplicates: usize,
    stream_error: Option<String>,
}

pub async fn run(target: &Target, opts: &DmOptions) -> anyhow::Result<Report> {
    let pairs = setup::pairs(target, opts.pairs).await?;
    let mut listeners = Vec::new();
    let mut finals = Vec::new();
    for pair in &pairs {
        let stream = EventStream::open(&pair.b, &format!("/chats/{}/events", pair.chat)).await?;
        let (tx, rx) = watch::channel(None);
        finals.push(tx);
        listeners.push(tokio::spawn(listen(stream, rx, opts.duration + opts.grace * 2, opts.max_messages)));
    }
    let started = Instant::now();
    let cpu_before = target.watched.sample();
    let senders: Vec<_> = pairs.into_iter().enumerate().map(|(i, pair)| tokio::spawn(send_loop(i, Arc::new(pair), opts.clone()))).collect();
    let mut sent = Vec::new();
    for (sender, done) in senders.into_iter().zip(&finals) {
        let s = sender.await?;
        let _ = done.send(Some(s.at.iter().filter(|(_, ok)| *ok).count()));
        sent.push(s);
    }
    let elapsed = started.elapsed();
    let cpu_after = target.watched.sample();
    let mut received = Vec::new();
    for l in listeners {
        received.push(l.await?);
    }
    Ok(report(opts, elapsed, sent, received, [cpu_before, cpu_after]))
}

async fn send_loop(i: usize, pair: Arc<Pair>, opts: DmOptions) -> Sent {
    let mut s = Sent { at: Vec::new(), latency: Latencies::default(), errors: Vec::new() };
    let mut poster = Poster::new(pair.a.clone());
    let path = format!("/chats/{}/messages", pair.chat);
    let mut text = String::with_capacity(64);
    let end = Instant::now() + opts.duration;
    while Instant::now() < end && s.at.len() < opts.max_messages {
        let n = s.at.len();
        text.clear();
        let _ = write!(text, "{MARK}{i}-{n}. message {n} of pair {i} from the load test");
        let t0 = Instant::now();
        let result = poster.send(&path, &text).await;
        s.at.push((t0, result.is_ok()));
        match result {
            Ok(()) => s.latency.push(t0.elapsed()),
            Err(e) => {
                s.errors.push(e.to_string());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    s
}

/// Reads events until every acknowledged message arrived (the sender says how many
/// when it is done) or `limit` passed. A message number past `max_messages` was not
/// sent by this run's sender and is not counted.
async fn listen(mut stream: EventStream, mut acked: watch::Receiver<Option<usize>>, limit: Duration, max_messages: usize) -> Received {
    let mut r =
        Arrivals { received: Received { at: Vec::new(), duplicates: 0, stream_error: None }, seen: Vec::new(), distinct: 0, max_messages };
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    loop {
        if acked.borrow().is_some_and(|n| r.distinct >= n) {
            return r.received;
        }
        tokio::select! {
            _ = &mut deadline => return r.received,
            changed = acked.changed() => if changed.is_err() { return r.received },
            event = stream.next_block() => match event {
                Ok(Some(block)) => {
                    let now = Instant::now();
                    r.record(block.marker(), now);
                    // The rest of what that read brought, without another wait.
                    while let Some(block) = stream.next_buffered() {
                        r.record(block.marker(), now);
                    }
                }
                Ok(None) => { r.received.stream_error = Some("the server ended the stream".into()); return r.received }
                Err(e) => { r.received.stream_error = Some(e.to_string()); return r.received }
            },
        }
    }
}

/// A listener's record of what arrived.
struct Arrivals {
    received: Received,
    /// Per message number, whether it arrived (numbers are dense, from 0).
    seen: Vec<bool>,
    distinct: usize,
    max_messages: usize,
}

impl Arrivals {
    fn record(&mut self, marker: Option<(usize, usize)>, now: Instant) {
        let Some((_, n)) = marker.filter(|(_, n)| *n < self.max_messages) else { return };
        if n >= self.seen.len() {
            self.seen.resize((n + 1).max(self.seen.len() * 2), false);
        }
        if self.seen[n] {
            self.received.duplicates += 1;
        } else {
            self.seen[n] = true;
            self.distinct += 1;
            self.received.at.push((n, now));
        }
    }
}

fn report(opts: &DmOptions, elapsed: Duration, sent: Vec<Sent>, received: Vec<Received>, cpu: [Option<Sample>; 2]) -> Report {
    let (mut send, mut delivery) = (Latencies::default(), Latencies::default());
    let (mut acked, mut lost, mut duplicates, mut errors, mut stream_errors) = (0, 0, 0, 0, 0);
    let mut first_errors: Vec<String> = Vec::new();
    for (s, r) in sent.into_iter().zip(received) {
        let mut delivered = vec![None; s.at.len()];
        for (n, at) in r.at {
            if n < delivered.len() {
                delivered[n] = Some(at);
            }
        }
        for ((t0, ok), got) in s.at.iter().zip(&delivered) {
            acked += usize::from(*ok);
            match got {
                Some(at) => delivery.push(at.saturating_duration_since(*t0)),
                None if *ok => lost += 1,
                None => {}
            }
        }
        duplicates += r.duplicates;
        errors += s.errors.len();
        stream_errors += usize::from(r.stream_error.is_some());
        first_errors.extend(s.errors.into_iter().chain(r.stream_error).take(3));
        send.extend(s.latency);
    }
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = (acked as f64 / secs * 10.0).round() / 10.0;
    let (send_s, delivery_s) = (send.summary(), delivery.summary());
    let ok = lost == 0 && errors == 0 && stream_errors == 0;
    first_errors.truncate(5);
    let (cpu_json, cpu_line) = per_unit(cpu[0], cpu[1], acked, "message");
    let json = json!({
        "scenario": "dm", "pairs": opts.pairs, "seconds": (secs * 10.0).round() / 10.0,
        "acked": acked, "messages_per_sec": rate, "send_ms": send_s, "delivery_ms": delivery_s,
        "errors": errors, "stream_errors": stream_errors, "lost": lost, "duplicates": duplicates,
        "cpu_per_message": cpu_json, "first_errors": first_errors, "ok": ok,
    });
    let text = format!(
        "dm: {} pairs for {:.1} s\n  acknowledged {acked} messages = {rate} msg/s\n  send     {}\n  delivery {}\n  errors {errors}, stream errors {stream_errors}, lost {lost}, duplicates {duplicates}{cpu_line}{}",
        opts.pairs,
        secs,
        describe(&send_s),
        describe(&delivery_s),
        if first_errors.is_empty() { String::new() } else { format!("\n  first errors: {first_errors:?}") }
    );
    Report { text, json, ok }
}
