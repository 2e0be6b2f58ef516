//! Settings, read from the environment (with defaults) once at start.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// One throttle rule: at most `limit` hits per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub limit: i32,
    pub window: Duration,
}

/// Growing delays: after `free` failures in a row, each attempt waits 1 s, then 2 s,
/// 4 s … (doubling with each further failure, at most `max_delay`) after the latest
/// failure. The failures are forgotten `forget` after the latest one, or at a success.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub free: i32,
    pub max_delay: Duration,
    pub forget: Duration,
}

impl Backoff {
    /// How long the attempt after `failures` failures in a row must wait after the
    /// latest of them (`None`: not at all).
    pub fn delay_after(&self, failures: i32) -> Option<Duration> {
        let beyond = failures.checked_sub(self.free).filter(|k| *k >= 0)?;
        let doubled = Duration::from_secs(1u64 << beyond.min(40));
        Some(doubled.min(self.max_delay))
    }
}

/// The longest wait a failed password costs (then one more try an hour).
pub const BACKOFF_MAX_DELAY: Duration = Duration::from_secs(3600);
/// Failures are forgotten a day after the latest (the cleanup purges such rows).
pub const BACKOFF_FORGET: Duration = Duration::from_secs(24 * 3600);
/// The window of the per-username ceiling of failed logins.
pub const LOGIN_CEILING_WINDOW: Duration = Duration::from_secs(3600);
/// Signup attempts for one username per throttle window.
pub const SIGNUPS_PER_USERNAME: i32 = 5;

#[derive(Debug, Clone, Args)]
pub struct Settings {
    /// Address to listen on.
    #[arg(long, env = "CHAAT_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Data directory of the private PostgreSQL cluster (used without DATABASE_URL).
    #[arg(long, env = "CHAAT_DATA_DIR", default_value = "./var")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL; without it Chaat runs its own cluster in the data directory.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,
    /// PostgreSQL itself (the primary), for what needs a session of its own: the LISTEN
    /// connection, the notifier and the migrations' lock. Set it when DATABASE_URL points
    /// at a pooler in transaction mode (PgBouncer); defaults to DATABASE_URL.
    #[arg(long, env = "CHAAT_DATABASE_DIRECT_URL")]
    pub database_direct_url: Option<String>,
    /// A hot standby of that database: history pages, search and the export read there
    /// when it has caught up with what they show (else from the primary).
    #[arg(long, env = "CHAAT_DATABASE_READ_URL")]
    pub database_read_url: Option<String>,
    /// DATABASE_URL (and the read URL) lead through a pooler in transaction mode
    /// (PgBouncer): no session state, no named prepared statements; the pooler sets
    /// the statement timeout (docs/scaling.md).
    #[arg(long, env = "CHAAT_DB_TRANSACTION_POOLING", default_value_t = false, action = clap::ArgAction::Set)]
    pub db_transaction_pooling: bool,
    /// Mark the session cookie `Secure` (set it when serving over HTTPS).
    #[arg(long, env = "CHAAT_COOKIE_SECURE", default_value_t = false)]
    pub cookie_secure: bool,
    /// Log filter (tracing-subscriber EnvFilter syntax).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log: String,
    /// Database connections in this instance's pool.
    #[arg(long, env = "CHAAT_DB_POOL_SIZE", default_value_t = 16)]
    pub db_pool_size: u32,
    /// How long a request waits for a database connection before answering 503.
    #[arg(long, env = "CHAAT_DB_WAIT_MS", default_value_t = 1500)]
    pub db_wait_ms: u64,
    /// Longest a single SQL statement may run (lock waits included) before it is
    /// cancelled and the request answers 503.
    #[arg(long, env = "CHAAT_DB_STATEMENT_TIMEOUT_MS", default_value_t = 5000)]
    pub db_statement_timeout_ms: u64,
    /// Session lifetime in hours (renewed while the session is used).
    #[arg(long, env = "CHAAT_SESSION_HOURS", default_value_t = 24 * 14)]
    pub session_hours: u32,
    /// Failed logins of one browser from one address for one username before its
    /// attempts wait (1 s, 2 s, 4 s … after each further failure, at most an hour).
    #[arg(long, env = "CHAAT_LOGIN_FAILURES_PER_BROWSER", default_value_t = 5)]
    pub login_failures_per_browser: i32,
    /// Failed logins from one address for one username, whatever the browser, before
    /// attempts from that address wait in the same way (browsers known for that
    /// username, where its owner logged in before, do not wait).
    #[arg(long, env = "CHAAT_LOGIN_FAILURES_PER_ADDR_AND_USER", default_value_t = 10)]
    pub login_failures_per_addr_and_user: i32,
    /// Failed logins per username per hour from everywhere; beyond it, until the hour
    /// is over, only browsers known for that username may try.
    #[arg(long, env = "CHAAT_LOGIN_FAILURES_PER_USER", default_value_t = 60)]
    pub login_failures_per_user: i32,
    /// Login attempts allowed per client address per window.
    #[arg(long, env = "CHAAT_LOGIN_ATTEMPTS_PER_ADDR", default_value_t = 30)]
    pub login_attempts_per_addr: i32,
    /// Messages a person may send at once; the allowance refills over 10 s (3 a second
    /// at the default). Counted in each instance's memory (SECURITY.md).
    #[arg(long, env = "CHAAT_MESSAGES_PER_10_S", default_value_t = 30)]
    pub messages_per_10_s: u32,
    /// Sends written together in one transaction (group commit, issue 19): at most this
    /// many per batch; 0 writes each send in its own transaction, as before.
    #[arg(long, env = "CHAAT_SEND_BATCH", default_value_t = 64)]
    pub send_batch: usize,
    /// Batches in flight at once (each on its own connection); sends that arrive while
    /// all are in flight wait, at most `CHAAT_DB_WAIT_MS`, for the next one.
    #[arg(long, env = "CHAAT_SEND_BATCH_WRITERS", default_value_t = 2)]
    pub send_batch_writers: usize,
    /// Megabytes of files (attachments) a person may store; a send past it is 413.
    #[arg(long, env = "CHAAT_UPLOAD_QUOTA_MB", default_value_t = 1024)]
    pub upload_quota_mb: u32,
    /// New friend requests a person may send per 10 minutes (answering someone's
    /// request, or a refused one, does not count).
    #[arg(long, env = "CHAAT_FRIEND_REQUESTS_PER_10_MIN", default_value_t = 10)]
    pub friend_requests_per_10_min: i32,
    /// Signups allowed per client address per window.
    #[arg(long, env = "CHAAT_SIGNUPS_PER_ADDR", default_value_t = 10)]
    pub signups_per_addr: i32,
    /// Length of the throttle window in seconds.
    #[arg(long, env = "CHAAT_THROTTLE_WINDOW_SECS", default_value_t = 300)]
    pub throttle_window_secs: u64,
    /// HTTP worker threads (defaults to the number of cores).
    #[arg(long, env = "CHAAT_WORKERS")]
    pub workers: Option<usize>,
    /// Open connections at most, over all workers (each open event stream is one).
    /// Beyond it the server stops accepting until some close, so a flood of connections
    /// cannot exhaust file descriptors or memory. An idle stream costs ~17 KiB
    /// (BENCHMARKS.md): 12,000 is ~200 MiB, and room for the 10,000 streams of the
    /// fanout benchmark. The process's open-files limit must be above it.
    #[arg(long, env = "CHAAT_MAX_CONNECTIONS", default_value_t = 12_000)]
    pub max_connections: usize,
    /// Serve live event streams. Turn off behind a proxy that buffers responses: the
    /// chat pages then poll for new messages every 3 s instead.
    #[arg(long, env = "CHAAT_EVENT_STREAMS", default_value_t = true, action = clap::ArgAction::Set)]
    pub event_streams: bool,
    /// Open event streams per person on this instance (a few tabs' worth); one more
    /// closes that person's oldest stream (live::registry says why). Streams together
    /// never take more than 90 % of `CHAAT_MAX_CONNECTIONS` (then 503).
    #[arg(long, env = "CHAAT_STREAMS_PER_PERSON", default_value_t = 8)]
    pub streams_per_person: usize,
    /// Open event streams per client address on this instance (then 429).
    #[arg(long, env = "CHAAT_STREAMS_PER_ADDR", default_value_t = 32)]
    pub streams_per_addr: usize,
    /// An event stream ends by itself after this many seconds (up to a tenth less, at
    /// random); the browser reconnects where it stopped and its session is checked again.
    #[arg(long, env = "CHAAT_STREAM_MAX_SECS", default_value_t = 600)]
    pub stream_max_secs: u64,
    /// Addresses or networks (`10.0.0.0/8`) of the reverse proxies in front of Chaat
    /// (comma-separated): only a request whose TCP peer is one of them may say, in
    /// `Forwarded` or `X-Forwarded-Host`/`-Proto`, which origin the browser used, and in
    /// `X-Forwarded-For` which client it came from (`auth::client_addr`).
    #[arg(long, env = "CHAAT_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<crate::auth::client_addr::Cidr>,
    /// The OpenID Connect provider's issuer URL (discovery at
    /// `{issuer}/.well-known/openid-configuration`). Without it there is no
    /// "Sign in with …" button and the `/auth/oidc/*` routes answer 404.
    #[arg(long, env = "CHAAT_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,
    /// The client id registered at the provider.
    #[arg(long, env = "CHAAT_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,
    /// The client secret registered at the provider (printed redacted).
    #[arg(long, env = "CHAAT_OIDC_CLIENT_SECRET")]
    pub oidc_client_secret: Option<String>,
    /// The provider's name on the button: "Sign in with {name}".
    #[arg(long, env = "CHAAT_OIDC_NAME", default_value = "your organisation")]
    pub oidc_name: String,
    /// The URL browsers use to reach Chaat (`https://chat.example.org`); the redirect URI
    /// registered at the provider is `{public_url}/auth/oidc/callback`.
    #[arg(long, env = "CHAAT_PUBLIC_URL")]
    pub public_url: Option<String>,
}

/// The OpenID Connect settings, complete (`Settings::oidc`).
#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<String>,
    pub name: String,
    /// `{CHAAT_PUBLIC_URL}/auth/oidc/callback`.
    pub redirect_uri: String,
}

impl Settings {
    /// Defaults without reading the environment (tests start from these).
    pub fn defaults() -> Self {
        Settings {
            bind: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./var"),
            database_url: None,
            database_direct_url: None,
            database_read_url: None,
            db_transaction_pooling: false,
            cookie_secure: false,
            log: "info".into(),
            db_pool_size: 16,
            db_wait_ms: 1500,
            db_statement_timeout_ms: 5000,
            session_hours: 24 * 14,
            login_failures_per_browser: 5,
            login_failures_per_addr_and_user: 10,
            login_failures_per_user: 60,
            login_attempts_per_addr: 30,
            signups_per_addr: 10,
            friend_requests_per_10_min: 10,
            messages_per_10_s: 30,
            send_batch: 64,
            send_batch_writers: 2,
            upload_quota_mb: 1024,
            throttle_window_secs: 300,
            workers: None,
            max_connections: 12_000,
            event_streams: true,
            streams_per_person: 8,
            streams_per_addr: 32,
            stream_max_secs: 600,
            trusted_proxies: Vec::new(),
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_name: "your organisation".into(),
            public_url: None,
        }
    }

    /// Sign-in with a provider: `None` when `CHAAT_OIDC_ISSUER` is not set; an error when
    /// it is set but the client id or the public URL is missing (a half configuration
    /// would show a button that cannot work).
    pub fn oidc(&self) -> anyhow::Result<Option<OidcSettings>> {
        let Some(issuer) = self.oidc_issuer.as_deref().filter(|s| !s.trim().is_empty()) else {
            return Ok(None);
        };
        let client_id = self.oidc_client_id.clone().filter(|s| !s.is_empty());
        let public_url = self.public_url.as_deref().filter(|s| !s.is_empty());
        let (Some(client_id), Some(public_url)) = (client_id, public_url) else {
            anyhow::bail!("CHAAT_OIDC_ISSUER is set: CHAAT_OIDC_CLIENT_ID and CHAAT_PUBLIC_URL are needed too");
        };
        Ok(Some(OidcSettings {
            issuer: issuer.trim().to_string(),
            client_id,
            client_secret: self.oidc_client_secret.clone().filter(|s| !s.is_empty()),
            name: self.oidc_name.clone(),
            redirect_uri: format!("{}/auth/oidc/callback", public_url.trim_end_matches('/')),
        }))
    }

    fn window(&self) -> Duration {
        Duration::from_secs(self.throttle_window_secs)
    }
    fn backoff(free: i32) -> Backoff {
        Backoff { free, max_delay: BACKOFF_MAX_DELAY, forget: BACKOFF_FORGET }
    }
    /// Failed logins of one browser, from one address, for one username.
    pub fn login_per_browser(&self) -> Backoff {
        Self::backoff(self.login_failures_per_browser)
    }
    /// Failed logins from one address for one username.
    pub fn login_per_addr_and_user(&self) -> Backoff {
        Self::backoff(self.login_failures_per_addr_and_user)
    }
    /// The ceiling of failed logins for one username from everywhere.
    pub fn login_per_user(&self) -> Limit {
        Limit { limit: self.login_failures_per_user, window: LOGIN_CEILING_WINDOW }
    }
    pub fn login_per_addr(&self) -> Limit {
        Limit { limit: self.login_attempts_per_addr, window: self.window() }
    }
    pub fn signup_per_addr(&self) -> Limit {
        Limit { limit: self.signups_per_addr, window: self.window() }
    }
    /// Signup attempts for one username: a guard against hammering one name.
    pub fn signup_per_user(&self) -> Limit {
        Limit { limit: SIGNUPS_PER_USERNAME, window: self.window() }
    }
    /// New friend requests per person.
    pub fn friend_requests_per_user(&self) -> Limit {
        Limit { limit: self.friend_requests_per_10_min, window: Duration::from_secs(600) }
    }
    /// The upload quota in bytes.
    pub fn upload_quota_bytes(&self) -> i64 {
        i64::from(self.upload_quota_mb) * 1024 * 1024
    }
    /// The URL of PostgreSQL itself for sessions of their own (LISTEN, migrations):
    /// `CHAAT_DATABASE_DIRECT_URL`, else `url` (the one the pool uses).
    pub fn direct_url<'a>(&'a self, url: &'a str) -> &'a str {
        self.database_direct_url.as_deref().filter(|u| !u.is_empty()).unwrap_or(url)
    }
    /// How the request pool (and the standby's) reach their database.
    pub fn pool_options(&self) -> crate::db::PoolOptions {
        crate::db::PoolOptions {
            size: self.db_pool_size,
            wait: Duration::from_millis(self.db_wait_ms),
            statement_timeout: Duration::from_millis(self.db_statement_timeout_ms),
            transaction_pooling: self.db_transaction_pooling,
        }
    }
    pub fn session_ttl(&self) -> Duration {
        Duration::from_secs(u64::from(self.session_hours) * 3600)
    }
}

/// Printed at start; the database URL is shown without its password.
impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let db = match &self.database_url {
            Some(url) => redact_password(url),
            None => format!("private cluster in {}", self.data_dir.display()),
        };
        write!(
            f,
            "bind={} database=({}) direct={} read={} transaction_pooling={} cookie_secure={} log={} db_pool_size={} db_wait_ms={} db_statement_timeout_ms={} \
             session_hours={} throttle: login failures {}/browser {}/addr+user then growing delays, {}/user per hour, \
             login {}/addr, signup {}/addr per {}s, friend requests {}/10 min, messages {}/10 s \
             upload_quota_mb={} max_connections={} event_streams={} streams: {}/person {}/addr, max {}s trusted_proxies={:?} \
             oidc_issuer={:?} oidc_client_id={:?} oidc_client_secret={} oidc_name={:?} public_url={:?} \
             send_batch={} send_batch_writers={}",
            self.bind,
            db,
            self.database_direct_url.as_deref().map_or_else(|| "-".into(), redact_password),
            self.database_read_url.as_deref().map_or_else(|| "-".into(), redact_password),
            self.db_transaction_pooling,
            self.cookie_secure,
            self.log,
            self.db_pool_size,
            self.db_wait_ms,
            self.db_statement_timeout_ms,
            self.session_hours,
            self.login_failures_per_browser,
            self.login_failures_per_addr_and_user,
            self.login_failures_per_user,
            self.login_attempts_per_addr,
            self.signups_per_addr,
            self.throttle_window_secs,
            self.friend_requests_per_10_min,
            self.messages_per_10_s,
            self.upload_quota_mb,
            self.max_connections,
            self.event_streams,
            self.streams_per_person,
            self.streams_per_addr,
            self.stream_max_secs,
            self.trusted_proxies,
            self.oidc_issuer,
            self.oidc_client_id,
            if self.oidc_client_secret.is_some() { "***" } else { "none" },
            self.oidc_name,
            self.public_url,
            self.send_batch,
            self.send_batch_writers,
        )
    }
}

fn redact_password(url: &str) -> String {
    // postgres://user:secret@host/db -> postgres://user:***@host/db
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!("{}{}:***{}", &url[..scheme_end + 3], &userinfo[..colon], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{redact_password, Backoff};

    #[test]
    fn delays_double_after_the_free_failures_up_to_the_maximum() {
        let rule = Backoff { free: 5, max_delay: Duration::from_secs(3600), forget: Duration::from_secs(86_400) };
        let delays: Vec<Option<u64>> =
            [0, 4, 5, 6, 7, 16, 17, 100, i32::MAX].iter().map(|&n| rule.delay_after(n).map(|d| d.as_secs())).collect();
        assert_eq!(delays, [None, None, Some(1), Some(2), Some(4), Some(2048), Some(3600), Some(3600), Some(3600)]);
        let none_free = Backoff { free: 0, ..rule };
        assert_eq!(none_free.delay_after(0), Some(Duration::from_secs(1)));
    }

    #[test]
    fn the_oidc_client_secret_is_never_printed() {
        let settings = super::Settings {
            oidc_issuer: Some("https://id.example.org".into()),
            oidc_client_id: Some("chaat".into()),
            oidc_client_secret: Some("s3cr3t-value".into()),
            public_url: Some("https://chat.example.org/".into()),
            ..super::Settings::defaults()
        };
        let shown = settings.to_string();
        assert!(!shown.contains("s3cr3t-value") && shown.contains("oidc_client_secret=***"), "{shown}");
        let oidc = settings.oidc().unwrap().unwrap();
        assert_eq!(oidc.redirect_uri, "https://chat.example.org/auth/oidc/callback");
        let half = super::Settings { public_url: None, ..settings };
        assert!(half.oidc().is_err(), "an issuer without the public URL is refused");
        assert!(super::Settings::defaults().oidc().unwrap().is_none());
    }

    #[test]
    fn a_password_in_the_database_url_is_hidden() {
        assert_eq!(redact_password("postgres://app:hunter2@db/chaat"), "postgres://app:***@db/chaat");
        assert_eq!(redact_password("postgresql://app@/x?host=/tmp"), "postgresql://app@/x?host=/tmp");
    }
}
