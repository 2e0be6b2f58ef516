//! `AppError`: the one error type of the HTTP layer, rendered as an error page in the
//! site layout. Form validation is not an error: handlers re-render their form with 422.

use std::time::Duration;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::auth::CurrentUser;
use crate::models::users::NavCounts;
use crate::views::errors::ErrorPage;
use crate::views::Layout;

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
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("too many requests")]
    TooManyRequests { retry_after: Duration },
    /// The database is unreachable or the pool is exhausted: the client may retry.
    #[error("service unavailable: {0}")]
    Unavailable(String),
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

impl From<diesel::result::Error> for AppError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match e {
            Error::NotFound => AppError::NotFound,
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, info) => AppError::Unavailable(info.message().to_string()),
            // The statement timeout (SQLSTATE 57014, which diesel does not name): the
            // database is too slow right now. Matched on PostgreSQL's English message; a
            // server with translated messages makes this a 500, still bounded in time.
            Error::DatabaseError(_, info) if info.message().starts_with("canceling statement due to statement timeout") => {
                AppError::Unavailable(info.message().to_string())
            }
            other => AppError::internal(other),
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
            AppError::Conflict(_) => StatusCode::CONFLICT,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        match self {
            AppError::LoginRequired { htmx: true } => return HttpResponse::Ok().insert_header(("HX-Redirect", "/login")).finish(),
            AppError::LoginRequired { htmx: false } => {
                return HttpResponse::SeeOther().insert_header((header::LOCATION, "/login")).finish()
            }
            _ => {}
        }
        match self {
            AppError::Internal(e) => tracing::error!(error = ?e, "internal error"),
            AppError::Unavailable(why) => tracing::warn!(%why, "service unavailable"),
            _ => {}
        }
        let message = match self {
            AppError::Conflict(msg) => msg.clone(),
            AppError::TooManyRequests { retry_after } => {
                format!("Too many attempts. Please try again in {} seconds.", retry_secs(*retry_after))
            }
            _ => default_message(status).to_string(),
        };
        let mut resp = error_page(status, &message);
        match self {
            AppError::TooManyRequests { retry_after } => {
                resp.headers_mut().insert(header::RETRY_AFTER, retry_secs(*retry_after).into());
            }
            AppError::Unavailable(_) => {
                resp.headers_mut().insert(header::RETRY_AFTER, UNAVAILABLE_RETRY_SECS.into());
            }
            _ => {}
        }
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

/// The message of an error page, kept on the response so that the error-page middleware
/// can render it again with the visitor's navigation (it knows the session; this does not).
#[derive(Debug, Clone)]
pub struct ErrorMessage(pub String);

/// Renders the error page for an anonymous visitor; falls back to plain text if even
/// that fails. `startup::render_error_page` re-renders it for logged-in people.
pub fn error_page(status: StatusCode, message: &str) -> HttpResponse {
    let mut resp = error_page_for(status, message, None);
    resp.extensions_mut().insert(ErrorMessage(message.to_string()));
    resp
}

pub fn error_page_for(status: StatusCode, message: &str, user: Option<&CurrentUser>) -> HttpResponse {
    let title = status.canonical_reason().unwrap_or("Error");
    let layout = match user {
        Some(user) => Layout::for_user(user, NavCounts::default(), title, ""),
        None => Layout::anonymous(title, ""),
    };
    let page = ErrorPage { layout, status: status.as_u16(), heading: title.to_string(), message: message.to_string() };
    match page.render() {
        Ok(body) => HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body),
        Err(_) => HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(message.to_string()),
    }
}
