//! Database access: the pool, the one `run` helper that keeps blocking Diesel calls off
//! the async executor, migrations and the private cluster.

pub mod cluster;
pub mod migrate;
pub mod schema;

use std::time::Duration;

use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};

use crate::error::AppError;

pub type DbPool = Pool<ConnectionManager<PgConnection>>;
pub type DbConn = PooledConnection<ConnectionManager<PgConnection>>;

/// Builds the pool without connecting eagerly: an instance starts (and answers 503) even
/// while the database is briefly away.
pub fn build_pool(url: &str, size: u32, wait: Duration) -> DbPool {
    Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        .connection_timeout(wait)
        .test_on_check_out(false)
        .build_unchecked(ConnectionManager::<PgConnection>::new(url))
}

/// Runs `f` with a pooled connection on the blocking thread pool.
/// Pool exhaustion and connection failures become 503 (`AppError::Unavailable`).
pub async fn run<T, E, F>(pool: &DbPool, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Into<AppError> + Send + 'static,
{
    let pool = pool.clone();
    // Broken connections are not returned to the pool: diesel's r2d2 manager reports a
    // connection whose libpq status is bad as broken when it is checked back in.
    actix_web::web::block(move || {
        let mut conn = pool.get().map_err(|e| AppError::Unavailable(e.to_string()))?;
        f(&mut conn).map_err(Into::into)
    })
    .await
    .map_err(|e| AppError::Internal(anyhow::anyhow!("blocking task failed: {e}")))?
}
