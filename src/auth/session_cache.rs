//! The sessions this instance loaded, kept in memory so that a request needs no session
//! query, yet never served once the session ended, on any instance (issue 19).
//!
//! **Invalidation.** Every change that ends a session or alters what it holds notifies
//! `chaat_session` with the row's key hash, from a trigger inside the changing
//! transaction (migration 000028), so the notification exists exactly when the change
//! committed. Each instance's LISTEN connection (`live::listener`) hears it and
//! forgets the entry.
//!
//! **The sync barrier.** Hearing is asynchronous: another instance may not have read
//! the notification of a logout yet when the next request with that cookie arrives. So
//! a request that finds its session here waits for a barrier before using it: the
//! listener runs `pg_notify` on a channel of its own instance, as a statement of its
//! own (autocommit), and releases the requests that were waiting before it sent it once
//! that notification comes back. PostgreSQL delivers notifications of different
//! transactions in the order the transactions committed ("It is also guaranteed that
//! messages from different transactions are delivered in the order in which the
//! transactions committed", https://www.postgresql.org/docs/current/sql-notify.html),
//! and a session's end committed before the request that ended it answered, so before
//! any request that came after that answer began waiting here: its notification comes
//! before the barrier's, and the listener has applied it when the barrier returns. The
//! entry is looked up again after the barrier. One barrier serves every request that
//! waits meanwhile (one round trip per batch, not per request).
//!
//! **Filling.** A miss loads the row; the result is kept only if no invalidation was
//! applied since the load began (`epoch`): a change that committed after the load's
//! snapshot is either applied before the insert (and the insert is dropped) or after it
//! (and removes it). Without a listening connection (not yet connected, reconnecting)
//! nothing is cached and every request reads the row: notifications sent meanwhile are
//! lost, so the cache is emptied whenever the listener (re)connects.

use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use tokio::sync::oneshot;

/// A session's state as actix-session holds it (each value JSON-encoded).
pub type State = HashMap<String, String>;

/// A request waiting for the next barrier.
pub type Waiter = oneshot::Sender<()>;

/// The notification channel of session changes (migration 000028's trigger).
pub const CHANNEL: &str = "chaat_session";

/// Sessions kept at most; beyond it the expired ones go, then all (a rare reload).
const MAX_ENTRIES: usize = 100_000;

/// How long a request waits for its barrier before reading the row instead (the
/// listener is stuck or reconnecting: the database answers, or the request gets the
/// database's own error as without a cache).
const BARRIER_WAIT: Duration = Duration::from_millis(500);

#[derive(Clone)]
struct Entry {
    state: Arc<State>,
    expires_at: DateTime<Utc>,
    /// `last_seen_at` as stored: once it is older than the store's touch interval, the
    /// request goes to the database, which writes it.
    seen_at: DateTime<Utc>,
}

struct Inner {
    /// The listener holds a LISTEN connection: entries may be kept and used.
    listening: bool,
    /// Bumped by every invalidation and every change of `listening`.
    epoch: u64,
    entries: HashMap<[u8; 32], Entry>,
}

pub struct SessionCache {
    inner: Mutex<Inner>,
    barriers: Sender<Waiter>,
}

/// The listener's end of the barrier requests.
pub struct Barriers(Receiver<Waiter>);

/// Taken before a load from the database; the load's result is kept only if nothing
/// was invalidated since (`SessionCache::fill`).
#[derive(Debug, Clone, Copy)]
pub struct FillTicket(u64);

impl SessionCache {
    pub fn new() -> (Arc<Self>, Barriers) {
        let (tx, rx) = channel();
        let cache = SessionCache { inner: Mutex::new(Inner { listening: false, epoch: 0, entries: HashMap::new() }), barriers: tx };
        (Arc::new(cache), Barriers(rx))
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached state of the session `key_hash`, current as of this call (after a
    /// barrier); `None` when it must be read from the database: not cached, expired,
    /// due for its `last_seen_at` write (`touch_every`), or no barrier in time.
    pub async fn get(&self, key_hash: &[u8; 32], touch_every: TimeDelta) -> Option<State> {
        self.usable(key_hash, touch_every)?;
        if !self.barrier().await {
            return None;
        }
        self.usable(key_hash, touch_every).map(|state| (*state).clone())
    }

    fn usable(&self, key_hash: &[u8; 32], touch_every: TimeDelta) -> Option<Arc<State>> {
        let inner = self.lock();
        if !inner.listening {
            return None;
        }
        let entry = inner.entries.get(key_hash)?;
        let now = Utc::now();
        (entry.expires_at > now && now - entry.seen_at <= touch_every).then(|| entry.state.clone())
    }

    /// Waits until every session change committed before this call has been applied
    /// here. False if that cannot be known in time (no listener, or it is stuck).
    async fn barrier(&self) -> bool {
        let (tx, rx) = oneshot::channel();
        if self.barriers.send(tx).is_err() {
            return false;
        }
        matches!(tokio::time::timeout(BARRIER_WAIT, rx).await, Ok(Ok(())))
    }

    /// Call before reading a session from the database.
    pub fn ticket(&self) -> FillTicket {
        FillTicket(self.lock().epoch)
    }

    /// Keeps a session read from the database after `ticket`, unless something was
    /// invalidated since (it might be this session, read before the change).
    pub fn fill(&self, ticket: FillTicket, key_hash: [u8; 32], state: &State, expires_at: DateTime<Utc>, seen_at: DateTime<Utc>) {
        let mut inner = self.lock();
        if !inner.listening || inner.epoch != ticket.0 {
            return;
        }
        if inner.entries.len() >= MAX_ENTRIES && !inner.entries.contains_key(&key_hash) {
            let now = Utc::now();
            inner.entries.retain(|_, e| e.expires_at > now);
            if inner.entries.len() >= MAX_ENTRIES {
                inner.entries.clear();
            }
        }
        inner.entries.insert(key_hash, Entry { state: Arc::new(state.clone()), expires_at, seen_at });
    }

    /// The session changed or ended (here, or as a notification says).
    pub fn forget(&self, key_hash: &[u8; 32]) {
        let mut inner = self.lock();
        inner.epoch += 1;
        inner.entries.remove(key_hash);
    }

    /// A `chaat_session` notification: the key hash in hex. Anything else empties the
    /// whole cache (a payload this instance does not understand must not be ignored).
    pub fn changed(&self, payload: &str) {
        let mut hash = [0u8; 32];
        match hex::decode_to_slice(payload, &mut hash) {
            Ok(()) => self.forget(&hash),
            Err(_) => {
                tracing::warn!(payload, "unreadable session notification: the session cache is emptied");
                let mut inner = self.lock();
                inner.epoch += 1;
                inner.entries.clear();
            }
        }
    }

    /// The listener has (`true`) or lost (`false`) its LISTEN connection. Either way
    /// what was cached may have missed notifications: it is dropped.
    pub fn set_listening(&self, listening: bool) {
        let mut inner = self.lock();
        inner.listening = listening;
        inner.epoch += 1;
        inner.entries.clear();
    }

    /// How many sessions are cached (tests, logs).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Barriers {
    /// The requests waiting for a barrier: blocks up to `wait` for the first, then
    /// takes every other one already queued. Empty after `wait` with none, or once
    /// the cache is gone.
    pub fn next_batch(&self, wait: Duration) -> Vec<Waiter> {
        let first = match self.0.recv_timeout(wait) {
            Ok(first) => first,
            Err(RecvTimeoutError::Timeout) => return vec![],
            Err(RecvTimeoutError::Disconnected) => {
                std::thread::sleep(wait);
                return vec![];
            }
        };
        let mut batch = vec![first];
        batch.extend(self.0.try_iter());
        batch
    }

    /// Drops every queued request (the listener lost its connection): they read the
    /// row instead of waiting for a barrier that is not coming.
    pub fn refuse_waiting(&self) {
        self.0.try_iter().for_each(drop);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: TimeDelta = TimeDelta::hours(1);

    fn state(user: &str) -> State {
        State::from([("user_id".to_string(), format!("\"{user}\""))])
    }

    /// A listener stand-in: answers every barrier at once, while the cache lives.
    fn answering(cache: &Arc<SessionCache>, barriers: Barriers) {
        let cache = Arc::downgrade(cache);
        std::thread::spawn(move || {
            while cache.strong_count() > 0 {
                for waiter in barriers.next_batch(Duration::from_millis(5)) {
                    let _ = waiter.send(());
                }
            }
        });
    }

    fn later() -> DateTime<Utc> {
        Utc::now() + HOUR
    }

    #[tokio::test]
    async fn a_filled_session_is_served_after_a_barrier_and_forgotten_on_change() {
        let (cache, barriers) = SessionCache::new();
        answering(&cache, barriers);
        cache.set_listening(true);
        let key = [7u8; 32];
        cache.fill(cache.ticket(), key, &state("a"), later(), Utc::now());
        assert_eq!(cache.get(&key, HOUR).await, Some(state("a")));
        cache.changed(&hex::encode(key));
        assert_eq!(cache.get(&key, HOUR).await, None);
    }

    #[tokio::test]
    async fn a_load_that_raced_an_invalidation_is_not_kept() {
        let (cache, barriers) = SessionCache::new();
        answering(&cache, barriers);
        cache.set_listening(true);
        let key = [1u8; 32];
        let ticket = cache.ticket();
        // The row was read, then (before it was kept) some session changed.
        cache.changed(&hex::encode([2u8; 32]));
        cache.fill(ticket, key, &state("a"), later(), Utc::now());
        assert!(cache.is_empty());
    }

    #[tokio::test]
    async fn nothing_is_kept_or_served_without_a_listener() {
        let (cache, barriers) = SessionCache::new();
        answering(&cache, barriers);
        let key = [3u8; 32];
        cache.fill(cache.ticket(), key, &state("a"), later(), Utc::now());
        assert!(cache.is_empty(), "not listening yet");
        cache.set_listening(true);
        cache.fill(cache.ticket(), key, &state("a"), later(), Utc::now());
        cache.set_listening(false);
        assert_eq!(cache.get(&key, HOUR).await, None);
        assert!(cache.is_empty(), "a lost connection empties it");
    }

    #[tokio::test]
    async fn expired_or_due_for_a_touch_goes_to_the_database() {
        let (cache, barriers) = SessionCache::new();
        answering(&cache, barriers);
        cache.set_listening(true);
        let (expired, stale) = ([4u8; 32], [5u8; 32]);
        cache.fill(cache.ticket(), expired, &state("a"), Utc::now() - TimeDelta::seconds(1), Utc::now());
        cache.fill(cache.ticket(), stale, &state("b"), later(), Utc::now() - TimeDelta::minutes(2));
        assert_eq!(cache.get(&expired, HOUR).await, None);
        assert_eq!(cache.get(&stale, TimeDelta::minutes(1)).await, None);
    }

    #[tokio::test]
    async fn without_an_answered_barrier_the_cache_is_not_used() {
        let (cache, barriers) = SessionCache::new();
        cache.set_listening(true);
        let key = [6u8; 32];
        cache.fill(cache.ticket(), key, &state("a"), later(), Utc::now());
        // Nobody answers: the request gives up after BARRIER_WAIT.
        assert_eq!(cache.get(&key, HOUR).await, None);
        barriers.refuse_waiting();
        drop(barriers);
        assert_eq!(cache.get(&key, HOUR).await, None, "no listener at all");
    }

    #[test]
    fn an_unreadable_notification_empties_the_cache() {
        let (cache, _barriers) = SessionCache::new();
        cache.set_listening(true);
        cache.fill(cache.ticket(), [8u8; 32], &state("a"), later(), Utc::now());
        cache.changed("not hex");
        assert!(cache.is_empty());
    }
}
