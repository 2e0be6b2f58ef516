//! The person's one event stream per tab (SPEC §6): `GET /events` (inbox events only, on
//! pages without an open chat) and `GET /chats/{chat_id}/events` (the chat's messages
//! plus the inbox events).

use std::time::Duration;

use actix_web::http::ConnectionType;
use actix_web::{web, HttpRequest, HttpResponse, Responder, ResponseError};
use actix_web_lab::sse::Sse;
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::live::inbox::Inbox;
use crate::live::stream::ChatFeed;
use crate::live::{stream, Hub, Refusal};
use crate::models::attachments::AttachmentView;
use crate::models::chats;
use crate::models::messages::MessageView;
use crate::models::{ChatId, Rev, UserId};
use crate::views::chats::render_message;
use crate::views::inbox::{render_typing, views_for};

/// Comments this often keep idle streams open through proxies.
const HEARTBEAT: Duration = Duration::from_secs(15);
/// What a 429 asks a refused stream to wait (the page polls meanwhile).
const REFUSED_RETRY: Duration = Duration::from_secs(10);

/// What the page that opens a stream showed.
#[derive(Deserialize)]
pub struct Shown {
    /// The chat's rev (SPEC §7; chat streams only).
    since: Option<Rev>,
    /// The chat list, if the page shows one (`live::inbox::list_marker`).
    list: Option<String>,
}

/// `GET /events`: the inbox alone.
pub async fn inbox(
    req: HttpRequest,
    settings: web::Data<Settings>,
    user: Result<CurrentUser, AppError>,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    query: web::Query<Shown>,
) -> Result<HttpResponse, AppError> {
    let shown = Shown { since: None, ..query.into_inner() };
    open(req, settings, user, pool, hub, None, shown).await
}

/// `GET /chats/{chat_id}/events`: the chat and the inbox.
pub async fn stream(
    req: HttpRequest,
    settings: web::Data<Settings>,
    user: Result<CurrentUser, AppError>,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    path: web::Path<String>,
    query: web::Query<Shown>,
) -> Result<HttpResponse, AppError> {
    // An id that does not parse is a 404, once the login was checked.
    let chat_id = super::id_in_path::<ChatId>(&path).ok();
    open(req, settings, user, pool, hub, Some(chat_id), query.into_inner()).await
}

async fn open(
    req: HttpRequest,
    settings: web::Data<Settings>,
    user: Result<CurrentUser, AppError>,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    // `None`: the inbox alone; `Some(None)`: a chat id that does not parse.
    chat: Option<Option<ChatId>>,
    shown: Shown,
) -> Result<HttpResponse, AppError> {
    let Shown { since, list } = shown;
    let user = match user {
        // A stream reconnecting after its session ended. htmx's SSE extension reconnects
        // by itself and never follows `HX-Redirect`: a 401 makes the chat page poll
        // instead, and the poll's answer (`HX-Redirect: /login`) takes it to the login.
        Err(AppError::LoginRequired { htmx: true }) => return Ok(HttpResponse::Unauthorized().finish()),
        other => other?,
    };
    let chat_id = match chat {
        Some(Some(chat_id)) => Some(chat_id),
        Some(None) => return Err(AppError::NotFound),
        None => None,
    };
    if !settings.event_streams {
        return Err(AppError::Unavailable("event streams are turned off".into()));
    }
    if hub.is_closed() {
        // Shutting down: the browser retries (Retry-After), reaching another instance.
        return Err(AppError::Unavailable("shutting down".into()));
    }
    // The caps come before any query: a refusal costs no database work.
    let addr = crate::auth::client_addr::client_addr(&req).map(|a| a.ip());
    let ticket = match hub.admit(user.user_id, &user.sid, addr) {
        Ok(ticket) => ticket,
        Err(why) => return Ok(refused(why)),
    };
    let me = user.user_id;
    let feed = match chat_id {
        None => None,
        Some(chat_id) => {
            // A reconnecting browser says where it stopped; a new page says what it showed.
            let asked = req
                .headers()
                .get("Last-Event-ID")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok())
                .and_then(Rev::new)
                .or(since);
            // With the people I blocked in a group (SPEC §10: their messages arrive collapsed;
            // the stream follows later blocks, `ChatFeed::blocked`), and the highest seq the
            // browser has, read before the answer goes out: a change made after it is an
            // update, never taken for a new message.
            // Through the pool's stream lane: a burst of opening streams waits its turn
            // there instead of being refused with a 503 (`db::run_stream`).
            let (membership, blocked, since, known) = db::run_stream(&pool, move |conn| {
                let Some(membership) = chats::find_for_participant(conn, me, chat_id)? else { return Ok(None) };
                let blocked = if membership.chat().is_group { crate::models::blocks::ids(conn, me)? } else { vec![] };
                let end = membership.chat().last_rev;
                let since = asked.unwrap_or(end).min(end);
                let known = crate::models::messages::last_seq_at(conn, &membership, since)?;
                Ok::<_, AppError>(Some((membership, blocked, since, known)))
            })
            .await?
            .ok_or(AppError::NotFound)?;
            let viewer = crate::pages::chat::viewer(&user, &membership);
            let render =
                Box::new(move |m: &MessageView, files: &[AttachmentView], blocked: &[UserId]| render_message(m, &viewer, blocked, files));
            let is_group = membership.chat().is_group;
            Some((ChatFeed { membership, since, known_seq: Some(known), blocked, render, typing: Box::new(render_typing) }, is_group))
        }
    };
    let hub = hub.into_inner();
    let mut inbox = Inbox::new(&hub, me, chat_id, views_for(&user, chat_id)).rendered(list);
    let feed = match feed {
        Some((feed, true)) => {
            inbox = inbox.tracking_blocks();
            Some(feed)
        }
        other => other.map(|(feed, _)| feed),
    };
    let mut events = stream::open(hub, pool.get_ref().clone(), feed, inbox, ticket);
    let events = futures_util::stream::poll_fn(move |cx| events.poll_recv(cx).map(|event| event.map(|boxed| *boxed)));
    let sse = Sse::from_infallible_stream(events).with_keep_alive(HEARTBEAT).with_retry_duration(Duration::from_secs(2));
    // When the stream ends (closed as a person's oldest, its session or lifetime over),
    // its connection closes too instead of idling on: the browser reconnects on a new one.
    let mut answer = sse.respond_to(&req);
    answer.head_mut().set_connection_type(ConnectionType::Close);
    Ok(answer)
}

/// A stream over a cap: 429 (this address's streams) or 503 (the instance's share of
/// connections), with `Retry-After`; the page polls meanwhile. The connection is closed
/// with the answer, so a refused client holds no connection. (Over the cap per person
/// nothing is refused: the person's oldest stream is closed, see `live::registry`.)
fn refused(why: Refusal) -> HttpResponse {
    let error = match why {
        Refusal::Address => AppError::TooManyRequests { retry_after: REFUSED_RETRY },
        Refusal::Instance => AppError::Unavailable("every place for event streams is taken".into()),
    };
    let mut answer = error.error_response();
    answer.head_mut().set_connection_type(ConnectionType::Close);
    answer
}
