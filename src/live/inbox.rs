//! The inbox half of a stream (SPEC §6): the person's chat list items, badges, friend
//! requests and, for the open direct chat, the other person's read marker, sent as named
//! events without `id:` (state, not history). The stream keeps a fingerprint of what it
//! last sent of each and, when its person's shared inbox (`person`) has a new reading,
//! sends only what differs.
//!
//! The reading is shared by every stream of the person on this instance: one read per
//! message for a person with several tabs, and one whole read for a burst of starts
//! (issue 19). What makes a new reading: a signal on any of the person's chats (the hub
//! marks them dirty: a message reaches it from any instance, and the sweep's re-reads of
//! watched chats cover a lost notification), and the person's pokes (`Hub::poke`: read
//! markers, mutes, requests, settings, new chats; the sweep pokes whoever's inbox digest
//! changed). A chat's signal re-reads that chat's row and the badges (two statements); a
//! poke or a stream's start re-reads the whole inbox.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use actix_web_lab::sse;
use tokio::sync::watch;

use super::person::{PersonFeed, Reading};
use super::Hub;
use crate::models::chats::ChatListRow;
use crate::models::friend_requests::PendingRequest;
use crate::models::inbox::{Answer, NotifyPrefs};
use crate::models::users::NavCounts;
use crate::models::{ChatId, RequestId, Seq, UserId};

pub type RenderBadges = Box<dyn Fn(&NavCounts, &NotifyPrefs) -> String>;

/// How long a stream with a message in hand waits for the reading that answers a poke
/// (a block must apply to the next message); past it (the database away) the message
/// goes on with what the stream knows, and the next catch-up re-reads the blocks.
const POKE_WAIT: Duration = Duration::from_secs(2);

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

pub struct Inbox {
    /// The chat whose page holds this stream, if any ("Seen" is sent for it).
    open_chat: Option<ChatId>,
    feed: Arc<PersonFeed>,
    readings: watch::Receiver<Arc<Reading>>,
    views: InboxViews,
    /// A fingerprint of each row as last sent (or rendered by the page): an item is
    /// rendered only when its row changed, and an idle tab keeps 8 bytes per chat.
    items: HashMap<ChatId, u64>,
    /// A fingerprint of the badges last sent.
    badges: Option<u64>,
    incoming: HashSet<RequestId>,
    outgoing: HashSet<RequestId>,
    seen: Option<Seq>,
    /// The pokes the last applied reading saw.
    pokes: u64,
    /// Whether whom the person blocked is followed (a stream of a group renders their
    /// messages collapsed).
    track_blocks: bool,
    /// The list the page rendered (`list_marker`), until the first reading compares it.
    rendered: Option<String>,
}

/// A short fingerprint of a chat list as a page rendered it (every row's every field, in
/// order). The page puts it in its stream's URL (`?list=`); a stream that reads another
/// list at its (re)connect sends every item (a message that arrived between the page's
/// render and the connect, or while a stream was away, would otherwise miss the list
/// until that chat's next change). Built with std's fixed-key hasher: the same rows give
/// the same marker in every instance of one build (another build may differ: then the
/// items are only sent once more). `R` is a row or an `Arc` of one (the same hash).
pub fn list_marker<R: std::hash::Hash>(rows: &[R]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    rows.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

/// Tells two versions of a row (or two renderings of the badges) apart (SipHash: an
/// accidental equality, which would hold back one update, is a 1 in 2^64 event).
fn fingerprint(value: &impl std::hash::Hash) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(value)
}

fn event(name: &'static str, html: String) -> sse::Event {
    sse::Data::new(html).event(name).into()
}

impl Inbox {
    /// Joins the person's shared inbox at once: a change after this is never missed.
    pub fn new(hub: &Arc<Hub>, me: UserId, open_chat: Option<ChatId>, views: InboxViews) -> Self {
        let (feed, readings) = hub.inbox(me);
        Inbox {
            open_chat,
            feed,
            readings,
            views,
            items: HashMap::new(),
            badges: None,
            incoming: HashSet::new(),
            outgoing: HashSet::new(),
            seen: None,
            pokes: 0,
            track_blocks: false,
            rendered: None,
        }
    }

    /// The page rendered the list with this `list_marker` (the stream's `?list=`).
    pub fn rendered(mut self, marker: Option<String>) -> Self {
        self.rendered = marker;
        self
    }

    /// Also follows whom the person blocked (`blocked`).
    pub fn tracking_blocks(mut self) -> Self {
        self.track_blocks = true;
        self
    }

    /// Whom the person blocked as of the latest reading, when tracked.
    pub fn blocked(&self) -> Option<Vec<UserId>> {
        self.track_blocks.then(|| self.readings.borrow().blocked.clone())
    }

    /// Whether the person was poked since the reading this stream applied last.
    pub fn poked(&self) -> bool {
        self.feed.pokes() > self.pokes
    }

    /// Waits for a newer reading; false once there will be none (the hub is gone).
    pub async fn changed(&mut self) -> bool {
        self.readings.changed().await.is_ok()
    }

    /// The events of a (re)connect, from a whole read asked now: the current badges
    /// first, then "Seen" in the open direct chat. The list itself is what the page
    /// rendered; from now on changes. Waits as long as the read takes (the caller also
    /// waits for the stream's end); `None` once there will be no reading.
    pub async fn start(&mut self) -> Option<Vec<sse::Event>> {
        let asked = self.feed.ask_everything(false);
        let reading = self.readings.wait_for(|r| r.asked >= asked).await.ok()?.clone();
        Some(self.apply(&reading, true))
    }

    /// The events of the latest reading (none when nothing the person sees changed).
    pub fn refresh(&mut self) -> Vec<sse::Event> {
        let reading = self.readings.borrow_and_update().clone();
        self.apply(&reading, false)
    }

    /// The events of a reading that saw every poke so far (a block made just before a
    /// message must apply to it), waiting for it at most `POKE_WAIT`.
    pub async fn refresh_after_pokes(&mut self) -> Vec<sse::Event> {
        let pokes = self.feed.pokes();
        let _ = tokio::time::timeout(POKE_WAIT, self.readings.wait_for(|r| r.pokes >= pokes)).await;
        self.refresh()
    }

    /// On a (re)connect the badges alone (state, first); later what changed: items,
    /// requests, then the badges that follow from them.
    fn apply(&mut self, r: &Reading, first: bool) -> Vec<sse::Event> {
        self.pokes = self.pokes.max(r.pokes);
        let mut events = vec![];
        if first {
            events.extend(self.badges_if_changed(&r.counts, &r.prefs));
        }
        // The page's list is the starting point only if it is still the list: else every
        // item goes out (oldest first, so the list ends in order).
        let as_rendered = first && self.rendered.take().is_none_or(|marker| marker == list_marker(&r.rows));
        let present: HashSet<ChatId> = r.rows.iter().map(|row| row.chat_id).collect();
        self.items.retain(|chat_id, _| present.contains(chat_id));
        events.extend(self.apply_rows(&r.rows, as_rendered));
        for req in &r.incoming {
            if self.incoming.insert(req.request_id) && !first {
                events.push(event("request", (self.views.request)(req)));
            }
        }
        self.incoming.retain(|id| r.incoming.iter().any(|req| req.request_id == *id));
        for a in &r.answers {
            if self.outgoing.contains(&a.request_id) && !r.outgoing.contains(&a.request_id) {
                events.push(event("request", (self.views.answer)(a)));
            }
        }
        self.outgoing = r.outgoing.iter().copied().collect();
        if !first {
            events.extend(self.badges_if_changed(&r.counts, &r.prefs));
        }
        events
    }

    fn badges_if_changed(&mut self, counts: &NavCounts, prefs: &NotifyPrefs) -> Option<sse::Event> {
        let badges = (self.views.badges)(counts, prefs);
        let print = fingerprint(&badges);
        if self.badges == Some(print) {
            return None;
        }
        self.badges = Some(print);
        Some(event("badges", badges))
    }

    /// Items whose row changed, oldest activity first (each moves to the top of the
    /// list, so the newest ends there), and "Seen" when the open chat's other reader
    /// moved. `quiet`: only note the rows (the page shows them already).
    fn apply_rows(&mut self, rows: &[Arc<ChatListRow>], quiet: bool) -> Vec<sse::Event> {
        let mut events = vec![];
        for row in rows.iter().rev() {
            let print = fingerprint(&**row);
            let changed = self.items.insert(row.chat_id, print) != Some(print);
            if changed && !quiet {
                events.push(event("chat", (self.views.item)(row)));
            }
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
}
