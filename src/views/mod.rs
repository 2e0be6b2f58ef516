//! Askama view structs: the only place that knows template paths. One struct per page or
//! fragment; every page carries a `Layout` for `base.html`.

pub mod accounts;
pub mod attachments;
pub mod chats;
pub mod errors;
pub mod form;
pub mod format;
pub mod friends;
pub mod inbox;
pub mod message_actions;
pub mod search;

use actix_web::http::{header, StatusCode};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use crate::auth::CurrentUser;
use crate::models::users::NavCounts;
use crate::models::UserId;

/// What `base.html` needs: who is logged in (for the navigation) and the CSRF token that
/// every form and htmx request carries.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub title: String,
    pub csrf_token: String,
    pub user: Option<NavUser>,
    /// Which navigation entry is current ("chats", "friends", "settings", ...).
    pub section: &'static str,
    /// What the header's search box shows (the search on `/search`).
    pub search: String,
    /// The page opens the person's inbox stream (`GET /events`); false on a live chat
    /// page, whose own stream carries the inbox (one stream per tab, SPEC §6).
    pub inbox_stream: bool,
    /// The chat list this page rendered, as `live::inbox::list_marker` (on pages with
    /// the list): the stream sends every item again when the list changed meanwhile.
    pub inbox_list: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NavUser {
    pub user_id: UserId,
    pub username: String,
    pub pending_requests: i64,
    pub unread_messages: i64,
}

impl Layout {
    pub fn for_user(user: &CurrentUser, counts: NavCounts, title: impl Into<String>, section: &'static str) -> Self {
        Layout {
            title: title.into(),
            csrf_token: user.csrf_token.clone(),
            user: Some(NavUser {
                user_id: user.user_id,
                username: user.username.clone(),
                pending_requests: counts.pending_requests,
                unread_messages: counts.unread_messages,
            }),
            section,
            search: String::new(),
            inbox_stream: true,
            inbox_list: None,
        }
    }

    pub fn anonymous(title: impl Into<String>, csrf_token: impl Into<String>) -> Self {
        Layout {
            title: title.into(),
            csrf_token: csrf_token.into(),
            user: None,
            section: "",
            search: String::new(),
            inbox_stream: false,
            inbox_list: None,
        }
    }
}

/// Renders a template with a status of our choice (askama_web's Responder always says
/// 200).
pub fn render<T: Template>(status: StatusCode, template: &T) -> askama::Result<HttpResponse> {
    Ok(html(status, template.render()?))
}

/// The one place an HTML answer is built.
fn html(status: StatusCode, body: String) -> HttpResponse {
    HttpResponse::build(status).content_type("text/html; charset=utf-8").body(body)
}

pub fn ok<T: Template>(template: &T) -> askama::Result<HttpResponse> {
    render(StatusCode::OK, template)
}

/// `ok` into a buffer of `capacity` bytes: a page whose size the caller can tell from
/// its rows (the chat page) is written without growing its buffer. askama's own hint is
/// the template's fixed text, a tenth of such a page, so a 125 KB page grew by
/// doubling, copying what it had each time.
pub fn ok_sized<T: Template>(template: &T, capacity: usize) -> askama::Result<HttpResponse> {
    let mut body = String::with_capacity(capacity);
    template.render_into(&mut body)?;
    Ok(html(StatusCode::OK, body))
}

/// A form that failed validation is shown again with its errors: 422.
pub fn invalid<T: Template>(template: &T) -> askama::Result<HttpResponse> {
    render(StatusCode::UNPROCESSABLE_ENTITY, template)
}

/// A form refused for now because of a rate limit: 429, with `Retry-After` (whole
/// seconds) for clients and the wait written in the form for people.
pub fn too_many<T: Template>(template: &T, retry_after: std::time::Duration) -> askama::Result<HttpResponse> {
    Ok(refused_for_now(render(StatusCode::OK, template)?, retry_after))
}

/// `resp` (a form shown again with the wait in it) as a 429 with `Retry-After`.
pub fn refused_for_now(mut resp: HttpResponse, retry_after: std::time::Duration) -> HttpResponse {
    *resp.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    resp.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(crate::error::retry_secs(retry_after)));
    resp
}

/// 303 after a successful plain POST (post/redirect/get).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

/// After a successful POST: a 303 for a plain form; for htmx a 200 with `HX-Redirect`
/// (htmx never sees the headers of a 3xx: fetch follows it by itself).
pub fn redirect_after_post(req: &HttpRequest, location: &str) -> HttpResponse {
    if is_htmx(req) {
        return HttpResponse::Ok().insert_header(("HX-Redirect", location)).finish();
    }
    see_other(location)
}

/// htmx sends `HX-Request: true`; such requests get fragments instead of whole pages.
pub fn is_htmx(req: &HttpRequest) -> bool {
    req.headers().get("HX-Request").is_some_and(|v| v.as_bytes() == b"true")
}
