//! Building and running the app: database (private cluster or DATABASE_URL), migrations,
//! pool, middleware, and the HTTP server on a listener whose real port is reported.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_session::config::{CookieContentSecurity, PersistentSession};
use actix_session::SessionMiddleware;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::http::header;
use actix_web::middleware::{from_fn, DefaultHeaders, ErrorHandlers};
use actix_web::{web, App, HttpServer};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use crate::auth::browser::{self, BrowserCookies};
use crate::auth::oidc::{Oidc, OidcState};
use crate::auth::session_cache::SessionCache;
use crate::auth::session_store::{self, PgSessionStore};
use crate::auth::{csrf, upload_deadline};
use crate::config::Settings;
use crate::db::cluster::Cluster;
use crate::db::{self, migrate, DbPool};
use crate::error::AppError;
use crate::error_pages;
use crate::live::{self, Hub};
use crate::models::{app_secrets, auth_throttle, sessions};
use crate::routes;
use crate::routes::SendLimiter;
use crate::send_batch::SendBatcher;

/// How long a client may take to send a request's head; then 408 and the connection
/// closes, so slowly trickled headers (slowloris) hold a connection this long at most.
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a closing connection waits for the client to acknowledge.
const CLIENT_DISCONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Idle time before a keep-alive connection is closed.
const KEEP_ALIVE: Duration = Duration::from_secs(5);
/// How long a drain (SIGTERM) waits for in-flight requests: as long as a slow form body
/// may take (`csrf::FORM_READ_TIMEOUT`). Event streams end at once.
const SHUTDOWN_TIMEOUT_SECS: u64 = 10;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
                   form-action 'self'";

/// The database this instance uses, and the private cluster it started (if any), which
/// it stops again on shutdown.
pub struct Database {
    pub url: String,
    pub started_cluster: Option<Cluster>,
}

impl Database {
    /// DATABASE_URL, else the private cluster in the data directory (created on first
    /// start, started unless another instance already runs it), then migrated.
    pub fn open(settings: &Settings) -> anyhow::Result<Self> {
        let db = match &settings.database_url {
            Some(url) => Database { url: url.clone(), started_cluster: None },
            None => {
                let cluster = Cluster::new(&settings.data_dir)?;
                cluster.init()?;
                let started = cluster.start(&[])?;
                cluster.ensure_database("chaat")?;
                let url = cluster.url("chaat");
                Database { url, started_cluster: started.then_some(cluster) }
            }
        };
        migrate::run_pending(settings.direct_url(&db.url)).context("running migrations")?;
        Ok(db)
    }

    pub fn close(self) {
        if let Some(cluster) = self.started_cluster {
            if let Err(e) = cluster.stop() {
                tracing::error!(error = %e, "stopping PostgreSQL failed");
            } else {
                tracing::info!("PostgreSQL stopped");
            }
        }
    }
}

pub struct Application {
    port: u16,
    server: Server,
    hub: Arc<Hub>,
    batcher: SendBatcher,
}

impl Application {
    /// Binds `settings.bind` (port 0 picks a free port) against a migrated database.
    pub fn build(settings: Settings, database_url: &str) -> anyhow::Result<Self> {
        let options = settings.pool_options();
        let pool = db::build_pool(database_url, &options);
        let standby = match settings.database_read_url.as_deref().filter(|u| !u.is_empty()) {
            Some(url) => db::Standby::at(url, &options),
            None => db::Standby::none(),
        };
        let key = shared_key(&pool, "session_cookie_key")?;
        let browser = BrowserCookies::new(shared_key(&pool, "browser_cookie_key")?, settings.cookie_secure);
        // The provider is discovered in the background: Chaat starts (and passwords work)
        // while the provider is away.
        let oidc = OidcState(settings.oidc()?.map(Oidc::new).transpose()?.map(Arc::new));
        if let Some(oidc) = &oidc.0 {
            oidc.clone().discover_in_background();
        }
        let listener = TcpListener::bind(&settings.bind).with_context(|| format!("binding {}", settings.bind))?;
        let port = listener.local_addr()?.port();
        spawn_cleanup(pool.clone());
        let (sessions, barriers) = SessionCache::new();
        // LISTEN needs a session of its own: straight to PostgreSQL, never through a pooler.
        let hub = live::start(
            pool.clone(),
            settings.direct_url(database_url),
            live::StreamLimits::from_settings(&settings),
            sessions.clone(),
            barriers,
        );
        let batcher = SendBatcher::start(pool.clone(), hub.clone(), &settings).context("starting the message writers")?;
        let server = run(listener, Pools { pool, standby }, hub.clone(), sessions, batcher.clone(), key, browser, settings, oidc)?;
        Ok(Application { port, server, hub, batcher })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The instance's send batcher (tests watch its queue).
    pub fn send_batcher(&self) -> SendBatcher {
        self.batcher.clone()
    }

    /// Serves until SIGTERM or SIGINT, then drains (`shutdown`).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        actix_web::rt::spawn(crate::shutdown::drain_on_signal(self.hub, self.server.handle()));
        self.server.await
    }

    /// The server without signal handling (in-process tests stop it by its handle).
    pub fn server(self) -> Server {
        self.server
    }
}

/// A cookie signing key (the session cookie's, the browser cookies'), shared by every
/// instance through the database.
fn shared_key(pool: &DbPool, name: &str) -> anyhow::Result<Key> {
    // Not the per-request wait (which may be a few hundred ms): a busy server can take
    // longer than that to start the first connection, and start-up may wait.
    let mut conn = pool.get_timeout(Duration::from_secs(10)).context("connecting to the database")?;
    let fresh = Key::generate();
    let bytes = app_secrets::get_or_create(&mut conn, name, fresh.master())?;
    Key::try_from(bytes.as_slice()).with_context(|| format!("stored key {name} is too short"))
}

/// Purges expired sessions and old throttle windows every ten minutes.
fn spawn_cleanup(pool: DbPool) {
    actix_web::rt::spawn(async move {
        let mut every = actix_web::rt::time::interval(Duration::from_secs(600));
        loop {
            every.tick().await;
            let purged = db::run(&pool, |conn| {
                Ok::<_, AppError>((sessions::purge_expired(conn)?, auth_throttle::purge_older_than(conn, 86_400.0)?))
            })
            .await;
            match purged {
                Ok((s, t)) if s + t > 0 => tracing::info!(sessions = s, throttle_windows = t, "purged expired rows"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cleanup failed"),
            }
        }
    });
}

/// The request pool and the standby's (if any).
struct Pools {
    pool: DbPool,
    standby: db::Standby,
}

#[allow(clippy::too_many_arguments)]
fn run(
    listener: TcpListener,
    Pools { pool, standby }: Pools,
    hub: Arc<Hub>,
    session_cache: Arc<SessionCache>,
    batcher: SendBatcher,
    key: Key,
    browser: BrowserCookies,
    settings: Settings,
    oidc: OidcState,
) -> anyhow::Result<Server> {
    let store_pool = pool.clone();
    let pool = web::Data::new(pool);
    let standby = web::Data::new(standby);
    let hub = web::Data::from(hub);
    let settings = web::Data::new(settings);
    let browser = web::Data::new(browser);
    // One per instance, shared by its workers.
    let sends = web::Data::new(SendLimiter::new(settings.messages_per_10_s, Duration::from_secs(10)));
    let oidc = web::Data::new(oidc);
    let exports = web::Data::new(crate::export::Slots::default());
    let batcher = web::Data::new(batcher);
    let workers = settings.workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    // actix limits connections per worker; `max_connections` is the instance's total.
    let max_connections_per_worker = settings.max_connections.div_ceil(workers).max(1);
    let server = HttpServer::new(move || {
        let sessions = SessionMiddleware::builder(PgSessionStore::new(store_pool.clone(), session_cache.clone()), key.clone())
            .cookie_name("chaat_session".into())
            .cookie_secure(settings.cookie_secure)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_content_security(CookieContentSecurity::Signed)
            .session_lifecycle(
                PersistentSession::default()
                    .session_ttl(actix_web::cookie::time::Duration::seconds(settings.session_ttl().as_secs() as i64)),
            )
            .build();
        App::new()
            .app_data(pool.clone())
            .app_data(standby.clone())
            .app_data(hub.clone())
            .app_data(settings.clone())
            .app_data(browser.clone())
            .app_data(sends.clone())
            .app_data(oidc.clone())
            .app_data(exports.clone())
            .app_data(batcher.clone())
            .app_data(web::FormConfig::default().limit(csrf::FORM_LIMIT))
            .app_data(web::PayloadConfig::default().limit(csrf::FORM_LIMIT))
            .app_data(
                actix_multipart::form::MultipartFormConfig::default()
                    .total_limit(crate::pictures::limits::MAX_BODY_BYTES)
                    .memory_limit(crate::pictures::limits::MAX_BODY_BYTES),
            )
            .configure(routes::configure)
            .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(AppError::NotFound) }))
            .wrap(from_fn(csrf::protect))
            .wrap(from_fn(upload_deadline::limit_uploads))
            .wrap(from_fn(browser::set_cookies))
            // Inside the sessions (which take the session out of the request on the way
            // back) to know who is logged in. Errors of the sessions themselves are
            // rendered by `busy_is_503`. Each error is rendered once (`error_pages`).
            .wrap(ErrorHandlers::new().default_handler(error_pages::render))
            .wrap(sessions)
            .wrap(from_fn(session_store::busy_is_503))
            .wrap(from_fn(provider_form_action))
            .wrap(security_headers(settings.cookie_secure))
            // Outside everything that writes a body (error pages included): HTML answers
            // leave compressed for browsers that accept it; nothing else is touched.
            .wrap(from_fn(crate::compression::pages))
            .wrap(TracingLogger::default())
    })
    .client_request_timeout(CLIENT_REQUEST_TIMEOUT)
    .client_disconnect_timeout(CLIENT_DISCONNECT_TIMEOUT)
    .keep_alive(KEEP_ALIVE)
    .max_connections(max_connections_per_worker)
    .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
    // Signals are handled by `Application::run_until_stopped`, which drains the hub too.
    .disable_signals()
    .workers(workers)
    .listen(listener)?;
    Ok(server.run())
}

/// With an OpenID provider configured, the CSP of every answer that sets none lets forms
/// lead to the provider too (`Oidc::form_action_origins`: the sign-in form is redirected
/// to its authorization endpoint, and browsers check that redirect against the page's
/// `form-action`). Inside `security_headers`, which then keeps this CSP.
async fn provider_form_action(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let oidc = req.app_data::<web::Data<OidcState>>().and_then(|s| s.0.clone());
    let mut res = next.call(req).await?;
    if let Some(oidc) = oidc {
        if !res.headers().contains_key(header::CONTENT_SECURITY_POLICY) {
            let csp = CSP.replace("form-action 'self'", &format!("form-action 'self' {}", oidc.form_action_origins()));
            if let Ok(value) = header::HeaderValue::from_str(&csp) {
                res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, value);
            }
        }
    }
    Ok(res)
}

/// The headers every answer carries unless it sets its own (DefaultHeaders never
/// overrides one). `secure`: served over HTTPS (`CHAAT_COOKIE_SECURE`), so browsers are
/// told to use nothing else for a year.
fn security_headers(secure: bool) -> DefaultHeaders {
    let headers = DefaultHeaders::new()
        // Pages carry personal data and form tokens: no cache keeps them. Answers that
        // may be cached say so themselves (static files, pictures, event streams).
        .add((header::CACHE_CONTROL, "no-store"))
        .add((header::CONTENT_SECURITY_POLICY, CSP))
        .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .add((header::X_FRAME_OPTIONS, "DENY"))
        .add((header::REFERRER_POLICY, "same-origin"))
        .add(("Permissions-Policy", "camera=(), microphone=(), geolocation=()"));
    if secure {
        return headers.add((header::STRICT_TRANSPORT_SECURITY, "max-age=31536000; includeSubDomains"));
    }
    headers
}
