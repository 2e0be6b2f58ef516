//! The instance's one LISTEN connection (not from the pool), on its own thread.
//! diesel's notification iterator does not block, so the thread polls it every 20 ms.
//! On failure it reconnects with backoff and asks for a sweep: notifications sent while
//! it was away are lost, and the sweep makes every open stream catch up from the DB.

use std::sync::Weak;
use std::time::Duration;

use diesel::{Connection, PgConnection, RunQueryDsl};

use super::hub::{Hub, Signal};
use super::notifier::{self, CHANNEL};

const POLL_EVERY: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

pub(super) fn spawn(url: String, hub: Weak<Hub>) {
    let spawned = std::thread::Builder::new().name("chaat-listener".into()).spawn(move || {
        let mut backoff = Duration::from_millis(100);
        let mut first = true;
        while hub.strong_count() > 0 {
            match listen(&url, &hub, first) {
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

/// Listens until the hub is gone (Ok) or the connection fails (Err).
fn listen(url: &str, hub: &Weak<Hub>, first: bool) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(url)?;
    diesel::sql_query(format!("LISTEN {CHANNEL}")).execute(&mut conn)?;
    if !first {
        tracing::info!("live listener reconnected");
        if let Some(hub) = hub.upgrade() {
            hub.sweep_soon();
        }
    }
    loop {
        let Some(hub) = hub.upgrade() else { return Ok(()) };
        for notification in conn.notifications_iter() {
            let notification = notification?;
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
        drop(hub);
        std::thread::sleep(POLL_EVERY);
    }
}
