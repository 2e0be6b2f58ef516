//! The pages of one message's actions, for browsers without JavaScript (with it, the
//! chat page does them inline): edit, confirm a deletion, choose any emoji, and the
//! earlier texts of an edited message.

use askama::Template;

use super::chats::MessageItem;
use super::form::Field;
use super::Layout;
// Named by the message partial the page includes.
use crate::domain::mentions::Piece;
use crate::models::message_actions::EarlierText;
use crate::models::ChatId;

/// What the page asks or shows.
pub enum Action {
    Edit { text: Field },
    Delete,
    React { emoji: Field },
    History { earlier: Vec<EarlierText> },
}

#[derive(Template)]
#[template(path = "messages/action.html")]
pub struct ActionPage {
    pub layout: Layout,
    pub chat_id: ChatId,
    pub chat_title: String,
    /// The message, as the chat shows it.
    pub item: MessageItem,
    pub action: Action,
    /// Where "back" and "cancel" lead: the message in its chat.
    pub back: String,
}

impl ActionPage {
    /// A time as `<time datetime>` wants it.
    pub fn iso(&self, t: &chrono::DateTime<chrono::Utc>) -> String {
        super::format::iso(t)
    }
    pub fn base(&self) -> String {
        format!("/chats/{}/messages/{}", self.chat_id, self.item.m.seq)
    }
}
