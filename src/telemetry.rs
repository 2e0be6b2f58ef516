//! Logging: tracing with an env filter; each request gets a request id (tracing-actix-web).

use tracing_subscriber::EnvFilter;

pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // Tests call this more than once; only the first call installs the subscriber.
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).try_init();
}
