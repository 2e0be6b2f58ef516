//! One SSE stream of one chat for one viewer's session: first what was missed (from the
//! DB), then live. It subscribes to the hub before reading the DB, and tracks the last
//! rev it sent (every new message and every change has one, SPEC §7), so there is no gap
//! and no duplicate at the seam or after a lag. A message whose seq the client has not
//! seen goes as an unnamed event (appended); anything else as `event: update` (swapped
//! in place by `chat.js`). It ends
//! when the client goes away, the viewer leaves the chat, the session ends, the server
//! shuts down, or its lifetime is over (the browser then reconnects where it stopped).

use std::sync::Arc;

use actix_web_lab::sse;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::{Hub, Signal, Ticket};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::models::chats::{self, Membership};
use crate::models::messages::{self, MessageView};
use crate::models::{Rev, Seq};

/// Messages loaded per round trip while catching up.
const CATCH_UP_PAGE: i64 = 200;
/// Events buffered towards one client before the stream waits for it.
const CLIENT_BUFFER: usize = 64;

pub type Render = Box<dyn Fn(&MessageView) -> String>;

/// Starts the stream's task for the person of `membership`, in the place `ticket` holds,
/// and returns the receiving end for the SSE response. When the task ends, the response
/// finishes properly.
pub fn open(hub: Arc<Hub>, pool: DbPool, membership: Membership, since: Rev, render: Render, ticket: Ticket) -> mpsc::Receiver<sse::Event> {
    let mut signals = hub.subscribe(membership.chat_id());
    let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
    actix_web::rt::spawn(async move {
        let lifetime = tokio::time::sleep(ticket.lifetime);
        tokio::pin!(lifetime);
        let mut stream = Stream { pool, membership, last: since, known_seq: None, tx, render, ticket };
        if !stream.catch_up().await {
            return;
        }
        loop {
            let ending = stream.ticket.ending.clone();
            let keep_going = tokio::select! {
                // Ends win over anything else that is ready.
                biased;
                _ = ending.wait() => false,
                _ = &mut lifetime => false,
                _ = stream.tx.closed() => false,
                signal = signals.recv() => stream.on(signal).await,
            };
            if !keep_going {
                return;
            }
        }
    });
    rx
}

struct Stream {
    pool: DbPool,
    membership: Membership,
    /// The rev of the last event sent (or the client's cursor).
    last: Rev,
    /// The highest seq the client has: a message past it is new to it. Found by the
    /// first catch-up.
    known_seq: Option<Seq>,
    tx: mpsc::Sender<sse::Event>,
    render: Render,
    /// Its place among the instance's streams: the session it belongs to, and its end.
    ticket: Ticket,
}

impl Stream {
    /// Handles one hub signal; false ends the stream.
    async fn on(&mut self, signal: Result<Signal, RecvError>) -> bool {
        match signal {
            Ok(Signal::Message(m)) if m.rev == self.last.next() && self.known_seq.is_some() => self.send(&m).await,
            Ok(Signal::Message(m)) if m.rev <= self.last => true,
            Ok(Signal::Reached(rev)) if rev <= self.last => true,
            // Ahead of us (a gap), a notification from elsewhere, or we lagged: the
            // database has everything in order.
            Ok(Signal::Message(_) | Signal::Reached(_)) | Err(RecvError::Lagged(_)) => self.catch_up().await,
            Ok(Signal::Left(user_id)) => user_id != self.membership.viewer(),
            Err(RecvError::Closed) => false,
        }
    }

    async fn send(&mut self, m: &MessageView) -> bool {
        // Checked before every event: once the session ended, nothing more goes out,
        // even from a catch-up that was under way.
        if self.ticket.ending.is_ended() {
            return false;
        }
        let known = self.known_seq.unwrap_or(Seq::ZERO);
        let mut event = sse::Data::new((self.render)(m)).id(m.rev.to_string());
        if m.seq <= known {
            event = event.event("update");
        }
        if self.tx.send(event.into()).await.is_err() {
            return false;
        }
        self.last = m.rev;
        self.known_seq = Some(known.max(m.seq));
        true
    }

    /// Sends everything after `last` from the database; false when the viewer is no
    /// longer in the chat, the session is gone or the client is gone.
    async fn catch_up(&mut self) -> bool {
        loop {
            let (membership, since, sid, known) = (self.membership.clone(), self.last, self.ticket.sid.clone(), self.known_seq);
            // Load first, then check: a removal or a logout committed in between ends the
            // stream before it sends anything, and one committed after the check cannot
            // be in the page (so its seq is still ahead of `last` and wakes the stream
            // again). So a message sent after a logout never comes from the database.
            let page = db::run(&self.pool, move |conn| {
                let known = match known {
                    Some(known) => known,
                    None => messages::last_seq_at(conn, &membership, since)?,
                };
                let page = messages::changed_after(conn, &membership, since, CATCH_UP_PAGE)?;
                if !chats::still_participates(conn, &membership, &sid)? {
                    return Ok::<_, AppError>(None);
                }
                Ok(Some((known, page)))
            })
            .await;
            let page = match page {
                Ok(Some((known, page))) => {
                    self.known_seq.get_or_insert(known);
                    page
                }
                Ok(None) => return false,
                // The database is away: keep the stream; the next sweep retries.
                Err(_) => return true,
            };
            let full = page.len() as i64 == CATCH_UP_PAGE;
            for m in &page {
                if !self.send(m).await {
                    return false;
                }
            }
            if !full {
                return true;
            }
        }
    }
}
