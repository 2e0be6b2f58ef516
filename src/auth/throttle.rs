//! Throttling counted in PostgreSQL, so that it holds across instances: fixed windows
//! (`Limit`: at most so many hits per window) and growing delays after failures in a row
//! (`Backoff`).

use std::time::Duration;

use diesel::PgConnection;

pub use crate::config::Backoff;
use crate::config::Limit;
use crate::models::auth_throttle;

/// Refused: try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    pub retry_after: Duration,
}

/// Buckets are named by what they count and whose count it is.
pub fn bucket(action: &str, scope: &str, key: &str) -> String {
    format!("{action}:{scope}:{key}")
}

/// Fails when `bucket` has already reached its limit in the current window.
pub fn check(conn: &mut PgConnection, bucket: &str, limit: Limit) -> diesel::QueryResult<Result<(), Throttled>> {
    let window = limit.window.as_secs_f64();
    Ok(match auth_throttle::current(conn, bucket, window)? {
        Some(w) if w.hits >= limit.limit => Err(Throttled { retry_after: w.remaining(window) }),
        _ => Ok(()),
    })
}

/// Counts one hit against `bucket`.
pub fn record(conn: &mut PgConnection, bucket: &str, limit: Limit) -> diesel::QueryResult<()> {
    auth_throttle::hit(conn, bucket, limit.window.as_secs_f64()).map(|_| ())
}

/// Counts a hit, failing if that hit is over the limit.
pub fn hit(conn: &mut PgConnection, bucket: &str, limit: Limit) -> diesel::QueryResult<Result<(), Throttled>> {
    let window = limit.window.as_secs_f64();
    let w = auth_throttle::hit(conn, bucket, window)?;
    Ok(if w.hits > limit.limit { Err(Throttled { retry_after: w.remaining(window) }) } else { Ok(()) })
}

/// Fails while the delay after the latest failure of `bucket` runs (`Backoff`).
pub fn check_backoff(conn: &mut PgConnection, bucket: &str, rule: Backoff) -> diesel::QueryResult<Result<(), Throttled>> {
    let Some(streak) = auth_throttle::streak(conn, bucket, rule.forget.as_secs_f64())? else { return Ok(Ok(())) };
    let since = Duration::from_secs_f64(streak.secs_since_latest.max(0.0));
    Ok(match rule.delay_after(streak.failures) {
        Some(delay) if since < delay => Err(Throttled { retry_after: (delay - since).max(Duration::from_secs(1)) }),
        _ => Ok(()),
    })
}

/// Counts one more failure in a row against `bucket`.
pub fn record_failure(conn: &mut PgConnection, bucket: &str, rule: Backoff) -> diesel::QueryResult<()> {
    auth_throttle::extend_streak(conn, bucket, rule.forget.as_secs_f64())
}

/// Ends the streak of failures of `bucket` (after a success).
pub fn forgive(conn: &mut PgConnection, bucket: &str) -> diesel::QueryResult<()> {
    auth_throttle::forget(conn, bucket)
}

/// Why `counted` did not keep what it did.
enum Abort {
    Throttled(Throttled),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Self {
        Abort::Db(e)
    }
}

/// Does `act` and, when `counts` says its outcome is one to count (a request actually
/// created, say), counts a hit against `bucket` in the same transaction: a hit over the
/// limit rolls `act` back and is not counted. Concurrent acts of one bucket are counted
/// one after the other (the bucket's row is locked until commit), so none slips past.
pub fn counted<T>(
    conn: &mut PgConnection,
    bucket: &str,
    limit: Limit,
    act: impl FnOnce(&mut PgConnection) -> diesel::QueryResult<T>,
    counts: impl FnOnce(&T) -> bool,
) -> diesel::QueryResult<Result<T, Throttled>> {
    use diesel::Connection;
    let done = conn.transaction(|conn| {
        let done = act(conn)?;
        if counts(&done) {
            hit(conn, bucket, limit)?.map_err(Abort::Throttled)?;
        }
        Ok(done)
    });
    match done {
        Ok(done) => Ok(Ok(done)),
        Err(Abort::Throttled(t)) => Ok(Err(t)),
        Err(Abort::Db(e)) => Err(e),
    }
}
