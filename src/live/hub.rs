//! The in-process fan-out: one broadcast channel per watched chat.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::broadcast;
use uuid::Uuid;

use super::SWEEP_EVERY;
use crate::db::{self, DbPool};
use crate::models::chats;
use crate::models::groups::Change;
use crate::models::messages::MessageView;
use crate::models::{ChatId, Seq, UserId};

/// What a chat's streams are told.
#[derive(Debug, Clone)]
pub enum Signal {
    /// A message committed on this instance, ready to render.
    Message(Arc<MessageView>),
    /// The chat has messages up to this seq (from another instance, or the sweep):
    /// load whatever has not been sent yet.
    Reached(Seq),
    /// This person no longer takes part in the chat: end their streams.
    Left(UserId),
}

/// Buffered signals per chat; a stream that falls further behind reloads from the DB.
const CHANNEL_CAPACITY: usize = 256;

pub struct Hub {
    instance: Uuid,
    chats: Mutex<HashMap<ChatId, broadcast::Sender<Signal>>>,
    notify: Mutex<Sender<(ChatId, Seq)>>,
    sweep_now: Mutex<Sender<()>>,
    /// Set on shutdown: streams end and no new one starts.
    closed: AtomicBool,
}

impl Hub {
    pub(super) fn new(notify: Sender<(ChatId, Seq)>, sweep_now: Sender<()>) -> Self {
        Hub {
            instance: Uuid::new_v4(),
            chats: Mutex::new(HashMap::new()),
            notify: Mutex::new(notify),
            sweep_now: Mutex::new(sweep_now),
            closed: AtomicBool::new(false),
        }
    }

    /// Identifies this instance in notifications, so it ignores its own.
    pub fn instance(&self) -> Uuid {
        self.instance
    }

    /// After `close`, a receiver that is already closed: the stream ends at once.
    pub fn subscribe(&self, chat_id: ChatId) -> broadcast::Receiver<Signal> {
        let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        if self.is_closed() {
            return broadcast::channel(1).1;
        }
        chats.entry(chat_id).or_insert_with(|| broadcast::channel(CHANNEL_CAPACITY).0).subscribe()
    }

    /// Ends every stream of this instance (their responses finish cleanly) and refuses
    /// new ones. Called on shutdown: an open stream would otherwise keep its worker
    /// busy until the shutdown timeout and then be cut off mid-body.
    pub fn close(&self) {
        let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        self.closed.store(true, Ordering::SeqCst);
        // Dropping the senders tells every receiver `Closed`.
        chats.clear();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Call once, right after the message's transaction committed.
    pub fn publish(&self, message: MessageView) {
        let (chat_id, seq) = (message.chat_id, message.seq);
        self.signal(chat_id, Signal::Message(Arc::new(message)));
        let _ = self.notify.lock().unwrap_or_else(|e| e.into_inner()).send((chat_id, seq));
    }

    /// After a group change committed: its system lines go live like messages, and
    /// whoever lost access has their streams ended.
    pub fn announce(&self, change: Change) {
        let chat_id = change.chat_id;
        for line in change.lines {
            self.publish(line);
        }
        if let Some((user_id, seq)) = change.revoked {
            self.revoke(chat_id, user_id, seq);
        }
    }

    /// Ends `user_id`'s streams of `chat_id` on every instance.
    fn revoke(&self, chat_id: ChatId, user_id: UserId, seq: Seq) {
        self.signal(chat_id, Signal::Left(user_id));
        let _ = self.notify.lock().unwrap_or_else(|e| e.into_inner()).send((chat_id, seq));
    }

    pub(super) fn signal(&self, chat_id: ChatId, signal: Signal) {
        let chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = chats.get(&chat_id) {
            let _ = tx.send(signal);
        }
    }

    /// Asks the sweeper to re-read every watched chat now (after a reconnect).
    pub(super) fn sweep_soon(&self) {
        let _ = self.sweep_now.lock().unwrap_or_else(|e| e.into_inner()).send(());
    }

    /// The chats somebody here watches; forgets the ones nobody watches any more.
    fn watched(&self) -> Vec<ChatId> {
        let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        chats.retain(|_, tx| tx.receiver_count() > 0);
        chats.keys().copied().collect()
    }
}

pub(super) fn spawn_sweeper(pool: DbPool, hub: Weak<Hub>, wake: Receiver<()>) {
    let spawned = std::thread::Builder::new().name("chaat-sweeper".into()).spawn(move || loop {
        match wake.recv_timeout(SWEEP_EVERY) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(hub) = hub.upgrade() else { return };
        let watched = hub.watched();
        if watched.is_empty() {
            continue;
        }
        let ends = db::run_here(&pool, |conn| chats::last_seqs(conn, &watched).map_err(crate::error::AppError::from));
        match ends {
            Ok(ends) => ends.into_iter().for_each(|(chat_id, seq)| hub.signal(chat_id, Signal::Reached(seq))),
            Err(e) => tracing::warn!(error = %e, "live sweep failed"),
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the live sweeper");
    }
}
