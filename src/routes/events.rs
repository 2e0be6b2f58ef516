//! `GET /chats/{chat_id}/events`: the chat's live SSE stream.

use std::time::Duration;

use actix_web::{web, HttpRequest, Responder};
use actix_web_lab::sse::Sse;
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::live::stream::{self, Viewer};
use crate::live::Hub;
use crate::models::chats;
use crate::views::chats::render_message;

/// Comments this often keep idle streams open through proxies.
const HEARTBEAT: Duration = Duration::from_secs(15);

#[derive(Deserialize)]
pub struct Since {
    since: Option<i64>,
}

pub async fn stream(
    req: HttpRequest,
    settings: web::Data<Settings>,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    path: web::Path<String>,
    query: web::Query<Since>,
) -> Result<impl Responder, AppError> {
    let chat_id = super::id_in_path(&path)?;
    if !settings.event_streams {
        return Err(AppError::Unavailable("event streams are turned off".into()));
    }
    if hub.is_closed() {
        // Shutting down: the browser retries (Retry-After), reaching another instance.
        return Err(AppError::Unavailable("shutting down".into()));
    }
    let me = user.user_id;
    let end = db::run(&pool, move |conn| chats::find_for_participant(conn, chat_id, me)).await?.ok_or(AppError::NotFound)?.last_seq;
    // A reconnecting browser says where it stopped; a new page says what it showed.
    let last_event_id = req.headers().get("Last-Event-ID").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok());
    let since = last_event_id.or(query.since).unwrap_or(end).clamp(0, end.max(0));
    let render = Box::new(move |m: &crate::models::messages::MessageView| render_message(m, me));
    let events = stream::open(hub.into_inner(), pool.get_ref().clone(), Viewer { chat_id, user_id: me }, since, render);
    Ok(Sse::from_infallible_receiver(events).with_keep_alive(HEARTBEAT).with_retry_duration(Duration::from_secs(2)))
}
