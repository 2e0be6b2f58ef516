//! `/chats`: the list, opening a direct chat, and the chat page.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::domain::Username;
use crate::error::AppError;
use crate::models::{chats, friends, messages, participants, users};
use crate::views::chats::{timeline, ChatPage, ChatsPage, Composer, PAGE};
use crate::views::{self, see_other, Layout};

pub async fn index(user: CurrentUser, pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    let me = user.user_id;
    let (counts, list) = db::run(&pool, move |conn| {
        Ok::<_, AppError>((users::nav_counts(conn, me)?, chats::list_for_user(conn, me)?))
    })
    .await?;
    views::ok(&ChatsPage { layout: Layout::for_user(&user, counts, "Chats", "chats"), chats: list })
}

#[derive(Deserialize)]
pub struct DirectForm {
    username: String,
}

/// Finds or creates the direct chat with a friend, then opens it.
pub async fn open_direct(user: CurrentUser, pool: web::Data<DbPool>, form: web::Form<DirectForm>) -> Result<HttpResponse, AppError> {
    let name = Username::parse(&form.username).map_err(|_| AppError::NotFound)?;
    let me = user.user_id;
    let chat_id = db::run(&pool, move |conn| {
        let friend = users::find_by_username(conn, &name)?.ok_or(AppError::NotFound)?;
        if !friends::are_friends(conn, me, friend.user_id)? {
            return Err(AppError::Conflict(format!("You can only message your friends, and {} is not one (yet).", friend.username)));
        }
        Ok(chats::find_or_create_direct(conn, me, friend.user_id)?)
    })
    .await?;
    Ok(see_other(&format!("/chats/{chat_id}")))
}

/// Everything the chat page shows, loaded in one blocking round.
pub async fn load_page(user: &CurrentUser, pool: &DbPool, chat_id: Uuid, composer_text: String, error: Option<String>) -> Result<HttpResponse, AppError> {
    let me = user.user_id;
    let (counts, chat, history, can_send) = db::run(pool, move |conn| {
        let chat = chats::find_for_participant(conn, chat_id, me)?.ok_or(AppError::NotFound)?;
        // Viewing the chat reads it.
        participants::mark_read(conn, chat_id, me, chat.last_seq)?;
        let history = messages::page_before(conn, chat_id, None, PAGE + 1)?;
        let can_send = chat.is_group || chat.other_id.map(|o| friends::are_friends(conn, me, o)).transpose()?.unwrap_or(false);
        Ok::<_, AppError>((users::nav_counts(conn, me)?, chat, history, can_send))
    })
    .await?;
    // One extra message was loaded to know whether older ones exist.
    let has_older = history.len() as i64 > PAGE;
    let shown = if has_older { &history[1..] } else { &history[..] };
    let composer = Composer {
        chat_id,
        csrf_token: user.csrf_token.clone(),
        client_id: Uuid::new_v4(),
        text: composer_text,
        error: error.clone(),
        // After a refused send the form stays, to keep the text and show why.
        closed: (!can_send && error.is_none()).then(|| format!("You are no longer friends with {}. You can read your history, but not send messages.", chat.title())),
    };
    let page = ChatPage {
        layout: Layout::for_user(user, counts, chat.title().to_string(), "chats"),
        older_than: has_older.then(|| shown.first().map(|m| m.seq)).flatten(),
        last_seq: chat.last_seq,
        rows: timeline(shown, me, has_older.then(|| &history[0])),
        chat,
        composer,
    };
    if page.composer.error.is_some() {
        return views::invalid(&page);
    }
    views::ok(&page)
}

pub async fn show(user: CurrentUser, pool: web::Data<DbPool>, chat_id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let chat_id = chat_id.parse().map_err(|_| AppError::NotFound)?;
    load_page(&user, &pool, chat_id, String::new(), None).await
}
