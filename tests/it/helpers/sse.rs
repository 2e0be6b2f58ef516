//! A minimal SSE client for tests: reads `id:`/`data:` events from a real stream.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures_util::StreamExt;
use reqwest::StatusCode;

use crate::helpers::Client;

pub use chaat_load::sse::Event;

/// Test-side helpers on the load generator's event type.
pub trait Seq {
    fn seq(&self) -> i64;
}

impl Seq for Event {
    fn seq(&self) -> i64 {
        self.id.as_deref().and_then(|id| id.parse().ok()).expect("an event id")
    }
}

/// What reading a stream found.
#[derive(Debug)]
pub enum Step {
    Event(Event),
    /// Nothing within the wait.
    Quiet,
    /// The response body ended properly (the chunked body's last chunk arrived).
    Ended,
    /// The connection failed mid-body (reset, closed without the last chunk).
    Broken(String),
}

pub struct EventStream {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<actix_web::web::Bytes>> + Send>>,
    buffer: String,
    /// Named (inbox) events read so far and not taken yet (`next_named`): message
    /// readers (`next`, `take`, `step`) read past them.
    named: std::collections::VecDeque<Event>,
}

impl EventStream {
    /// Opens `/chats/{chat}/events` (with `Last-Event-ID` when given); panics unless 200.
    pub async fn open(client: &Client, path: &str, last_event_id: Option<i64>) -> Self {
        let resp = Self::request(client, path, last_event_id).await;
        assert_eq!(resp.status(), StatusCode::OK, "event stream {path}");
        assert!(resp.headers().get("content-type").unwrap().to_str().unwrap().starts_with("text/event-stream"));
        EventStream { body: Box::pin(resp.bytes_stream()), buffer: String::new(), named: Default::default() }
    }

    /// Reads the stream of a response already checked by the caller.
    pub fn from_response(resp: reqwest::Response) -> Self {
        EventStream { body: Box::pin(resp.bytes_stream()), buffer: String::new(), named: Default::default() }
    }

    pub async fn request(client: &Client, path: &str, last_event_id: Option<i64>) -> reqwest::Response {
        let mut req = client.http.get(client.url(path));
        if let Some(id) = last_event_id {
            req = req.header("Last-Event-ID", id.to_string());
        }
        req.send().await.unwrap()
    }

    /// The next message event (comments and keep-alives skipped), or None after `wait`
    /// or when the stream ends.
    pub async fn next(&mut self, wait: Duration) -> Option<Event> {
        match self.step(wait).await {
            Step::Event(event) => Some(event),
            Step::Quiet | Step::Ended | Step::Broken(_) => None,
        }
    }

    /// The next message event, or what happened instead within `wait`.
    pub async fn step(&mut self, wait: Duration) -> Step {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(event) = self.take_buffered() {
                return Step::Event(event);
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) => return Step::Quiet,
                Ok(None) => return Step::Ended,
                Ok(Some(Err(e))) => return Step::Broken(format!("{e:?}")),
                Ok(Some(Ok(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
            }
        }
    }

    /// Exactly `n` events, each within `wait`; panics if fewer arrive.
    pub async fn take(&mut self, n: usize, wait: Duration) -> Vec<Event> {
        let mut events = Vec::with_capacity(n);
        while events.len() < n {
            match self.next(wait).await {
                Some(e) => events.push(e),
                None => panic!("expected {n} events, got {}: {:?}", events.len(), events.iter().map(|e| &e.id).collect::<Vec<_>>()),
            }
        }
        events
    }

    /// The next named (inbox) event, in order, within `wait`.
    pub async fn next_named(&mut self, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            // Message events found meanwhile stay buffered for `next`.
            self.buffer_named();
            if let Some(event) = self.named.pop_front() {
                return Some(event);
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) | Ok(None) | Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
            }
        }
    }

    /// The next named event called `name` within `wait` (others of other names dropped).
    pub async fn next_named_as(&mut self, name: &str, wait: Duration) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next_named(left).await?;
            if event.event.as_deref() == Some(name) {
                return Some(event);
            }
        }
    }

    /// The next named event called `name` whose data satisfies `test`, within `wait`.
    pub async fn wait_named(&mut self, name: &str, wait: Duration, test: impl Fn(&str) -> bool) -> Option<Event> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let event = self.next_named_as(name, left).await?;
            if test(&event.data) {
                return Some(event);
            }
        }
    }

    /// Moves the named events of complete blocks into `named`, keeping the rest (message
    /// events, partial blocks) in the buffer as it was.
    fn buffer_named(&mut self) {
        let normalized = self.buffer.replace("\r\n", "\n");
        let mut kept = String::new();
        let mut rest = normalized.as_str();
        while let Some(end) = rest.find("\n\n") {
            let block = &rest[..end];
            match chaat_load::sse::parse_block(block) {
                Some(event) if event.event.is_some() && event.id.is_none() => self.named.push_back(event),
                _ => {
                    kept.push_str(block);
                    kept.push_str("\n\n");
                }
            }
            rest = &rest[end + 2..];
        }
        kept.push_str(rest);
        self.buffer = kept;
    }

    /// Whether the server ended the stream within `wait`.
    pub async fn ends_within(&mut self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) => return true,
                Ok(Some(Ok(_))) => {}
            }
        }
    }

    fn take_buffered(&mut self) -> Option<Event> {
        loop {
            let normalized = self.buffer.replace("\r\n", "\n");
            let end = normalized.find("\n\n")?;
            let block = normalized[..end].to_string();
            self.buffer = normalized[end + 2..].to_string();
            match chaat_load::sse::parse_block(&block) {
                Some(event) if event.event.is_some() && event.id.is_none() => self.named.push_back(event),
                Some(event) => return Some(event),
                None => {}
            }
        }
    }
}
