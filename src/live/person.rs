//! One person's inbox on this instance, read once for all of their streams (issue 19).
//!
//! A person with three tabs open used to cost three re-reads of their chat row and badges
//! per message, and a burst of reconnecting tabs one whole inbox read per tab. Now each
//! person with a stream here has one `PersonFeed` in the hub and one reader task: the
//! hub marks the person's chats dirty when they change (a message, a change, a sweep's
//! newer end, the person leaving), pokes and stream starts ask for a whole read, and the
//! reader does one read for everything asked so far and publishes the result as a
//! `Reading` on a `watch` channel. Each stream compares the latest reading with what it
//! sent itself and sends the difference (`inbox`), so a stream that missed a reading
//! loses nothing: a reading is the whole inbox as of its read, never a delta.
//!
//! Reading orders: a whole read asked (a stream's start, a poke) is answered only by a
//! read that began after the ask (`Reading::asked`, `Reading::pokes`), so a stream's first
//! badges and a block's poke are never answered by an older read.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::Hub;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::models::blocks;
use crate::models::chats::{self, ChatListRow};
use crate::models::friend_requests::{self, PendingRequest};
use crate::models::inbox::{self, Answer, NotifyPrefs};
use crate::models::users::{self, NavCounts};
use crate::models::{ChatId, RequestId, Rev, UserId};

/// How long a re-read that failed (the database busy or away) waits to try again.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// How long a chat's wake waits before its re-read, so that the signals of a busy
/// moment are read together: state, not history, may come a moment late, and under
/// load (`make bench`'s `dm`: a message every few ms in each chat) one re-read then
/// covers several messages instead of one each. The chat's own messages do not wait
/// (they are the chat stream's events, sent as they come). A whole read asked
/// meanwhile (a stream start, a poke) does not wait.
const CHATS_SETTLE: Duration = Duration::from_millis(100);

/// Answers to my requests kept in the readings, newest last: a stream that skipped the
/// reading in which a request was answered still finds the answer in a later one.
const ANSWERS_KEPT: usize = 32;

/// What a read is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// Everything; `known_outgoing`: my requests as of the last reading (the ones gone
    /// since are looked up as answers).
    Everything { known_outgoing: Vec<RequestId> },
    /// The rows of these chats and the badges.
    Chats(Vec<ChatId>),
}

/// What a whole read found.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub rows: Vec<ChatListRow>,
    pub counts: NavCounts,
    pub prefs: NotifyPrefs,
    pub incoming: Vec<PendingRequest>,
    pub outgoing: Vec<RequestId>,
    pub answers: Vec<Answer>,
    pub blocked: Vec<UserId>,
}

pub enum Loaded {
    Everything(Snapshot),
    /// The rows of the chats asked that are still mine, and the badges.
    Chats {
        rows: Vec<ChatListRow>,
        counts: NavCounts,
    },
}

pub type Loading = Pin<Box<dyn Future<Output = Result<Loaded, AppError>>>>;

/// Reads a person's inbox (the database in production; a counter in tests).
pub trait Load: Send + Sync + 'static {
    fn load(&self, me: UserId, ask: Ask) -> Loading;
}

/// The database: through the stream lane of the pool (`db::run_stream`), like every
/// other read a stream's start makes.
pub struct DbLoad(pub DbPool);

impl Load for DbLoad {
    fn load(&self, me: UserId, ask: Ask) -> Loading {
        let pool = self.0.clone();
        Box::pin(db::run_stream(&pool, move |conn| match ask {
            Ask::Everything { known_outgoing } => {
                let (rows, counts) = chats::list_for_user(conn, me)?;
                let prefs = inbox::prefs(conn, me)?;
                let incoming = friend_requests::incoming(conn, me)?;
                let outgoing: Vec<RequestId> = friend_requests::outgoing(conn, me)?.into_iter().map(|r| r.request_id).collect();
                let gone: Vec<RequestId> = known_outgoing.into_iter().filter(|id| !outgoing.contains(id)).collect();
                let answers = if gone.is_empty() { vec![] } else { inbox::answers_to(conn, me, &gone)? };
                let blocked = blocks::ids(conn, me)?;
                Ok::<_, AppError>(Loaded::Everything(Snapshot { rows, counts, prefs, incoming, outgoing, answers, blocked }))
            }
            Ask::Chats(ids) => {
                let rows = chats::list_rows(conn, me, &ids)?;
                let counts = users::nav_counts(conn, me)?;
                Ok(Loaded::Chats { rows, counts })
            }
        }))
    }
}

/// The person's whole inbox as of a read, shared by their streams.
#[derive(Debug, Default)]
pub struct Reading {
    /// Every whole read asked before this reading's read began (stream starts, pokes).
    pub asked: u64,
    /// Every poke before this reading's read began.
    pub pokes: u64,
    /// Newest activity first, as the chat list shows them.
    pub rows: Vec<Arc<ChatListRow>>,
    pub counts: NavCounts,
    pub prefs: NotifyPrefs,
    pub incoming: Vec<PendingRequest>,
    pub outgoing: Vec<RequestId>,
    pub answers: Vec<Answer>,
    pub blocked: Vec<UserId>,
}

impl Reading {
    fn merged(&self, loaded: Loaded, asked: &[ChatId], counters: (u64, u64)) -> Reading {
        let (asked_n, pokes) = counters;
        match loaded {
            Loaded::Everything(s) => {
                let mut answers: Vec<Answer> =
                    self.answers.iter().filter(|a| !s.answers.iter().any(|b| b.request_id == a.request_id)).cloned().collect();
                answers.extend(s.answers);
                let drop = answers.len().saturating_sub(ANSWERS_KEPT);
                answers.drain(..drop);
                Reading {
                    asked: asked_n,
                    pokes,
                    rows: s.rows.into_iter().map(Arc::new).collect(),
                    counts: s.counts,
                    prefs: s.prefs,
                    incoming: s.incoming,
                    outgoing: s.outgoing,
                    answers,
                    blocked: s.blocked,
                }
            }
            Loaded::Chats { rows, counts } => {
                // The rows asked for replace their old selves (or leave, when no longer
                // mine); the order is the list's: newest activity first, then chat id.
                let mut all: Vec<Arc<ChatListRow>> = self.rows.iter().filter(|r| !asked.contains(&r.chat_id)).cloned().collect();
                all.extend(rows.into_iter().map(Arc::new));
                all.sort_by(|a, b| b.last_activity_at.cmp(&a.last_activity_at).then(a.chat_id.cmp(&b.chat_id)));
                Reading {
                    asked: asked_n,
                    pokes,
                    rows: all,
                    counts,
                    prefs: self.prefs,
                    incoming: self.incoming.clone(),
                    outgoing: self.outgoing.clone(),
                    answers: self.answers.clone(),
                    blocked: self.blocked.clone(),
                }
            }
        }
    }
}

/// What is waiting to be read.
#[derive(Default)]
struct Pending {
    everything: bool,
    dirty: HashSet<ChatId>,
    /// The newest rev known of each of the person's chats: a signal at or below it (the
    /// sweep repeats every watched chat's end) wakes nothing.
    revs: HashMap<ChatId, Rev>,
    asked: u64,
    pokes: u64,
}

/// A person's shared inbox on this instance (see the module's comment).
pub struct PersonFeed {
    pub(super) me: UserId,
    pending: Mutex<Pending>,
    wake: Notify,
    reading: watch::Sender<Arc<Reading>>,
}

impl PersonFeed {
    pub(super) fn new(me: UserId) -> Arc<Self> {
        Arc::new(PersonFeed {
            me,
            pending: Mutex::default(),
            wake: Notify::new(),
            reading: watch::Sender::new(Arc::new(Reading::default())),
        })
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn subscribe(&self) -> watch::Receiver<Arc<Reading>> {
        self.reading.subscribe()
    }

    pub(super) fn has_readers(&self) -> bool {
        self.reading.receiver_count() > 0
    }

    /// Asks for a whole read; returns the `Reading::asked` that answers it. A poke also
    /// moves `pokes` (a block, which a stream must apply before its next message).
    pub fn ask_everything(&self, poke: bool) -> u64 {
        let asked = {
            let mut p = self.pending();
            p.everything = true;
            p.asked += 1;
            if poke {
                p.pokes += 1;
            }
            p.asked
        };
        self.wake.notify_one();
        asked
    }

    /// Pokes so far (`Reading::pokes` tells which of them a reading saw).
    pub fn pokes(&self) -> u64 {
        self.pending().pokes
    }

    /// `chat_id` reached `rev` (`None`: the person left it): re-read its row unless the
    /// rev is known already.
    pub(super) fn chat_changed(&self, chat_id: ChatId, rev: Option<Rev>) {
        {
            let mut p = self.pending();
            if let Some(rev) = rev {
                if p.revs.get(&chat_id).is_some_and(|known| rev <= *known) {
                    return;
                }
                p.revs.insert(chat_id, rev);
            }
            p.dirty.insert(chat_id);
        }
        self.wake.notify_one();
    }

    /// The person's chats as a reading found them: their revs are known from now on.
    pub(super) fn know(&self, rows: &[Arc<ChatListRow>]) {
        let mut p = self.pending();
        let present: HashSet<ChatId> = rows.iter().map(|r| r.chat_id).collect();
        p.revs.retain(|c, _| present.contains(c));
        for row in rows {
            let known = p.revs.entry(row.chat_id).or_insert(row.last_rev);
            *known = (*known).max(row.last_rev);
        }
    }

    fn wants_everything(&self) -> bool {
        self.pending().everything
    }

    /// Takes what is waiting: the ask, the chats it names and the counters it answers.
    fn take(&self) -> Option<Taken> {
        let mut p = self.pending();
        let taken =
            Taken { everything: std::mem::take(&mut p.everything), chats: p.dirty.drain().collect(), asked: p.asked, pokes: p.pokes };
        (taken.everything || !taken.chats.is_empty()).then_some(taken)
    }

    /// A read failed: what it took waits again.
    fn give_back(&self, taken: Taken) {
        let mut p = self.pending();
        p.everything |= taken.everything;
        p.dirty.extend(taken.chats);
    }
}

struct Taken {
    everything: bool,
    chats: Vec<ChatId>,
    asked: u64,
    pokes: u64,
}

/// The person's reader: one read at a time for whatever was asked, until the person has
/// no stream here any more (the hub then forgets the feed) or the hub is gone.
pub(super) async fn read_for(feed: Arc<PersonFeed>, hub: Weak<Hub>, load: Arc<dyn Load>) {
    loop {
        tokio::select! {
            _ = feed.wake.notified() => {}
            _ = feed.reading.closed() => {
                match hub.upgrade() {
                    Some(hub) if !hub.retire(&feed) => continue,
                    _ => return,
                }
            }
        }
        if !feed.wants_everything() {
            tokio::time::sleep(CHATS_SETTLE).await;
        }
        let Some(taken) = feed.take() else { continue };
        let previous = feed.reading.borrow().clone();
        // A whole read answers the chats too (and covers every ask up to `taken.asked`).
        let ask =
            if taken.everything { Ask::Everything { known_outgoing: previous.outgoing.clone() } } else { Ask::Chats(taken.chats.clone()) };
        match load.load(feed.me, ask).await {
            Ok(loaded) => {
                let asked_chats = if taken.everything { &[][..] } else { &taken.chats[..] };
                let next = previous.merged(loaded, asked_chats, (taken.asked, taken.pokes));
                if let Some(hub) = hub.upgrade() {
                    hub.follow(&feed, &next.rows);
                }
                feed.reading.send_replace(Arc::new(next));
            }
            Err(e) => {
                tracing::debug!(error = %e, "inbox read failed: retried");
                feed.give_back(taken);
                tokio::time::sleep(RETRY_AFTER).await;
                feed.wake.notify_one();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::inbox::{Inbox, InboxViews};
    use super::super::{Signal, StreamLimits};
    use super::*;
    use crate::models::friend_requests::PendingRequest;
    use chrono::Utc;

    /// A person's inbox with one chat, whose rev moves when the test says; it counts
    /// the reads it is asked for.
    #[derive(Default)]
    struct Fake {
        reads: Mutex<Vec<Ask>>,
        rev: Mutex<i64>,
    }

    struct Counting(Arc<Fake>, ChatId);

    impl Load for Counting {
        fn load(&self, _me: UserId, ask: Ask) -> Loading {
            let (fake, chat_id) = (self.0.clone(), self.1);
            Box::pin(async move {
                let rev = *fake.rev.lock().unwrap_or_else(|e| e.into_inner());
                let rows = vec![row(chat_id, rev)];
                let counts = NavCounts { pending_requests: 0, unread_messages: rev };
                let loaded = match &ask {
                    Ask::Everything { .. } => Loaded::Everything(Snapshot { rows, counts, ..Snapshot::default() }),
                    Ask::Chats(_) => Loaded::Chats { rows, counts },
                };
                fake.reads.lock().unwrap_or_else(|e| e.into_inner()).push(ask);
                Ok(loaded)
            })
        }
    }

    fn row(chat_id: ChatId, rev: i64) -> ChatListRow {
        ChatListRow {
            chat_id,
            is_group: false,
            name: None,
            last_activity_at: Utc::now(),
            last_seq: Seq::new(rev).unwrap_or(Seq::ZERO),
            unread: rev,
            other_id: None,
            other_name: Some("bob".into()),
            last_shown_seq: None,
            last_text: Some(format!("message {rev}")),
            last_kind: None,
            last_sender: None,
            last_file_kind: None,
            last_file_name: None,
            member_ids: vec![],
            mentioned: false,
            muted: false,
            other_read_seq: None,
            last_rev: Rev::new(rev).unwrap_or(Rev::ZERO),
        }
    }

    use crate::models::Seq;

    fn views() -> InboxViews {
        InboxViews {
            item: Box::new(|row: &ChatListRow| format!("item {} {:?}", row.chat_id, row.last_text)),
            badges: Box::new(|counts: &NavCounts, _| format!("unread {}", counts.unread_messages)),
            request: Box::new(|r: &PendingRequest| format!("request {}", r.request_id)),
            answer: Box::new(|a: &Answer| format!("answer {}", a.request_id)),
            read: Box::new(|seq| format!("seen {seq}")),
        }
    }

    fn hub(fake: &Arc<Fake>, chat_id: ChatId) -> Arc<Hub> {
        let limits = StreamLimits { per_person: 8, per_addr: 32, total: 100, max_lifetime: Duration::from_secs(600) };
        let (notify, _) = std::sync::mpsc::channel();
        let (sweep, _) = std::sync::mpsc::channel();
        Arc::new(Hub::new(limits, notify, sweep, Arc::new(Counting(fake.clone(), chat_id))))
    }

    fn reads(fake: &Fake) -> Vec<Ask> {
        fake.reads.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn names(events: &[actix_web_lab::sse::Event]) -> Vec<String> {
        events.iter().map(|e| format!("{e:?}")).collect()
    }

    #[actix_web::test]
    async fn three_tabs_of_one_person_cost_one_read_at_their_start_and_one_per_change() {
        let (fake, chat_id, me) = (Arc::new(Fake::default()), ChatId::new_v7(), UserId::new_v7());
        *fake.rev.lock().unwrap() = 1;
        let hub = hub(&fake, chat_id);
        let mut tabs: Vec<Inbox> = (0..3).map(|_| Inbox::new(&hub, me, None, views())).collect();
        let [a, b, c] = &mut tabs[..] else { unreachable!() };
        let (fa, fb, fc) = tokio::join!(a.start(), b.start(), c.start());
        for first in [fa, fb, fc] {
            let first = first.expect("a first reading");
            assert_eq!(first.len(), 1, "the badges alone: {:?}", names(&first));
            assert!(format!("{:?}", first[0]).contains("unread 1"));
        }
        assert_eq!(reads(&fake).len(), 1, "one whole read for three starts: {:?}", reads(&fake));

        // A message in the chat: one re-read of the chat's row for the person, not one per tab.
        *fake.rev.lock().unwrap() = 2;
        hub.signal(chat_id, Signal::Reached(Rev::new(2).unwrap()));
        for tab in tabs.iter_mut() {
            assert!(tab.changed().await);
            let events = names(&tab.refresh());
            assert_eq!(events.len(), 2, "the item, then the badges: {events:?}");
            assert!(events[0].contains("message 2") && events[1].contains("unread 2"), "{events:?}");
        }
        assert_eq!(reads(&fake), vec![Ask::Everything { known_outgoing: vec![] }, Ask::Chats(vec![chat_id])]);

        // The sweep repeating an end already read wakes nobody; a newer one does.
        hub.signal(chat_id, Signal::Reached(Rev::new(2).unwrap()));
        *fake.rev.lock().unwrap() = 3;
        hub.signal(chat_id, Signal::Reached(Rev::new(3).unwrap()));
        assert!(tabs[0].changed().await);
        assert_eq!(reads(&fake).len(), 3, "{:?}", reads(&fake));
        assert!(names(&tabs[0].refresh())[0].contains("message 3"));
    }

    #[actix_web::test]
    async fn a_start_or_a_poke_is_answered_only_by_a_read_begun_after_it() {
        let (fake, chat_id, me) = (Arc::new(Fake::default()), ChatId::new_v7(), UserId::new_v7());
        *fake.rev.lock().unwrap() = 1;
        let hub = hub(&fake, chat_id);
        let mut first = Inbox::new(&hub, me, None, views());
        first.start().await.expect("read");
        // A later tab does not take the reading that is there: its badges are read anew.
        *fake.rev.lock().unwrap() = 5;
        let mut later = Inbox::new(&hub, me, None, views());
        let events = names(&later.start().await.expect("read"));
        assert!(events[0].contains("unread 5"), "{events:?}");
        assert_eq!(reads(&fake).len(), 2);

        // A poke: a stream with a message in hand waits for the read that saw it.
        assert!(!first.poked());
        hub.poke_here(me);
        assert!(first.poked() && later.poked());
        let events = names(&first.refresh_after_pokes().await);
        assert!(events.iter().any(|e| e.contains("unread 5")), "{events:?}");
        assert!(!first.poked());
        assert_eq!(reads(&fake).len(), 3);
    }

    #[actix_web::test]
    async fn the_last_stream_gone_the_person_and_their_chats_are_forgotten() {
        let (fake, chat_id, me) = (Arc::new(Fake::default()), ChatId::new_v7(), UserId::new_v7());
        let hub = hub(&fake, chat_id);
        let mut tab = Inbox::new(&hub, me, None, views());
        tab.start().await.expect("read");
        assert_eq!(hub.watched(), vec![chat_id], "the sweep re-reads the chats inboxes follow");
        drop(tab);
        let mut forgotten = false;
        for _ in 0..1000 {
            if hub.watched().is_empty() && hub.watched_people().is_empty() {
                forgotten = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(forgotten, "the reader retires with the person's last stream");
        // A new stream of the person starts a new reader.
        let mut again = Inbox::new(&hub, me, None, views());
        assert!(again.start().await.is_some());
    }
}
