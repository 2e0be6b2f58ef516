//! `mixed` (issue 14): P pairs; each sender cycles through what people do to messages:
//! a send, a reply to its last message, an edit of it, a reaction toggled on it, while
//! the partner listens on the chat's event stream. Reports the latency and the CPU cost
//! per action of each kind together (sends, replies, edits, reactions).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::poster::Poster;
use crate::process_cpu::per_unit;
use crate::setup::{self, Pair};
use crate::sse::EventStream;
use crate::stats::{describe, Latencies};
use crate::{Report, Target};

#[derive(Debug, Clone)]
pub struct MixedOptions {
    pub pairs: usize,
    pub duration: Duration,
    /// Upper bound of actions per sender, whatever the duration.
    pub max_actions: usize,
}

/// The four kinds of action, in the order each sender cycles through them.
const KINDS: [&str; 4] = ["send", "reply", "edit", "react"];

#[derive(Default)]
struct Done {
    latency: [Latencies; 4],
    errors: Vec<String>,
}

pub async fn run(target: &Target, opts: &MixedOptions) -> anyhow::Result<Report> {
    let pairs = setup::pairs(target, opts.pairs).await?;
    let mut listeners = Vec::new();
    for pair in &pairs {
        let stream = EventStream::open(&pair.b, &format!("/chats/{}/events", pair.chat)).await?;
        listeners.push(tokio::spawn(count_events(stream, opts.duration + Duration::from_secs(2))));
    }
    let started = Instant::now();
    let cpu_before = target.watched.sample();
    let workers: Vec<_> = pairs.into_iter().map(|pair| tokio::spawn(act(Arc::new(pair), opts.clone()))).collect();
    let mut done = Vec::new();
    for w in workers {
        done.push(w.await?);
    }
    let elapsed = started.elapsed();
    let cpu_after = target.watched.sample();
    let mut events = 0;
    for l in listeners {
        events += l.await?;
    }
    let mut latency: [Latencies; 4] = Default::default();
    let mut errors = Vec::new();
    for d in done {
        for (all, mine) in latency.iter_mut().zip(d.latency) {
            all.extend(mine);
        }
        errors.extend(d.errors);
    }
    let actions: usize = latency.iter().map(Latencies::len).sum();
    let secs = elapsed.as_secs_f64().max(1e-9);
    let rate = (actions as f64 / secs * 10.0).round() / 10.0;
    let (cpu_json, cpu_line) = per_unit(cpu_before, cpu_after, actions, "action");
    let mut per_kind = serde_json::Map::new();
    let mut lines = String::new();
    for (kind, l) in KINDS.iter().zip(latency.iter_mut()) {
        let s = l.summary();
        lines.push_str(&format!("\n  {kind:<6} {}", describe(&s)));
        per_kind.insert(format!("{kind}_ms"), s);
    }
    let ok = errors.is_empty();
    let first: Vec<String> = errors.iter().take(5).cloned().collect();
    let json = json!({
        "scenario": "mixed", "pairs": opts.pairs, "seconds": (secs * 10.0).round() / 10.0, "actions": actions,
        "actions_per_sec": rate, "latency": per_kind, "events_received": events, "errors": errors.len(),
        "cpu_per_action": cpu_json, "first_errors": first, "ok": ok,
    });
    let text = format!(
        "mixed: {} pairs for {secs:.1} s (send, reply, edit, react in turn)\n  {actions} actions = {rate} actions/s, {events} events received{lines}\n  errors {}{cpu_line}",
        opts.pairs,
        errors.len()
    );
    Ok(Report { text, json, ok })
}

/// One sender's loop. The chat is new and only this sender writes, so the n-th
/// acknowledged message has seq n.
async fn act(pair: Arc<Pair>, opts: MixedOptions) -> Done {
    let mut d = Done::default();
    let (mut seq, mut n) = (0i64, 0usize);
    let end = Instant::now() + opts.duration;
    let chat = pair.chat;
    let mut poster = Poster::new(pair.a.clone());
    while Instant::now() < end && n < opts.max_actions {
        let kind = if seq == 0 { 0 } else { n % 4 };
        let text = format!("mixed action {n}: how about lunch on Friday at the usual place?");
        let client_id = poster.client_id().to_string();
        let last = seq.to_string();
        let (path, fields): (String, Vec<(&str, &str)>) = match kind {
            0 => (format!("/chats/{chat}/messages"), vec![("text", &text), ("client_id", &client_id)]),
            1 => (format!("/chats/{chat}/messages"), vec![("text", &text), ("client_id", &client_id), ("reply_to", &last)]),
            2 => (format!("/chats/{chat}/messages/{seq}/edit"), vec![("text", &text)]),
            _ => (format!("/chats/{chat}/messages/{seq}/reactions"), vec![("emoji", "👍")]),
        };
        let t0 = Instant::now();
        let result = poster.post(&path, &fields).await;
        n += 1;
        match result {
            Ok(200) => {
                d.latency[kind].push(t0.elapsed());
                if kind < 2 {
                    seq += 1;
                }
            }
            Ok(status) => d.errors.push(format!("{} answered {status}", KINDS[kind])),
            Err(e) => d.errors.push(e.to_string()),
        }
    }
    d
}

async fn count_events(mut stream: EventStream, limit: Duration) -> usize {
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    let mut n = 0;
    loop {
        tokio::select! {
            _ = &mut deadline => return n,
            event = stream.next_block() => match event {
                Ok(Some(_)) => n += 1,
                _ => return n,
            },
        }
    }
}
