//! Error pages, rendered once per answer in the site layout. `render` is the error-page
//! layer inside the sessions (`startup`): it knows the visitor and shows their
//! navigation with its real badges. Errors of the session layer itself (a store that
//! could not write) are rendered by `anonymous`, in `session_store::busy_is_503`.
//! Answers that are already HTML (a 422 form, an htmx fragment) pass untouched.

use actix_web::body::{BoxBody, EitherBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::{header, ConnectionType, StatusCode};
use actix_web::middleware::ErrorHandlerResponse;
use actix_web::{web, HttpResponse, ResponseError};
use askama::Template;

use crate::auth::{CurrentUser, TypedSession};
use crate::db::{self, DbPool};
use crate::error::{default_message, AppError, ErrorMessage};
use crate::models::users::{self, NavCounts};
use crate::views::errors::ErrorPage;
use crate::views::Layout;

/// The error-page layer: `ErrorHandlers::new().default_handler(render)`.
pub fn render<B: 'static>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let status = res.status();
    let is_html = res.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.starts_with("text/html"));
    let ours = res.response().extensions().get::<ErrorMessage>().map(|m| m.0.clone());
    let message = match ours {
        Some(ours) => ours,
        None if !is_html && (status.is_client_error() || status.is_server_error()) => default_message(status).to_string(),
        None => return Ok(ErrorHandlerResponse::Response(res.map_into_left_body())),
    };
    let user = TypedSession::of(res.request()).current_user();
    let pool = res.request().app_data::<web::Data<DbPool>>().cloned();
    Ok(ErrorHandlerResponse::Future(Box::pin(async move {
        // The badges are worth a query; without them (the database is what failed) the
        // page still renders. A 503 asks nothing more of a database that is busy or away
        // (the session may well come from the instance's cache while the pool is empty).
        let counts = match (&user, pool) {
            (Some(user), Some(pool)) if status != StatusCode::SERVICE_UNAVAILABLE => {
                let me = user.user_id;
                db::run(&pool, move |conn| users::nav_counts(conn, me).map_err(AppError::from)).await.unwrap_or_default()
            }
            _ => NavCounts::default(),
        };
        let page = page(status, &message, user.as_ref(), counts);
        Ok(replace_body(res, page))
    })))
}

/// The page of `error` for a visitor nobody knows, with the headers its answer carries.
pub fn anonymous(error: &AppError) -> HttpResponse {
    let bare = error.error_response();
    let message = bare.extensions().get::<ErrorMessage>().map_or_else(|| default_message(bare.status()).to_string(), |m| m.0.clone());
    let mut rendered = page(bare.status(), &message, None, NavCounts::default());
    for (name, value) in bare.headers() {
        rendered.headers_mut().append(name.clone(), value.clone());
    }
    rendered
}

fn page(status: StatusCode, message: &str, user: Option<&CurrentUser>, counts: NavCounts) -> HttpResponse {
    let title = status.canonical_reason().unwrap_or("Error");
    let layout = match user {
        Some(user) => Layout::for_user(user, counts, title, ""),
        None => Layout::anonymous(title, ""),
    };
    let page = ErrorPage { layout, status: status.as_u16(), heading: title.to_string(), message: message.to_string() };
    match page.render() {
        Ok(body) => HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body),
        Err(_) => HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(message.to_string()),
    }
}

/// The page in place of the answer's body, keeping everything else the answer said
/// (Retry-After, HX-Redirect, a decision to close the connection).
fn replace_body<B>(res: ServiceResponse<B>, mut page: HttpResponse) -> ServiceResponse<EitherBody<B, BoxBody>> {
    if res.response().head().connection_type() == ConnectionType::Close {
        page.head_mut().set_connection_type(ConnectionType::Close);
    }
    for (name, value) in res.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            page.headers_mut().append(name.clone(), value.clone());
        }
    }
    let (req, _) = res.into_parts();
    ServiceResponse::new(req, page).map_into_right_body()
}
