//! The live inbox's events, rendered (SPEC §6): a chat list item, the badges, an incoming
//! friend request or an answer to mine, "Seen" and "is typing…". Each is the same markup
//! the pages render, so a list upserts it by id.

use askama::Template;
use chrono::{DateTime, Utc};

use super::chats::ChatListItem;
use super::{format, Layout, NavUser};
use crate::auth::CurrentUser;
use crate::live::inbox::InboxViews;
use crate::models::friend_requests::PendingRequest;
use crate::models::inbox::{Answer, NotifyPrefs};
use crate::models::users::NavCounts;
use crate::models::{ChatId, UserId};

/// Whether a new message in a chat may notify: never in a muted chat, unless a mention
/// of me is unread there (SPEC §7).
pub fn notifies(muted: bool, mentions_me: bool) -> bool {
    !muted || mentions_me
}

#[derive(Template)]
#[template(path = "chats/_item.html")]
pub struct ChatItemFragment {
    pub c: ChatListItem,
}

#[derive(Template)]
#[template(path = "inbox/_badges.html")]
pub struct BadgesFragment {
    pub u: NavUser,
    pub prefs: NotifyPrefs,
}

#[derive(Template)]
#[template(path = "friends/_incoming.html")]
pub struct IncomingFragment {
    pub layout: Layout,
    pub r: PendingRequest,
}

impl IncomingFragment {
    pub fn iso(&self, t: &DateTime<Utc>) -> String {
        format::iso(t)
    }
    pub fn date_time(&self, t: &DateTime<Utc>) -> String {
        format::date_time(t)
    }
}

#[derive(Template)]
#[template(path = "inbox/_answer.html")]
pub struct AnswerFragment<'a> {
    pub a: &'a Answer,
}

#[derive(Template)]
#[template(path = "inbox/_typing.html")]
pub struct TypingFragment<'a> {
    pub name: &'a str,
    pub user_id: UserId,
}

/// "alice is typing…" (the `typing` event's data).
pub fn render_typing(name: &str, user_id: UserId) -> String {
    TypingFragment { name, user_id }.render().unwrap_or_default()
}

/// How `user`'s stream renders their inbox; `open_chat` is the chat of the page that
/// holds the stream (its item is the current one).
pub fn views_for(user: &CurrentUser, open_chat: Option<ChatId>) -> InboxViews {
    let (me, username, token) = (user.user_id, user.username.clone(), user.csrf_token.clone());
    let nav = move |counts: &NavCounts| NavUser {
        user_id: me,
        username: String::new(),
        pending_requests: counts.pending_requests,
        unread_messages: counts.unread_messages,
    };
    InboxViews {
        item: Box::new(move |row| {
            ChatItemFragment { c: ChatListItem::new(row.clone(), &username, open_chat) }.render().unwrap_or_default()
        }),
        badges: Box::new(move |counts, prefs| BadgesFragment { u: nav(counts), prefs: *prefs }.render().unwrap_or_default()),
        request: Box::new(move |r| {
            IncomingFragment { layout: Layout::anonymous("", token.clone()), r: r.clone() }.render().unwrap_or_default()
        }),
        answer: Box::new(|a| AnswerFragment { a }.render().unwrap_or_default()),
        read: Box::new(|seq| format!("<span data-seq=\"{seq}\">Seen</span>")),
    }
}
