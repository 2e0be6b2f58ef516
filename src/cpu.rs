//! CPU- and memory-heavy work runs on the blocking pool behind a gate, as futures that
//! wait a bounded time. Without one a burst of logins ran every hash at once: memory grew
//! by 19 MiB per waiting request.
//!
//! Two gates, so that one kind of work never waits behind the other:
//! - passwords (Argon2id: 19 MiB and tens of milliseconds each), one per core at a time;
//!   the others wait up to 5 s, then 503;
//! - pictures (decoding an upload whole), `pictures::limits::DECODERS` at a time, at
//!   most `QUEUE` waiting for `QUEUE_WAIT`; past either the upload is refused (`Busy`).
//!   Before they had their own gate, ten decode bombs in parallel held every core and
//!   people's logins answered 503.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::AppError;
use crate::pictures::limits;

/// How long a password hash waits for a free core before the request answers 503.
const PASSWORD_WAIT: Duration = Duration::from_secs(5);

struct Gate {
    permits: Semaphore,
    /// Requests waiting for a permit now.
    waiting: AtomicUsize,
    max_waiting: usize,
    wait: Duration,
}

/// The picture queue was full, or no decoder came free in time: try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl Gate {
    fn new(permits: usize, max_waiting: usize, wait: Duration) -> Self {
        Gate { permits: Semaphore::new(permits), waiting: AtomicUsize::new(0), max_waiting, wait }
    }

    async fn enter(&'static self) -> Result<SemaphorePermit<'static>, Busy> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Ok(permit);
        }
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        // Counted out however the wait ends, the request abandoned included.
        let _waiting = Waiting(&self.waiting);
        match tokio::time::timeout(self.wait, self.permits.acquire()).await {
            Ok(Ok(permit)) => Ok(permit),
            Ok(Err(_)) | Err(_) => Err(Busy),
        }
    }
}

struct Waiting(&'static AtomicUsize);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn passwords() -> &'static Gate {
    static GATE: OnceLock<Gate> = OnceLock::new();
    GATE.get_or_init(|| Gate::new(std::thread::available_parallelism().map_or(2, |n| n.get()), usize::MAX, PASSWORD_WAIT))
}

fn pictures() -> &'static Gate {
    static GATE: OnceLock<Gate> = OnceLock::new();
    GATE.get_or_init(|| Gate::new(limits::DECODERS, limits::QUEUE, limits::QUEUE_WAIT))
}

/// Password hashing and verification: 503 when no core came free in time.
pub async fn run<T, F>(f: F) -> Result<T, AppError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match run_in(passwords(), f).await? {
        Ok(done) => Ok(done),
        Err(Busy) => Err(AppError::Unavailable("every core is busy hashing passwords".into())),
    }
}

/// Picture decoding: `Err(Busy)` when the queue is full or the wait ran out (the caller
/// says so next to its field).
pub async fn run_picture<T, F>(f: F) -> Result<Result<T, Busy>, AppError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    run_in(pictures(), f).await
}

async fn run_in<T, F>(gate: &'static Gate, f: F) -> Result<Result<T, Busy>, AppError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let permit = match gate.enter().await {
        Ok(permit) => permit,
        Err(busy) => return Ok(Err(busy)),
    };
    actix_web::web::block(move || {
        // Held until `f` is done, even if the request was abandoned meanwhile.
        let _permit = permit;
        f()
    })
    .await
    .map(Ok)
    .map_err(|e| AppError::Internal(anyhow::anyhow!("blocking task failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate(permits: usize, max_waiting: usize) -> &'static Gate {
        Box::leak(Box::new(Gate::new(permits, max_waiting, Duration::from_millis(200))))
    }

    #[actix_web::test]
    async fn a_full_queue_refuses_at_once_and_a_wait_is_bounded() {
        let gate = gate(1, 1);
        let held = gate.enter().await.map_err(|_| "the free permit");
        assert!(held.is_ok());
        // One may wait (and times out); while it waits, a second is refused at once.
        let waiter = actix_web::rt::spawn(async move { gate.enter().await.map(drop) });
        while gate.waiting.load(Ordering::Acquire) == 0 {
            tokio::task::yield_now().await;
        }
        let started = std::time::Instant::now();
        assert_eq!(gate.enter().await.map(drop), Err(Busy));
        assert!(started.elapsed() < Duration::from_millis(100), "refused without waiting");
        assert_eq!(waiter.await.ok(), Some(Err(Busy)), "the wait ran out");
        assert_eq!(gate.waiting.load(Ordering::Acquire), 0, "counted out after its wait");
        drop(held);
        assert!(gate.enter().await.is_ok(), "free again");
    }

    #[actix_web::test]
    async fn the_picture_gate_is_not_the_password_gate() {
        // Every picture decoder busy: a password hash still runs at once.
        let mut held = Vec::new();
        for _ in 0..limits::DECODERS {
            held.push(pictures().enter().await.map_err(|_| "a free decoder"));
        }
        let started = std::time::Instant::now();
        assert_eq!(run(|| 42).await.ok(), Some(42));
        assert!(started.elapsed() < Duration::from_secs(1));
    }
}
