//! Database access: the pool, the one `run` helper that keeps blocking Diesel calls off
//! the async executor, migrations and the private cluster.

pub mod cluster;
pub mod migrate;
pub mod prepared;
pub mod schema;

use std::time::Duration;

use std::cell::Cell;

pub use prepared::prepared;

use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, ManageConnection, Pool, PooledConnection};

use crate::error::AppError;

pub type DbPool = Pool<Manager>;
pub type DbConn = PooledConnection<Manager>;

thread_local! {
    /// Set when the connection in use on this thread turned out to be dead, so that the
    /// pool drops it instead of handing it to the next request.
    static CONNECTION_LOST: Cell<bool> = const { Cell::new(false) };
}

/// diesel's r2d2 manager, plus: a connection that lost its server (a restart, a
/// terminated backend) is discarded when it is returned, not reused.
#[derive(Debug)]
pub struct Manager(ConnectionManager<PgConnection>);

impl ManageConnection for Manager {
    type Connection = PgConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PgConnection, Self::Error> {
        self.0.connect()
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), Self::Error> {
        self.0.is_valid(conn)
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        CONNECTION_LOST.with(|lost| lost.replace(false)) || self.0.has_broken(conn)
    }
}

/// Builds the pool without connecting eagerly: an instance starts (and answers 503) even
/// while the database is briefly away.
pub fn build_pool(url: &str, size: u32, wait: Duration) -> DbPool {
    Pool::builder()
        .max_size(size)
        .min_idle(Some(0))
        .connection_timeout(wait)
        .test_on_check_out(false)
        .build_unchecked(Manager(ConnectionManager::<PgConnection>::new(url)))
}

/// Runs `f` with a pooled connection on this (blocking) thread. Pool exhaustion and
/// lost connections become 503 (`AppError::Unavailable`).
pub fn run_here<T, E, F>(pool: &DbPool, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut PgConnection) -> Result<T, E>,
    E: Into<AppError>,
{
    let mut conn = pool.get().map_err(|e| AppError::Unavailable(e.to_string()))?;
    let result = f(&mut conn).map_err(Into::into);
    if matches!(result, Err(AppError::Unavailable(_))) {
        CONNECTION_LOST.with(|lost| lost.set(true));
    }
    drop(conn);
    result
}

/// Runs `f` with a pooled connection on the blocking thread pool, never on the async
/// executor.
pub async fn run<T, E, F>(pool: &DbPool, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: Into<AppError> + Send + 'static,
{
    let pool = pool.clone();
    actix_web::web::block(move || run_here(&pool, f))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("blocking task failed: {e}")))?
}
