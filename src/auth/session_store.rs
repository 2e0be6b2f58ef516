//! `SessionStore` for actix-session over the `sessions` table. The cookie carries only a
//! random key; the table stores its SHA-256, the state as JSON, the user id (so a user's
//! sessions can be listed and ended) and the user agent. Loaded sessions are kept in
//! the instance's `SessionCache`, which is correct across instances (see there).

use std::cell::Cell;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use crate::models::UserId;
use actix_session::storage::{generate_session_key, LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use actix_web::body::MessageBody;
use actix_web::cookie::time::Duration;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::middleware::Next;
use chrono::Utc;

use super::current_user::keys;
use super::session_cache::{SessionCache, State};
use super::tokens::sha256;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::error_pages;
use crate::models::sessions::{self, NewSession};

tokio::task_local! {
    /// Set by the store while a request runs inside `busy_is_503`: a write failed only
    /// because the database was busy or away.
    static STORE_BUSY: Cell<bool>;
    /// Set by `busy_is_503` for an event stream's request: its session is loaded
    /// through the pool's stream lane (`db::run_stream`), like the rest of its start, so
    /// a burst of reconnecting tabs is not refused because the pool was briefly busy.
    static STREAM_START: bool;
}

/// `GET /events` and `GET /chats/{id}/events` (SPEC §6).
fn is_event_stream(req: &ServiceRequest) -> bool {
    let path = req.path();
    req.method() == actix_web::http::Method::GET && (path == "/events" || (path.starts_with("/chats/") && path.ends_with("/events")))
}

fn store_error(e: AppError) -> anyhow::Error {
    if matches!(e, AppError::Unavailable(_)) {
        // Outside `busy_is_503` (no request) there is nobody to tell.
        let _ = STORE_BUSY.try_with(|busy| busy.set(true));
    }
    anyhow::anyhow!("session store: {e}")
}

/// Middleware outside the sessions: actix-session turns a failed save, update or delete
/// into an opaque 500 error. When the store was only busy (an exhausted pool, a
/// statement timeout), the error becomes a 503 with Retry-After: the request may simply
/// be repeated. The store says so through a task-local flag, not through the error,
/// which actix-session makes opaque.
///
/// Errors of the session layer pass no error-page layer (those see responses), so the
/// page is rendered here, once, for an anonymous visitor: the session is what failed.
pub async fn busy_is_503<B: MessageBody>(req: ServiceRequest, next: Next<B>) -> Result<ServiceResponse<B>, actix_web::Error> {
    let stream = is_event_stream(&req);
    let scoped = STORE_BUSY.scope(Cell::new(false), async move {
        next.call(req).await.map_err(|e| {
            let error = if STORE_BUSY.with(Cell::get) {
                AppError::Unavailable("session store busy".into())
            } else {
                AppError::Internal(anyhow::anyhow!("session layer: {e}"))
            };
            InternalError::from_response(error.to_string(), error_pages::anonymous(&error)).into()
        })
    });
    STREAM_START.scope(stream, scoped).await
}

/// A session without a login lives this long. Anonymous visitors get none (their form
/// token is a signed cookie, `auth::browser`); this bounds the rare row without a user
/// (`write` replacing a session ended elsewhere during its request).
const ANONYMOUS_TTL: StdDuration = StdDuration::from_secs(2 * 3600);
/// `last_seen_at` is written at most this often, so page views stay read-only.
const TOUCH_EVERY: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

#[derive(Clone)]
pub struct PgSessionStore {
    pool: DbPool,
    cache: Arc<SessionCache>,
}

impl PgSessionStore {
    pub fn new(pool: DbPool, cache: Arc<SessionCache>) -> Self {
        PgSessionStore { pool, cache }
    }
}

/// actix-session keeps every value JSON-encoded; the table stores them decoded so that
/// SQL can read fields such as `data->>'sid'`.
fn to_json(state: &State) -> serde_json::Value {
    let map = state
        .iter()
        .filter(|(k, _)| k.as_str() != keys::UNAVAILABLE)
        .map(|(k, v)| (k.clone(), serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.clone()))))
        .collect();
    serde_json::Value::Object(map)
}

fn from_json(data: serde_json::Value) -> State {
    match data {
        serde_json::Value::Object(map) => map.into_iter().map(|(k, v)| (k, v.to_string())).collect(),
        _ => State::new(),
    }
}

fn user_id_of(state: &State) -> Option<UserId> {
    state.get(keys::USER_ID).and_then(|v| serde_json::from_str(v).ok())
}

fn user_agent_of(state: &State) -> Option<String> {
    state.get(keys::USER_AGENT).and_then(|v| serde_json::from_str(v).ok())
}

fn expiry(state: &State, ttl: &Duration) -> chrono::DateTime<Utc> {
    let ttl = StdDuration::from_secs(ttl.whole_seconds().max(0).unsigned_abs());
    let ttl = if user_id_of(state).is_some() { ttl } else { ttl.min(ANONYMOUS_TTL) };
    Utc::now() + chrono::TimeDelta::from_std(ttl).unwrap_or(chrono::TimeDelta::hours(1))
}

impl PgSessionStore {
    /// Inserts (`is_new`) or replaces a session's state. When an update finds the session
    /// gone (it was ended elsewhere during this request), a fresh session without the
    /// old state is created instead, so an ended login is never revived.
    async fn write(&self, key: SessionKey, state: State, ttl: &Duration, is_new: bool) -> anyhow::Result<SessionKey> {
        let expires_at = expiry(&state, ttl);
        let hash = sha256(key.as_ref().as_bytes());
        let written = db::run(&self.pool, move |conn| {
            let ua = user_agent_of(&state);
            let mut row =
                NewSession { key_hash: &hash, user_id: user_id_of(&state), data: to_json(&state), user_agent: ua.as_deref(), expires_at };
            if is_new {
                sessions::insert(conn, &row)?;
                return Ok::<_, AppError>(key);
            }
            if sessions::update(conn, &row)? {
                return Ok(key);
            }
            let fresh = generate_session_key();
            let fresh_hash = sha256(fresh.as_ref().as_bytes());
            row = NewSession { key_hash: &fresh_hash, user_id: None, data: to_json(&State::new()), user_agent: None, expires_at };
            sessions::insert(conn, &row)?;
            Ok(fresh)
        })
        .await;
        // Whatever happened, this instance's copy is no longer the row.
        self.cache.forget(&hash);
        written.map_err(store_error)
    }
}

impl SessionStore for PgSessionStore {
    async fn load(&self, key: &SessionKey) -> Result<Option<State>, LoadError> {
        let hash = sha256(key.as_ref().as_bytes());
        if let Some(state) = self.cache.get(&hash, TOUCH_EVERY).await {
            return Ok(Some(state));
        }
        let ticket = self.cache.ticket();
        let read = move |conn: &mut diesel::PgConnection| {
            let Some(found) = sessions::find_live(conn, &hash)? else { return Ok(None) };
            let mut seen_at = found.last_seen_at;
            if Utc::now() - seen_at > TOUCH_EVERY {
                sessions::touch(conn, &hash)?;
                seen_at = Utc::now();
            }
            Ok::<_, AppError>(Some((from_json(found.data), found.expires_at, seen_at)))
        };
        let loaded = if STREAM_START.try_with(|s| *s).unwrap_or(false) {
            db::run_stream(&self.pool, read).await
        } else {
            db::run(&self.pool, read).await
        };
        match loaded {
            Ok(Some((state, expires_at, seen_at))) => {
                self.cache.fill(ticket, hash, &state, expires_at, seen_at);
                Ok(Some(state))
            }
            Ok(None) => Ok(None),
            // actix-session answers a load error with a bare 500. A database that is away
            // is a 503 page instead: the extractors see this marker and say so.
            Err(AppError::Unavailable(why)) => {
                tracing::warn!(%why, "session store unavailable");
                Ok(Some(State::from([(keys::UNAVAILABLE.to_string(), "true".to_string())])))
            }
            Err(e) => Err(LoadError::Other(anyhow::anyhow!("session store: {e}"))),
        }
    }

    async fn save(&self, state: State, ttl: &Duration) -> Result<SessionKey, SaveError> {
        self.write(generate_session_key(), state, ttl, true).await.map_err(SaveError::Other)
    }

    async fn update(&self, key: SessionKey, state: State, ttl: &Duration) -> Result<SessionKey, UpdateError> {
        self.write(key, state, ttl, false).await.map_err(UpdateError::Other)
    }

    async fn update_ttl(&self, key: &SessionKey, ttl: &Duration) -> anyhow::Result<()> {
        let hash = sha256(key.as_ref().as_bytes());
        let expires_at = Utc::now() + chrono::TimeDelta::seconds(ttl.whole_seconds());
        let set = db::run(&self.pool, move |conn| sessions::set_expiry(conn, &hash, expires_at).map_err(AppError::from)).await;
        self.cache.forget(&hash);
        set.map_err(store_error)
    }

    async fn delete(&self, key: &SessionKey) -> anyhow::Result<()> {
        let hash = sha256(key.as_ref().as_bytes());
        let deleted = db::run(&self.pool, move |conn| sessions::delete(conn, &hash).map_err(AppError::from)).await;
        self.cache.forget(&hash);
        deleted.map_err(store_error)
    }
}
