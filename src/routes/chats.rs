//! `/chats`: the list (with the new-group form), opening a direct chat, and the chat page.

use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::domain::Username;
use crate::error::AppError;
use crate::live::Hub;
use crate::models::chats::{self, DirectRefusal};
use crate::models::{ChatId, Seq};
use crate::pages::chat::{chat_page, Position};
use crate::pages::chat_list::chats_page;
use crate::views::chats::{NewGroupForm, PageForms};
use crate::views::{self, see_other};

pub async fn index(user: CurrentUser, pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    let page = chats_page(&user, &pool, NewGroupForm::default()).await?;
    Ok(views::ok_sized(&page, page.capacity())?)
}

#[derive(Deserialize)]
pub struct DirectForm {
    username: String,
}

/// Finds or creates the direct chat with a friend, then opens it.
pub async fn open_direct(user: CurrentUser, pool: web::Data<DbPool>, form: web::Form<DirectForm>) -> Result<HttpResponse, AppError> {
    let name = Username::parse(&form.username).map_err(|_| AppError::NotFound)?;
    let me = user.user_id;
    match db::run(&pool, move |conn| chats::open_direct(conn, me, &name).map_err(AppError::from)).await? {
        Ok(chat_id) => Ok(see_other(&format!("/chats/{chat_id}"))),
        Err(DirectRefusal::NoSuchUser) => Err(AppError::NotFound),
        Err(DirectRefusal::NotFriends(name)) => {
            Err(AppError::Conflict(format!("You can only message your friends, and {name} is not one (yet).")))
        }
    }
}

#[derive(Deserialize)]
pub struct ShowQuery {
    /// A message's permalink (`?at={seq}`): the page of history around it.
    at: Option<Seq>,
    /// "Reply" without JavaScript: the composer answers this message.
    reply_to: Option<Seq>,
}

pub async fn show(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    chat_id: web::Path<String>,
    query: web::Query<ShowQuery>,
) -> Result<HttpResponse, AppError> {
    let chat_id: ChatId = super::id_in_path(&chat_id)?;
    let position = query.at.map_or(Position::Latest, Position::Around);
    let page = chat_page(&user, &pool, chat_id, position, PageForms { reply_to: query.reply_to, ..PageForms::default() }).await?;
    if page.read_moved {
        // Opening the chat read it: my badges elsewhere, and "Seen" for the other person.
        hub.poke(user.user_id);
        if let Some(other) = page.chat.other_id {
            hub.poke(other);
        }
    }
    Ok(views::ok_sized(&page, page.capacity())?)
}
