//! One SSE stream of one viewer's session (SPEC §6: one per tab): the person's inbox
//! events (`inbox`), and, on a chat page, the chat's messages: first what was missed
//! (from the DB), then live. It subscribes to the hub before reading the DB, and tracks
//! the last rev it sent (every new message and every change has one, SPEC §7), so there
//! is no gap and no duplicate at the seam or after a lag. A message whose seq the client
//! has not seen goes as an unnamed event (appended); anything else as `event: update`
//! (swapped in place by `chat.js`); both carry the rev as `id:`.
//! On every (re)connect the inbox's badges go first, before a replay. It ends when the
//! client goes away, the viewer leaves the chat, the session ends, the server shuts
//! down, or its lifetime is over (the browser then reconnects where it stopped).

use std::sync::Arc;

use actix_web_lab::sse;
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::mpsc;

use super::inbox::Inbox;
use super::{Hub, Signal, Ticket};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::models::attachments::AttachmentView;
use crate::models::blocks;
use crate::models::chats::{self, Membership};
use crate::models::messages::{self, MessageView};
use crate::models::{Rev, Seq, UserId};

/// Messages loaded per round trip while catching up.
const CATCH_UP_PAGE: i64 = 200;
/// Events buffered towards one client before the stream waits for it. Boxed in the
/// channel: tokio allocates a channel's slots 32 at a time from its start, 32 unboxed
/// events are ~3.3 KiB per idle stream, 32 boxes 256 bytes (issue 19).
const CLIENT_BUFFER: usize = 64;

/// The receiving end of a stream, for the SSE response.
pub type Events = mpsc::Receiver<Box<sse::Event>>;

/// Renders a message with its files for the stream's viewer, given the people the
/// viewer blocked (their messages in a group arrive collapsed, SPEC §10).
pub type Render = Box<dyn Fn(&MessageView, &[AttachmentView], &[UserId]) -> String>;
/// "alice is typing…", rendered for the viewer.
pub type RenderTyping = Box<dyn Fn(&str, UserId) -> String>;

/// The open chat's half of a stream.
pub struct ChatFeed {
    pub membership: Membership,
    /// The rev of the last event the browser has (or its cursor).
    pub since: Rev,
    /// The highest seq the browser has: a message past it is new to it. Found by the
    /// first catch-up.
    pub known_seq: Option<Seq>,
    /// Whom the viewer blocked, in a group (empty in a direct chat, where a block
    /// refuses sends instead). Re-read by every catch-up and whenever the person's
    /// inbox is poked (a block or an unblock pokes it after its commit): a block
    /// applies to the next message without a reconnect.
    pub blocked: Vec<UserId>,
    pub render: Render,
    pub typing: RenderTyping,
}

/// Starts the stream's task in the place `ticket` holds, with the inbox and, on a chat
/// page, the chat, and returns the receiving end for the SSE response. When the task
/// ends, the response finishes properly.
pub fn open(hub: Arc<Hub>, pool: DbPool, chat: Option<ChatFeed>, mut inbox: Inbox, ticket: Ticket) -> Events {
    let mut signals = chat.as_ref().map(|c| hub.subscribe(c.membership.chat_id()));
    let (tx, rx) = mpsc::channel(CLIENT_BUFFER);
    // Made here and moved in whole: a `Stream` built inside the task from its captured
    // parts would hold them twice in the task's state (issue 19: ~300 bytes a stream).
    let mut stream = Stream { pool, chat, tx, ticket };
    let task = async move {
        let lifetime = tokio::time::sleep(stream.ticket.lifetime);
        tokio::pin!(lifetime);
        let ending = stream.ticket.ending.clone();
        // The first reading may wait behind a burst of starts (the pool's stream lane):
        // the stream waits for it as long as it lives and its client is there.
        let first = tokio::select! {
            biased;
            _ = ending.wait() => None,
            _ = &mut lifetime => None,
            _ = stream.tx.closed() => None,
            first = inbox.start() => first,
        };
        let Some(first) = first else { return };
        if !stream.send_all(first).await {
            return;
        }
        // Boxed: the catch-up's state (a database round trip) is needed now and then,
        // not for the idle stream's whole life.
        if stream.chat.is_some() && !Box::pin(stream.catch_up()).await {
            return;
        }
        loop {
            let keep_going = tokio::select! {
                // Ends win over anything else that is ready.
                biased;
                _ = ending.wait() => false,
                _ = &mut lifetime => false,
                _ = stream.tx.closed() => false,
                // The handlers are boxed: their states (an event's send, a render, the
                // poke's wait) live for an event, not in every idle stream's task, which
                // stays the size of this `select!` (issue 19: 10,000 streams).
                signal = recv(&mut signals) => Box::pin(stream.on_signal(&mut inbox, signal)).await,
                changed = inbox.changed() => changed && Box::pin(stream.on_inbox(&mut inbox)).await,
            };
            if !keep_going {
                return;
            }
        }
    };
    actix_web::rt::spawn(task);
    rx
}

/// The next signal of the open chat; never, without one.
async fn recv(signals: &mut Option<broadcast::Receiver<Signal>>) -> Result<Signal, RecvError> {
    match signals {
        Some(signals) => signals.recv().await,
        None => std::future::pending().await,
    }
}

struct Stream {
    pool: DbPool,
    chat: Option<ChatFeed>,
    tx: mpsc::Sender<Box<sse::Event>>,
    /// Its place among the instance's streams: the session it belongs to, and its end.
    ticket: Ticket,
}

impl Stream {
    /// Sends what the inbox's latest reading changed; the open group's block list
    /// follows the inbox's. False ends the stream.
    async fn send_inbox(&mut self, inbox: &Inbox, events: Vec<sse::Event>) -> bool {
        if let (Some(chat), Some(blocked)) = (&mut self.chat, inbox.blocked()) {
            chat.blocked = blocked;
        }
        self.send_all(events).await
    }

    /// A signal of the open chat, after any poke that came before it: a block made just
    /// before a message applies to it (`biased` would otherwise take the message first
    /// when both are ready). False ends the stream.
    async fn on_signal(&mut self, inbox: &mut Inbox, signal: Result<Signal, RecvError>) -> bool {
        if inbox.poked() {
            let events = inbox.refresh_after_pokes().await;
            if !self.send_inbox(inbox, events).await {
                return false;
            }
        }
        self.on(signal).await
    }

    /// The person's shared inbox has a new reading: sends what it changed.
    async fn on_inbox(&mut self, inbox: &mut Inbox) -> bool {
        let events = inbox.refresh();
        self.send_inbox(inbox, events).await
    }

    /// Handles one hub signal; false ends the stream.
    async fn on(&mut self, signal: Result<Signal, RecvError>) -> bool {
        let Some(chat) = &self.chat else { return true };
        let (last, viewer) = (chat.since, chat.membership.viewer());
        let known = chat.known_seq;
        match signal {
            // A new message, next in rev order. Messages with files are never published
            // ready-made (`Hub::publish_reached`); a change to one may have files, so
            // changes are read from the database with them (below).
            Ok(Signal::Message(m)) if m.rev == last.next() && known.is_some_and(|k| m.seq > k) => self.send(&m, &[]).await,
            Ok(Signal::Message(m)) if m.rev <= last => true,
            Ok(Signal::Reached(rev)) if rev <= last => true,
            // A change, ahead of us (a gap), a notification from elsewhere, or we lagged:
            // the database has everything in order.
            Ok(Signal::Message(_) | Signal::Reached(_)) | Err(RecvError::Lagged(_)) => Box::pin(self.catch_up()).await,
            Ok(Signal::Left(user_id)) => user_id != viewer,
            // Someone else typing: a named event without `id:` (their own is not echoed).
            Ok(Signal::Typing { user_id, name }) if user_id != viewer => {
                let html = (chat.typing)(&name, user_id);
                self.send_all(vec![sse::Data::new(html).event("typing").into()]).await
            }
            Ok(Signal::Typing { .. }) => true,
            Err(RecvError::Closed) => false,
        }
    }

    /// Sends inbox events (named, no `id:`).
    async fn send_all(&mut self, events: Vec<sse::Event>) -> bool {
        for event in events {
            if self.ticket.ending.is_ended() || self.tx.send(Box::new(event)).await.is_err() {
                return false;
            }
        }
        true
    }

    async fn send(&mut self, m: &MessageView, files: &[AttachmentView]) -> bool {
        // Checked before every event: once the session ended, nothing more goes out,
        // even from a catch-up that was under way.
        if self.ticket.ending.is_ended() {
            return false;
        }
        let Some(chat) = &mut self.chat else { return false };
        let known = chat.known_seq.unwrap_or(Seq::ZERO);
        let mut event = sse::Data::new((chat.render)(m, files, &chat.blocked)).id(m.rev.to_string());
        if m.seq <= known {
            event = event.event("update");
        }
        if self.tx.send(Box::new(event.into())).await.is_err() {
            return false;
        }
        chat.since = m.rev;
        chat.known_seq = Some(known.max(m.seq));
        true
    }

    /// Sends everything after `last` from the database; false when the viewer is no
    /// longer in the chat, the session is gone or the client is gone.
    async fn catch_up(&mut self) -> bool {
        loop {
            let Some(chat) = &self.chat else { return true };
            let (membership, since, sid, known) = (chat.membership.clone(), chat.since, self.ticket.sid.clone(), chat.known_seq);
            let group = membership.chat().is_group;
            // Load first, then check: a removal or a logout committed in between ends the
            // stream before it sends anything, and one committed after the check cannot
            // be in the page (so its seq is still ahead of `last` and wakes the stream
            // again). So a message sent after a logout never comes from the database.
            let page = db::run_stream(&self.pool, move |conn| {
                let known = match known {
                    Some(known) => known,
                    None => messages::last_seq_at(conn, &membership, since)?,
                };
                let messages::WithFiles { messages: page, files } =
                    messages::changed_after_with_files(conn, &membership, since, CATCH_UP_PAGE)?;
                if !chats::still_participates(conn, &membership, &sid)? {
                    return Ok::<_, AppError>(None);
                }
                // Read after the messages: a block committed before one of them was sent
                // is in it (also when the poke of that block is still on its way from
                // another instance).
                let blocked = if group { blocks::ids(conn, membership.viewer())? } else { vec![] };
                Ok(Some((known, page, files, blocked)))
            })
            .await;
            let (page, files) = match page {
                Ok(Some((known, page, files, blocked))) => {
                    if let Some(chat) = &mut self.chat {
                        chat.known_seq.get_or_insert(known);
                        chat.blocked = blocked;
                    }
                    (page, files)
                }
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
