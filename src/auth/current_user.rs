//! `TypedSession` (the only code that knows session key names) and the `CurrentUser`
//! extractor every authenticated handler takes.

use std::future::{ready, Ready};

use super::{browser, tokens};
use crate::error::AppError;
use crate::models::UserId;
use actix_session::{Session, SessionExt};
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};

pub mod keys {
    pub const USER_ID: &str = "user_id";
    pub const USERNAME: &str = "username";
    /// The per-session CSRF token.
    pub const CSRF: &str = "csrf";
    /// A public id of the session (listing sessions, "log out the others").
    pub const SID: &str = "sid";
    pub const USER_AGENT: &str = "ua";
    /// A started OpenID sign-in (`auth::oidc::Pending`): state, nonce, PKCE verifier.
    pub const OIDC_PENDING: &str = "oidc_pending";
    /// A verified provider account waiting for its username (`auth::oidc::Identity`).
    pub const OIDC_IDENTITY: &str = "oidc_identity";
    /// Set (never stored) when the session could not be loaded: the database is away.
    pub const UNAVAILABLE: &str = "__unavailable";
}

pub struct TypedSession(Session);

impl TypedSession {
    pub fn of(req: &HttpRequest) -> Self {
        TypedSession(req.get_session())
    }

    fn get(&self, key: &str) -> Option<String> {
        self.0.get::<String>(key).ok().flatten()
    }

    /// The CSRF token of this session: a logged-in one has it from its login. An
    /// anonymous visitor's token is in a signed cookie instead (`browser::form_token`),
    /// so that showing a form writes no session row.
    pub fn csrf_token_if_any(&self) -> Option<String> {
        self.get(keys::CSRF)
    }

    /// Stores `value` (as JSON) under `key`.
    pub fn put<T: serde::Serialize>(&self, key: &str, value: &T) -> Result<(), AppError> {
        self.0.insert(key, value).map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")))
    }

    /// The value under `key`, taken out of the session (so it is used once).
    pub fn take<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.0.remove_as::<T>(key).and_then(Result::ok)
    }

    /// The value under `key`, left in the session.
    pub fn peek<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.0.get::<T>(key).ok().flatten()
    }

    /// Logs `user_id` in: a new session key (against fixation), a new CSRF token, a new sid.
    pub fn log_in(&self, user_id: UserId, username: &str, user_agent: Option<&str>) -> Result<(), AppError> {
        self.0.renew();
        // A sign-in with a provider left unfinished does not follow into the login.
        self.0.remove(keys::OIDC_PENDING);
        self.0.remove(keys::OIDC_IDENTITY);
        let insert = |k: &str, v: String| self.0.insert(k, v).map_err(|e| AppError::Internal(anyhow::anyhow!("{e}")));
        insert(keys::USER_ID, user_id.to_string())?;
        insert(keys::USERNAME, username.to_string())?;
        insert(keys::CSRF, tokens::random_hex(32))?;
        insert(keys::SID, tokens::random_hex(16))?;
        let ua: String = user_agent.unwrap_or("unknown browser").chars().take(200).collect();
        insert(keys::USER_AGENT, ua)?;
        Ok(())
    }

    /// The session, unless the store could not reach the database for this request
    /// (then 503: whoever is asking cannot be told apart from a visitor).
    pub fn loaded(req: &HttpRequest) -> Result<Self, AppError> {
        let session = Self::of(req);
        if session.0.contains_key(keys::UNAVAILABLE) {
            return Err(AppError::Unavailable("session store".into()));
        }
        Ok(session)
    }

    /// A new session key for the same state (after a password change): the cookie value
    /// the browser held until now no longer opens the session.
    pub fn renew_key(&self) {
        self.0.renew();
    }

    pub fn log_out(&self) {
        self.0.purge();
    }

    pub fn current_user(&self) -> Option<CurrentUser> {
        let user_id = self.get(keys::USER_ID)?.parse().ok()?;
        Some(CurrentUser { user_id, username: self.get(keys::USERNAME)?, csrf_token: self.get(keys::CSRF)?, sid: self.get(keys::SID)? })
    }
}

/// The logged-in user. Extracting it from a request without a login answers with a
/// redirect to `/login` (`AppError::LoginRequired`).
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub user_id: UserId,
    pub username: String,
    pub csrf_token: String,
    pub sid: String,
}

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let htmx = crate::views::is_htmx(req);
        ready(TypedSession::loaded(req).and_then(|s| s.current_user().ok_or(AppError::LoginRequired { htmx })))
    }
}

/// The CSRF token for the login and signup pages: the session's when someone is logged
/// in, else the browser's signed form cookie (set with the answer when it has none yet).
/// Either way no session row is written.
pub struct CsrfToken(pub String);

impl FromRequest for CsrfToken {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(TypedSession::loaded(req).map(|s| CsrfToken(s.csrf_token_if_any().unwrap_or_else(|| browser::form_token_or_new(req)))))
    }
}
