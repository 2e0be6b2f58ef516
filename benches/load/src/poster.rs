//! `Poster`: one person's own connection for htmx-style form posts, the hot path of
//! `dm` and `mixed`. Each post is the request `Person::post_htmx` makes (`HX-Request`,
//! the page's CSRF token in `X-CSRF-Token`, the session cookie, a urlencoded form; a
//! message also a fresh `client_id`, as `Person::send`), with the headers composed once
//! and the request written into a reused buffer: one write and one read of the socket
//! per post, by the posting task itself.

use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use tokio::time::Sleep;
use uuid::Uuid;

use crate::h1::{Conn, Framing};
use crate::person::Person;

/// A connection idle this long is replaced before the next message (actix-web closes
/// idle keep-alive connections after 5 s; reqwest's pool is set to drop ours at 3 s).
const IDLE: Duration = Duration::from_secs(3);

pub struct Poster {
    link: Link,
    request: Vec<u8>,
    body: Vec<u8>,
    /// Each post's time limit: one timer moved on per post (a later deadline only
    /// updates the registered timer) rather than a timer set up and torn down per post.
    timer: Pin<Box<Sleep>>,
    ids: ClientIds,
}

/// The person's connection and the headers of its posts.
struct Link {
    person: Arc<Person>,
    /// The headers after the request line, up to `content-length: ` (its value and the
    /// body follow).
    headers: Vec<u8>,
    conn: Option<Conn>,
    last_used: Instant,
}

impl Poster {
    /// For `person` (its session and CSRF token as they are now). Inside a runtime.
    pub fn new(person: Arc<Person>) -> Self {
        let timer = Box::pin(tokio::time::sleep(person.request_timeout()));
        let mut link = Link { person, headers: Vec::new(), conn: None, last_used: Instant::now() };
        link.compose_headers();
        Poster { link, request: Vec::with_capacity(1024), body: Vec::with_capacity(256), timer, ids: ClientIds::new() }
    }

    /// Sends `text` to `path` (a chat's `/chats/{id}/messages`) with a fresh client id;
    /// Ok when the app accepted it (200), as `Person::send`.
    pub async fn send(&mut self, path: &str, text: &str) -> anyhow::Result<()> {
        let mut id = [0u8; 36];
        let client_id = self.ids.next().hyphenated().encode_lower(&mut id);
        match self.post(path, &[("text", text), ("client_id", client_id)]).await? {
            200 => Ok(()),
            status => bail!("send answered {status}"),
        }
    }

    /// A fresh client id for a message (random, never repeated by this poster).
    pub fn client_id(&mut self) -> Uuid {
        self.ids.next()
    }

    /// POSTs `fields` to `path` as htmx does; the answer's status (its body read).
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<u16> {
        self.body.clear();
        for (i, (name, value)) in fields.iter().enumerate() {
            if i > 0 {
                self.body.push(b'&');
            }
            urlencode(&mut self.body, name);
            self.body.push(b'=');
            urlencode(&mut self.body, value);
        }
        self.request.clear();
        let _ = write!(self.request, "POST {path} HTTP/1.1\r\n");
        self.request.extend_from_slice(&self.link.headers);
        let _ = write!(self.request, "{}\r\n\r\n", self.body.len());
        self.request.extend_from_slice(&self.body);
        self.timer.as_mut().reset(tokio::time::Instant::now() + self.link.person.request_timeout());
        let outcome = tokio::select! {
            biased;
            result = self.link.round_trip(&self.request) => Some(result),
            _ = &mut self.timer => None,
        };
        match outcome {
            Some(Ok(status)) => Ok(status),
            Some(Err(e)) => {
                self.link.conn = None;
                Err(e)
            }
            None => {
                self.link.conn = None;
                bail!("POST {path} timed out");
            }
        }
    }
}

impl Link {
    async fn round_trip(&mut self, request: &[u8]) -> anyhow::Result<u16> {
        if self.last_used.elapsed() > IDLE {
            self.conn = None;
        }
        if self.conn.is_none() {
            self.conn = Some(Conn::connect(self.person.addr()).await?);
        }
        let Some(conn) = self.conn.as_mut() else { bail!("no connection") };
        conn.write_all(request).await?;
        let head = conn.read_head().await?;
        // Read the fragment, as the browser does, so the connection is reusable.
        conn.skip_body(head.framing).await?;
        if head.close || head.framing == Framing::Close {
            self.conn = None;
        }
        if !head.set_cookies.is_empty() {
            self.person.store_cookies(&head.set_cookies);
            self.compose_headers();
        }
        self.last_used = Instant::now();
        Ok(head.status)
    }

    fn compose_headers(&mut self) {
        let cookie = self.person.cookie_header().map(|c| [b"cookie: ", c.as_bytes(), b"\r\n"].concat()).unwrap_or_default();
        self.headers = [
            b"host: ",
            self.person.host().as_bytes(),
            b"\r\nuser-agent: chaat-load\r\naccept: */*\r\n",
            &cookie,
            b"hx-request: true\r\nx-csrf-token: ",
            self.person.csrf_token().as_bytes(),
            b"\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: ",
        ]
        .concat();
    }
}

/// Appends `s` form-urlencoded as reqwest's `.form` does (`application/x-www-form-urlencoded`:
/// alphanumerics and `*-._` as they are, space as `+`, every other byte `%XX`).
fn urlencode(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => out.push(b),
            b' ' => out.push(b'+'),
            _ => out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]),
        }
    }
}

/// Fresh random (v4) client ids without a system call each: one random v4 per poster
/// with a counter in its low 32 bits (random bits of a v4; version and variant untouched),
/// so a poster's ids never repeat and two posters' collide with odds of a random v4's.
struct ClientIds {
    base: u128,
    n: u32,
}

impl ClientIds {
    fn new() -> Self {
        ClientIds { base: Uuid::new_v4().as_u128(), n: 0 }
    }

    fn next(&mut self) -> Uuid {
        self.n = self.n.wrapping_add(1);
        Uuid::from_u128(self.base ^ u128::from(self.n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_encoded_as_reqwest_encodes_them() {
        let text = "LDM1-2. a message, ünïcode & 100% = done*_-~+/";
        let mut mine = Vec::new();
        urlencode(&mut mine, text);
        let theirs: String = url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
        assert_eq!(String::from_utf8(mine).unwrap_or_default(), theirs);
    }

    #[test]
    fn client_ids_are_distinct_v4_uuids() {
        let mut ids = ClientIds::new();
        let (a, b) = (ids.next(), ids.next());
        assert_ne!(a, b);
        for id in [a, b] {
            assert_eq!(id.get_version(), Some(uuid::Version::Random));
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
        }
    }
}
