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
    /// Failed logins allowed per username per window.
    #[arg(long, env = "CHAAT_LOGIN_FAILURES_PER_USER", default_value_t = 5)]
    pub login_failures_per_user: i32,
    /// Login attempts allowed per client address per window.
    #[arg(long, env = "CHAAT_LOGIN_ATTEMPTS_PER_ADDR", default_value_t = 30)]
    pub login_attempts_per_addr: i32,
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
    /// Addresses of the reverse proxies in front of Chaat (comma-separated): only a
    /// request whose TCP peer is one of them may say, in `Forwarded` or
    /// `X-Forwarded-Host`/`-Proto`, which origin the browser used.
    #[arg(long, env = "CHAAT_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<std::net::IpAddr>,
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
            cookie_secure: false,
            log: "info".into(),
            db_pool_size: 16,
            db_wait_ms: 1500,
            db_statement_timeout_ms: 5000,
            session_hours: 24 * 14,
            login_failures_per_user: 5,
            login_attempts_per_addr: 30,
            signups_per_addr: 10,
            throttle_window_secs: 300,
            workers: None,
            max_connections: 12_000,
            event_streams: true,
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
    pub fn login_per_user(&self) -> Limit {
        Limit { limit: self.login_failures_per_user, window: self.window() }
    }
    pub fn login_per_addr(&self) -> Limit {
        Limit { limit: self.login_attempts_per_addr, window: self.window() }
    }
    pub fn signup_per_addr(&self) -> Limit {
        Limit { limit: self.signups_per_addr, window: self.window() }
    }
    /// Signup attempts for one username: a guard against hammering one name.
    pub fn signup_per_user(&self) -> Limit {
        Limit { limit: self.login_failures_per_user, window: self.window() }
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
            "bind={} database=({}) cookie_secure={} log={} db_pool_size={} db_wait_ms={} db_statement_timeout_ms={} \
             session_hours={} throttle: login {}/user {}/addr, signup {}/addr per {}s trusted_proxies={:?} \
             oidc_issuer={:?} oidc_client_id={:?} oidc_client_secret={} oidc_name={:?} public_url={:?}",
            self.bind,
            db,
            self.cookie_secure,
            self.log,
            self.db_pool_size,
            self.db_wait_ms,
            self.db_statement_timeout_ms,
            self.session_hours,
            self.login_failures_per_user,
            self.login_attempts_per_addr,
            self.signups_per_addr,
            self.throttle_window_secs,
            self.trusted_proxies,
            self.oidc_issuer,
            self.oidc_client_id,
            if self.oidc_client_secret.is_some() { "***" } else { "none" },
            self.oidc_name,
            self.public_url,
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
    use super::redact_password;

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
