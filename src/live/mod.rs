//! Live delivery. Each instance has one `Hub`: streams of a chat subscribe to it; a send
//! publishes the committed message to this instance's streams at once and queues
//! "chat X reached seq N" for the other instances, which hear it through PostgreSQL
//! LISTEN/NOTIFY and load what their streams have not sent from the database. A sweep
//! re-reads the end of every watched chat now and then (and at once after the LISTEN
//! connection comes back), so a lost notification delays a message but never loses it.
//!
//! Every stream belongs to a session: ending a session (logout, a password change, "log
//! out other sessions") ends its streams here at once and on the other instances through
//! the same notifications; the sweep re-checks the sessions of open streams; and a
//! stream ends by itself after `CHAAT_STREAM_MAX_SECS`, so the browser reconnects and
//! its session is checked again. Streams are capped per person, per client address and
//! for the instance (`registry`).

mod hub;
pub mod inbox;
mod listener;
mod notifier;
mod person;
pub mod registry;
pub mod stream;

pub use hub::{Hub, Signal, TYPING_EVERY};
pub use registry::{Refusal, StreamLimits, Ticket};

use std::sync::Arc;
use std::time::Duration;

use crate::auth::session_cache::{Barriers, SessionCache};
use crate::db::DbPool;

/// How often every watched chat's end is re-read, and the sessions of open streams
/// re-checked, whatever the notifications say.
pub const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// Starts the hub and its three threads (notifier, listener, sweeper). They end by
/// themselves once the hub is dropped. The listener also keeps `sessions` correct and
/// answers its barriers.
pub fn start(pool: DbPool, database_url: &str, limits: StreamLimits, sessions: Arc<SessionCache>, barriers: Barriers) -> Arc<Hub> {
    let (notify_tx, notify_rx) = std::sync::mpsc::channel();
    let (sweep_tx, sweep_rx) = std::sync::mpsc::channel();
    let hub = Arc::new(Hub::new(limits, notify_tx, sweep_tx, Arc::new(person::DbLoad(pool.clone()))));
    notifier::spawn(database_url.to_string(), hub.instance(), notify_rx);
    listener::spawn(database_url.to_string(), Arc::downgrade(&hub), sessions, barriers);
    hub::spawn_sweeper(pool, Arc::downgrade(&hub), sweep_rx);
    hub
}
