//! `/chats`: my chats, newest activity first, and the form that starts a group.

use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::live::inbox::list_marker;
use crate::models::{chats, friends};
use crate::views::chats::{ChatListItem, ChatsPage, NewGroupForm};
use crate::views::Layout;

pub async fn chats_page(user: &CurrentUser, pool: &DbPool, new_group: NewGroupForm) -> Result<ChatsPage, AppError> {
    let me = user.user_id;
    let ((list, counts), friends) =
        db::run(pool, move |conn| Ok::<_, AppError>((chats::list_for_user(conn, me)?, friends::list_of(conn, me)?))).await?;
    Ok(ChatsPage {
        layout: Layout { inbox_list: Some(list_marker(&list)), ..Layout::for_user(user, counts, "Chats", "chats") },
        chats: list.into_iter().map(|row| ChatListItem::new(row, &user.username, None)).collect(),
        friends,
        new_group,
    })
}
