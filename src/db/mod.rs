//! Database access: the pool, the one `run` helper that keeps blocking Diesel calls off
//! the async executor, migrations and the private cluster.

pub mod cluster;
pub mod migrate;
pub mod prepared;
pub mod schema;
pub mod standby;
pub mod views;

use std::cell::Cell;
use std::future::Future;
use std::ops::Deref;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

pub use prepared::prepared;
pub use standby::Standby;

use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, ManageConnection, Pool, PooledConnection};

/// The r2d2 pool plus a gate in front of it (see `run`). Derefs to the pool.
#[derive(Clone)]
pub struct DbPool {
    pool: Pool<Manager>,
    /// One permit per pooled connection: at most that many blocking tasks wait on
    /// the pool; every other request waits here, as a future, until its deadline.
    gate: Arc<Semaphore>,
    wait: Duration,
    /// Event streams' starts (and their inbox reads) queue here first: at most half the
    /// pool's permits at a time, each waiting up to `stream_wait` (see `run_stream`).
    streams: Arc<Semaphore>,
    stream_wait: Duration,
}

impl Deref for DbPool {
    type Target = Pool<Manager>;
    fn deref(&self) -> &Pool<Manager> {
        &self.pool
    }
}

pub type DbConn = PooledConnection<Manager>;

thread_local! {
    /// Set when the connection in use on this thread turned out to be dead, so that the
    /// pool drops it instead of handing it to the next request.
    static CONNECTION_LOST: Cell<bool> = const { Cell::new(false) };
}

/// diesel's r2d2 manager, plus: a connection that lost its server (a restart, a
/// terminated backend) is discarded when it is returned, not reused; every connection
/// has a statement timeout, so a slow database bounds every request.
///
/// Behind a pooler in transaction mode (PgBouncer, `CHAAT_DB_TRANSACTION_POOLING`),
/// consecutive transactions of one connection may run on different server connections,
/// so nothing may live in the server's session: no named prepared statements (diesel's
/// cache is turned off: every statement is sent unnamed with its parameters in one
/// round trip, which PgBouncer 1.18 passes through) and no `SET` (the statement timeout
/// is then the pooler's to set on its server connections, `connect_query`;
/// docs/scaling.md). diesel's own `SET TIME ZONE`/`CLIENT_ENCODING` at connect are
/// parameters PgBouncer tracks and restores per client.
#[derive(Debug)]
pub struct Manager {
    inner: ConnectionManager<PgConnection>,
    statement_timeout_ms: u64,
    transaction_pooling: bool,
}

impl ManageConnection for Manager {
    type Connection = PgConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PgConnection, Self::Error> {
        use diesel::connection::{CacheSize, Connection};
        use diesel::RunQueryDsl;
        let mut conn = self.inner.connect()?;
        if self.transaction_pooling {
            conn.set_prepared_statement_cache_size(CacheSize::Disabled);
        } else {
            diesel::sql_query(format!("SET statement_timeout = {}", self.statement_timeout_ms))
                .execute(&mut conn)
                .map_err(diesel::r2d2::Error::QueryError)?;
        }
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), Self::Error> {
        self.inner.is_valid(conn)
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        CONNECTION_LOST.with(|lost| lost.replace(false)) || self.inner.has_broken(conn)
    }
}

/// How a pool reaches its database.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub size: u32,
    /// How long a request waits for a connection (the gate and the pool together).
    pub wait: Duration,
    pub statement_timeout: Duration,
    /// Through a pooler in transaction mode: no session state (see `Manager`).
    pub transaction_pooling: bool,
}

/// Builds the pool without connecting eagerly: an instance starts (and answers 503) even
/// while the database is briefly away.
pub fn build_pool(url: &str, options: &PoolOptions) -> DbPool {
    let manager = Manager {
        inner: ConnectionManager::<PgConnection>::new(url),
        statement_timeout_ms: options.statement_timeout.as_millis() as u64,
        transaction_pooling: options.transaction_pooling,
    };
    let pool = Pool::builder()
        .max_size(options.size)
        .min_idle(Some(0))
        .connection_timeout(options.wait)
        .test_on_check_out(false)
        .build_unchecked(manager);
    DbPool {
        pool,
        gate: Arc::new(Semaphore::new(options.size as usize)),
        wait: options.wait,
        streams: Arc::new(Semaphore::new((options.size as usize / 2).max(1))),
        stream_wait: (options.wait * STREAM_WAIT_FACTOR).max(MIN_STREAM_WAIT),
    }
}

/// How much longer than a page an event stream's start may wait for a connection.
/// Browsers open streams in bursts (every tab after a restart or a network change, a
/// load test's 10,000 in 10 s), and `EventSource` never retries a 503, so a stream
/// refused for a briefly busy pool is a tab that stays dead until reloaded; a page
/// request can be retried by its person and must not wait behind the burst.
const STREAM_WAIT_FACTOR: u32 = 10;
const MIN_STREAM_WAIT: Duration = Duration::from_secs(15);

/// What `run` itself can fail with, before or around the caller's work.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// No connection in time (the pool is exhausted, or the database is away): 503.
    #[error("{0}")]
    Unavailable(String),
    /// The blocking task died (a panic in the closure).
    #[error("{0}")]
    TaskFailed(String),
}

/// An error that can say which database operation it came from: `run` tags the errors
/// of its closure with the caller's place in the code, so a 500's log line names it.
pub trait InOperation {
    fn in_operation(self, at: &'static Location<'static>) -> Self;
}

/// A request that got through the gate late still gets this long to check a
/// connection out (r2d2 may be opening one for it).
const MIN_CHECKOUT: Duration = Duration::from_millis(250);

/// Runs `f` with a pooled connection on this (blocking) thread (the live sweeper's).
#[track_caller]
pub fn run_here<T, E, F>(pool: &DbPool, f: F) -> Result<T, E>
where
    F: FnOnce(&mut PgConnection) -> Result<T, E>,
    E: From<DbError> + InOperation + IsUnavailable,
{
    run_checked_out(pool, pool.wait, Location::caller(), f)
}

/// `run_here` with a wait of the caller's (the send batcher's: what is left of its
/// oldest send's wait), at least `MIN_CHECKOUT`.
#[track_caller]
pub fn run_here_within<T, E, F>(pool: &DbPool, wait: Duration, f: F) -> Result<T, E>
where
    F: FnOnce(&mut PgConnection) -> Result<T, E>,
    E: From<DbError> + InOperation + IsUnavailable,
{
    run_checked_out(pool, wait.max(MIN_CHECKOUT), Location::caller(), f)
}

/// Whether an error means the connection's server went away (it is then discarded).
pub trait IsUnavailable {
    fn is_unavailable(&self) -> bool;
}

impl IsUnavailable for crate::error::AppError {
    fn is_unavailable(&self) -> bool {
        matches!(self, crate::error::AppError::Unavailable(_))
    }
}

fn run_checked_out<T, E, F>(pool: &DbPool, wait: Duration, at: &'static Location<'static>, f: F) -> Result<T, E>
where
    F: FnOnce(&mut PgConnection) -> Result<T, E>,
    E: From<DbError> + InOperation + IsUnavailable,
{
    let mut conn = pool.get_timeout(wait).map_err(|e| E::from(DbError::Unavailable(e.to_string())).in_operation(at))?;
    let result = f(&mut conn).map_err(|e| e.in_operation(at));
    if result.as_ref().is_err_and(IsUnavailable::is_unavailable) {
        CONNECTION_LOST.with(|lost| lost.set(true));
    }
    drop(conn);
    result
}

/// Runs `f` with a pooled connection on the blocking thread pool, never on the async
/// executor, inside a `db` span (a child of the request's) that names the caller's
/// place in the code. The whole wait (gate, then pool) is bounded by the pool's wait
/// setting and ends in `DbError::Unavailable` (503): without the gate every waiting
/// request would hold a blocking thread (tokio starts up to 512 per worker, then
/// queues without bound), so an exhausted pool turned into thousands of threads and
/// waits far past the deadline.
#[track_caller]
pub fn run<T, E, F>(pool: &DbPool, f: F) -> impl Future<Output = Result<T, E>> + 'static
where
    F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + InOperation + IsUnavailable + Send + 'static,
{
    run_gated(pool, Lane::Request, Location::caller(), f)
}

/// `run` for an event stream's start and its inbox reads: it first waits its turn among
/// the other stream starts, which together hold at most half the pool (pages and sends
/// keep the rest during a burst of reconnecting tabs), and it may wait ten times as long
/// as a request (at least 15 s) before `DbError::Unavailable`: a stream is not refused
/// because the pool was briefly busy, only when the database stays away.
#[track_caller]
pub fn run_stream<T, E, F>(pool: &DbPool, f: F) -> impl Future<Output = Result<T, E>> + 'static
where
    F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + InOperation + IsUnavailable + Send + 'static,
{
    run_gated(pool, Lane::Stream, Location::caller(), f)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Lane {
    Request,
    Stream,
}

fn run_gated<T, E, F>(pool: &DbPool, lane: Lane, at: &'static Location<'static>, f: F) -> impl Future<Output = Result<T, E>> + 'static
where
    F: FnOnce(&mut PgConnection) -> Result<T, E> + Send + 'static,
    T: Send + 'static,
    E: From<DbError> + InOperation + IsUnavailable + Send + 'static,
{
    let span = tracing::debug_span!("db", operation = %at);
    let pool = pool.clone();
    async move {
        let busy = || E::from(DbError::Unavailable("every database connection is busy".into())).in_operation(at);
        let wait = if lane == Lane::Stream { pool.stream_wait } else { pool.wait };
        let deadline = tokio::time::Instant::now() + wait;
        let turn = match lane {
            Lane::Request => None,
            Lane::Stream => match tokio::time::timeout_at(deadline, pool.streams.clone().acquire_owned()).await {
                Ok(Ok(turn)) => Some(turn),
                Ok(Err(_)) | Err(_) => return Err(busy()),
            },
        };
        let permit = match tokio::time::timeout_at(deadline, pool.gate.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(_)) | Err(_) => return Err(busy()),
        };
        actix_web::web::block(move || {
            let _entered = span.enter();
            // Held until `f` is done, even if the request was abandoned meanwhile.
            let (_permit, _turn) = (permit, turn);
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            run_checked_out(&pool, left.max(MIN_CHECKOUT), at, f)
        })
        .await
        .map_err(|e| E::from(DbError::TaskFailed(e.to_string())).in_operation(at))?
    }
}
