//! The in-process fan-out: one broadcast channel per watched chat (the chat streams'),
//! one shared inbox per person with a stream here (`person`: the hub marks their chats
//! dirty as it signals them, no task or receiver per chat and stream), and the registry
//! of open streams by person (`registry`), through which session ends reach them.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};

use super::person::{self, Load, PersonFeed, Reading};
use uuid::Uuid;

use super::notifier::Update;
use super::registry::{Refusal, Registry, SessionEnd, StreamLimits, Ticket};
use super::SWEEP_EVERY;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::models::chats::ChatListRow;
use crate::models::groups::Change;
use crate::models::messages::MessageView;
use crate::models::{chats, inbox, sessions};
use crate::models::{ChatId, Rev, UserId};

/// What a chat's streams are told.
#[derive(Debug, Clone)]
pub enum Signal {
    /// A new message or a change to one, committed on this instance, ready to render
    /// (the stream tells the two apart by its seq).
    Message(Arc<MessageView>),
    /// The chat has changes up to this rev (from another instance, or the sweep):
    /// load whatever has not been sent yet.
    Reached(Rev),
    /// This person no longer takes part in the chat: end their streams.
    Left(UserId),
    /// This person is typing in the chat (never stored: SPEC §6).
    Typing { user_id: UserId, name: Arc<str> },
}

/// At most one "typing" per person and chat is forwarded this often (SPEC §6).
pub const TYPING_EVERY: Duration = Duration::from_secs(3);

/// Buffered signals per chat; a stream that falls further behind reloads from the DB.
const CHANNEL_CAPACITY: usize = 256;

pub struct Hub {
    instance: Uuid,
    chats: Mutex<HashMap<ChatId, broadcast::Sender<Signal>>>,
    /// Per person with an open stream here, their shared inbox (`person`), and who
    /// follows which chat for it.
    inboxes: Mutex<Inboxes>,
    /// How the inboxes are read (the database; a counter in tests).
    load: Arc<dyn Load>,
    /// The sweep's last inbox digest per person (`models::inbox::digests`).
    digests: Mutex<HashMap<UserId, String>>,
    /// When each person's typing in a chat was last forwarded.
    typing: Mutex<HashMap<(UserId, ChatId), Instant>>,
    streams: Arc<Registry>,
    notify: Mutex<Sender<Update>>,
    sweep_now: Mutex<Sender<()>>,
    /// Set on shutdown: streams end and no new one starts.
    closed: AtomicBool,
}

impl Hub {
    pub(super) fn new(limits: StreamLimits, notify: Sender<Update>, sweep_now: Sender<()>, load: Arc<dyn Load>) -> Self {
        Hub {
            instance: Uuid::new_v4(),
            chats: Mutex::new(HashMap::new()),
            inboxes: Mutex::new(Inboxes::default()),
            load,
            digests: Mutex::new(HashMap::new()),
            typing: Mutex::new(HashMap::new()),
            streams: Arc::new(Registry::new(limits)),
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
        drop(chats);
        // Every stream ends (inbox-only ones too), and none is admitted any more.
        self.streams.end_all();
        *self.inboxes() = Inboxes::default();
    }

    fn inboxes(&self) -> std::sync::MutexGuard<'_, Inboxes> {
        self.inboxes.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The person's shared inbox and its readings, starting its reader if they had no
    /// stream here yet.
    pub fn inbox(self: &Arc<Self>, user_id: UserId) -> (Arc<PersonFeed>, watch::Receiver<Arc<Reading>>) {
        let mut inboxes = self.inboxes();
        let feed = match inboxes.people.get(&user_id) {
            Some(feed) => feed.clone(),
            None => {
                let feed = PersonFeed::new(user_id);
                inboxes.people.insert(user_id, feed.clone());
                actix_web::rt::spawn(person::read_for(feed.clone(), Arc::downgrade(self), self.load.clone()));
                feed
            }
        };
        // Subscribed under the lock: the reader retires only under it, seeing no reader.
        let readings = feed.subscribe();
        (feed, readings)
    }

    /// The reader of `feed` found no stream left: forgets the person (and their chats)
    /// unless a stream came meanwhile. True: the reader ends.
    pub(super) fn retire(&self, feed: &Arc<PersonFeed>) -> bool {
        let mut inboxes = self.inboxes();
        if feed.has_readers() {
            return false;
        }
        if inboxes.people.get(&feed.me).is_some_and(|f| Arc::ptr_eq(f, feed)) {
            inboxes.people.remove(&feed.me);
            inboxes.unfollow_all(feed.me);
        }
        true
    }

    /// A reading of `feed` found these rows: the person follows exactly these chats.
    pub(super) fn follow(&self, feed: &Arc<PersonFeed>, rows: &[Arc<ChatListRow>]) {
        let mut inboxes = self.inboxes();
        if !inboxes.people.get(&feed.me).is_some_and(|f| Arc::ptr_eq(f, feed)) {
            return;
        }
        let now: HashSet<ChatId> = rows.iter().map(|r| r.chat_id).collect();
        let before = inboxes.chats_of.remove(&feed.me).unwrap_or_default();
        for gone in before.difference(&now) {
            inboxes.unfollow(*gone, feed.me);
        }
        for chat_id in &now {
            inboxes.by_chat.entry(*chat_id).or_default().insert(feed.me);
        }
        feed.know(rows);
        inboxes.chats_of.insert(feed.me, now);
    }

    /// `user_id`'s inbox changed (a read marker, a mute, a request, a chat they joined):
    /// call after the change committed. Their streams here re-read it at once, the other
    /// instances' when they hear of it.
    pub fn poke(&self, user_id: UserId) {
        self.poke_here(user_id);
        self.tell_others(Update::Poked(user_id));
    }

    pub(super) fn poke_here(&self, user_id: UserId) {
        let feed = self.inboxes().people.get(&user_id).cloned();
        if let Some(feed) = feed {
            feed.ask_everything(true);
        }
    }

    /// `user_id` (called `name`) is typing in `chat_id`: the chat's other streams are
    /// told, here and on the other instances, at most once per `TYPING_EVERY`. Returns
    /// whether this one was forwarded.
    pub fn typing(&self, chat_id: ChatId, user_id: UserId, name: &str) -> bool {
        let now = Instant::now();
        {
            let mut typing = self.typing.lock().unwrap_or_else(|e| e.into_inner());
            if typing.get(&(user_id, chat_id)).is_some_and(|at| now.duration_since(*at) < TYPING_EVERY) {
                return false;
            }
            // Forget the old ones now and then, so the map holds only recent typists.
            if typing.len() > 10_000 {
                typing.retain(|_, at| now.duration_since(*at) < TYPING_EVERY);
            }
            typing.insert((user_id, chat_id), now);
        }
        self.signal(chat_id, Signal::Typing { user_id, name: Arc::from(name) });
        self.tell_others(Update::Typing(chat_id, user_id, name.to_string()));
        true
    }

    /// The people with an open stream here; forgets the ones without any more.
    pub(super) fn watched_people(&self) -> Vec<UserId> {
        let ids: Vec<UserId> = self.inboxes().people.keys().copied().collect();
        let mut digests = self.digests.lock().unwrap_or_else(|e| e.into_inner());
        digests.retain(|user_id, _| ids.contains(user_id));
        ids
    }

    /// Wakes the people whose inbox digest changed since the last sweep. A first digest
    /// wakes them too: a change between their stream's first read and this digest would
    /// otherwise be in the digest already and never seen as a change.
    fn compare_digests(&self, found: Vec<(UserId, String)>) {
        let mut changed = vec![];
        {
            let mut digests = self.digests.lock().unwrap_or_else(|e| e.into_inner());
            for (user_id, digest) in found {
                if digests.insert(user_id, digest.clone()).is_none_or(|old| old != digest) {
                    changed.push(user_id);
                }
            }
        }
        changed.into_iter().for_each(|user_id| self.poke_here(user_id));
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// A place for a new stream of `user_id`'s session `sid`, opened from `addr`, within
    /// the caps per person, per address and for the instance.
    pub fn admit(&self, user_id: UserId, sid: &str, addr: Option<IpAddr>) -> Result<Ticket, Refusal> {
        self.streams.admit(user_id, sid, addr)
    }

    /// Call once, right after the transaction of the message (or of its change)
    /// committed.
    pub fn publish(&self, message: MessageView) {
        let (chat_id, rev) = (message.chat_id, message.rev);
        self.signal(chat_id, Signal::Message(Arc::new(message)));
        self.tell_others(Update::Reached(chat_id, rev));
    }

    /// Call once a message's transaction committed when the message is not at hand to
    /// render (one with files): streams load it from the database.
    pub fn publish_reached(&self, chat_id: ChatId, rev: Rev) {
        self.signal(chat_id, Signal::Reached(rev));
        self.tell_others(Update::Reached(chat_id, rev));
    }

    /// The session `sid` of `user_id` ended (logout): its streams end, here at once and
    /// on the other instances as soon as they hear of it.
    pub fn end_session(&self, user_id: UserId, sid: &str) {
        self.end_sessions(SessionEnd::One { user_id, sid: sid.to_string() });
    }

    /// Every session of `user_id` but `keep_sid` ended (a password change, "log out
    /// other sessions"): call it after the sessions' rows were deleted.
    pub fn end_other_sessions(&self, user_id: UserId, keep_sid: &str) {
        self.end_sessions(SessionEnd::AllBut { user_id, keep_sid: keep_sid.to_string() });
    }

    fn end_sessions(&self, end: SessionEnd) {
        self.end_here(&end);
        self.tell_others(Update::Ended(end));
    }

    /// Ends this instance's streams that `end` covers (the other instances are not told).
    pub(super) fn end_here(&self, end: &SessionEnd) {
        let n = self.streams.end(end);
        if n > 0 {
            tracing::debug!(?end, streams = n, "session ended: its event streams end");
        }
    }

    fn tell_others(&self, update: Update) {
        let _ = self.notify.lock().unwrap_or_else(|e| e.into_inner()).send(update);
    }

    /// After a group change committed: its system lines go live like messages, and
    /// whoever lost access has their streams ended.
    pub fn announce(&self, change: Change) {
        let chat_id = change.chat_id;
        for line in change.lines {
            self.publish(line);
        }
        if let Some((user_id, rev)) = change.revoked {
            self.revoke(chat_id, user_id, rev);
        }
    }

    /// Ends `user_id`'s streams of `chat_id` on every instance.
    fn revoke(&self, chat_id: ChatId, user_id: UserId, rev: Rev) {
        self.signal(chat_id, Signal::Left(user_id));
        self.tell_others(Update::Reached(chat_id, rev));
    }

    pub(super) fn signal(&self, chat_id: ChatId, signal: Signal) {
        // The inboxes first: a stream that takes the message and then waits for its
        // inbox finds its person's chat already dirty.
        let change = match &signal {
            Signal::Message(m) => Some((Some(m.rev), None)),
            Signal::Reached(rev) => Some((Some(*rev), None)),
            Signal::Left(user_id) => Some((None, Some(*user_id))),
            Signal::Typing { .. } => None,
        };
        if let Some((rev, left)) = change {
            let inboxes = self.inboxes();
            for user_id in inboxes.by_chat.get(&chat_id).into_iter().flatten() {
                let Some(feed) = inboxes.people.get(user_id) else { continue };
                match (rev, left) {
                    (Some(rev), _) => feed.chat_changed(chat_id, Some(rev)),
                    // Only the person who left re-reads (the others hear of the system line).
                    (None, Some(left)) if left == *user_id => feed.chat_changed(chat_id, None),
                    _ => {}
                }
            }
        }
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
    pub(super) fn watched(&self) -> Vec<ChatId> {
        let mut chats = self.chats.lock().unwrap_or_else(|e| e.into_inner());
        chats.retain(|_, tx| tx.receiver_count() > 0);
        let mut watched: HashSet<ChatId> = chats.keys().copied().collect();
        drop(chats);
        watched.extend(self.inboxes().by_chat.keys().copied());
        watched.into_iter().collect()
    }
}

/// The people with a stream here, and the chats their inboxes follow.
#[derive(Default)]
struct Inboxes {
    people: HashMap<UserId, Arc<PersonFeed>>,
    by_chat: HashMap<ChatId, HashSet<UserId>>,
    chats_of: HashMap<UserId, HashSet<ChatId>>,
}

impl Inboxes {
    fn unfollow(&mut self, chat_id: ChatId, user_id: UserId) {
        if let Some(people) = self.by_chat.get_mut(&chat_id) {
            people.remove(&user_id);
            if people.is_empty() {
                self.by_chat.remove(&chat_id);
            }
        }
    }

    fn unfollow_all(&mut self, user_id: UserId) {
        for chat_id in self.chats_of.remove(&user_id).unwrap_or_default() {
            self.unfollow(chat_id, user_id);
        }
    }
}

/// Every `SWEEP_EVERY` (and at once when asked): re-reads the end of every watched chat,
/// so a lost notification delays a message but never loses it, and the inbox digest of
/// every person with a stream here (a lost inbox notification: their streams re-read), and re-checks in one
/// query that the sessions holding streams here still exist, so a lost session end (or
/// an expiry) leaves no stream open. The chats are read first and the sessions checked
/// after: a message the read found, sent after a logout, is then never delivered, because
/// the check (later) sees that logout and ends the stream before the chats are signalled.
pub(super) fn spawn_sweeper(pool: DbPool, hub: Weak<Hub>, wake: Receiver<()>) {
    let spawned = std::thread::Builder::new().name("chaat-sweeper".into()).spawn(move || loop {
        match wake.recv_timeout(SWEEP_EVERY) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(hub) = hub.upgrade() else { return };
        let watched = hub.watched();
        let held = hub.streams.sessions();
        let people = hub.watched_people();
        if watched.is_empty() && held.is_empty() && people.is_empty() {
            continue;
        }
        let found = db::run_here(&pool, |conn| {
            let ends = if watched.is_empty() { vec![] } else { chats::last_revs(conn, &watched)? };
            let digests = if people.is_empty() { vec![] } else { inbox::digests(conn, &people)? };
            let gone = if held.is_empty() { vec![] } else { sessions::gone(conn, &held)? };
            Ok::<_, AppError>((ends, digests, gone))
        });
        match found {
            Ok((ends, digests, gone)) => {
                for (user_id, sid) in gone {
                    hub.end_here(&SessionEnd::One { user_id, sid });
                }
                ends.into_iter().for_each(|(chat_id, rev)| hub.signal(chat_id, Signal::Reached(rev)));
                hub.compare_digests(digests);
            }
            Err(e) => tracing::warn!(error = %e, "live sweep failed"),
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the live sweeper");
    }
}
