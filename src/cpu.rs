//! CPU- and memory-heavy work (an Argon2id hash takes 19 MiB and tens of milliseconds;
//! re-encoding a picture decodes it whole) runs on the blocking pool, at most one per
//! core at a time. Without this gate a burst of logins ran every hash at once: memory
//! grew by 19 MiB per waiting request. The others wait, as futures, for a bounded time
//! and then answer 503.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::error::AppError;

/// How long heavy work waits for a free core before the request answers 503.
const WAIT: Duration = Duration::from_secs(5);

fn gate() -> &'static Semaphore {
    static GATE: OnceLock<Semaphore> = OnceLock::new();
    GATE.get_or_init(|| Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get())))
}

pub async fn run<T, F>(f: F) -> Result<T, AppError>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let permit = match tokio::time::timeout(WAIT, gate().acquire()).await {
        Ok(Ok(permit)) => permit,
        Ok(Err(_)) | Err(_) => return Err(AppError::Unavailable("every core is busy hashing or decoding".into())),
    };
    actix_web::web::block(move || {
        // Held until `f` is done, even if the request was abandoned meanwhile.
        let _permit = permit;
        f()
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("blocking task failed: {e}")))
}
