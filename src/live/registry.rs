//! Every open event stream of this instance, by person: which session it belongs to,
//! which client address opened it, and how to end it. A stream is admitted here before
//! it opens (the caps per person, per address and for the whole instance) and leaves
//! when its task ends (`Ticket` is dropped). Ending a session ends its streams through
//! here, and the sweep asks here which sessions to re-check.
//!
//! **Over the cap per person, the person's oldest stream is closed** to make room; over
//! the cap per address or the instance's share, the new stream is refused. The server
//! learns that a browser dropped a stream (a closed tab, a page left, a tab in the
//! background, whose stream htmx pauses) only when a heartbeat fails to write, 15 to 30 s
//! later. Refusing would let those dead streams keep a person who moves between chats
//! from getting a live one; the oldest is the likeliest to be dead, and if it was not,
//! its tab reconnects where it stopped. A person never holds more than the cap, however
//! fast they open streams. The address's oldest stream may be someone else's (people
//! behind one NAT), so that cap refuses instead.
//!
//! Per-person state lives in `Person`: today their open streams; the live inbox hangs
//! its per-person fan-out on the same entry (one stream per tab carries a person's news).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;

use crate::config::Settings;
use crate::models::UserId;

/// The share of `CHAAT_MAX_CONNECTIONS` event streams may take, in percent: the rest is
/// kept for ordinary requests (pages, sends, `/healthz`), which a stream never gives back.
pub const STREAM_SHARE_PERCENT: usize = 90;

/// The caps and the lifetime of streams on one instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamLimits {
    pub per_person: usize,
    pub per_addr: usize,
    /// All streams of the instance together.
    pub total: usize,
    /// A stream ends by itself after this long (a little less, see `lifetime`).
    pub max_lifetime: Duration,
}

impl StreamLimits {
    pub fn from_settings(settings: &Settings) -> Self {
        StreamLimits {
            per_person: settings.streams_per_person.max(1),
            per_addr: settings.streams_per_addr,
            total: settings.max_connections * STREAM_SHARE_PERCENT / 100,
            max_lifetime: Duration::from_secs(settings.stream_max_secs.max(1)),
        }
    }

    /// This stream's lifetime: up to a tenth shorter than the maximum, at random, so
    /// that streams opened together (after a restart) do not all reconnect together.
    pub fn lifetime(&self) -> Duration {
        self.max_lifetime.mul_f64(1.0 - rand::random::<f64>() * 0.1)
    }
}

/// Why a stream was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The client address holds `per_addr` streams here already.
    Address,
    /// Streams hold their whole share of the instance's connections.
    Instance,
}

/// What ends streams because their session ended.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SessionEnd {
    /// This session (logout, or found gone by the sweep).
    One { user_id: UserId, sid: String },
    /// Every session of the person but `keep_sid` (a password change, "log out other
    /// sessions").
    AllBut { user_id: UserId, keep_sid: String },
}

impl SessionEnd {
    fn user_id(&self) -> UserId {
        match self {
            SessionEnd::One { user_id, .. } | SessionEnd::AllBut { user_id, .. } => *user_id,
        }
    }

    fn ends(&self, sid: &str) -> bool {
        match self {
            SessionEnd::One { sid: ended, .. } => ended == sid,
            SessionEnd::AllBut { keep_sid, .. } => keep_sid != sid,
        }
    }
}

/// How a stream's task learns that it must end. Once set it stays set: the task checks
/// it before every event it sends, and waits on it between events.
#[derive(Debug, Default)]
pub struct Ending {
    ended: AtomicBool,
    wake: Notify,
}

impl Ending {
    fn end(&self) {
        self.ended.store(true, Ordering::SeqCst);
        // A stored permit: a task not waiting yet returns at once when it does.
        self.wake.notify_one();
    }

    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// Returns once the stream must end.
    pub async fn wait(&self) {
        while !self.is_ended() {
            self.wake.notified().await;
        }
    }
}

struct Held {
    sid: Arc<str>,
    addr: Option<IpAddr>,
    ending: Arc<Ending>,
}

/// One person's state on this instance.
#[derive(Default)]
struct Person {
    /// Open streams by admission number (so the first is the oldest).
    streams: BTreeMap<u64, Held>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    people: HashMap<UserId, Person>,
    addrs: HashMap<IpAddr, usize>,
    total: usize,
    /// Shutting down: every stream was ended and none is admitted.
    closed: bool,
}

pub struct Registry {
    limits: StreamLimits,
    inner: Mutex<Inner>,
}

/// A stream's place in the registry, held by its task; dropping it gives the place back.
pub struct Ticket {
    registry: Arc<Registry>,
    id: u64,
    pub user_id: UserId,
    pub sid: Arc<str>,
    pub ending: Arc<Ending>,
    /// When the stream ends by itself.
    pub lifetime: Duration,
}

impl Registry {
    pub fn new(limits: StreamLimits) -> Self {
        Registry { limits, inner: Mutex::new(Inner::default()) }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Admits a stream of `user_id`'s session `sid` from `addr`, closing the person's
    /// oldest stream when they hold `per_person` already; or says which cap is full.
    pub fn admit(self: &Arc<Self>, user_id: UserId, sid: &str, addr: Option<IpAddr>) -> Result<Ticket, Refusal> {
        let mut inner = self.inner();
        if inner.closed {
            return Err(Refusal::Instance);
        }
        let limits = self.limits;
        let at_cap = inner.people.get(&user_id).is_some_and(|p| p.streams.len() >= limits.per_person);
        if !at_cap {
            if addr.is_some_and(|a| inner.addrs.get(&a).copied().unwrap_or(0) >= limits.per_addr) {
                return Err(Refusal::Address);
            }
            if inner.total >= limits.total {
                return Err(Refusal::Instance);
            }
        }
        // At the cap: the oldest goes, so nothing grows but the person's newest stream.
        // It leaves the counts now; its task ends at once and its ticket finds no place.
        while inner.people.get(&user_id).is_some_and(|p| p.streams.len() >= limits.per_person) {
            let Some(id) = inner.people.get(&user_id).and_then(|p| p.streams.keys().next().copied()) else { break };
            if let Some(held) = Self::remove(&mut inner, user_id, id) {
                held.ending.end();
            }
        }
        inner.next += 1;
        let id = inner.next;
        inner.total += 1;
        if let Some(a) = addr {
            *inner.addrs.entry(a).or_insert(0) += 1;
        }
        let (sid, ending): (Arc<str>, _) = (Arc::from(sid), Arc::new(Ending::default()));
        let held = Held { sid: sid.clone(), addr, ending: ending.clone() };
        inner.people.entry(user_id).or_default().streams.insert(id, held);
        Ok(Ticket { registry: self.clone(), id, user_id, sid, ending, lifetime: limits.lifetime() })
    }

    fn leave(&self, user_id: UserId, id: u64) {
        Self::remove(&mut self.inner(), user_id, id);
    }

    /// Takes a stream out of every count (once: a stream closed as the oldest is gone
    /// when its ticket drops).
    fn remove(inner: &mut Inner, user_id: UserId, id: u64) -> Option<Held> {
        let person = inner.people.get_mut(&user_id)?;
        let held = person.streams.remove(&id)?;
        if person.streams.is_empty() {
            inner.people.remove(&user_id);
        }
        inner.total -= 1;
        if let Some(a) = held.addr {
            if let Some(n) = inner.addrs.get_mut(&a) {
                *n -= 1;
                if *n == 0 {
                    inner.addrs.remove(&a);
                }
            }
        }
        Some(held)
    }

    /// Ends the streams of this instance that `end` covers; returns how many.
    pub fn end(&self, end: &SessionEnd) -> usize {
        let inner = self.inner();
        let Some(person) = inner.people.get(&end.user_id()) else { return 0 };
        let mut n = 0;
        for held in person.streams.values().filter(|h| end.ends(&h.sid)) {
            held.ending.end();
            n += 1;
        }
        n
    }

    /// Ends every stream and admits none from now on (shutdown).
    pub fn end_all(&self) {
        let mut inner = self.inner();
        inner.closed = true;
        for held in inner.people.values().flat_map(|p| p.streams.values()) {
            held.ending.end();
        }
    }

    /// Every session that holds a stream here, once each (for the sweep to re-check).
    pub fn sessions(&self) -> Vec<(UserId, String)> {
        let inner = self.inner();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (user_id, person) in &inner.people {
            for held in person.streams.values() {
                if seen.insert((*user_id, held.sid.clone())) {
                    out.push((*user_id, held.sid.to_string()));
                }
            }
        }
        out
    }

    /// Open streams of this instance.
    pub fn open(&self) -> usize {
        self.inner().total
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.registry.leave(self.user_id, self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(per_person: usize, per_addr: usize, total: usize) -> Arc<Registry> {
        Arc::new(Registry::new(StreamLimits { per_person, per_addr, total, max_lifetime: Duration::from_secs(600) }))
    }

    fn addr(last: u8) -> Option<IpAddr> {
        Some(IpAddr::from([10, 0, 0, last]))
    }

    #[test]
    fn the_address_and_instance_caps_refuse_and_a_closed_stream_gives_its_place_back() {
        let r = registry(2, 3, 4);
        let (alice, bob, carol) = (UserId::new_v7(), UserId::new_v7(), UserId::new_v7());
        let a1 = r.admit(alice, "s1", addr(1)).unwrap();
        let _a2 = r.admit(alice, "s1", addr(1)).unwrap();
        let _b1 = r.admit(bob, "s3", addr(1)).unwrap();
        assert_eq!(r.admit(bob, "s3", addr(1)).err(), Some(Refusal::Address));
        let _b2 = r.admit(bob, "s3", addr(2)).unwrap();
        assert_eq!(r.admit(carol, "s4", addr(3)).err(), Some(Refusal::Instance));
        drop(a1);
        assert_eq!(r.open(), 3);
        assert!(r.admit(carol, "s4", addr(3)).is_ok(), "a place was given back");
    }

    #[test]
    fn over_the_cap_per_person_the_oldest_stream_is_closed_and_counts_stay_right() {
        let r = registry(3, 3, 100);
        let alice = UserId::new_v7();
        let first: Vec<Ticket> = (0..3).map(|_| r.admit(alice, "s1", addr(1)).unwrap()).collect();
        let newest = r.admit(alice, "s2", addr(2)).expect("a person at the cap is never refused");
        assert!(first[0].ending.is_ended(), "the oldest is closed");
        assert!(!first[1].ending.is_ended() && !first[2].ending.is_ended() && !newest.ending.is_ended());
        assert_eq!(r.open(), 3);
        assert!(r.admit(UserId::new_v7(), "x", addr(1)).is_ok(), "the closed one left address 1's count too (2 of 3)");
        drop(first);
        assert_eq!(r.open(), 1, "only the newest is left: the closed one's ticket gave back nothing twice");
        for _ in 0..10 {
            drop(r.admit(alice, "s1", addr(1)).unwrap());
        }
        assert_eq!(r.open(), 1);
    }

    #[test]
    fn a_session_end_ends_exactly_the_streams_it_covers() {
        let r = registry(8, 32, 100);
        let (alice, bob) = (UserId::new_v7(), UserId::new_v7());
        let here = r.admit(alice, "here", None).unwrap();
        let there = r.admit(alice, "there", None).unwrap();
        let elsewhere = r.admit(alice, "elsewhere", None).unwrap();
        let bobs = r.admit(bob, "there", None).unwrap();
        assert_eq!(r.end(&SessionEnd::One { user_id: alice, sid: "there".into() }), 1);
        assert!(there.ending.is_ended() && !here.ending.is_ended() && !bobs.ending.is_ended(), "another person's sid is theirs");
        assert_eq!(r.end(&SessionEnd::AllBut { user_id: alice, keep_sid: "here".into() }), 2);
        assert!(elsewhere.ending.is_ended() && !here.ending.is_ended());
        let mut sessions = r.sessions();
        sessions.sort();
        assert_eq!(sessions.len(), 4);
    }

    #[actix_web::test]
    async fn an_ending_wakes_a_stream_that_waits_or_comes_later() {
        let ending = Arc::new(Ending::default());
        ending.end();
        tokio::time::timeout(Duration::from_secs(1), ending.wait()).await.expect("already ended");
        let ending = Arc::new(Ending::default());
        let waiter = tokio::spawn({
            let ending = ending.clone();
            async move { ending.wait().await }
        });
        tokio::task::yield_now().await;
        ending.end();
        tokio::time::timeout(Duration::from_secs(1), waiter).await.expect("woken").unwrap();
    }

    #[test]
    fn lifetimes_are_at_most_the_maximum_and_at_least_nine_tenths() {
        let limits = StreamLimits { per_person: 1, per_addr: 1, total: 1, max_lifetime: Duration::from_secs(600) };
        for _ in 0..100 {
            let l = limits.lifetime();
            assert!(l <= limits.max_lifetime && l >= Duration::from_secs(540), "{l:?}");
        }
    }
}
