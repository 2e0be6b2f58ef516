//! `GET /chats/{chat_id}/events`: the chat's live SSE stream.

use std::time::Duration;

use actix_web::{web, HttpRequest, Responder};
use actix_web_lab::sse::Sse;
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::config::Settings;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::live::stream;
use crate::live::Hub;
use crate::models::chats;
use crate::models::messages::MessageView;
use crate::models::{ChatId, Seq};
use crate::views::chats::render_message;

/// Comments this often keep idle streams open through proxies.
const HEARTBEAT: Duration = Duration::from_secs(15);

#[derive(Deserialize)]
pub struct Since {
    since: Option<Seq>,
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
    let chat_id: ChatId = super::id_in_path(&path)?;
    if !settings.event_streams {
        return Err(AppError::Unavailable("event streams are turned off".into()));
    }
    if hub.is_closed() {
        // Shutting down: the browser retries (Retry-After), reaching another instance.
        return Err(AppError::Unavailable("shutting down".into()));
    }
    let me = user.user_id;
    let membership = db::run(&pool, move |conn| chats::find_for_participant(conn, me, chat_id).map_err(AppError::from))
        .await?
        .ok_or(AppError::NotFound)?;
    let end = membership.chat().last_seq;
    // A reconnecting browser says where it stopped; a new page says what it showed.
    let last_event_id =
        req.headers().get("Last-Event-ID").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse().ok()).and_then(Seq::new);
    let since = last_event_id.or(query.since).unwrap_or(end).min(end);
    let render = Box::new(move |m: &MessageView| render_message(m, me));
    let events = stream::open(hub.into_inner(), pool.get_ref().clone(), membership, since, render);
    Ok(Sse::from_infallible_receiver(events).with_keep_alive(HEARTBEAT).with_retry_duration(Duration::from_secs(2)))
}
