//! The chat list, the chat page and the one message partial (used by the page, the
//! htmx fragments and the SSE stream alike).

use askama::Template;
use chrono::Utc;
use uuid::Uuid;

use super::accounts::Field;
use super::format;
use super::Layout;
use crate::models::chats::{ChatForUser, ChatListRow};
use crate::models::friends::FriendName;
use crate::models::messages::MessageView;
use crate::models::participants::Member;

/// Messages per page of history.
pub const PAGE: i64 = 50;
/// Characters of the last message shown in the chat list.
const PREVIEW_CHARS: usize = 80;

#[derive(Template)]
#[template(path = "chats/index.html")]
pub struct ChatsPage {
    pub layout: Layout,
    pub chats: Vec<ChatListRow>,
    /// My friends, offered as the members of a new group.
    pub friends: Vec<FriendName>,
    pub new_group: NewGroupForm,
}

/// The "new group" form on /chats, with the input kept after an error.
#[derive(Debug, Clone, Default)]
pub struct NewGroupForm {
    pub name: Field,
    /// The usernames that were ticked.
    pub members: Vec<String>,
    pub members_error: Option<String>,
}

impl NewGroupForm {
    pub fn has_errors(&self) -> bool {
        self.name.error.is_some() || self.members_error.is_some()
    }
    pub fn is_ticked(&self, username: &str) -> bool {
        self.members.iter().any(|m| m == username)
    }
}

impl ChatListRow {
    pub fn title(&self) -> &str {
        crate::models::chats::title(self.name.as_deref(), self.other_name.as_deref())
    }
    /// The last message, shortened (the template escapes it).
    pub fn preview(&self) -> String {
        let Some(text) = &self.last_text else { return String::new() };
        let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let short: String = flat.chars().take(PREVIEW_CHARS).collect();
        let short = if flat.chars().count() > PREVIEW_CHARS { format!("{short}…") } else { short };
        match (&self.last_sender, self.is_group, self.last_kind.as_deref()) {
            (_, _, Some("system")) => short,
            (Some(sender), true, _) => format!("{sender}: {short}"),
            _ => short,
        }
    }
    pub fn time_iso(&self) -> String {
        format::iso(&self.last_activity_at)
    }
    pub fn time_short(&self) -> String {
        format::short_when(&self.last_activity_at, Utc::now())
    }
}

/// One message as one viewer sees it.
pub struct MessageItem<'a> {
    pub m: &'a MessageView,
    pub mine: bool,
    /// Same sender as the message before it: no avatar and name again.
    pub continued: bool,
}

impl MessageItem<'_> {
    pub fn time_iso(&self) -> String {
        format::iso(&self.m.sent_time)
    }
    pub fn time_short(&self) -> String {
        format::clock(&self.m.sent_time)
    }
    pub fn is_system(&self) -> bool {
        self.m.kind == "system"
    }
}

/// A row of the timeline: a day separator or a message.
pub enum Row<'a> {
    Day(String),
    Message(MessageItem<'a>),
}

/// Messages without day separators (what polling adds to the end of the list).
pub fn flat(messages: &[MessageView], viewer: Uuid) -> Vec<Row<'_>> {
    messages.iter().map(|m| Row::Message(MessageItem { m, mine: m.sender == viewer, continued: false })).collect()
}

/// Lays messages out for `viewer`: day separators, and consecutive messages of one
/// sender (within ten minutes) grouped. `before` is the message just above the first one.
pub fn timeline<'a>(messages: &'a [MessageView], viewer: Uuid, before: Option<&'a MessageView>) -> Vec<Row<'a>> {
    let mut rows = Vec::with_capacity(messages.len() + 2);
    let mut prev = before;
    for m in messages {
        let new_day = prev.is_none_or(|p| p.sent_time.date_naive() != m.sent_time.date_naive());
        if new_day {
            rows.push(Row::Day(format::day(&m.sent_time, Utc::now())));
        }
        let continued = !new_day
            && prev.is_some_and(|p| {
                p.sender == m.sender && p.kind == "text" && m.kind == "text" && m.sent_time - p.sent_time < chrono::TimeDelta::minutes(10)
            });
        rows.push(Row::Message(MessageItem { m, mine: m.sender == viewer, continued }));
        prev = Some(m);
    }
    rows
}

#[derive(Template)]
#[template(path = "messages/_message.html")]
pub struct MessageFragment<'a> {
    pub item: MessageItem<'a>,
}

/// The message as `viewer` sees it, standing alone (SSE data, htmx fragment).
pub fn render_message(m: &MessageView, viewer: Uuid) -> String {
    let fragment = MessageFragment { item: MessageItem { m, mine: m.sender == viewer, continued: false } };
    fragment.render().unwrap_or_default()
}

/// The send form: its own struct so that htmx can swap a fresh one in after a send.
pub struct Composer {
    pub chat_id: Uuid,
    pub csrf_token: String,
    /// A fresh UUID per rendered form: a repeated POST of the same form stores nothing new.
    pub client_id: Uuid,
    pub text: String,
    pub error: Option<String>,
    /// Why sending is impossible (no longer friends), instead of the form.
    pub closed: Option<String>,
}

#[derive(Template)]
#[template(path = "chats/_composer.html")]
pub struct ComposerFragment {
    pub composer: Composer,
}

#[derive(Template)]
#[template(path = "chats/show.html")]
pub struct ChatPage<'a> {
    pub layout: Layout,
    pub chat: ChatForUser,
    pub rows: Vec<Row<'a>>,
    /// The seq of the oldest message shown, when older ones exist ("load older").
    pub older_than: Option<i64>,
    pub last_seq: i64,
    pub composer: Composer,
    /// The members panel, for groups.
    pub group: Option<GroupPanel>,
}

/// What the chat page's forms show again after a refusal (then the page answers 422).
#[derive(Debug, Clone, Default)]
pub struct PageForms {
    pub composer_text: String,
    pub composer_error: Option<String>,
    /// The members panel's "add" and "rename" forms, given only after a refusal (groups only).
    pub add: Option<Field>,
    pub rename: Option<Field>,
}

impl PageForms {
    pub fn has_group_forms(&self) -> bool {
        self.add.is_some() || self.rename.is_some()
    }
}

/// A group's members and what the viewer may do about them.
pub struct GroupPanel {
    pub me: Uuid,
    /// The owner first, then by how long they have been in the group.
    pub members: Vec<Member>,
    /// My friends who are not in the group yet (the "add" picker).
    pub addable: Vec<FriendName>,
    pub i_own: bool,
    /// The "add a member" and "rename" forms, with input and errors after a refusal.
    pub add: Field,
    pub rename: Field,
}

impl GroupPanel {
    pub fn new(me: Uuid, members: Vec<Member>, friends: Vec<FriendName>, name: &str) -> Self {
        let addable = friends.into_iter().filter(|f| !members.iter().any(|m| m.user_id == f.user_id)).collect();
        let i_own = members.iter().any(|m| m.user_id == me && m.is_owner());
        GroupPanel { me, members, addable, i_own, add: Field::default(), rename: Field::new(name) }
    }
    pub fn has_errors(&self) -> bool {
        self.add.error.is_some() || self.rename.error.is_some()
    }
    /// A few members for the picture stack of the header.
    pub fn faces(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().take(3)
    }
}

/// An htmx fragment of history: older messages (with the next "load older" button on
/// top), or the ones after a seq (polling).
#[derive(Template)]
#[template(path = "messages/_page.html")]
pub struct MessagesFragment<'a> {
    pub chat_id: Uuid,
    pub rows: Vec<Row<'a>>,
    pub older_than: Option<i64>,
}
