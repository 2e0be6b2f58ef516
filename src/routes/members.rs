//! A group's members: `POST /chats/{chat_id}/members` (add a friend; any member),
//! `/members/{username}/remove` (the owner; removing yourself is leaving) and `/leave`.
//!
//! Answers: non-participants get 404 everywhere (the group's existence stays private);
//! a member who is not the owner trying to remove someone gets 403 (they can see the
//! group, so 404 would be a lie); removing someone not in the group is 404; a direct
//! chat refuses all of these with 409 and an explanation. Adding someone who is not
//! your friend re-renders the page with the error next to the picker (422).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use super::chats::show_page;
use super::id_in_path;
use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::domain::Username;
use crate::error::AppError;
use crate::live::Hub;
use crate::models::groups::{self, Actor, Change, Outcome, Refusal};
use crate::views::accounts::Field;
use crate::views::chats::PageForms;
use crate::views::redirect_after_post;

#[derive(Deserialize)]
pub struct AddForm {
    username: String,
}

pub async fn add(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    path: web::Path<String>,
    form: web::Form<AddForm>,
) -> Result<HttpResponse, AppError> {
    let chat_id = id_in_path(&path)?;
    let input = form.into_inner().username;
    let Ok(username) = Username::parse(&input) else {
        return refuse_add(&user, &pool, chat_id, input).await;
    };
    let (me, my_name) = (user.user_id, user.username.clone());
    let outcome = db::run(&pool, move |conn| groups::add(conn, chat_id, Actor { user_id: me, username: &my_name }, &username)).await?;
    if let Outcome::Refused(Refusal::NotAFriend) = outcome {
        return refuse_add(&user, &pool, chat_id, input).await;
    }
    answer(&req, &hub, chat_id, me, outcome)
}

/// The group page again, with the name kept and why it was refused (422).
async fn refuse_add(user: &CurrentUser, pool: &DbPool, chat_id: Uuid, input: String) -> Result<HttpResponse, AppError> {
    let error = if input.trim().is_empty() {
        "Choose a friend to add.".to_string()
    } else {
        format!("You can only add your friends, and {} is not one.", input.trim())
    };
    show_page(user, pool, chat_id, PageForms { add: Some(Field::err(input, error)), ..PageForms::default() }).await
}

pub async fn remove(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (raw_chat, raw_name) = path.into_inner();
    let chat_id = id_in_path(&raw_chat)?;
    let username = Username::parse(&raw_name).map_err(|_| AppError::NotFound)?;
    let (me, my_name) = (user.user_id, user.username.clone());
    let outcome = db::run(&pool, move |conn| groups::remove(conn, chat_id, Actor { user_id: me, username: &my_name }, &username)).await?;
    answer(&req, &hub, chat_id, me, outcome)
}

pub async fn leave(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let chat_id = id_in_path(&path)?;
    let (me, my_name) = (user.user_id, user.username.clone());
    let outcome = db::run(&pool, move |conn| groups::leave(conn, chat_id, Actor { user_id: me, username: &my_name })).await?;
    answer(&req, &hub, chat_id, me, outcome)
}

/// After commit: publishes what changed, then goes back to the group (or to the chat
/// list, for whoever is no longer in it).
pub(super) fn answer(req: &HttpRequest, hub: &Hub, chat_id: Uuid, me: Uuid, outcome: Outcome) -> Result<HttpResponse, AppError> {
    let gone = match outcome {
        Outcome::Changed(change) => {
            let gone = change.revoked.is_some_and(|(user_id, _)| user_id == me);
            announce(hub, change);
            gone
        }
        Outcome::Unchanged => false,
        Outcome::Refused(refusal) => return Err(refusal.into()),
    };
    Ok(redirect_after_post(req, &if gone { "/chats".to_string() } else { format!("/chats/{chat_id}") }))
}

/// The system lines go live like messages; whoever lost access has their streams ended.
pub(super) fn announce(hub: &Hub, change: Change) {
    let chat_id = change.chat_id;
    for line in change.lines {
        hub.publish(line);
    }
    if let Some((user_id, seq)) = change.revoked {
        hub.revoke(chat_id, user_id, seq);
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
