//! Login and signup throttling, counted in PostgreSQL so that it holds across instances.

use std::time::Duration;

use diesel::PgConnection;

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
