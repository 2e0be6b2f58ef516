//! A minimal HTTP/1.1 client for the load generator's hot paths: a message's POST and an
//! event stream's body. The task that sends or listens reads and writes its own socket:
//! no connection task, no channels or wake-ups in between, no allocation per request.
//! reqwest (with hyper's connection task, pool and body channel) cost ~80 µs of CPU per
//! `dm` message; what the generator spends is taken from the budget it measures.
//!
//! Only what Chaat answers is understood: a status line, `Content-Length` or chunked
//! bodies (or a body up to the close), `Content-Type`, `Connection: close` and
//! `Set-Cookie` (handed back to the person's cookie jar by the caller).

use std::io;
use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How much is read from the socket at once (an event stream's burst fits).
const READ_CHUNK: usize = 8 * 1024;
/// A response head longer than this is refused (Chaat's are well under 2 KiB).
const MAX_HEAD: usize = 64 * 1024;

/// How a response's body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(usize),
    Chunked,
    /// Neither a length nor chunks: the body ends when the server closes.
    Close,
}

/// What the caller needs of a response's head.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub framing: Framing,
    /// `Content-Type` starts with `text/event-stream`.
    pub event_stream: bool,
    /// `Connection: close` (or an HTTP/1.0 answer): the connection is not reusable.
    pub close: bool,
    /// `Set-Cookie` values, in order (usually none: no allocation then).
    pub set_cookies: Vec<String>,
}

/// One connection with its read buffer (bytes read but not yet consumed).
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl Conn {
    pub async fn connect(addr: SocketAddr) -> io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        // Requests go out whole in one write; Nagle would only delay the next one.
        stream.set_nodelay(true)?;
        Ok(Conn { stream, buf: Vec::new(), pos: 0 })
    }

    /// Writes a whole request (head and body in one buffer: one system call).
    pub async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// The bytes read and not consumed yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Marks `n` buffered bytes as consumed.
    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
    }

    /// Reads what the socket has (waiting for at least one byte); `Ok(0)` at its end.
    /// Cancel-safe: nothing is lost when the future is dropped before it completes.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > self.buf.capacity() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.reserve(READ_CHUNK);
        self.stream.read_buf(&mut self.buf).await
    }

    /// Reads a response's head (the status line and headers).
    pub async fn read_head(&mut self) -> io::Result<Head> {
        // Searched already (relative to `pos`): the end marker may straddle two reads.
        let mut searched = 0;
        loop {
            let pending = &self.buf[self.pos..];
            if let Some(i) = memchr::memmem::find(&pending[searched..], b"\r\n\r\n") {
                let end = searched + i + 4;
                let head = parse_head(&pending[..end])?;
                self.pos += end;
                return Ok(head);
            }
            searched = pending.len().saturating_sub(3);
            if pending.len() > MAX_HEAD {
                return Err(invalid("response head too long"));
            }
            if self.fill().await? == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed before the response head"));
            }
        }
    }

    /// Reads a body to its end without keeping it; returns its length.
    pub async fn skip_body(&mut self, framing: Framing) -> io::Result<usize> {
        match framing {
            Framing::Length(n) => {
                let mut left = n;
                loop {
                    let take = left.min(self.buf.len() - self.pos);
                    self.pos += take;
                    left -= take;
                    if left == 0 {
                        return Ok(n);
                    }
                    if self.fill().await? == 0 {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside a body"));
                    }
                }
            }
            Framing::Chunked => {
                let (mut chunks, mut total) = (Dechunk::default(), 0);
                loop {
                    let (used, done) = chunks.feed(&self.buf[self.pos..], |data| total += data.len())?;
                    self.pos += used;
                    if done {
                        return Ok(total);
                    }
                    if self.fill().await? == 0 {
                        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed inside a chunked body"));
                    }
                }
            }
            Framing::Close => {
                let mut total = self.buf.len() - self.pos;
                self.pos = self.buf.len();
                loop {
                    match self.fill().await? {
                        0 => return Ok(total),
                        n => {
                            total += n;
                            self.pos = self.buf.len();
                        }
                    }
                }
            }
        }
    }
}

/// The state of a chunked body being decoded (RFC 9112 §7.1).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dechunk {
    state: ChunkState,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Expecting a chunk-size line.
    #[default]
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(usize),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last (empty) chunk: trailer lines up to an empty one.
    Trailer,
    Done,
}

impl Dechunk {
    /// Decodes what `input` holds, handing each piece of chunk data to `data`. Returns the
    /// input bytes used (an incomplete line is left for the next call) and whether the
    /// body ended.
    pub fn feed(&mut self, input: &[u8], mut data: impl FnMut(&[u8])) -> io::Result<(usize, bool)> {
        let mut i = 0;
        loop {
            match self.state {
                ChunkState::Done => return Ok((i, true)),
                ChunkState::Data(left) => {
                    let take = left.min(input.len() - i);
                    if take == 0 {
                        return Ok((i, false));
                    }
                    data(&input[i..i + take]);
                    i += take;
                    self.state = if take == left { ChunkState::DataEnd } else { ChunkState::Data(left - take) };
                }
                ChunkState::Size | ChunkState::DataEnd | ChunkState::Trailer => {
                    let Some(lf) = memchr::memchr(b'\n', &input[i..]) else { return Ok((i, false)) };
                    let line = input[i..i + lf].strip_suffix(b"\r").unwrap_or(&input[i..i + lf]);
                    i += lf + 1;
                    self.state = match self.state {
                        ChunkState::Size => match chunk_size(line)? {
                            0 => ChunkState::Trailer,
                            n => ChunkState::Data(n),
                        },
                        ChunkState::DataEnd if line.is_empty() => ChunkState::Size,
                        ChunkState::DataEnd => return Err(invalid("chunk data longer than its size")),
                        _ if line.is_empty() => ChunkState::Done,
                        _ => ChunkState::Trailer,
                    };
                }
            }
        }
    }
}

/// A chunk-size line's hexadecimal size (extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> io::Result<usize> {
    let digits = line.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
    if digits.is_empty() || digits.len() > 15 {
        return Err(invalid("bad chunk size"));
    }
    digits.iter().try_fold(0usize, |n, &b| match (b as char).to_digit(16) {
        Some(d) => Ok(n * 16 + d as usize),
        None => Err(invalid("bad chunk size")),
    })
}

/// Parses a head (status line, headers, the blank line).
pub fn parse_head(bytes: &[u8]) -> io::Result<Head> {
    let mut lines = bytes.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    let (version, rest) = status_line.split_at_checked(9).ok_or_else(|| invalid("bad status line"))?;
    let status = std::str::from_utf8(rest.get(..3).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid("bad status code"))?;
    let mut head = Head { status, framing: Framing::Close, event_stream: false, close: version != b"HTTP/1.1 ", set_cookies: Vec::new() };
    let (mut length, mut chunked) = (None, false);
    for line in lines.take_while(|l| !l.is_empty()) {
        let Some(colon) = line.iter().position(|&b| b == b':') else { return Err(invalid("bad header line")) };
        let (name, value) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") {
            length = std::str::from_utf8(value).ok().and_then(|v| v.parse().ok());
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            chunked = value.len() >= 7 && value[value.len() - 7..].eq_ignore_ascii_case(b"chunked");
        } else if name.eq_ignore_ascii_case(b"content-type") {
            head.event_stream = value.len() >= 17 && value[..17].eq_ignore_ascii_case(b"text/event-stream");
        } else if name.eq_ignore_ascii_case(b"connection") {
            head.close = value.eq_ignore_ascii_case(b"close");
        } else if name.eq_ignore_ascii_case(b"set-cookie") {
            head.set_cookies.push(String::from_utf8_lossy(value).into_owned());
        }
    }
    head.framing = match (status, chunked, length) {
        (100..=199 | 204 | 304, _, _) => Framing::Length(0),
        (_, true, _) => Framing::Chunked,
        (_, false, Some(n)) => Framing::Length(n),
        (_, false, None) => Framing::Close,
    };
    Ok(head)
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(parts: &[&[u8]]) -> (Vec<u8>, bool) {
        let (mut d, mut out, mut pending, mut done) = (Dechunk::default(), Vec::new(), Vec::new(), false);
        for p in parts {
            pending.extend_from_slice(p);
            let (used, end) = d.feed(&pending, |x| out.extend_from_slice(x)).unwrap();
            pending.drain(..used);
            done = end;
        }
        (out, done)
    }

    #[test]
    fn chunked_bodies_are_decoded_across_any_split() {
        let body: &[u8] = b"5\r\nhello\r\nB;ext=1\r\n, world!!!!\r\n0\r\nTrailer: x\r\n\r\n";
        for cut in 0..body.len() {
            let (a, b) = body.split_at(cut);
            assert_eq!(decode(&[a, b]), (b"hello, world!!!!".to_vec(), true), "cut at {cut}");
        }
        assert_eq!(decode(&[b"3\r\nabc\r\n"]), (b"abc".to_vec(), false));
        assert!(Dechunk::default().feed(b"zz\r\n", |_| {}).is_err());
        assert!(Dechunk::default().feed(b"1\r\nab\r\n", |_| {}).is_err());
    }

    #[test]
    fn heads_say_how_the_body_ends() {
        let h = parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 12\r\nSet-Cookie: a=b; Path=/\r\n\r\n").unwrap();
        assert_eq!((h.status, h.framing, h.close, h.event_stream), (200, Framing::Length(12), false, false));
        assert_eq!(h.set_cookies, ["a=b; Path=/"]);
        let h = parse_head(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        assert_eq!((h.framing, h.event_stream), (Framing::Chunked, true));
        let h = parse_head(b"HTTP/1.1 303 See Other\r\nlocation: /login\r\nconnection: close\r\n\r\n").unwrap();
        assert_eq!((h.status, h.framing, h.close), (303, Framing::Close, true));
        assert_eq!(parse_head(b"HTTP/1.1 304 Not Modified\r\n\r\n").unwrap().framing, Framing::Length(0));
        assert!(parse_head(b"HTTP/1.1 2x0 OK\r\n\r\n").is_err());
    }
}
