//! Rate limits kept in this instance's memory, for a path too hot to count in
//! PostgreSQL: sending messages (SECURITY.md says why, and what it costs: with N
//! instances behind a balancer that spreads one person's requests, that person may
//! send up to N times the limit).
//!
//! The rule is GCRA (the generic cell rate algorithm, as in `governor`): a key may make
//! `burst` hits at once, then one every `per / burst`; its state is one instant, the
//! "theoretical arrival time" of its next hit. Written out (about thirty lines) rather
//! than taken from `governor`, which would bring six crates for this.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::throttle::Throttled;

/// Keys are forgotten once their state is in the past (it says nothing then); the
/// sweep runs when the map has doubled since the last one, so it costs O(1) per hit.
const FIRST_SWEEP: usize = 1024;

pub struct LocalLimiter<K> {
    /// Time between hits at the sustained rate.
    interval: Duration,
    /// How far the next hit's theoretical time may run ahead of now: the burst.
    tolerance: Duration,
    state: Mutex<State<K>>,
}

struct State<K> {
    next: HashMap<K, Instant>,
    sweep_at: usize,
}

impl<K: Hash + Eq + Clone> LocalLimiter<K> {
    /// `burst` hits at once, refilled over `per` (at least one hit per `per`).
    pub fn new(burst: u32, per: Duration) -> Self {
        let burst = burst.max(1);
        let interval = per / burst;
        LocalLimiter {
            interval,
            tolerance: interval * (burst - 1),
            state: Mutex::new(State { next: HashMap::new(), sweep_at: FIRST_SWEEP }),
        }
    }

    /// Counts a hit of `key`, or says how long to wait for the next one to be allowed.
    pub fn hit(&self, key: &K) -> Result<(), Throttled> {
        self.hit_at(key, Instant::now())
    }

    fn hit_at(&self, key: &K, now: Instant) -> Result<(), Throttled> {
        // A panic elsewhere while holding the lock leaves consistent data: go on.
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let next = state.next.get(key).copied().filter(|t| *t > now).unwrap_or(now);
        let allowed_from = next.checked_sub(self.tolerance).unwrap_or(now);
        if allowed_from > now {
            return Err(Throttled { retry_after: allowed_from - now });
        }
        state.next.insert(key.clone(), next + self.interval);
        if state.next.len() >= state.sweep_at {
            state.next.retain(|_, t| *t > now);
            state.sweep_at = (state.next.len() * 2).max(FIRST_SWEEP);
        }
        Ok(())
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        self.state.lock().map(|s| s.next.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::{LocalLimiter, FIRST_SWEEP};

    #[test]
    fn a_burst_passes_then_one_hit_per_interval() {
        let limiter = LocalLimiter::new(30, Duration::from_secs(10));
        let t0 = Instant::now();
        for i in 0..30 {
            assert!(limiter.hit_at(&"alice", t0).is_ok(), "hit {i} of the burst");
        }
        let refused = limiter.hit_at(&"alice", t0).unwrap_err();
        assert!(refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_millis(334), "{refused:?}");
        assert!(limiter.hit_at(&"bob", t0).is_ok(), "keys are apart");
        // One more every 10 s / 30, never two.
        let later = t0 + refused.retry_after;
        assert!(limiter.hit_at(&"alice", later).is_ok());
        assert!(limiter.hit_at(&"alice", later).is_err());
        // Ten quiet seconds refill the whole burst.
        let rested = later + Duration::from_secs(10);
        assert!((0..30).all(|_| limiter.hit_at(&"alice", rested).is_ok()));
        assert!(limiter.hit_at(&"alice", rested).is_err());
    }

    #[test]
    fn a_sustained_flood_gets_the_rate_and_no_more() {
        let limiter = LocalLimiter::new(30, Duration::from_secs(10));
        let t0 = Instant::now();
        // 6,405 attempts over 10 s (what 8 threads sent from one account).
        let passed = (0..6405).filter(|i| limiter.hit_at(&1, t0 + Duration::from_secs(10) * *i / 6405).is_ok()).count();
        assert!((59..=61).contains(&passed), "30 at once and 3 a second: {passed}");
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let limiter = LocalLimiter::new(2, Duration::from_secs(1));
        let t0 = Instant::now();
        for key in 0..FIRST_SWEEP - 1 {
            limiter.hit_at(&key, t0).unwrap();
        }
        assert_eq!(limiter.keys(), FIRST_SWEEP - 1);
        limiter.hit_at(&usize::MAX, t0 + Duration::from_secs(5)).unwrap();
        assert_eq!(limiter.keys(), 1, "only the key hit now is remembered");
    }
}
