//! One message's actions (SPEC §7): edit (+ its earlier texts), delete, reactions. Each
//! POST answers htmx with the re-rendered message (the other pages get it over their
//! event streams as `event: update`) and a plain form with a 303 back to the message;
//! each GET is the page that does it without JavaScript.

use actix_web::{web, HttpRequest, HttpResponse};
use diesel::PgConnection;
use serde::Deserialize;

use super::id_in_path;
use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::domain::{Emoji, MessageText};
use crate::error::AppError;
use crate::live::Hub;
use crate::models::attachments::{self, AttachmentView};
use crate::models::chats::{self, Membership};
use crate::models::message_actions::{self, Changed, Refusal};
use crate::models::messages::{self, MessageView};
use crate::models::users::{self, NavCounts};
use crate::models::{reactions, ChatId, MessageId, Seq};
use crate::pages::chat::{viewer, PAGE_SIZE};
use crate::views::chats::{render_message, MessageItem};
use crate::views::form::Field;
use crate::views::message_actions::{Action, ActionPage};
use crate::views::{self, is_htmx, see_other, Layout};

type MessagePath = web::Path<(String, String)>;

fn parse_path(path: &MessagePath) -> Result<(ChatId, Seq), AppError> {
    let chat_id: ChatId = id_in_path(&path.0)?;
    let seq = path.1.parse::<i64>().ok().and_then(Seq::new).ok_or(AppError::NotFound)?;
    Ok((chat_id, seq))
}

impl From<Refusal> for AppError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::NotFound => AppError::NotFound,
            Refusal::SystemLine => AppError::Conflict("Lines the app writes cannot be edited, deleted or reacted to.".into()),
            Refusal::Deleted => AppError::Conflict("This message was deleted.".into()),
            Refusal::NotAllowed => AppError::Forbidden("only the sender (or, to delete, a group's owner) may do this"),
            Refusal::TooLate => AppError::Forbidden("a message can be edited for 24 hours after it was sent"),
            Refusal::TooManyEmoji => AppError::Conflict("A message holds at most 20 different emoji.".into()),
        }
    }
}

/// The membership (404 for anyone not in the chat) and the message (404 if none).
async fn lookup(pool: &DbPool, user: &CurrentUser, chat_id: ChatId, seq: Seq) -> Result<(Membership, MessageView, NavCounts), AppError> {
    let me = user.user_id;
    db::run(pool, move |conn| {
        let membership = chats::find_for_participant(conn, me, chat_id)?.ok_or(AppError::NotFound)?;
        let message = messages::find(conn, &membership, seq)?.ok_or(AppError::NotFound)?;
        let counts = users::nav_counts(conn, me)?;
        Ok::<_, AppError>((membership, message, counts))
    })
    .await
}

/// Where a plain form goes back to: the message on the chat page when it is among the
/// latest, else its permalink.
fn back_to(membership: &Membership, m: &MessageView) -> String {
    let chat = membership.chat();
    if m.seq.get() + PAGE_SIZE > chat.last_seq.get() {
        format!("/chats/{}#msg-{}", chat.chat_id, m.message_id)
    } else {
        format!("/chats/{}?at={}#msg-{}", chat.chat_id, m.seq, m.message_id)
    }
}

fn page(user: &CurrentUser, membership: &Membership, counts: NavCounts, m: MessageView, action: Action) -> ActionPage {
    let back = back_to(membership, &m);
    let title = membership.chat().title().to_string();
    ActionPage {
        layout: Layout::for_user(user, counts, format!("Message · {title}"), "chats"),
        chat_id: membership.chat_id(),
        chat_title: title,
        item: MessageItem::new(m, &viewer(user, membership), false),
        action,
        back,
    }
}

/// A change's one trip to the database: the membership (404 for anyone not in the
/// chat), the change (its own transaction), and, for htmx, the files of the message it
/// answers with (read after the change committed).
async fn act<T, F>(
    pool: &DbPool,
    user: &CurrentUser,
    chat_id: ChatId,
    htmx: bool,
    change: F,
    shown: fn(&T) -> MessageId,
) -> Result<(Membership, Result<(T, Vec<AttachmentView>), Refusal>), AppError>
where
    T: Send + 'static,
    F: FnOnce(&mut PgConnection, &Membership) -> diesel::QueryResult<Result<T, Refusal>> + Send + 'static,
{
    let me = user.user_id;
    db::run(pool, move |conn| {
        let membership = chats::find_for_participant(conn, me, chat_id)?.ok_or(AppError::NotFound)?;
        let outcome = match change(conn, &membership)? {
            Ok(done) => {
                let files = if htmx { attachments::for_messages(conn, &membership, &[shown(&done)])? } else { vec![] };
                Ok((done, files))
            }
            Err(refusal) => Err(refusal),
        };
        Ok::<_, AppError>((membership, outcome))
    })
    .await
}

/// After a change: publish it (and the replies it changed, in rev order), then the
/// message with its files (htmx) or a 303 back to it.
#[allow(clippy::too_many_arguments)]
fn changed(
    req: &HttpRequest,
    hub: &Hub,
    user: &CurrentUser,
    membership: &Membership,
    m: MessageView,
    replies: Vec<MessageView>,
    publish: bool,
    files: Vec<AttachmentView>,
) -> HttpResponse {
    let back = back_to(membership, &m);
    if publish {
        hub.publish(m.clone());
        replies.into_iter().for_each(|r| hub.publish(r));
    }
    if !is_htmx(req) {
        return see_other(&back);
    }
    // Its viewer just acted on it (a blocked sender's message only once revealed): shown
    // open; the stream's update collapses it again like every page load.
    let html = render_message(&m, &viewer(user, membership), &[], &files);
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html)
}

/// Refuses early what the change itself would refuse, for the GET pages.
fn check(m: &MessageView) -> Result<(), AppError> {
    if m.kind == crate::models::messages::MessageKind::System {
        return Err(Refusal::SystemLine.into());
    }
    if m.deleted {
        return Err(Refusal::Deleted.into());
    }
    Ok(())
}

pub async fn edit_form(user: CurrentUser, pool: web::Data<DbPool>, path: MessagePath) -> Result<HttpResponse, AppError> {
    let (chat_id, seq) = parse_path(&path)?;
    let (membership, m, counts) = lookup(&pool, &user, chat_id, seq).await?;
    check(&m)?;
    if m.sender != user.user_id {
        return Err(Refusal::NotAllowed.into());
    }
    let text = Field::new(m.text.clone());
    Ok(views::ok(&page(&user, &membership, counts, m, Action::Edit { text }))?)
}

#[derive(Deserialize)]
pub struct EditForm {
    text: String,
}

pub async fn edit(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    path: MessagePath,
    form: web::Form<EditForm>,
) -> Result<HttpResponse, AppError> {
    let (chat_id, seq) = parse_path(&path)?;
    let text = form.into_inner().text;
    let parsed = match MessageText::parse(&text) {
        Ok(parsed) => parsed,
        Err(invalid) => {
            let (membership, m, counts) = lookup(&pool, &user, chat_id, seq).await?;
            check(&m)?;
            let action = Action::Edit { text: Field::err(text, invalid.to_string()) };
            return Ok(views::invalid(&page(&user, &membership, counts, m, action))?);
        }
    };
    let edit = move |conn: &mut PgConnection, m: &Membership| message_actions::edit(conn, m, seq, &parsed);
    let shown = |c: &Changed| match c {
        Changed::Changed(m, _) | Changed::Same(m) => m.message_id,
    };
    let (membership, outcome) = act(&pool, &user, chat_id, is_htmx(&req), edit, shown).await?;
    Ok(match outcome? {
        (Changed::Changed(m, replies), files) => changed(&req, &hub, &user, &membership, m, replies, true, files),
        (Changed::Same(m), files) => changed(&req, &hub, &user, &membership, m, vec![], false, files),
    })
}

pub async fn history(user: CurrentUser, pool: web::Data<DbPool>, path: MessagePath) -> Result<HttpResponse, AppError> {
    let (chat_id, seq) = parse_path(&path)?;
    let me = user.user_id;
    let (membership, found, counts) = db::run(&pool, move |conn| {
        let membership = chats::find_for_participant(conn, me, chat_id)?.ok_or(AppError::NotFound)?;
        let found = message_actions::history(conn, &membership, seq)?.ok_or(AppError::NotFound)?;
        let counts = users::nav_counts(conn, me)?;
        Ok::<_, AppError>((membership, found, counts))
    })
    .await?;
    let (m, earlier) = found;
    Ok(views::ok(&page(&user, &membership, counts, m, Action::History { earlier }))?)
}

pub async fn delete_form(user: CurrentUser, pool: web::Data<DbPool>, path: MessagePath) -> Result<HttpResponse, AppError> {
    let (chat_id, seq) = parse_path(&path)?;
    let (membership, m, counts) = lookup(&pool, &user, chat_id, seq).await?;
    check(&m)?;
    if !MessageItem::new(m.clone(), &viewer(&user, &membership), false).can_delete() {
        return Err(Refusal::NotAllowed.into());
    }
    Ok(views::ok(&page(&user, &membership, counts, m, Action::Delete))?)
}

pub async fn delete(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    path: MessagePath,
) -> Result<HttpResponse, AppError> {
    let (chat_id, seq) = parse_path(&path)?;
    let delete = move |conn: &mut PgConnection, m: &Membership| message_actions::delete(conn, m, seq);
    let (membership, outcome) =
        act(&pool, &user, chat_id, is_htmx(&req), delete, |(m, _): &(MessageView, Vec<MessageView>)| m.message_id).await?;
    let ((m, replies), files) = outcome?;
    Ok(changed(&req, &hub, &user, &membership, m, replies, true, files))
}

pub async fn react_form(user: CurrentUser, pool: web::Data<DbPool>, path: MessagePath) -> Result<HttpResponse, AppError> {
    let (chat_id, seq) = parse_path(&path)?;
    let (membership, m, counts) = lookup(&pool, &user, chat_id, seq).await?;
    check(&m)?;
    Ok(views::ok(&page(&user, &membership, counts, m, Action::React { emoji: Field::default() }))?)
}

#[derive(Deserialize)]
pub struct ReactForm {
    #[serde(default)]
    emoji: String,
}

pub async fn react(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    path: MessagePath,
    form: web::Form<ReactForm>,
) -> Result<HttpResponse, AppError> {
    let (chat_id, seq) = parse_path(&path)?;
    let raw = form.into_inner().emoji;
    let refused = |why: String| async {
        let (membership, m, counts) = lookup(&pool, &user, chat_id, seq).await?;
        check(&m)?;
        let action = Action::React { emoji: Field::err(raw.clone(), why) };
        Ok::<_, AppError>(views::invalid(&page(&user, &membership, counts, m, action))?)
    };
    let emoji = match Emoji::parse(&raw) {
        Ok(emoji) => emoji,
        Err(invalid) => return refused(invalid.to_string()).await,
    };
    let toggle = move |conn: &mut PgConnection, m: &Membership| reactions::toggle(conn, m, seq, &emoji);
    let (membership, outcome) = act(&pool, &user, chat_id, is_htmx(&req), toggle, |m: &MessageView| m.message_id).await?;
    match outcome {
        Ok((m, files)) => Ok(changed(&req, &hub, &user, &membership, m, vec![], true, files)),
        Err(Refusal::TooManyEmoji) => refused("A message holds at most 20 different emoji: choose one it has already.".into()).await,
        Err(other) => Err(other.into()),
    }
}
