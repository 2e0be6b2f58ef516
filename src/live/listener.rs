//! The instance's one LISTEN connection (not from the pool), on its own thread. It
//! hears the other instances' live updates (`chaat_live`) and every session change
//! (`chaat_session`, for the session cache), and runs the session cache's sync barriers
//! (`auth::session_cache`: one `pg_notify` on a channel of this instance per batch of
//! waiting requests). diesel's notification iterator does not block, so between
//! barriers the thread reads what arrived every 20 ms. On failure it reconnects with
//! backoff and asks for a sweep: notifications sent while it was away are lost, and the
//! sweep makes every open stream catch up from the DB; the session cache is off (every
//! request reads its session) until the connection is back, and starts empty.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, RunQueryDsl};

use super::hub::{Hub, Signal};
use super::notifier::{self, CHANNEL};
use crate::auth::session_cache::{self, Barriers, SessionCache};

const POLL_EVERY: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How long a barrier's own notification may take to come back before the waiting
/// requests read their sessions from the database instead. PostgreSQL sends a session
/// its own notifications before the answer to the statement that sent them ends, so
/// this is only reached when something is badly wrong.
const BARRIER_TIMEOUT: Duration = Duration::from_secs(1);

pub(super) fn spawn(url: String, hub: Weak<Hub>, sessions: Arc<SessionCache>, barriers: Barriers) {
    let spawned = std::thread::Builder::new().name("chaat-listener".into()).spawn(move || {
        let mut backoff = Duration::from_millis(100);
        let mut first = true;
        while hub.strong_count() > 0 {
            let heard = listen(&url, &hub, first, &sessions, &barriers);
            sessions.set_listening(false);
            barriers.refuse_waiting();
            match heard {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "live listener lost its connection; reconnecting in {backoff:?}");
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    first = false;
                }
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the live listener");
    }
}

/// The channel of this instance's barriers: only its own listener hears them.
fn sync_channel(hub: &Hub) -> String {
    format!("chaat_sync_{}", hub.instance().simple())
}

/// Listens until the hub is gone (Ok) or the connection fails (Err).
fn listen(url: &str, hub: &Weak<Hub>, first: bool, sessions: &SessionCache, barriers: &Barriers) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(url)?;
    let sync = match hub.upgrade() {
        Some(hub) => sync_channel(&hub),
        None => return Ok(()),
    };
    // A barrier's notification needs no durability (nothing is stored): its commit
    // does not wait for a WAL flush.
    diesel::sql_query("SET synchronous_commit = off").execute(&mut conn)?;
    diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn)?;
    diesel::sql_query(format!("LISTEN {}", session_cache::CHANNEL)).execute(&mut conn)?;
    diesel::sql_query(format!("LISTEN {sync}")).execute(&mut conn)?;
    // From here on every session change is heard: the cache may be used (it starts empty).
    sessions.set_listening(true);
    // The name tells a listening connection apart in `pg_stat_activity` (operators, and
    // the tests that cut it); set last, so it also says that the cache is on.
    diesel::sql_query("SET application_name = 'chaat-listener'").execute(&mut conn)?;
    if !first {
        tracing::info!("live listener reconnected");
        if let Some(hub) = hub.upgrade() {
            hub.sweep_soon();
        }
    }
    let mut barrier: u64 = 0;
    loop {
        let Some(here) = hub.upgrade() else { return Ok(()) };
        read(&mut conn, &here, sessions, &sync, None)?;
        drop(here);
        let waiting = barriers.next_batch(POLL_EVERY);
        if waiting.is_empty() {
            continue;
        }
        // Every request in `waiting` asked before this notification is sent.
        barrier += 1;
        let token = barrier.to_string();
        crate::db::prepared("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(sync.as_str())
            .bind::<Text, _>(token.as_str())
            .execute(&mut conn)?;
        let Some(here) = hub.upgrade() else { return Ok(()) };
        let deadline = Instant::now() + BARRIER_TIMEOUT;
        let mut came_back = read(&mut conn, &here, sessions, &sync, Some(&token))?;
        while !came_back && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            came_back = read(&mut conn, &here, sessions, &sync, Some(&token))?;
        }
        if came_back {
            // Released only now: every change that committed before the barrier is applied.
            waiting.into_iter().for_each(|w| {
                let _ = w.send(());
            });
        } else {
            // Dropped unanswered: they read their sessions from the database.
            tracing::warn!("a session barrier did not come back in time");
        }
    }
}

/// Applies every notification that arrived, in order. Returns whether the barrier
/// `token` was among them.
fn read(conn: &mut PgConnection, hub: &Hub, sessions: &SessionCache, sync: &str, token: Option<&str>) -> anyhow::Result<bool> {
    let mut reached = false;
    for notification in conn.notifications_iter() {
        let notification = notification?;
        if notification.channel == session_cache::CHANNEL {
            sessions.changed(&notification.payload);
            continue;
        }
        if notification.channel == sync {
            reached |= token == Some(notification.payload.as_str());
            continue;
        }
        let Some((instance, batch)) = notifier::parse(&notification.payload) else { continue };
        if instance == hub.instance() {
            continue;
        }
        // Ends first: a message sent after a logout must not reach that session's streams.
        for end in &batch.ended {
            hub.end_here(end);
        }
        for (chat_id, rev) in batch.reached {
            hub.signal(chat_id, Signal::Reached(rev));
        }
        for user_id in batch.poked {
            hub.poke_here(user_id);
        }
        for ((chat_id, user_id), name) in batch.typing {
            hub.signal(chat_id, Signal::Typing { user_id, name: name.into() });
        }
    }
    Ok(reached)
}
