//! A minimal `text/event-stream` reader, as a browser's EventSource: message events
//! (with `id:` and `data:`), comments and `retry:` skipped. Chaat's streams also carry
//! the person's inbox (SPEC §6: named events `chat`, `badges`, `request`, `typing`,
//! `read`, without `id:`): `next` reads past them, counting them, so a chat list item
//! (whose preview holds a message's marker too) is never taken for the message.
//!
//! The stream is read on a connection of its own by the listening task (`h1`), and its
//! events are found in place: a message's marker is read without copying the event.

use anyhow::bail;

use crate::h1::{Conn, Dechunk, Framing};
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

pub struct EventStream {
    conn: Conn,
    body: BodyState,
    split: Splitter,
    /// Named (inbox) events read past so far.
    pub named: u64,
}

/// The decoded body, cut into event blocks as it arrives.
#[derive(Debug, Default)]
struct Splitter {
    /// `events[start..]` is not consumed yet.
    events: Vec<u8>,
    start: usize,
    /// The start of the first line of the current block not read yet (the lines
    /// before it were read into `lines`).
    scanned: usize,
    lines: LineKinds,
    /// Named events read past.
    named: u64,
}

/// What the lines of a block read so far hold.
#[derive(Debug, Default, Clone, Copy)]
struct LineKinds {
    data: bool,
    id: bool,
    named: bool,
}

/// How the body is delimited: the app's streams are chunked; others are read as sent.
enum BodyState {
    Chunked(Dechunk),
    Length(usize),
    Close,
}

/// One message event as it is in the stream's buffer (valid until the next read).
#[derive(Debug, Clone, Copy)]
pub struct Block<'a> {
    raw: &'a [u8],
}

impl<'a> Block<'a> {
    /// The event, owned (its data lines joined by `\n`).
    pub fn to_event(&self) -> Option<Event> {
        parse_block(&String::from_utf8_lossy(self.raw))
    }

    /// The contents of its `data:` lines.
    pub fn data_lines(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        lines(self.raw).filter_map(|l| l.strip_prefix(b"data:")).map(|v| v.strip_prefix(b" ").unwrap_or(v))
    }

    /// The load marker in its data (as [`marker`] finds it in the joined data).
    pub fn marker(&self) -> Option<(usize, usize)> {
        // The first occurrence in the block is in a data line (id and event lines hold
        // numbers and names) unless the stream is not Chaat's: then line by line.
        let at = memchr::memmem::find(self.raw, MARK.as_bytes())?;
        let line_start = memchr::memrchr(b'\n', &self.raw[..at]).map_or(0, |i| i + 1);
        if self.raw[line_start..].starts_with(b"data:") {
            let line_end = memchr::memchr(b'\n', &self.raw[at..]).map_or(self.raw.len(), |i| at + i);
            return marker_in(&self.raw[at..line_end]);
        }
        let line = self.data_lines().find(|l| memchr::memmem::find(l, MARK.as_bytes()).is_some())?;
        marker_in(line)
    }
}

impl EventStream {
    /// Opens `path` on `person`'s session (its own connection, the session's cookie);
    /// fails unless it answers 200 with an event stream within `OPEN_TIMEOUT` (a server
    /// that stopped accepting must not hang us). No time limit applies to the open
    /// stream.
    pub async fn open(person: &Person, path: &str) -> anyhow::Result<Self> {
        tokio::time::timeout(OPEN_TIMEOUT, Self::request(person, path))
            .await
            .map_err(|_| anyhow::anyhow!("event stream {path} did not answer within {OPEN_TIMEOUT:?}"))?
    }

    async fn request(person: &Person, path: &str) -> anyhow::Result<Self> {
        let mut conn = Conn::connect(person.addr()).await?;
        let cookie = person.cookie_header().map(|c| [b"cookie: ", c.as_bytes(), b"\r\n"].concat()).unwrap_or_default();
        let request = [
            b"GET ",
            path.as_bytes(),
            b" HTTP/1.1\r\nhost: ",
            person.host().as_bytes(),
            b"\r\nuser-agent: chaat-load\r\naccept: text/event-stream\r\n",
            &cookie,
            b"\r\n",
        ]
        .concat();
        conn.write_all(&request).await?;
        let head = conn.read_head().await?;
        person.store_cookies(&head.set_cookies);
        if head.status != 200 || !head.event_stream {
            bail!("event stream {path} answered {} (an event stream: {})", head.status, head.event_stream);
        }
        let body = match head.framing {
            Framing::Chunked => BodyState::Chunked(Dechunk::default()),
            Framing::Length(n) => BodyState::Length(n),
            Framing::Close => BodyState::Close,
        };
        Ok(EventStream { conn, body, split: Splitter::default(), named: 0 })
    }

    /// The next message event, owned (named events counted and skipped); `Ok(None)`
    /// when the server ended the stream.
    pub async fn next(&mut self) -> anyhow::Result<Option<Event>> {
        Ok(self.next_block().await?.and_then(|b| b.to_event()))
    }

    /// The next message event in place (named events counted and skipped, comments
    /// dropped); `Ok(None)` when the server ended the stream. Cancel-safe.
    pub async fn next_block(&mut self) -> anyhow::Result<Option<Block<'_>>> {
        loop {
            if let Some(range) = self.take_message() {
                return Ok(Some(Block { raw: &self.split.events[range] }));
            }
            if !self.read_more().await? {
                return Ok(None);
            }
        }
    }

    /// The next message event already read, if any (no waiting): what arrived in one
    /// read often holds several events.
    pub fn next_buffered(&mut self) -> Option<Block<'_>> {
        let range = self.take_message()?;
        Some(Block { raw: &self.split.events[range] })
    }

    fn take_message(&mut self) -> Option<std::ops::Range<usize>> {
        let range = self.split.take();
        self.named = self.split.named;
        range
    }

    /// Reads and decodes more of the body; `false` when it ended.
    async fn read_more(&mut self) -> anyhow::Result<bool> {
        self.split.compact();
        let had = self.split.events.len();
        loop {
            let events = &mut self.split.events;
            let buffered = self.conn.buffered();
            let (used, ended) = match &mut self.body {
                BodyState::Chunked(chunks) => chunks.feed(buffered, |d| events.extend_from_slice(d))?,
                BodyState::Length(left) => {
                    let take = (*left).min(buffered.len());
                    events.extend_from_slice(&buffered[..take]);
                    *left -= take;
                    (take, *left == 0)
                }
                BodyState::Close => {
                    events.extend_from_slice(buffered);
                    (buffered.len(), false)
                }
            };
            self.conn.consume(used);
            if ended {
                // What the last chunk completed is still read (`next_block` loops).
                return Ok(self.split.events.len() > had);
            }
            if self.split.events.len() > had {
                return Ok(true);
            }
            if self.conn.fill().await? == 0 {
                return Ok(false);
            }
        }
    }
}

impl Splitter {
    /// The range of the next complete message block, consuming it and the blocks
    /// before it. Each line is searched once, however many reads its block takes.
    fn take(&mut self) -> Option<std::ops::Range<usize>> {
        loop {
            let line_start = self.scanned.max(self.start);
            let lf = memchr::memchr(b'\n', &self.events[line_start..])?;
            let line = &self.events[line_start..line_start + lf];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.scanned = line_start + lf + 1;
            if !line.is_empty() {
                self.lines.data |= line.starts_with(b"data:");
                self.lines.id |= line.starts_with(b"id:");
                self.lines.named |= line.starts_with(b"event:");
                continue;
            }
            // A blank line ends the block (its lines, without the last line end).
            let end = line_start.saturating_sub(1).max(self.start);
            let end = if end > self.start && self.events[end - 1] == b'\r' { end - 1 } else { end };
            let block = self.start..end;
            self.start = self.scanned;
            let kinds = std::mem::take(&mut self.lines);
            if kinds.data && kinds.named && !kinds.id {
                self.named += 1;
            } else if kinds.data {
                return Some(block);
            }
        }
    }

    /// Drops the consumed bytes before the buffer grows.
    fn compact(&mut self) {
        if self.start == self.events.len() {
            self.events.clear();
            (self.start, self.scanned) = (0, 0);
        } else if self.start > self.events.capacity() / 2 {
            self.events.drain(..self.start);
            self.scanned = self.scanned.saturating_sub(self.start);
            self.start = 0;
        }
    }
}

/// The lines of a block (`\n` or `\r\n` ended).
fn lines(block: &[u8]) -> impl Iterator<Item = &[u8]> {
    block.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

/// Prefix of the marker in every measured message text.
pub const MARK: &str = "LDM";

const OPEN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The load marker `LDM<stream>-<n>.` in a message's HTML (our texts carry one).
pub fn marker(data: &str) -> Option<(usize, usize)> {
    marker_in(data.as_bytes())
}

fn marker_in(data: &[u8]) -> Option<(usize, usize)> {
    let start = memchr::memmem::find(data, MARK.as_bytes())? + MARK.len();
    let rest = &data[start..];
    let digits = &rest[..rest.iter().position(|&b| b == b'.')?];
    let dash = digits.iter().position(|&b| b == b'-')?;
    Some((number(&digits[..dash])?, number(&digits[dash + 1..])?))
}

/// A decimal number of ASCII digits, as `str::parse::<usize>` reads one.
fn number(digits: &[u8]) -> Option<usize> {
    let digits = digits.strip_prefix(b"+").unwrap_or(digits);
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0usize, |n, &b| b.is_ascii_digit().then(|| n * 10 + usize::from(b - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_found_in_rendered_messages() {
        assert_eq!(marker("<p class=\"text\">LDM3-17. hello</p>"), Some((3, 17)));
        assert_eq!(marker("<p>no marker</p>"), None);
        assert_eq!(marker("LDM3-x. hello"), None);
        assert_eq!(marker("LDM-1. hello"), None);
    }

    #[test]
    fn named_events_are_parsed_with_their_name_and_no_id() {
        let e = parse_block("event: chat\ndata: <li id=\"chat-1\">LDM1-2. hi</li>").unwrap();
        assert_eq!(e.event.as_deref(), Some("chat"));
        assert_eq!(e.id, None);
        assert_eq!(parse_block("id: 3\ndata: <li>x</li>").unwrap().event, None);
    }

    /// The blocks `take_message` finds in `input` fed in two parts cut at `cut`, and
    /// the named events it read past.
    fn blocks(input: &[u8], cut: usize) -> (Vec<String>, u64) {
        let mut s = Splitter::default();
        let mut found = Vec::new();
        for part in [&input[..cut], &input[cut..]] {
            s.compact();
            s.events.extend_from_slice(part);
            while let Some(r) = s.take() {
                found.push(String::from_utf8_lossy(&s.events[r]).into_owned());
            }
        }
        (found, s.named)
    }

    #[test]
    fn blank_lines_end_events_however_the_stream_is_cut() {
        let input = b"event: chat\r\ndata: a\r\n\r\n: keep-alive\n\nid: 2\ndata: LDM1-2. b\ndata: c\n\nid: 3\ndata: x";
        for cut in 0..input.len() {
            assert_eq!(blocks(input, cut), (vec!["id: 2\ndata: LDM1-2. b\ndata: c".to_string()], 1), "cut at {cut}");
        }
        assert_eq!(blocks(b"data: x\r\n\r\n", 0).0, ["data: x"]);
        assert_eq!(blocks(b"data: x\n", 0).0, Vec::<String>::new());
    }

    #[test]
    fn blocks_find_the_marker_in_their_data_lines() {
        let b = Block { raw: b"id: 7\ndata: <li>\ndata: <p>LDM4-9. hi</p>" };
        assert_eq!(b.marker(), Some((4, 9)));
        assert_eq!(b.to_event().map(|e| e.data), Some("<li>\n<p>LDM4-9. hi</p>".to_string()));
    }
}
