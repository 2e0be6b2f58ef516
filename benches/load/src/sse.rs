//! A minimal `text/event-stream` reader, as a browser's EventSource: message events
//! (with `id:` and `data:`), comments and `retry:` skipped. Chaat's streams also carry
//! the person's inbox (SPEC §6: named events `chat`, `badges`, `request`, `typing`,
//! `read`, without `id:`): `next` reads past them, counting them, so a chat list item
//! (whose preview holds a message's marker too) is never taken for the message.

use std::pin::Pin;

use anyhow::bail;
use futures_util::{Stream, StreamExt};
use reqwest::StatusCode;

use crate::person::Person;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub id: Option<String>,
    /// The `event:` name, if any (Chaat's content events have none).
    pub event: Option<String>,
    pub data: String,
}

/// One event block (the lines before a blank line); `None` for a block without data
/// (a comment, a `retry:`).
pub fn parse_block(block: &str) -> Option<Event> {
    let mut event = Event { id: None, event: None, data: String::new() };
    let mut has_data = false;
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            event.id = Some(v.trim_start().to_string());
        } else if let Some(v) = line.strip_prefix("event:") {
            event.event = Some(v.trim_start().to_string());
        } else if let Some(v) = line.strip_prefix("data:") {
            if has_data {
                event.data.push('\n');
            }
            event.data.push_str(v.strip_prefix(' ').unwrap_or(v));
            has_data = true;
        }
    }
    has_data.then_some(event)
}

type Body = Pin<Box<dyn Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>;

pub struct EventStream {
    body: Body,
    buffer: Vec<u8>,
    /// Named (inbox) events read past so far.
    pub named: u64,
}

impl EventStream {
    /// Opens `path` on `person`'s session; fails unless it answers 200 with an event
    /// stream. No request time limit applies to the open stream.
    pub async fn open(person: &Person, path: &str) -> anyhow::Result<Self> {
        // The whole-request timeout must outlast the stream; the answer's head gets the
        // usual per-request limit (a server that stopped accepting must not hang us).
        let request = person.http.get(person.url(path)).header("Accept", "text/event-stream").timeout(LONG).send();
        let resp = tokio::time::timeout(OPEN_TIMEOUT, request)
            .await
            .map_err(|_| anyhow::anyhow!("event stream {path} did not answer within {OPEN_TIMEOUT:?}"))??;
        let kind = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        if resp.status() != StatusCode::OK || !kind.starts_with("text/event-stream") {
            bail!("event stream {path} answered {} {kind}", resp.status());
        }
        Ok(EventStream { body: Box::pin(resp.bytes_stream()), buffer: Vec::with_capacity(4096), named: 0 })
    }

    /// The next message event (named events counted and skipped); `Ok(None)` when the
    /// server ended the stream.
    pub async fn next(&mut self) -> anyhow::Result<Option<Event>> {
        loop {
            if let Some(event) = self.take_buffered() {
                if event.event.is_some() && event.id.is_none() {
                    self.named += 1;
                    continue;
                }
                return Ok(Some(event));
            }
            match self.body.next().await {
                None => return Ok(None),
                Some(chunk) => self.buffer.extend_from_slice(&chunk?),
            }
        }
    }

    fn take_buffered(&mut self) -> Option<Event> {
        loop {
            let (end, sep) = find_blank_line(&self.buffer)?;
            let block: Vec<u8> = self.buffer.drain(..end + sep).collect();
            if let Some(event) = parse_block(&String::from_utf8_lossy(&block[..end])) {
                return Some(event);
            }
        }
    }
}

/// Prefix of the marker in every measured message text.
pub const MARK: &str = "LDM";

/// Streams stay open for the whole scenario; this only bounds a forgotten one.
const LONG: std::time::Duration = std::time::Duration::from_secs(3600);
const OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Position and length of the first blank line (`\n\n` or `\r\n\r\n`).
fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let lf = buf.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buf.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// The load marker `LDM<stream>-<n>.` in a message's HTML (our texts carry one).
pub fn marker(data: &str) -> Option<(usize, usize)> {
    let start = data.find(MARK)? + MARK.len();
    let rest = &data[start..];
    let end = rest.find('.')?;
    let (a, b) = rest[..end].split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_found_in_rendered_messages() {
        assert_eq!(marker("<p class=\"text\">LDM3-17. hello</p>"), Some((3, 17)));
        assert_eq!(marker("<p>no marker</p>"), None);
    }

    #[test]
    fn named_events_are_parsed_with_their_name_and_no_id() {
        let e = parse_block("event: chat\ndata: <li id=\"chat-1\">LDM1-2. hi</li>").unwrap();
        assert_eq!(e.event.as_deref(), Some("chat"));
        assert_eq!(e.id, None);
        assert_eq!(parse_block("id: 3\ndata: <li>x</li>").unwrap().event, None);
    }

    #[test]
    fn blank_lines_end_events() {
        assert_eq!(find_blank_line(b"data: x\nid: 1\n\nmore"), Some((13, 2)));
        assert_eq!(find_blank_line(b"data: x\r\n\r\n"), Some((7, 4)));
        assert_eq!(find_blank_line(b"data: x\n"), None);
    }
}
