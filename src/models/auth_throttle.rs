//! The `auth_throttle` table: fixed-window hit counters per bucket, and streaks of
//! failures (growing delays, `throttle::Backoff`). A streak's row keeps the time of its
//! latest failure in `window_start` (its window restarts at every failure), so the
//! cleanup that drops rows a day after their `window_start` forgets a streak a day after
//! its latest failure.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Double, Int4, Text, Timestamptz};

#[derive(Debug, QueryableByName)]
pub struct Window {
    #[diesel(sql_type = Int4)]
    pub hits: i32,
    #[diesel(sql_type = Timestamptz)]
    pub window_start: DateTime<Utc>,
}

impl Window {
    /// Time left in this window (at least one second, so a refusal never says "0 s").
    pub fn remaining(&self, window_secs: f64) -> Duration {
        let end = self.window_start + chrono::TimeDelta::milliseconds((window_secs * 1000.0) as i64);
        (end - Utc::now()).to_std().unwrap_or_default().max(Duration::from_secs(1))
    }
}

/// The live window of `bucket`, if any.
pub fn current(conn: &mut PgConnection, bucket: &str, window_secs: f64) -> QueryResult<Option<Window>> {
    crate::db::prepared(
        "SELECT hits, window_start FROM auth_throttle \
         WHERE bucket = $1 AND window_start > now() - $2 * interval '1 second'",
    )
    .bind::<Text, _>(bucket)
    .bind::<Double, _>(window_secs)
    .get_result(conn)
    .optional()
}

/// Adds a hit, starting a new window when the old one is over; one atomic statement, so
/// concurrent attempts on several instances are all counted.
pub fn hit(conn: &mut PgConnection, bucket: &str, window_secs: f64) -> QueryResult<Window> {
    crate::db::prepared(
        "INSERT INTO auth_throttle AS t (bucket, window_start, hits) VALUES ($1, now(), 1) \
         ON CONFLICT (bucket) DO UPDATE SET \
           hits = CASE WHEN t.window_start <= now() - $2 * interval '1 second' THEN 1 ELSE t.hits + 1 END, \
           window_start = CASE WHEN t.window_start <= now() - $2 * interval '1 second' THEN now() ELSE t.window_start END \
         RETURNING hits, window_start",
    )
    .bind::<Text, _>(bucket)
    .bind::<Double, _>(window_secs)
    .get_result(conn)
}

/// A streak of failures of `bucket`: how many, and how long ago the latest was (by the
/// database's clock, like every time here, so instances need not agree on theirs).
#[derive(Debug, QueryableByName)]
pub struct Streak {
    #[diesel(sql_type = Int4)]
    pub failures: i32,
    #[diesel(sql_type = Double)]
    pub secs_since_latest: f64,
}

/// The streak of `bucket`, unless its latest failure is over `forget_secs` old.
pub fn streak(conn: &mut PgConnection, bucket: &str, forget_secs: f64) -> QueryResult<Option<Streak>> {
    diesel::sql_query(
        "SELECT hits AS failures, extract(epoch FROM now() - window_start)::float8 AS secs_since_latest FROM auth_throttle \
         WHERE bucket = $1 AND window_start > now() - $2 * interval '1 second'",
    )
    .bind::<Text, _>(bucket)
    .bind::<Double, _>(forget_secs)
    .get_result(conn)
    .optional()
}

/// Adds a failure to the streak of `bucket` (a new streak when the old one is
/// forgotten); one atomic statement, like `hit`.
pub fn extend_streak(conn: &mut PgConnection, bucket: &str, forget_secs: f64) -> QueryResult<()> {
    diesel::sql_query(
        "INSERT INTO auth_throttle AS t (bucket, window_start, hits) VALUES ($1, now(), 1) \
         ON CONFLICT (bucket) DO UPDATE SET \
           hits = CASE WHEN t.window_start <= now() - $2 * interval '1 second' THEN 1 ELSE t.hits + 1 END, \
           window_start = now()",
    )
    .bind::<Text, _>(bucket)
    .bind::<Double, _>(forget_secs)
    .execute(conn)
    .map(|_| ())
}

/// Forgets `bucket` (a streak ended by a success).
pub fn forget(conn: &mut PgConnection, bucket: &str) -> QueryResult<()> {
    diesel::sql_query("DELETE FROM auth_throttle WHERE bucket = $1").bind::<Text, _>(bucket).execute(conn).map(|_| ())
}

/// Drops windows that ended long ago.
pub fn purge_older_than(conn: &mut PgConnection, secs: f64) -> QueryResult<usize> {
    crate::db::prepared("DELETE FROM auth_throttle WHERE window_start < now() - $1 * interval '1 second'")
        .bind::<Double, _>(secs)
        .execute(conn)
}
