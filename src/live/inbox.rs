//! The inbox half of a stream (SPEC §6): the person's chat list items, badges, friend
//! requests and, for the open direct chat, the other person's read marker, sent as named
//! events without `id:` (state, not history). The stream keeps what it last sent of each
//! and, when woken, re-reads the database and sends only what differs.
//!
//! What wakes it: a signal on any of the person's chats (it listens to each, as a chat
//! stream does, so a message reaches it from any instance, and the sweep's re-reads of
//! watched chats cover a lost notification), and the person's counter in the hub
//! (`Hub::poke`: read markers, mutes, requests, settings, new chats; the sweep pokes
//! whoever's inbox digest changed). A chat's signal re-reads that chat's row and the
//! badges (two statements); a poke re-reads the whole inbox. Wakes that come while it
//! works, or within `CHATS_SETTLE` of a chat's signal, are taken together: a burst
//! costs one re-read.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web_lab::sse;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use super::{Hub, Signal};
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::models::blocks;
use crate::models::chats::{self, ChatListRow};
use crate::models::friend_requests::{self, PendingRequest};
use crate::models::inbox::{self, Answer, NotifyPrefs};
use crate::models::users::{self, NavCounts};
use crate::models::{ChatId, RequestId, Rev, Seq, UserId};

pub type RenderBadges = Box<dyn Fn(&NavCounts, &NotifyPrefs) -> String>;

/// How long a re-read that failed (the database busy or away) waits to try again.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// How long a chat's wake waits before its re-read, so that the signals of a busy
/// moment are read together: state, not history, may come a moment late, and under
/// load (`make bench`'s `dm`: a message every few ms in each chat) one re-read then
/// covers several messages instead of one each. The chat's own messages do not wait
/// (they are the chat stream's events, sent as they come).
const CHATS_SETTLE: Duration = Duration::from_millis(100);

/// How the inbox's events are rendered (by `views::inbox`, for this person).
pub struct InboxViews {
    /// A chat list item, `id="chat-{chat_id}"`.
    pub item: Box<dyn Fn(&ChatListRow) -> String>,
    /// The navigation's badges (and the settings the page's script needs).
    pub badges: RenderBadges,
    /// An incoming request, as /friends lists it.
    pub request: Box<dyn Fn(&PendingRequest) -> String>,
    /// An answer to one of my requests.
    pub answer: Box<dyn Fn(&Answer) -> String>,
    /// "Seen" up to this seq, in the open direct chat.
    pub read: Box<dyn Fn(Seq) -> String>,
}

/// What woke the inbox.
pub enum Wake {
    /// The person's counter: re-read everything.
    Person,
    /// Some of their chats changed.
    Chats,
    /// The hub closed (shutdown): the stream ends.
    Closed,
}

pub struct Inbox {
    me: UserId,
    /// The chat whose page holds this stream, if any ("Seen" is sent for it).
    open_chat: Option<ChatId>,
    pool: DbPool,
    hub: Arc<Hub>,
    views: InboxViews,
    person: watch::Receiver<u64>,
    dirty: Arc<Mutex<HashSet<ChatId>>>,
    wake: Arc<Notify>,
    /// One listener per chat of the person.
    subs: HashMap<ChatId, JoinHandle<()>>,
    /// What was last sent (or rendered by the page) of each.
    items: HashMap<ChatId, String>,
    badges: Option<String>,
    /// The notification settings of the last whole read: they change only with a poke
    /// (Settings), which re-reads everything, so a chat's re-read does not read them.
    prefs: NotifyPrefs,
    incoming: HashSet<RequestId>,
    outgoing: HashSet<RequestId>,
    seen: Option<Seq>,
    /// Whom the person blocked, re-read with the rest when tracked (a stream of a group
    /// renders their messages collapsed): `None` when not tracked.
    blocked: Option<Vec<UserId>>,
    /// The list the page rendered (`list_marker`), until the first read compares it.
    rendered: Option<String>,
}

/// Everything the inbox shows, read in one round.
struct Snapshot {
    rows: Vec<ChatListRow>,
    counts: NavCounts,
    prefs: NotifyPrefs,
    incoming: Vec<PendingRequest>,
    outgoing: Vec<RequestId>,
    answers: Vec<Answer>,
    blocked: Option<Vec<UserId>>,
}

/// A short fingerprint of a chat list as a page rendered it (every row's every field, in
/// order). The page puts it in its stream's URL (`?list=`); a stream that reads another
/// list at its (re)connect sends every item (a message that arrived between the page's
/// render and the connect, or while a stream was away, would otherwise miss the list
/// until that chat's next change). Built with std's fixed-key hasher: the same rows give
/// the same marker in every instance of one build (another build may differ: then the
/// items are only sent once more).
pub fn list_marker(rows: &[ChatListRow]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    rows.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

fn event(name: &'static str, html: String) -> sse::Event {
    sse::Data::new(html).event(name).into()
}

impl Inbox {
    /// Subscribes to the person's counter at once: a poke after this is never missed.
    pub fn new(hub: Arc<Hub>, pool: DbPool, me: UserId, open_chat: Option<ChatId>, views: InboxViews) -> Self {
        let person = hub.inbox(me);
        Inbox {
            me,
            open_chat,
            pool,
            hub,
            views,
            person,
            dirty: Arc::default(),
            wake: Arc::default(),
            subs: HashMap::new(),
            items: HashMap::new(),
            badges: None,
            prefs: NotifyPrefs::default(),
            incoming: HashSet::new(),
            outgoing: HashSet::new(),
            seen: None,
            blocked: None,
            rendered: None,
        }
    }

    /// The page rendered the list with this `list_marker` (the stream's `?list=`).
    pub fn rendered(mut self, marker: Option<String>) -> Self {
        self.rendered = marker;
        self
    }

    /// Also keeps whom the person blocked up to date (`blocked`), starting from `now`.
    pub fn tracking_blocks(mut self, now: Vec<UserId>) -> Self {
        self.blocked = Some(now);
        self
    }

    /// Whom the person blocked as of the last re-read, when tracked.
    pub fn blocked(&self) -> Option<&[UserId]> {
        self.blocked.as_deref()
    }

    /// Whether the person's counter moved since the last re-read (a poke not read yet).
    pub fn poked(&self) -> bool {
        self.person.has_changed().unwrap_or(false)
    }

    /// Waits for something to re-read.
    pub async fn woken(&mut self) -> Wake {
        tokio::select! {
            changed = self.person.changed() => if changed.is_err() { Wake::Closed } else { Wake::Person },
            _ = self.wake.notified() => {
                // The stream's `select!` may drop this future during the settle (a typing
                // signal, a message): the guard then gives the wake back, so the chats
                // marked dirty are still re-read at the next `woken`.
                let rearm = Rearm(Some(self.wake.clone()));
                tokio::time::sleep(CHATS_SETTLE).await;
                rearm.disarm();
                Wake::Chats
            }
        }
    }

    /// The events of a (re)connect: the current badges first, then "Seen" in the open
    /// direct chat. The list itself is what the page rendered; from now on changes.
    /// `None`: the database is away (the stream ends and the browser reconnects).
    pub async fn start(&mut self) -> Option<Vec<sse::Event>> {
        let snapshot = self.load_all().await.ok()?;
        Some(self.apply_all(snapshot, true))
    }

    /// The events after a wake (none when nothing the person sees changed).
    pub async fn refresh(&mut self, wake: Wake) -> Vec<sse::Event> {
        match wake {
            Wake::Person => {
                // Seen now (also when called for `poked`, before `woken` told of it).
                self.person.borrow_and_update();
                let dirty = self.take_dirty();
                match self.load_all().await {
                    Ok(snapshot) => self.apply_all(snapshot, false),
                    Err(_) => {
                        self.retry_later(dirty, true);
                        vec![]
                    }
                }
            }
            Wake::Chats => {
                let chats = self.take_dirty();
                if chats.is_empty() {
                    return vec![];
                }
                self.refresh_chats(chats).await
            }
            Wake::Closed => vec![],
        }
    }

    fn take_dirty(&self) -> Vec<ChatId> {
        self.dirty.lock().unwrap_or_else(|e| e.into_inner()).drain().collect()
    }

    async fn load_all(&self) -> Result<Snapshot, AppError> {
        let me = self.me;
        let known: Vec<RequestId> = self.outgoing.iter().copied().collect();
        let track_blocks = self.blocked.is_some();
        db::run(&self.pool, move |conn| {
            let rows = chats::list_for_user(conn, me)?;
            let counts = users::nav_counts(conn, me)?;
            let prefs = inbox::prefs(conn, me)?;
            let incoming = friend_requests::incoming(conn, me)?;
            let outgoing: Vec<RequestId> = friend_requests::outgoing(conn, me)?.into_iter().map(|r| r.request_id).collect();
            let gone: Vec<RequestId> = known.into_iter().filter(|id| !outgoing.contains(id)).collect();
            let answers = if gone.is_empty() { vec![] } else { inbox::answers_to(conn, me, &gone)? };
            let blocked = if track_blocks { Some(blocks::ids(conn, me)?) } else { None };
            Ok::<_, AppError>(Snapshot { rows, counts, prefs, incoming, outgoing, answers, blocked })
        })
        .await
    }

    /// On a (re)connect the badges alone (state, first); later what changed: items,
    /// requests, then the badges that follow from them.
    fn apply_all(&mut self, s: Snapshot, first: bool) -> Vec<sse::Event> {
        let mut events = vec![];
        if first {
            events.extend(self.badges_if_changed(&s.counts, &s.prefs));
        }
        if s.blocked.is_some() {
            self.blocked = s.blocked;
        }
        // The page's list is the starting point only if it is still the list: else every
        // item goes out (oldest first, so the list ends in order).
        let as_rendered = first && self.rendered.take().is_none_or(|marker| marker == list_marker(&s.rows));
        let present: HashSet<ChatId> = s.rows.iter().map(|r| r.chat_id).collect();
        self.items.retain(|chat_id, _| present.contains(chat_id));
        let gone: Vec<ChatId> = self.subs.keys().filter(|c| !present.contains(c)).copied().collect();
        for chat_id in gone {
            if let Some(sub) = self.subs.remove(&chat_id) {
                sub.abort();
            }
        }
        for row in &s.rows {
            self.listen(row.chat_id, row.last_rev);
        }
        events.extend(self.apply_rows(&s.rows, as_rendered));
        for r in &s.incoming {
            if self.incoming.insert(r.request_id) && !first {
                events.push(event("request", (self.views.request)(r)));
            }
        }
        self.incoming.retain(|id| s.incoming.iter().any(|r| r.request_id == *id));
        for a in &s.answers {
            events.push(event("request", (self.views.answer)(a)));
        }
        self.outgoing = s.outgoing.into_iter().collect();
        if !first {
            events.extend(self.badges_if_changed(&s.counts, &s.prefs));
        }
        self.prefs = s.prefs;
        events
    }

    fn badges_if_changed(&mut self, counts: &NavCounts, prefs: &NotifyPrefs) -> Option<sse::Event> {
        let badges = (self.views.badges)(counts, prefs);
        if self.badges.as_ref() == Some(&badges) {
            return None;
        }
        self.badges = Some(badges.clone());
        Some(event("badges", badges))
    }

    /// Items that changed, oldest activity first (each moves to the top of the list, so
    /// the newest ends there), and "Seen" when the open chat's other reader moved.
    fn apply_rows(&mut self, rows: &[ChatListRow], first: bool) -> Vec<sse::Event> {
        let mut events = vec![];
        for row in rows.iter().rev() {
            let html = (self.views.item)(row);
            let changed = self.items.get(&row.chat_id) != Some(&html);
            if changed && !first {
                events.push(event("chat", html.clone()));
            }
            self.items.insert(row.chat_id, html);
            if Some(row.chat_id) == self.open_chat && !row.is_group {
                if let Some(seen) = row.other_read_seq.filter(|s| *s > Seq::ZERO) {
                    if self.seen != Some(seen) {
                        self.seen = Some(seen);
                        events.push(event("read", (self.views.read)(seen)));
                    }
                }
            }
        }
        events
    }

    async fn refresh_chats(&mut self, chat_ids: Vec<ChatId>) -> Vec<sse::Event> {
        let me = self.me;
        let ids = chat_ids.clone();
        let loaded = db::run(&self.pool, move |conn| {
            let rows = chats::list_rows(conn, me, &ids)?;
            let counts = users::nav_counts(conn, me)?;
            Ok::<_, AppError>((rows, counts))
        })
        .await;
        let Ok((rows, counts)) = loaded else {
            self.retry_later(chat_ids, false);
            return vec![];
        };
        for chat_id in chat_ids.iter().filter(|c| !rows.iter().any(|r| r.chat_id == **c)) {
            // No longer the person's (left, removed): stop listening to it.
            self.items.remove(chat_id);
            if let Some(sub) = self.subs.remove(chat_id) {
                sub.abort();
            }
        }
        let mut events = self.apply_rows(&rows, false);
        let prefs = self.prefs;
        events.extend(self.badges_if_changed(&counts, &prefs));
        events
    }

    /// The database was busy or away: the same re-read again a little later (the wake
    /// that asked for it will not come again, and the sweep's digest may already hold
    /// the change).
    fn retry_later(&self, chats: Vec<ChatId>, everything: bool) {
        let (dirty, wake, hub, me) = (self.dirty.clone(), self.wake.clone(), self.hub.clone(), self.me);
        actix_web::rt::spawn(async move {
            tokio::time::sleep(RETRY_AFTER).await;
            if everything {
                hub.poke_here(me);
            } else {
                dirty.lock().unwrap_or_else(|e| e.into_inner()).extend(chats);
                wake.notify_one();
            }
        });
    }

    /// Listens to `chat_id`'s signals (once): a message or a change (a rev, SPEC §7: an
    /// edit or a deletion may change the item's preview and "@") or an end beyond `last`
    /// wakes the inbox for that chat. Typing and the sweep's repeats of an end already
    /// known do not.
    fn listen(&mut self, chat_id: ChatId, last: Rev) {
        if self.subs.contains_key(&chat_id) {
            return;
        }
        let mut signals = self.hub.subscribe(chat_id);
        let (dirty, wake, me) = (self.dirty.clone(), self.wake.clone(), self.me);
        let task = actix_web::rt::spawn(async move {
            let mut last = last;
            loop {
                let news = match signals.recv().await {
                    Ok(Signal::Message(m)) if m.rev > last => {
                        last = m.rev;
                        true
                    }
                    Ok(Signal::Reached(rev)) if rev > last => {
                        last = rev;
                        true
                    }
                    Ok(Signal::Left(user_id)) => user_id == me,
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => return,
                    Ok(_) => false,
                };
                if news {
                    dirty.lock().unwrap_or_else(|e| e.into_inner()).insert(chat_id);
                    wake.notify_one();
                }
            }
        });
        self.subs.insert(chat_id, task);
    }
}

/// Gives a consumed wake back when dropped before `disarm`.
struct Rearm(Option<Arc<Notify>>);

impl Rearm {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Rearm {
    fn drop(&mut self) {
        if let Some(wake) = self.0.take() {
            wake.notify_one();
        }
    }
}

impl Drop for Inbox {
    fn drop(&mut self) {
        for sub in self.subs.values() {
            sub.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_dropped_during_the_settle_is_given_back() {
        let wake = Arc::new(Notify::new());
        drop(Rearm(Some(wake.clone())));
        let given_back = tokio::time::timeout(Duration::from_millis(100), wake.notified()).await;
        assert!(given_back.is_ok(), "a dropped settle must leave the wake for the next one");
        Rearm(Some(wake.clone())).disarm();
        let spurious = tokio::time::timeout(Duration::from_millis(50), wake.notified()).await;
        assert!(spurious.is_err(), "a settle that ran to its end keeps nothing back");
    }
}
