//! A chat's messages: history pages, polling, sending, read markers.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use super::{id_in_path, SendLimiter};
use crate::auth::CurrentUser;
use crate::config::Settings;
use crate::db::{self, DbPool, Standby};
use crate::domain::MessageText;
use crate::error::{wait_in_words, AppError};
use crate::live::Hub;
use crate::models::chats;
use crate::models::message_batch::Outgoing;
use crate::models::messages::SendOutcome;
use crate::models::participants;
use crate::models::{ChatId, MessageId, Rev, Seq};
use crate::pages::chat::{chat_page, messages_fragment, Cursor, Position};
use crate::send_batch::SendBatcher;
use crate::uploads;
use crate::views::chats::{Composer, ComposerFragment, PageForms};
use crate::views::{self, is_htmx, see_other};

#[derive(Deserialize)]
pub struct HistoryQuery {
    before: Option<Seq>,
    after: Option<Seq>,
    /// With `after` (polling): every message changed after this rev instead, new
    /// ones included (SPEC §7).
    since: Option<Rev>,
}

/// `?before=` an older page (keyset on seq), or `?after=` what came since (polling;
/// with `&since={rev}` every message changed after that rev, new ones included).
/// A fragment for htmx; without JavaScript the chat page showing that page of history
/// (`?after=s` is the page that starts right after `s`).
pub async fn index(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    standby: web::Data<Standby>,
    path: web::Path<String>,
    query: web::Query<HistoryQuery>,
) -> Result<HttpResponse, AppError> {
    let chat_id: ChatId = id_in_path(&path)?;
    if is_htmx(&req) {
        let cursor = match (query.before, query.after, query.since) {
            (_, _, Some(since)) => Cursor::Changed(since),
            (_, Some(after), None) => Cursor::After(after),
            (Some(before), None, None) => Cursor::Before(before),
            (None, None, None) => Cursor::Before(Seq::END),
        };
        return Ok(views::ok(&messages_fragment(&user, &pool, &standby, chat_id, cursor).await?)?);
    }
    let position = match (query.before, query.after) {
        (_, Some(after)) => Position::Before(Seq::new(after.get().saturating_add(crate::pages::chat::PAGE_SIZE + 1)).unwrap_or(Seq::END)),
        (Some(before), None) => Position::Before(before),
        (None, None) => Position::Before(Seq::END),
    };
    Ok(views::ok(&chat_page(&user, &pool, chat_id, position, PageForms::default()).await?)?)
}

#[derive(Deserialize)]
pub struct SendForm {
    text: String,
    client_id: Option<Uuid>,
    /// The seq of the message this one answers (empty: none).
    reply_to: Option<String>,
}

/// `reply_to` as sent: nothing (or empty) is no reply; a whole number ≥ 1 a seq; anything
/// else is refused like a seq this chat does not have.
pub(crate) fn parse_reply_to(raw: Option<&str>) -> Result<Option<Seq>, ()> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s.parse::<i64>().ok().filter(|n| *n >= 1).and_then(Seq::new).map(Some).ok_or(()),
    }
}

pub async fn create(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    batcher: web::Data<SendBatcher>,
    sends: web::Data<SendLimiter>,
    path: web::Path<String>,
    form: web::Form<SendForm>,
) -> Result<HttpResponse, AppError> {
    let chat_id: ChatId = id_in_path(&path)?;
    let SendForm { text, client_id, reply_to } = form.into_inner();
    let Ok(reply_to) = parse_reply_to(reply_to.as_deref()) else {
        return refuse(&req, &user, &pool, chat_id, text, NO_SUCH_REPLY.into()).await;
    };
    // Bursts a fast typist makes pass (30 at once, then 3 a second); a flood waits, its
    // text kept in the form (someone outside the chat still gets 404 from `refuse`).
    if let Err(t) = sends.hit(&user.user_id) {
        let why = format!("You are sending messages very fast. Please wait {} and send again.", wait_in_words(t.retry_after));
        return Ok(views::refused_for_now(refuse(&req, &user, &pool, chat_id, text, why).await?, t.retry_after));
    }
    let parsed = match MessageText::parse(&text) {
        Ok(parsed) => parsed,
        Err(invalid) => return refuse(&req, &user, &pool, chat_id, text, invalid.to_string()).await,
    };
    // Written with the other sends of the moment, committed and published before this
    // answers (`send_batch`).
    let outgoing = Outgoing { chat_id, message_id: MessageId::new_v7(), sender: user.user_id, text: parsed, client_id, reply_to };
    match batcher.send(outgoing).await? {
        // A repeated form (double click, retry): answered like the first, nothing stored.
        SendOutcome::Sent(_) | SendOutcome::Repeated(_) => {}
        SendOutcome::NotParticipant => return Err(AppError::NotFound),
        SendOutcome::NoSuchReply => return refuse(&req, &user, &pool, chat_id, text, NO_SUCH_REPLY.into()).await,
        SendOutcome::NotFriends => {
            return refuse(&req, &user, &pool, chat_id, text, "You are no longer friends, so this message was not sent.".into()).await
        }
    };
    if is_htmx(&req) {
        // The message itself arrives over the event stream; the form starts afresh.
        return Ok(views::ok(&ComposerFragment { composer: composer(&user, chat_id, String::new(), None) })?);
    }
    Ok(see_other(&format!("/chats/{chat_id}")))
}

pub(crate) const NO_SUCH_REPLY: &str = "The message you are replying to is not in this chat.";

fn composer(user: &CurrentUser, chat_id: ChatId, text: String, error: Option<String>) -> Composer {
    Composer { chat_id, reply_to: None, csrf_token: user.csrf_token.clone(), client_id: Uuid::new_v4(), text, error, closed: None }
}

/// 422 with the text kept: the form (htmx) or the whole chat page.
async fn refuse(
    req: &HttpRequest,
    user: &CurrentUser,
    pool: &DbPool,
    chat_id: ChatId,
    text: String,
    error: String,
) -> Result<HttpResponse, AppError> {
    refuse_as(StatusCode::UNPROCESSABLE_ENTITY, req, user, pool, chat_id, text, error).await
}

/// A send with files (`multipart/form-data`, SPEC §8): `uploads::receive` stores the
/// files as they arrive and then the message, in one transaction. Without files it is
/// the plain send. Over a limit or the quota: 413, the text kept, nothing stored.
#[allow(clippy::too_many_arguments)]
pub async fn create_with_files(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    batcher: web::Data<SendBatcher>,
    sends: web::Data<SendLimiter>,
    settings: web::Data<Settings>,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, AppError> {
    let chat_id: ChatId = id_in_path(&path)?;
    if let Err(t) = sends.hit(&user.user_id) {
        let why = format!("You are sending messages very fast. Please wait {} and send again.", wait_in_words(t.retry_after));
        return Ok(views::refused_for_now(refuse(&req, &user, &pool, chat_id, String::new(), why).await?, t.retry_after));
    }
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > uploads::MAX_BODY_BYTES) {
        let answer = refuse_as(StatusCode::PAYLOAD_TOO_LARGE, &req, &user, &pool, chat_id, String::new(), uploads::TOO_LARGE_TOTAL.into());
        // Not read at all: the connection closes after the answer.
        let mut answer = answer.await?;
        answer.head_mut().set_connection_type(actix_web::http::ConnectionType::Close);
        return Ok(answer);
    }
    let body = actix_multipart::Multipart::new(req.headers(), payload);
    let (fields, outcome) = match uploads::receive(body, &pool, user.user_id, chat_id, settings.upload_quota_bytes()).await? {
        uploads::Received::NoFiles(fields) => {
            let Ok(reply_to) = parse_reply_to(fields.reply_to.as_deref()) else {
                return refuse(&req, &user, &pool, chat_id, fields.text, NO_SUCH_REPLY.into()).await;
            };
            let parsed = match MessageText::parse(&fields.text) {
                Ok(parsed) => parsed,
                Err(invalid) => return refuse(&req, &user, &pool, chat_id, fields.text, invalid.to_string()).await,
            };
            let outgoing = Outgoing {
                chat_id,
                message_id: MessageId::new_v7(),
                sender: user.user_id,
                text: parsed,
                client_id: fields.client_id,
                reply_to,
            };
            let outcome = batcher.send(outgoing).await?;
            (fields, outcome)
        }
        uploads::Received::Sent(fields, outcome) => {
            // Streams load it with its files from the database.
            if let SendOutcome::Sent(message) = &*outcome {
                hub.publish_reached(message.chat_id, message.rev);
            }
            (fields, *outcome)
        }
        uploads::Received::Refused(fields, status, why) => return refuse_as(status, &req, &user, &pool, chat_id, fields.text, why).await,
    };
    match outcome {
        SendOutcome::Sent(_) | SendOutcome::Repeated(_) => {}
        SendOutcome::NotParticipant => return Err(AppError::NotFound),
        SendOutcome::NoSuchReply => return refuse(&req, &user, &pool, chat_id, fields.text, NO_SUCH_REPLY.into()).await,
        SendOutcome::NotFriends => {
            return refuse(&req, &user, &pool, chat_id, fields.text, "You are no longer friends, so this message was not sent.".into())
                .await
        }
    }
    if is_htmx(&req) {
        return Ok(views::ok(&ComposerFragment { composer: composer(&user, chat_id, String::new(), None) })?);
    }
    Ok(see_other(&format!("/chats/{chat_id}")))
}

/// The form (htmx) or the whole chat page with the text kept and why, as `status`.
async fn refuse_as(
    status: StatusCode,
    req: &HttpRequest,
    user: &CurrentUser,
    pool: &DbPool,
    chat_id: ChatId,
    text: String,
    error: String,
) -> Result<HttpResponse, AppError> {
    if is_htmx(req) {
        let me = user.user_id;
        db::run(pool, move |conn| chats::find_for_participant(conn, me, chat_id).map_err(AppError::from))
            .await?
            .ok_or(AppError::NotFound)?;
        let fragment = ComposerFragment { composer: composer(user, chat_id, text, Some(error)) };
        return Ok(views::render(status, &fragment)?);
    }
    let forms = PageForms { composer_text: text, composer_error: Some(error), ..PageForms::default() };
    Ok(views::render(status, &chat_page(user, pool, chat_id, Position::Latest, forms).await?)?)
}

#[derive(Deserialize)]
pub struct ReadForm {
    seq: Seq,
}

/// Marks the chat read up to `seq` (the page does this while it is visible); nothing
/// happens for someone not in the chat, who gets 404.
pub async fn read(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    path: web::Path<String>,
    form: web::Form<ReadForm>,
) -> Result<HttpResponse, AppError> {
    let chat_id: ChatId = id_in_path(&path)?;
    let (me, seq) = (user.user_id, form.seq);
    let (moved, other) = db::run(&pool, move |conn| {
        let membership = chats::find_for_participant(conn, me, chat_id)?.ok_or(AppError::NotFound)?;
        let moved = participants::mark_read(conn, membership.chat_id(), me, seq)?;
        Ok::<_, AppError>((moved, membership.chat().other_id))
    })
    .await?;
    if moved {
        // My badges on my other pages; "Seen" on the other person's, in a direct chat.
        hub.poke(me);
        if let Some(other) = other {
            hub.poke(other);
        }
    }
    Ok(HttpResponse::NoContent().finish())
}
