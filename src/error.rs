//! `AppError`: the one error type of the HTTP layer, and the one place where the other
//! layers' errors become it (`From` impls below). Form validation is not an error:
//! handlers re-render their form with 422.
//!
//! An `AppError` answers with its status and message only; `error_pages` renders the
//! page once, in the site layout, with the visitor's real navigation.

use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};

use crate::db::DbError;
use crate::models::friend_requests::NotAnswerable;
use crate::models::groups::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    /// Answered with a redirect to the login page (`htmx`: the request came from htmx,
    /// which ignores headers on a 3xx and gets 200 + `HX-Redirect` instead).
    #[error("login required")]
    LoginRequired { htmx: bool },
    #[error("forbidden: {0}")]
    Forbidden(&'static str),
    /// A body that cannot be read as what it claims (a malformed multipart upload): 400.
    #[error("bad request: {0}")]
    BadRequest(&'static str),
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("too many requests")]
    TooManyRequests { retry_after: Duration },
    /// The database is unreachable, too slow or the pool is exhausted: the client may retry.
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// A sign-in with the OpenID provider failed (a wrong or used `state`, a refused
    /// code or token, an `error=` from the provider): 400 with what went wrong. The text
    /// may hold the provider's words; the error page escapes it.
    #[error("sign-in failed: {0}")]
    SignInFailed(String),
    /// The OpenID provider could not be reached or answered nonsense: 502.
    #[error("the OpenID provider is unavailable")]
    ProviderUnavailable,
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl AppError {
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        AppError::Internal(anyhow::Error::new(e))
    }
}

/// What a 503 tells the client to wait before trying again: long enough for a pool
/// to drain, short enough that a person hardly notices.
pub const UNAVAILABLE_RETRY_SECS: u64 = 2;

/// Seconds to wait, rounded up so that "try again in 0 seconds" never shows.
pub fn retry_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// "1 second", "5 seconds": a wait as a person reads it, rounded up like `retry_secs`.
pub fn wait_in_words(d: Duration) -> String {
    match retry_secs(d) {
        1 => "1 second".into(),
        n => format!("{n} seconds"),
    }
}

/// Database errors are told apart by what PostgreSQL and the pool report (SQLSTATE,
/// the connection's state), never by the text of a message.
impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::pg::sql_state::{ADMIN_SHUTDOWN, CANNOT_CONNECT_NOW, CRASH_SHUTDOWN, QUERY_CANCELED};
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => AppError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => AppError::Unavailable(info.message().to_string()),
            // 57014 query_canceled: the statement timeout; the database is too slow now.
            // 57P01-57P03 (admin shutdown, crash shutdown, cannot connect now): it is going
            // away or not back yet.
            Error::DatabaseError(_, info)
                if info.sqlstate().is_some_and(|s| [QUERY_CANCELED, ADMIN_SHUTDOWN, CRASH_SHUTDOWN, CANNOT_CONNECT_NOW].contains(&s)) =>
            {
                AppError::Unavailable(info.message().to_string())
            }
            other => AppError::internal(other),
        }
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unavailable(why) => AppError::Unavailable(why),
            DbError::TaskFailed(why) => AppError::Internal(anyhow::anyhow!("database task failed: {why}")),
        }
    }
}

impl crate::db::InOperation for AppError {
    /// Names the failed operation (where in the code it was run) in what is logged.
    fn in_operation(self, at: &'static std::panic::Location<'static>) -> Self {
        match self {
            AppError::Internal(e) => AppError::Internal(e.context(format!("database operation at {at}"))),
            AppError::Unavailable(why) => AppError::Unavailable(format!("{why} (database operation at {at})")),
            other => other,
        }
    }
}

impl From<askama::Error> for AppError {
    fn from(e: askama::Error) -> Self {
        AppError::Internal(anyhow::Error::new(e).context("rendering a template"))
    }
}

impl From<Refusal> for AppError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotFound | Refusal::NotAMember => AppError::NotFound,
            Refusal::NotOwner => AppError::Forbidden("only the group's owner removes members"),
            Refusal::DirectChat => AppError::Conflict(
                "A direct chat is between its two people only: it takes no new members, no new name, and cannot be left.".into(),
            ),
            Refusal::NotAFriend => AppError::Conflict("You can only add your friends to a group.".into()),
        }
    }
}

impl From<NotAnswerable> for AppError {
    fn from(e: NotAnswerable) -> Self {
        match e {
            NotAnswerable::NotFound => AppError::NotFound,
            NotAnswerable::NotPending { .. } => AppError::Conflict(e.to_string()),
        }
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound => StatusCode::NOT_FOUND,
            AppError::LoginRequired { htmx: false } => StatusCode::SEE_OTHER,
            AppError::LoginRequired { htmx: true } => StatusCode::OK,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::SignInFailed(_) => StatusCode::BAD_REQUEST,
            AppError::ProviderUnavailable => StatusCode::BAD_GATEWAY,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The status, the headers and the message to show; the page itself is rendered
    /// by `error_pages::render` (it knows the visitor; this does not).
    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut resp = HttpResponse::build(status);
        match self {
            AppError::LoginRequired { htmx: true } => return resp.insert_header(("HX-Redirect", "/login")).finish(),
            AppError::LoginRequired { htmx: false } => return resp.insert_header((header::LOCATION, "/login")).finish(),
            AppError::Internal(e) => tracing::error!(error = ?e, "internal error"),
            AppError::Unavailable(why) => tracing::warn!(%why, "service unavailable"),
            _ => {}
        }
        let message = match self {
            AppError::Conflict(msg) => msg.clone(),
            AppError::SignInFailed(why) => {
                format!("Signing in with your provider did not work: {why}. Nothing was changed; you can start again from the login page.")
            }
            AppError::ProviderUnavailable => {
                "The sign-in provider could not be reached. Please try again later, or log in with your password.".into()
            }
            AppError::TooManyRequests { retry_after } => {
                format!("Too many attempts. Please try again in {}.", wait_in_words(*retry_after))
            }
            _ => default_message(status).to_string(),
        };
        match self {
            AppError::TooManyRequests { retry_after } => resp.insert_header((header::RETRY_AFTER, retry_secs(*retry_after))),
            AppError::Unavailable(_) => resp.insert_header((header::RETRY_AFTER, UNAVAILABLE_RETRY_SECS)),
            _ => &mut resp,
        };
        let mut resp = resp.finish();
        resp.extensions_mut().insert(ErrorMessage(message));
        resp
    }
}

/// The safe, user-facing explanation of a status.
pub fn default_message(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "The request could not be understood.",
        403 => "This action was refused. Reload the page and try again.",
        404 => "There is nothing here, or you do not have access to it.",
        405 => "That method is not allowed here.",
        409 => "That is no longer possible: the page you acted on was out of date.",
        413 => "That was too large.",
        415 => "That kind of content is not accepted here.",
        422 => "Some of what you sent was not valid.",
        429 => "Too many requests. Please slow down and try again shortly.",
        503 => "Chaat is briefly unavailable. Please try again in a moment.",
        s if s >= 500 => "Something went wrong on our side. Please try again.",
        _ => "The request could not be completed.",
    }
}

/// The message of an error answer, kept on the response until `error_pages` renders it.
#[derive(Debug, Clone)]
pub struct ErrorMessage(pub String);

#[cfg(test)]
mod tests {
    use super::AppError;
    use crate::db::InOperation;

    #[test]
    fn a_failed_database_operation_names_its_place_in_the_code() {
        let at = std::panic::Location::caller();
        let failed = AppError::Internal(anyhow::anyhow!("boom")).in_operation(at);
        let AppError::Internal(e) = failed else { panic!("still internal") };
        let logged = format!("{e:?}");
        assert!(logged.contains(&format!("database operation at {}:{}", file!(), at.line())), "{logged}");
        assert!(logged.contains("boom"), "the cause is kept: {logged}");
        let AppError::Unavailable(why) = AppError::Unavailable("pool".into()).in_operation(at) else { panic!("still 503") };
        assert!(why.contains(file!()), "{why}");
    }
}
