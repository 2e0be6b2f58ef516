//! One SSE stream of one chat for one viewer's session: first what was missed (from the
//! DB), then live. It subscribes to the hub before reading the DB, and tracks the last
//! seq it sent, so there is no gap and no duplicate at the seam or after a lag. It ends
//! when the client goes away, the viewer leaves the chat, the session ends, the server
//! shuts down, or its lifetime is over (the browser then reconnects where it stopped).

use std::sync::Arc;

use actix_web_lab::sse;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::{Hub, Signal, Ticket};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::models::attachments::{self, AttachmentView};
use crate::models::chats::{self, Membership};
use crate::models::messages::{self, MessageView};
use crate::models::Seq;

/// Messages loaded per round trip while catching up.
const CATCH_UP_PAGE: i64 = 200;
/// Events buffered towards one client before the stream waits for it.
const CLIENT_BUFFER: usize = 64;

/// Renders a message with its files for the stream's viewer.
pub type Render = Box<dyn Fn(&MessageView, &[AttachmentView]) -> String>;

/// Starts the stream's task for the person of `membership`, in the place `ticket` holds,
/// and returns the receiving end for the SSE response. When the task ends, the response
/// finishes properly.
pub fn open(hub: Arc<Hub>, pool: DbPool, membership: Membership, since: Seq, render: Render, ticket: Ticket) -> mpsc::Receiver<sse::Event> {
    let mut signals = hub.subscribe(membership.chat_id());
    let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
    actix_web::rt::spawn(async move {
        let lifetime = tokio::time::sleep(ticket.lifetime);
        tokio::pin!(lifetime);
        let mut stream = Stream { pool, membership, last: since, tx, render, ticket };
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
    last: Seq,
    tx: mpsc::Sender<sse::Event>,
    render: Render,
    /// Its place among the instance's streams: the session it belongs to, and its end.
    ticket: Ticket,
}

impl Stream {
    /// Handles one hub signal; false ends the stream.
    async fn on(&mut self, signal: Result<Signal, RecvError>) -> bool {
        match signal {
            // Messages with files are never published ready-made (`Hub::publish_reached`).
            Ok(Signal::Message(m)) if m.seq == self.last.next() => self.send(&m, &[]).await,
            Ok(Signal::Message(m)) if m.seq <= self.last => true,
            Ok(Signal::Reached(seq)) if seq <= self.last => true,
            // Ahead of us (a gap), a notification from elsewhere, or we lagged: the
            // database has everything in order.
            Ok(Signal::Message(_) | Signal::Reached(_)) | Err(RecvError::Lagged(_)) => self.catch_up().await,
            Ok(Signal::Left(user_id)) => user_id != self.membership.viewer(),
            Err(RecvError::Closed) => false,
        }
    }

    async fn send(&mut self, m: &MessageView, files: &[AttachmentView]) -> bool {
        // Checked before every event: once the session ended, nothing more goes out,
        // even from a catch-up that was under way.
        if self.ticket.ending.is_ended() {
            return false;
        }
        let event = sse::Data::new((self.render)(m, files)).id(m.seq.to_string());
        if self.tx.send(event.into()).await.is_err() {
            return false;
        }
        self.last = m.seq;
        true
    }

    /// Sends everything after `last` from the database; false when the viewer is no
    /// longer in the chat, the session is gone or the client is gone.
    async fn catch_up(&mut self) -> bool {
        loop {
            let (membership, after, sid) = (self.membership.clone(), self.last, self.ticket.sid.clone());
            // Load first, then check: a removal or a logout committed in between ends the
            // stream before it sends anything, and one committed after the check cannot
            // be in the page (so its seq is still ahead of `last` and wakes the stream
            // again). So a message sent after a logout never comes from the database.
            let page = db::run(&self.pool, move |conn| {
                let page = messages::after(conn, &membership, after, CATCH_UP_PAGE)?;
                if !chats::still_participates(conn, &membership, &sid)? {
                    return Ok::<_, AppError>(None);
                }
                let files = attachments::for_messages(conn, &membership, &page.iter().map(|m| m.message_id).collect::<Vec<_>>())?;
                Ok(Some((page, files)))
            })
            .await;
            let (page, files) = match page {
                Ok(Some(page)) => page,
                Ok(None) => return false,
                // The database is away: keep the stream; the next sweep retries.
                Err(_) => return true,
            };
            let full = page.len() as i64 == CATCH_UP_PAGE;
            for m in &page {
                let mine: Vec<AttachmentView> = files.iter().filter(|f| f.message_id == m.message_id).cloned().collect();
                if !self.send(m, &mine).await {
                    return false;
                }
            }
            if !full {
                return true;
            }
        }
    }
}
