//! `/chats`: the list (with the new-group form), opening a direct chat, and the chat page.

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::domain::Username;
use crate::error::AppError;
use crate::models::chats::{ChatForUser, OpenedChat};
use crate::models::friends::FriendName;
use crate::models::messages::MessageView;
use crate::models::participants::Member;
use crate::models::users::NavCounts;
use crate::models::{chats, friends, groups, messages, participants, users};
use crate::views::chats::{timeline, ChatPage, ChatsPage, Composer, GroupPanel, NewGroupForm, PageForms, PAGE};
use crate::views::{self, see_other, Layout};

pub async fn index(user: CurrentUser, pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    chats_page(&user, &pool, NewGroupForm::default()).await
}

/// The chat list and the new-group form: 200, or 422 when the form comes back with errors.
pub async fn chats_page(user: &CurrentUser, pool: &DbPool, new_group: NewGroupForm) -> Result<HttpResponse, AppError> {
    let me = user.user_id;
    let (counts, list, friends) = db::run(pool, move |conn| {
        Ok::<_, AppError>((users::nav_counts(conn, me)?, chats::list_for_user(conn, me)?, friends::list_of(conn, me)?))
    })
    .await?;
    let page = ChatsPage { layout: Layout::for_user(user, counts, "Chats", "chats"), chats: list, friends, new_group };
    if page.new_group.has_errors() {
        return views::invalid(&page);
    }
    views::ok(&page)
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

/// The chat page with empty forms, or the composer's text and error kept (422).
pub async fn load_page(
    user: &CurrentUser,
    pool: &DbPool,
    chat_id: Uuid,
    composer_text: String,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    show_page(user, pool, chat_id, PageForms { composer_text, composer_error: error, ..PageForms::default() }).await
}

/// Everything the chat page shows, loaded in one blocking round.
struct Loaded {
    counts: NavCounts,
    chat: ChatForUser,
    /// The latest page, plus one older message when there is one.
    history: Vec<MessageView>,
    can_send: bool,
    /// Members and my friends, for a group's members panel.
    group: Option<(Vec<Member>, Vec<FriendName>)>,
}

async fn load(pool: &DbPool, chat_id: Uuid, me: Uuid) -> Result<Loaded, AppError> {
    db::run(pool, move |conn| {
        let OpenedChat { chat, can_send, mut counts } = chats::open_for_participant(conn, chat_id, me)?.ok_or(AppError::NotFound)?;
        // Viewing the chat reads it up to the end just seen; the badge then no longer
        // counts this chat. Nothing to write when it was read already.
        let unread_here = chat.last_seq - chat.last_read_seq;
        if unread_here > 0 {
            participants::mark_read(conn, chat_id, me, chat.last_seq)?;
            counts.unread_messages -= unread_here;
        }
        let history = messages::page_before(conn, chat_id, None, PAGE + 1)?;
        let group = if chat.is_group { Some((participants::members(conn, chat_id)?, friends::list_of(conn, me)?)) } else { None };
        Ok::<_, AppError>(Loaded { counts, chat, history, can_send, group })
    })
    .await
}

/// The chat page; with errors in `forms` it answers 422 and keeps the input.
pub async fn show_page(user: &CurrentUser, pool: &DbPool, chat_id: Uuid, forms: PageForms) -> Result<HttpResponse, AppError> {
    let me = user.user_id;
    let Loaded { counts, chat, history, can_send, group } = load(pool, chat_id, me).await?;
    if group.is_none() && forms.has_group_forms() {
        return Err(groups::Refusal::DirectChat.into());
    }
    // One extra message was loaded to know whether older ones exist.
    let has_older = history.len() as i64 > PAGE;
    let shown = if has_older { &history[1..] } else { &history[..] };
    let invalid = forms.composer_error.is_some() || forms.has_group_forms();
    let composer = Composer {
        chat_id,
        csrf_token: user.csrf_token.clone(),
        client_id: Uuid::new_v4(),
        text: forms.composer_text,
        // After a refused send the form stays, to keep the text and show why.
        closed: (!can_send && forms.composer_error.is_none())
            .then(|| format!("You are no longer friends with {}. You can read your history, but not send messages.", chat.title())),
        error: forms.composer_error,
    };
    let group = group.map(|(members, friends)| {
        let mut panel = GroupPanel::new(me, members, friends, chat.title());
        panel.add = forms.add.unwrap_or_default();
        panel.rename = forms.rename.unwrap_or(panel.rename);
        panel
    });
    let page = ChatPage {
        layout: Layout::for_user(user, counts, chat.title().to_string(), "chats"),
        older_than: has_older.then(|| shown.first().map(|m| m.seq)).flatten(),
        last_seq: chat.last_seq,
        rows: timeline(shown, me, has_older.then(|| &history[0])),
        chat,
        composer,
        group,
    };
    if invalid {
        return views::invalid(&page);
    }
    views::ok(&page)
}

pub async fn show(user: CurrentUser, pool: web::Data<DbPool>, chat_id: web::Path<String>) -> Result<HttpResponse, AppError> {
    let chat_id = super::id_in_path(&chat_id)?;
    load_page(&user, &pool, chat_id, String::new(), None).await
}
