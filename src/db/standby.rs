//! The optional hot standby for heavy reads (`CHAAT_DATABASE_READ_URL`): history pages,
//! search and the export (README, "Which reads go where").
//!
//! A standby replays the primary's WAL a little later. A read goes there only when the
//! standby has replayed every chat the read shows up to the rev the primary has now
//! (read on the primary just before, with the authorization): then nothing it shows is
//! older than what the person could have seen, their own last send included. The check
//! and the read share one read-only snapshot of the standby. Behind, away, or any error
//! there: the same read runs on the primary, so the standby never refuses anything; after
//! an error the standby rests a few seconds, so an outage costs one failed attempt per
//! rest, not one per request.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::PgConnection;

use super::{build_pool, DbPool, PoolOptions};
use crate::error::AppError;
use crate::models::chats;
use crate::models::{ChatId, Rev};

/// How long the standby is left alone after an error.
const REST: Duration = Duration::from_secs(5);
/// How long a read waits for a standby connection before it goes to the primary (a
/// standby that is away is noticed this fast).
const WAIT: Duration = Duration::from_millis(300);

/// What a read needs the standby to have replayed: these chats up to these revs.
pub type Need = Vec<(ChatId, Rev)>;

/// The standby's pool, if there is one (app data, one per instance).
pub struct Standby {
    pool: Option<DbPool>,
    /// Milliseconds since `epoch` until which the standby rests (0: it does not).
    resting_until: AtomicU64,
    epoch: Instant,
}

impl Standby {
    /// No standby: every read goes to the primary.
    pub fn none() -> Self {
        Standby { pool: None, resting_until: AtomicU64::new(0), epoch: Instant::now() }
    }

    /// A standby at `url`, with the primary pool's options but a short wait.
    pub fn at(url: &str, options: &PoolOptions) -> Self {
        let pool = build_pool(url, &PoolOptions { wait: WAIT, ..options.clone() });
        Standby { pool: Some(pool), ..Standby::none() }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn usable(&self) -> Option<&DbPool> {
        self.pool.as_ref().filter(|_| self.resting_until.load(Ordering::Relaxed) <= self.now_ms())
    }

    fn failed(&self, error: &AppError) {
        tracing::warn!(error = %error, "the standby failed a read; reading from the primary, and not from the standby for {REST:?}");
        self.resting_until.store(self.now_ms() + REST.as_millis() as u64, Ordering::Relaxed);
    }

    /// Whether a standby is configured at all.
    pub fn configured(&self) -> bool {
        self.pool.is_some()
    }

    /// `authorize` on the primary (who may read what, and what that needs: the chats
    /// shown, at the revs the primary has now), then `read` on the standby when it has
    /// replayed that (checked in the read's own snapshot), else on the primary. Without
    /// a usable standby both run in one blocking hop on the primary, as before.
    pub async fn read<P, T, A, F>(&self, primary: &DbPool, authorize: A, read: F) -> Result<(P, T), AppError>
    where
        A: FnOnce(&mut PgConnection) -> Result<(P, Need), AppError> + Send + 'static,
        F: Fn(&mut PgConnection, &P) -> Result<T, AppError> + Send + Sync + 'static,
        P: Clone + Send + 'static,
        T: Send + 'static,
    {
        let Some(standby) = self.usable() else {
            return super::run(primary, move |conn| {
                let (allowed, _) = authorize(conn)?;
                let value = read(conn, &allowed)?;
                Ok((allowed, value))
            })
            .await;
        };
        let (allowed, need) = super::run(primary, authorize).await?;
        let read = Arc::new(read);
        let (on_standby, given) = (read.clone(), allowed.clone());
        let attempt = super::run(standby, move |conn| {
            conn.build_transaction().read_only().repeatable_read().run(|conn| {
                if !replayed(conn, &need)? {
                    return Ok(None);
                }
                (*on_standby)(conn, &given).map(Some)
            })
        })
        .await;
        match attempt {
            Ok(Some(value)) => return Ok((allowed, value)),
            Ok(None) => tracing::debug!("the standby is behind what the read needs: reading from the primary"),
            Err(e) => self.failed(&e),
        }
        super::run(primary, move |conn| {
            let value = (*read)(conn, &allowed)?;
            Ok((allowed, value))
        })
        .await
    }

    /// For a blocking task that streams (the export): a connection of the standby on
    /// this thread in a read-only snapshot that has replayed `need`, given to `read`;
    /// `None` when there is no standby, it is behind or failed before `read` began (the
    /// caller then reads from the primary). Errors of `read` itself are returned: what it
    /// wrote cannot be taken back.
    pub fn read_here<T>(&self, need: &Need, read: impl FnOnce(&mut PgConnection) -> Result<T, AppError>) -> Option<Result<T, AppError>> {
        let standby = self.usable()?;
        let mut read = Some(read);
        let mut began = false;
        let result = super::run_here(standby, |conn| {
            conn.build_transaction().read_only().repeatable_read().run(|conn| {
                if !replayed(conn, need)? {
                    return Ok(None);
                }
                began = true;
                read.take().map(|read| read(conn)).transpose()
            })
        });
        match result {
            Ok(Some(value)) => Some(Ok(value)),
            Ok(None) => None,
            Err(e) if began => Some(Err(e)),
            Err(e) => {
                self.failed(&e);
                None
            }
        }
    }
}

/// Whether this database has every chat of `need` at least at its rev.
fn replayed(conn: &mut PgConnection, need: &Need) -> Result<bool, AppError> {
    if need.is_empty() {
        return Ok(true);
    }
    let ids: Vec<ChatId> = need.iter().map(|(id, _)| *id).collect();
    let here: HashMap<ChatId, Rev> = chats::last_revs(conn, &ids)?.into_iter().collect();
    Ok(need.iter().all(|(id, rev)| here.get(id).is_some_and(|there| there >= rev)))
}
