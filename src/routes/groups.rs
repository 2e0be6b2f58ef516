//! `POST /chats/group` (create a group of friends) and `POST /chats/{chat_id}/rename`.
//!
//! A new group needs a name and at least one friend; the form comes back (422) naming
//! whoever is not a friend of the creator. Renaming to the same name changes nothing.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::chats::{chats_page, show_page};
use super::id_in_path;
use super::members::{announce, answer};
use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::domain::GroupName;
use crate::error::AppError;
use crate::live::Hub;
use crate::models::groups::{self, Actor, Created};
use crate::views::accounts::Field;
use crate::views::chats::{NewGroupForm, PageForms};
use crate::views::redirect_after_post;

/// `name` once, `members` repeated: the form is read as a list of pairs.
pub async fn create(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    form: web::Form<Vec<(String, String)>>,
) -> Result<HttpResponse, AppError> {
    let mut new_group = new_group_form(form.into_inner());
    let name = GroupName::parse(&new_group.name.value).map_err(|e| new_group.name.error = Some(e.to_string())).ok();
    // You are in your group anyway: your own name does not count as a member.
    if new_group.members.iter().all(|m| m.trim().eq_ignore_ascii_case(&user.username)) {
        new_group.members_error = Some("Choose at least one friend.".into());
    }
    let Some(name) = name.filter(|_| !new_group.has_errors()) else {
        return chats_page(&user, &pool, new_group).await;
    };
    let (me, my_name, members) = (user.user_id, user.username.clone(), new_group.members.clone());
    let created = db::run(&pool, move |conn| groups::create(conn, Actor { user_id: me, username: &my_name }, &name, &members)).await?;
    match created {
        Created::Group(change) => {
            let path = format!("/chats/{}", change.chat_id);
            announce(&hub, change);
            Ok(redirect_after_post(&req, &path))
        }
        Created::NotFriends(names) => {
            new_group.members_error = Some(format!("Only your friends can be in your groups, and these are not: {}.", names.join(", ")));
            chats_page(&user, &pool, new_group).await
        }
    }
}

fn new_group_form(fields: Vec<(String, String)>) -> NewGroupForm {
    let mut form = NewGroupForm::default();
    for (key, value) in fields {
        match key.as_str() {
            "name" => form.name = Field::new(value),
            "members" if !value.trim().is_empty() && !form.members.contains(&value) => form.members.push(value),
            _ => {}
        }
    }
    form
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
    let chat_id = id_in_path(&path)?;
    let input = form.into_inner().name;
    let name = match GroupName::parse(&input) {
        Ok(name) => name,
        Err(invalid) => {
            let forms = PageForms { rename: Some(Field::err(input, invalid.to_string())), ..PageForms::default() };
            return show_page(&user, &pool, chat_id, forms).await;
        }
    };
    let (me, my_name) = (user.user_id, user.username.clone());
    let outcome = db::run(&pool, move |conn| groups::rename(conn, chat_id, Actor { user_id: me, username: &my_name }, &name)).await?;
    answer(&req, &hub, chat_id, me, outcome)
}
