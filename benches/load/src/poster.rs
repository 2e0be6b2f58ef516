//! `Poster`: one person's own connection for htmx-style form posts, the hot path of
//! `dm` and `mixed`. Each post is the request `Person::post_htmx` makes (`HX-Request`,
//! the page's CSRF token in `X-CSRF-Token`, the session cookie, a urlencoded form; a
//! message also a fresh `client_id`, as `Person::send`), with the headers composed once
//! and the request written into a reused buffer: one write and one read of the socket
//! per post, by the posting task itself.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::bail;
use uuid::Uuid;

use crate::h1::{Conn, Framing};
use crate::person::Person;

/// A connection idle this long is replaced before the next message (actix-web closes
/// idle keep-alive connections after 5 s; reqwest's pool is set to drop ours at 3 s).
const IDLE: Duration = Duration::from_secs(3);

pub struct Poster {
    person: Arc<Person>,
    /// The headers after the request line, up to `content-length: ` (its value and the
    /// body follow).
    headers: Vec<u8>,
    request: Vec<u8>,
    body: Vec<u8>,
    conn: Option<Conn>,
    last_used: Instant,
    ids: ClientIds,
}

impl Poster {
    /// For `person` (its session and CSRF token as they are now).
    pub fn new(person: Arc<Person>) -> Self {
        let mut poster = Poster {
            person,
            headers: Vec::new(),
            request: Vec::with_capacity(1024),
            body: Vec::with_capacity(256),
            conn: None,
            last_used: Instant::now(),
            ids: ClientIds::new(),
        };
        poster.compose_headers();
        poster
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
            self.body.extend(url::form_urlencoded::byte_serialize(name.as_bytes()).flat_map(str::bytes));
            self.body.push(b'=');
            self.body.extend(url::form_urlencoded::byte_serialize(value.as_bytes()).flat_map(str::bytes));
        }
        self.request.clear();
        let _ = write!(self.request, "POST {path} HTTP/1.1\r\n");
        self.request.extend_from_slice(&self.headers);
        let _ = write!(self.request, "{}\r\n\r\n", self.body.len());
        self.request.extend_from_slice(&self.body);
        match tokio::time::timeout(self.person.request_timeout(), self.round_trip()).await {
            Ok(Ok(status)) => Ok(status),
            Ok(Err(e)) => {
                self.conn = None;
                Err(e)
            }
            Err(_) => {
                self.conn = None;
                bail!("POST {path} timed out");
            }
        }
    }

    async fn round_trip(&mut self) -> anyhow::Result<u16> {
        if self.last_used.elapsed() > IDLE {
            self.conn = None;
        }
        if self.conn.is_none() {
            self.conn = Some(Conn::connect(self.person.addr()).await?);
        }
        let Some(conn) = self.conn.as_mut() else { bail!("no connection") };
        conn.write_all(&self.request).await?;
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
