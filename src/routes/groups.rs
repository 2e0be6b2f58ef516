//! Groups: `POST /chats/group` (create one with friends), and a group's
//! `/rename`, `/members` (add a friend; any member), `/members/{username}/remove` (the
//! owner; removing yourself is leaving) and `/leave`.
//!
//! Answers: non-participants get 404 everywhere (the group's existence stays private);
//! a member who is not the owner trying to remove someone gets 403 (they can see the
//! group, so 404 would be a lie); removing someone not in the group is 404; a direct
//! chat refuses all of these with 409 and an explanation. A new group needs a name and
//! at least one friend: the form comes back (422) naming whoever is not a friend of the
//! creator. Adding someone who is not your friend, or an invalid name, re-renders the
//! group with the error next to its field (422). Renaming to the same name, or adding a
//! member again, changes nothing.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::id_in_path;
use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::domain::{GroupName, Username};
use crate::error::AppError;
use crate::live::Hub;
use crate::models::groups::{self, Actor, Created, Outcome, Refusal};
use crate::models::{inbox, ChatId};
use crate::pages::chat::{chat_page, Position};
use crate::pages::chat_list::chats_page;
use crate::views::chats::{NewGroupForm, PageForms};
use crate::views::form::Field;
use crate::views::{self, redirect_after_post};

/// `name` once, `members` repeated: the form is read as a list of pairs.
pub async fn create(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let mut new_group = NewGroupForm::from_pairs(form.into_inner());
    let name = GroupName::parse(&new_group.name.value).map_err(|e| new_group.name.error = Some(e.to_string())).ok();
    // You are in your group anyway: your own name does not count as a member.
    if new_group.members.iter().all(|m| m.trim().eq_ignore_ascii_case(&user.username)) {
        new_group.members_error = Some("Choose at least one friend.".into());
    }
    let Some(name) = name.filter(|_| !new_group.has_errors()) else {
        return Ok(views::invalid(&chats_page(&user, &pool, new_group).await?)?);
    };
    let (me, my_name, members) = (user.user_id, user.username.clone(), new_group.members.clone());
    let created = db::run(&pool, move |conn| {
        groups::create(conn, Actor { user_id: me, username: &my_name }, &name, &members).map_err(AppError::from)
    })
    .await?;
    match created {
        Created::Group(change) => {
            let (chat_id, path) = (change.chat_id, format!("/chats/{}", change.chat_id));
            hub.announce(change);
            poke_members(&pool, &hub, chat_id).await;
            Ok(redirect_after_post(&req, &path))
        }
        Created::NotFriends(names) => {
            new_group.members_error = Some(format!("Only your friends can be in your groups, and these are not: {}.", names.join(", ")));
            Ok(views::invalid(&chats_page(&user, &pool, new_group).await?)?)
        }
    }
}

#[derive(Deserialize)]
pub struct RenameForm {
    name: String,
}

pub async fn rename(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    path: web::Path<String>,
    form: web::Form<RenameForm>,
) -> Result<HttpResponse, AppError> {
    let chat_id: ChatId = id_in_path(&path)?;
    let input = form.into_inner().name;
    let name = match GroupName::parse(&input) {
        Ok(name) => name,
        Err(invalid) => {
            let forms = PageForms { rename: Some(Field::err(input, invalid.to_string())), ..PageForms::default() };
            return refused_form(&user, &pool, chat_id, forms).await;
        }
    };
    let (me, my_name) = (user.user_id, user.username.clone());
    let outcome =
        db::run(&pool, move |conn| groups::rename(conn, chat_id, Actor { user_id: me, username: &my_name }, &name).map_err(AppError::from))
            .await?;
    answer(&req, &user, &hub, chat_id, outcome)
}

#[derive(Deserialize)]
pub struct AddForm {
    username: String,
}

pub async fn add_member(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    path: web::Path<String>,
    form: web::Form<AddForm>,
) -> Result<HttpResponse, AppError> {
    let chat_id: ChatId = id_in_path(&path)?;
    let input = form.into_inner().username;
    let outcome = match Username::parse(&input) {
        Ok(username) => {
            let (me, my_name) = (user.user_id, user.username.clone());
            db::run(&pool, move |conn| {
                groups::add(conn, chat_id, Actor { user_id: me, username: &my_name }, &username).map_err(AppError::from)
            })
            .await?
        }
        Err(_) => Outcome::Refused(Refusal::NotAFriend),
    };
    if let Outcome::Refused(Refusal::NotAFriend) = outcome {
        let error = if input.trim().is_empty() {
            "Choose a friend to add.".to_string()
        } else {
            format!("You can only add your friends, and {} is not one.", input.trim())
        };
        let forms = PageForms { add: Some(Field::err(input, error)), ..PageForms::default() };
        return refused_form(&user, &pool, chat_id, forms).await;
    }
    let added = matches!(outcome, Outcome::Changed(_));
    let answered = answer(&req, &user, &hub, chat_id, outcome);
    if added {
        // The new member's lists learn of the group (their streams listen to it from now on).
        poke_members(&pool, &hub, chat_id).await;
    }
    answered
}

/// After people joined a chat: their inboxes re-read (they did not listen to it yet).
/// Best effort: if this fails, the sweep's digest finds the change within seconds.
async fn poke_members(pool: &DbPool, hub: &Hub, chat_id: ChatId) {
    if let Ok(people) = db::run(pool, move |conn| inbox::participant_ids(conn, chat_id).map_err(AppError::from)).await {
        people.into_iter().for_each(|user_id| hub.poke(user_id));
    }
}

pub async fn remove_member(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, AppError> {
    let (raw_chat, raw_name) = path.into_inner();
    let chat_id: ChatId = id_in_path(&raw_chat)?;
    let username = Username::parse(&raw_name).map_err(|_| AppError::NotFound)?;
    let (me, my_name) = (user.user_id, user.username.clone());
    let outcome = db::run(&pool, move |conn| {
        groups::remove(conn, chat_id, Actor { user_id: me, username: &my_name }, &username).map_err(AppError::from)
    })
    .await?;
    answer(&req, &user, &hub, chat_id, outcome)
}

pub async fn leave(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let chat_id: ChatId = id_in_path(&path)?;
    let (me, my_name) = (user.user_id, user.username.clone());
    let outcome =
        db::run(&pool, move |conn| groups::leave(conn, chat_id, Actor { user_id: me, username: &my_name }).map_err(AppError::from)).await?;
    answer(&req, &user, &hub, chat_id, outcome)
}

/// The group page again, with a form's input kept and why it was refused (422).
async fn refused_form(user: &CurrentUser, pool: &DbPool, chat_id: ChatId, forms: PageForms) -> Result<HttpResponse, AppError> {
    Ok(views::invalid(&chat_page(user, pool, chat_id, Position::Latest, forms).await?)?)
}

/// After commit: publishes what changed, then goes back to the group (or to the chat
/// list, for whoever is no longer in it).
fn answer(req: &HttpRequest, user: &CurrentUser, hub: &Hub, chat_id: ChatId, outcome: Outcome) -> Result<HttpResponse, AppError> {
    let gone = match outcome {
        Outcome::Changed(change) => {
            let gone = change.revoked.is_some_and(|(user_id, _)| user_id == user.user_id);
            hub.announce(change);
            gone
        }
        Outcome::Unchanged => false,
        Outcome::Refused(refusal) => return Err(refusal.into()),
    };
    Ok(redirect_after_post(req, &if gone { "/chats".to_string() } else { format!("/chats/{chat_id}") }))
}
