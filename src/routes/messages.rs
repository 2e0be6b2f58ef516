//! A chat's messages: history pages, polling, sending, read markers.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use super::chats::load_page;
use super::id_in_path;
use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::domain::MessageText;
use crate::error::AppError;
use crate::live::Hub;
use crate::models::messages::{self, NewMessage, SendOutcome};
use crate::models::{chats, participants};
use crate::views::chats::{flat, timeline, Composer, ComposerFragment, MessagesFragment, PAGE};
use crate::views::{self, is_htmx, see_other};

#[derive(Deserialize)]
pub struct Cursor {
    before: Option<i64>,
    after: Option<i64>,
}

/// `?before=` an older page (keyset on seq), or `?after=` what came since (polling).
/// A fragment for htmx; without JavaScript the chat page (which shows the latest).
pub async fn index(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
    cursor: web::Query<Cursor>,
) -> Result<HttpResponse, AppError> {
    let chat_id = id_in_path(&path)?;
    let me = user.user_id;
    let Cursor { before, after } = cursor.into_inner();
    let history = db::run(&pool, move |conn| {
        if !chats::is_participant(conn, chat_id, me)? {
            return Err(AppError::NotFound);
        }
        Ok(match after {
            Some(after) => messages::after(conn, chat_id, after, 4 * PAGE)?,
            None => messages::page_before(conn, chat_id, before, PAGE + 1)?,
        })
    })
    .await?;
    if !is_htmx(&req) {
        return load_page(&user, &pool, chat_id, String::new(), None).await;
    }
    let has_older = after.is_none() && history.len() as i64 > PAGE;
    let shown = if has_older { &history[1..] } else { &history[..] };
    views::ok(&MessagesFragment {
        chat_id,
        older_than: if has_older { shown.first().map(|m| m.seq) } else { None },
        rows: if after.is_some() { flat(shown, me) } else { timeline(shown, me, has_older.then(|| &history[0])) },
    })
}

#[derive(Deserialize)]
pub struct SendForm {
    text: String,
    client_id: Option<Uuid>,
}

pub async fn create(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    path: web::Path<String>,
    form: web::Form<SendForm>,
) -> Result<HttpResponse, AppError> {
    let chat_id = id_in_path(&path)?;
    let SendForm { text, client_id } = form.into_inner();
    let parsed = match MessageText::parse(&text) {
        Ok(parsed) => parsed,
        Err(invalid) => return refuse(&req, &user, &pool, chat_id, text, invalid.to_string()).await,
    };
    let me = user.user_id;
    let outcome =
        db::run(&pool, move |conn| NewMessage { chat_id, sender: me, text: parsed.as_str(), client_id, kind: "text" }.send(conn)).await?;
    match outcome {
        SendOutcome::Sent(message) => hub.publish(message),
        // A repeated form (double click, retry): answered like the first, nothing stored.
        SendOutcome::Repeated(_) => {}
        SendOutcome::NotParticipant => return Err(AppError::NotFound),
        SendOutcome::NotFriends => {
            return refuse(&req, &user, &pool, chat_id, text, "You are no longer friends, so this message was not sent.".into()).await
        }
    };
    if is_htmx(&req) {
        // The message itself arrives over the event stream; the form starts afresh.
        return views::ok(&ComposerFragment { composer: composer(&user, chat_id, String::new(), None) });
    }
    Ok(see_other(&format!("/chats/{chat_id}")))
}

fn composer(user: &CurrentUser, chat_id: Uuid, text: String, error: Option<String>) -> Composer {
    Composer { chat_id, csrf_token: user.csrf_token.clone(), client_id: Uuid::new_v4(), text, error, closed: None }
}

/// 422 with the text kept: the form (htmx) or the whole chat page.
async fn refuse(
    req: &HttpRequest,
    user: &CurrentUser,
    pool: &DbPool,
    chat_id: Uuid,
    text: String,
    error: String,
) -> Result<HttpResponse, AppError> {
    let me = user.user_id;
    if !db::run(pool, move |conn| chats::is_participant(conn, chat_id, me)).await? {
        return Err(AppError::NotFound);
    }
    if is_htmx(req) {
        let fragment = ComposerFragment { composer: composer(user, chat_id, text, Some(error)) };
        return views::render(StatusCode::UNPROCESSABLE_ENTITY, &fragment);
    }
    load_page(user, pool, chat_id, text, Some(error)).await
}

#[derive(Deserialize)]
pub struct ReadForm {
    seq: i64,
}

/// Marks the chat read up to `seq` (the page does this while it is visible).
pub async fn read(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
    form: web::Form<ReadForm>,
) -> Result<HttpResponse, AppError> {
    let chat_id = id_in_path(&path)?;
    let (me, seq) = (user.user_id, form.seq);
    db::run(&pool, move |conn| {
        if !chats::is_participant(conn, chat_id, me)? {
            return Err(AppError::NotFound);
        }
        Ok(participants::mark_read(conn, chat_id, me, seq)?)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
