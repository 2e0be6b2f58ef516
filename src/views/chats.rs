//! The chat list, the chat page and the one message partial (used by the page, the
//! htmx fragments and the SSE stream alike).

use std::sync::Arc;

use askama::Template;
use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

use super::attachments::FileItem;
use super::form::Field;
use super::format;
use super::Layout;
use crate::domain::emoji::QUICK;
use crate::domain::mentions::{pieces as mention_pieces, Piece};
use crate::models::attachments::AttachmentView;
use crate::models::chats::{self, ChatForUser, ChatListRow};
use crate::models::friends::FriendName;
use crate::models::message_actions::EDIT_WITHIN;
use crate::models::messages::{MessageKind, MessageView, Reaction};
use crate::models::participants::Member;
use crate::models::{ChatId, Seq, UserId};

/// Characters of the last message shown in the chat list.
const PREVIEW_CHARS: usize = 80;

/// How messages are grouped, on the server and live alike (`static/chat.js` reads the
/// window from the list's `data-group-within` and applies the same test): a text
/// message follows the one before it without its avatar and name again when both are
/// texts of the same sender, sent on the same day (UTC) less than this apart.
pub const GROUP_WITHIN: TimeDelta = TimeDelta::minutes(10);

/// Whether `m` continues the group of `prev` (see `GROUP_WITHIN`).
pub fn continues(prev: &MessageView, m: &MessageView) -> bool {
    prev.sender == m.sender
        && prev.kind == MessageKind::Text
        && m.kind == MessageKind::Text
        && prev.sent_time.date_naive() == m.sent_time.date_naive()
        && m.sent_time - prev.sent_time < GROUP_WITHIN
}

#[derive(Template)]
#[template(path = "chats/index.html")]
pub struct ChatsPage {
    pub layout: Layout,
    pub chats: Vec<ChatListItem>,
    /// My friends, offered as the members of a new group.
    pub friends: Vec<FriendName>,
    pub new_group: NewGroupForm,
}

impl ChatsPage {
    /// About the rendered page's bytes (`views::ok_sized`).
    pub fn capacity(&self) -> usize {
        PAGE_FRAME_BYTES + self.chats.len() * LIST_ITEM_BYTES + self.friends.len() * 200
    }
}

/// What `views::ok_sized` reserves for a page: its frame (head, navigation, forms), a
/// list item, a message with its menu (measured on the bench's pages, rounded up: too
/// little costs a copy of the page, too much only unused memory for a moment).
const PAGE_FRAME_BYTES: usize = 12 * 1024;
const LIST_ITEM_BYTES: usize = 1024;
const MESSAGE_BYTES: usize = 1900;

/// The "new group" form on /chats, with the input kept after an error.
#[derive(Debug, Clone, Default)]
pub struct NewGroupForm {
    pub name: Field,
    /// The usernames that were ticked.
    pub members: Vec<String>,
    pub members_error: Option<String>,
}

impl NewGroupForm {
    /// The posted form as pairs: `name` once, `members` repeated (each kept once).
    pub fn from_pairs(fields: Vec<(String, String)>) -> Self {
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
    pub fn has_errors(&self) -> bool {
        self.name.error.is_some() || self.members_error.is_some()
    }
    pub fn is_ticked(&self, username: &str) -> bool {
        self.members.iter().any(|m| m == username)
    }
}

/// One chat of the list, as shown (the list, the two-pane chat page and the live
/// inbox's `chat` events render it with `chats/_item.html`).
pub struct ChatListItem {
    pub row: ChatListRow,
    /// The last message is the viewer's own (no notification for it).
    pub from_me: bool,
    /// The chat open beside the list (two panes).
    pub current: bool,
    /// A mention of the viewer is unread here (not one by someone they blocked): the
    /// item shows "@", and a muted chat still notifies (SPEC §6, §7).
    pub mentions_me: bool,
}

impl ChatListItem {
    pub fn new(row: ChatListRow, my_username: &str, open_chat: Option<ChatId>) -> Self {
        let from_me = row.last_sender.as_deref() == Some(my_username);
        let current = open_chat == Some(row.chat_id);
        let mentions_me = row.mentioned;
        ChatListItem { row, from_me, current, mentions_me }
    }
    /// Whether a new message here may show a browser notification (the page's script
    /// also needs the tab hidden and notifications turned on); never for a message of
    /// someone I blocked.
    pub fn notifies(&self) -> bool {
        // The newest message is one the preview shows: not from someone I blocked.
        self.row.last_shown_seq == Some(self.row.last_seq) && crate::views::inbox::notifies(self.row.muted, self.mentions_me)
    }

    pub fn title(&self) -> &str {
        chats::title(self.row.name.as_deref(), self.row.other_name.as_deref())
    }
    /// The last message, shortened (the template escapes it).
    pub fn preview(&self) -> String {
        let Some(text) = &self.row.last_text else { return String::new() };
        // A message of files alone: "Photo" or "File: report.pdf"; no text and no file:
        // a deleted message (its files were erased with it).
        let file;
        let text = match (text.is_empty(), self.row.last_file_kind.as_deref(), &self.row.last_file_name) {
            (true, Some("image"), _) => "Photo",
            (true, Some(_), Some(name)) => {
                file = format!("File: {name}");
                file.as_str()
            }
            (true, _, _) => "Message deleted",
            _ => text.as_str(),
        };
        let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let short: String = flat.chars().take(PREVIEW_CHARS).collect();
        let short = if flat.chars().count() > PREVIEW_CHARS { format!("{short}…") } else { short };
        match (&self.row.last_sender, self.row.is_group, self.row.last_kind) {
            (_, _, Some(MessageKind::System)) => short,
            (Some(sender), true, _) => format!("{sender}: {short}"),
            _ => short,
        }
    }
    pub fn time_iso(&self) -> format::IsoSeconds {
        format::IsoSeconds(self.row.last_activity_at)
    }
    pub fn time_short(&self) -> String {
        format::short_when(&self.row.last_activity_at, Utc::now())
    }
}

/// Who a message is rendered for: its actions and highlights depend on them.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub user_id: UserId,
    pub username: String,
    /// For the forms inside each message.
    pub csrf_token: String,
    /// Owns the group (may delete anyone's message).
    pub owns_group: bool,
}

/// One message as one viewer sees it.
pub struct MessageItem {
    pub m: MessageView,
    pub mine: bool,
    /// Continues the group of the message before it: no avatar and name again.
    pub continued: bool,
    /// Shared by every message of a page: one copy of the name and the token, not 50.
    pub viewer: Arc<Viewer>,
    /// The message a permalink (`?at=`) points at.
    pub highlighted: bool,
    /// Its files (set by `with_files`).
    pub files: Vec<FileItem>,
    /// Written by someone the viewer blocked: shown collapsed (SPEC §10).
    pub blocked: bool,
}

impl MessageItem {
    pub fn new(m: MessageView, viewer: &Viewer, continued: bool) -> Self {
        Self::shown_to(m, Arc::new(viewer.clone()), continued)
    }
    fn shown_to(m: MessageView, viewer: Arc<Viewer>, continued: bool) -> Self {
        MessageItem { mine: m.sender == viewer.user_id, m, continued, viewer, highlighted: false, files: Vec::new(), blocked: false }
    }
    /// The URL every action of this message starts with, written straight into the page
    /// (a message names it up to seven times: a `String` each was an allocation each).
    pub fn base(&self) -> MessageUrl {
        MessageUrl { chat_id: self.m.chat_id, seq: self.m.seq }
    }
    /// The text split around the mentions of members (linked to their profiles).
    pub fn pieces(&self) -> Vec<Piece<'_>> {
        mention_pieces(&self.m.text, &self.m.mentions)
    }
    /// The text mentions the viewer.
    pub fn mentions_me(&self) -> bool {
        !self.mine && !self.blocked && self.m.mentions.contains(&self.viewer.username)
    }
    pub fn can_edit(&self) -> bool {
        self.mine && !self.m.deleted && !self.is_system() && Utc::now() - self.m.sent_time <= EDIT_WITHIN
    }
    pub fn can_delete(&self) -> bool {
        !self.m.deleted && !self.is_system() && (self.mine || self.viewer.owns_group)
    }
    /// Whether the viewer chose `emoji` on this message.
    pub fn reacted(&self, reaction: &Reaction) -> bool {
        reaction.people.iter().any(|(id, _)| *id == self.viewer.user_id)
    }
    /// Who chose an emoji, as its accessible name says it: "You, bob and carol".
    pub fn who(&self, reaction: &Reaction) -> String {
        let names: Vec<&str> =
            reaction.people.iter().map(|(id, name)| if *id == self.viewer.user_id { "you" } else { name.as_str() }).collect();
        match names.split_last() {
            Some((last, [])) => last.to_string(),
            Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
            None => String::new(),
        }
    }
    pub fn quick(&self) -> &'static [&'static str] {
        &QUICK
    }
    /// `format::iso`, written into the page without a `String` of its own.
    pub fn time_iso(&self) -> format::IsoSeconds {
        format::IsoSeconds(self.m.sent_time)
    }
    /// `format::clock`, likewise.
    pub fn time_short(&self) -> format::Clock {
        format::Clock(self.m.sent_time)
    }
    /// Seconds since the epoch: what `chat.js` compares to group live messages.
    pub fn sent_at_secs(&self) -> i64 {
        self.m.sent_time.timestamp()
    }
    pub fn is_system(&self) -> bool {
        self.m.kind == MessageKind::System
    }
}

/// `/chats/{chat_id}/messages/{seq}`: `MessageItem::base`.
#[derive(Debug, Clone, Copy)]
pub struct MessageUrl {
    chat_id: ChatId,
    seq: Seq,
}

impl std::fmt::Display for MessageUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "/chats/{}/messages/{}", self.chat_id, self.seq)
    }
}

/// A row of the timeline: a day separator or a message.
pub enum Row {
    Day(String),
    Message(Box<MessageItem>),
}

/// Messages without day separators or grouping (what polling adds to the end of the
/// list; `chat.js` groups them as they arrive).
pub fn flat(messages: Vec<MessageView>, viewer: &Viewer) -> Vec<Row> {
    let viewer = Arc::new(viewer.clone());
    messages.into_iter().map(|m| Row::Message(Box::new(MessageItem::shown_to(m, viewer.clone(), false)))).collect()
}

/// Lays messages out for `viewer`: day separators, and groups (`continues`). `before` is
/// the message just above the first one, if any.
pub fn timeline(messages: Vec<MessageView>, viewer: &Viewer, before: Option<&MessageView>) -> Vec<Row> {
    timeline_at(messages, viewer, before, Utc::now())
}

fn timeline_at(messages: Vec<MessageView>, viewer: &Viewer, before: Option<&MessageView>, now: DateTime<Utc>) -> Vec<Row> {
    let viewer = Arc::new(viewer.clone());
    // How each message follows the one above it, worked out before the messages move
    // into their rows (comparing with a clone of the previous one cost a clone each).
    let follows: Vec<(bool, bool)> = std::iter::once(before)
        .chain(messages.iter().map(Some))
        .zip(&messages)
        .map(|(prev, m)| {
            let new_day = prev.is_none_or(|p| p.sent_time.date_naive() != m.sent_time.date_naive());
            (new_day, prev.is_some_and(|p| continues(p, m)))
        })
        .collect();
    let mut rows = Vec::with_capacity(messages.len() + 2);
    for (m, (new_day, continued)) in messages.into_iter().zip(follows) {
        if new_day {
            rows.push(Row::Day(format::day(&m.sent_time, now)));
        }
        rows.push(Row::Message(Box::new(MessageItem::shown_to(m, viewer.clone(), continued))));
    }
    rows
}

/// Collapses the texts of people the viewer blocked (their system lines stay).
pub fn collapse_blocked(mut rows: Vec<Row>, blocked: &[UserId]) -> Vec<Row> {
    if blocked.is_empty() {
        return rows;
    }
    for row in &mut rows {
        if let Row::Message(item) = row {
            item.blocked = !item.is_system() && blocked.contains(&item.m.sender);
        }
    }
    rows
}

#[derive(Template)]
#[template(path = "messages/_message.html")]
pub struct MessageFragment {
    pub item: MessageItem,
}

/// The message as `viewer` sees it, standing alone (SSE data, htmx answers), with its
/// files; collapsed when its sender is one of `blocked` (the people the viewer blocked).
pub fn render_message(m: &MessageView, viewer: &Viewer, blocked: &[UserId], files: &[AttachmentView]) -> String {
    let mut item = MessageItem::new(m.clone(), viewer, false);
    item.blocked = !item.is_system() && blocked.contains(&m.sender);
    item.files = files.iter().map(|f| FileItem { f: f.clone() }).collect();
    let fragment = MessageFragment { item };
    fragment.render().unwrap_or_default()
}

/// Gives each message of `rows` its files.
pub fn with_files(rows: &mut [Row], files: Vec<AttachmentView>) {
    if files.is_empty() {
        return;
    }
    let mut by_message = super::attachments::by_message(files);
    for row in rows {
        if let Row::Message(item) = row {
            item.files = by_message.remove(&item.m.message_id).unwrap_or_default();
        }
    }
}

/// The send form: its own struct so that htmx can swap a fresh one in after a send.
pub struct Composer {
    pub chat_id: ChatId,
    /// The message this one answers (`?reply_to=` on the chat page), shown above the text.
    pub reply_to: Option<MessageView>,
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
pub struct ChatPage {
    pub layout: Layout,
    pub chat: ChatForUser,
    pub rows: Vec<Row>,
    pub pages: HistoryLinks,
    /// The end of the chat when the page was made.
    pub last_seq: Seq,
    /// The chat's latest change when the page was made: where the live stream starts.
    pub last_rev: crate::models::Rev,
    /// The chat list beside the chat, as `live::inbox::list_marker`: told to the stream.
    pub list_marker: String,
    /// The latest messages, followed live; a page of history is not.
    pub live: bool,
    pub composer: Composer,
    /// The members panel, for groups.
    pub group: Option<GroupPanel>,
    pub group_within_secs: i64,
    /// My chats, beside the open one on wide screens (two panes, SPEC §6).
    pub list: Vec<ChatListItem>,
    /// The mute form: how it stands, and why a choice was refused.
    pub mute: MuteState,
    /// In a direct chat, the other person's read marker ("Seen" under my last message
    /// they read; the page's script places it and the stream moves it).
    pub seen_seq: Option<Seq>,
    /// Opening the page moved my read marker (the handler tells my other pages and,
    /// in a direct chat, the other person's).
    pub read_moved: bool,
}

impl ChatPage {
    /// About the rendered page's bytes (`views::ok_sized`).
    pub fn capacity(&self) -> usize {
        PAGE_FRAME_BYTES + self.rows.len() * MESSAGE_BYTES + self.list.len() * LIST_ITEM_BYTES
    }
}

/// The chat's mute, as its form shows it.
#[derive(Debug, Clone, Default)]
pub struct MuteState {
    /// Muted now, until then (`domain::mute::is_always`: without an end).
    pub until: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

impl MuteState {
    pub fn is_muted(&self) -> bool {
        self.until.is_some()
    }
    /// "Muted until …" for the header, in UTC (the script shows local time).
    pub fn until_iso(&self) -> String {
        self.until.filter(|u| !crate::domain::mute::is_always(*u)).map(|u| format::iso(&u)).unwrap_or_default()
    }
    pub fn until_text(&self) -> String {
        self.until.filter(|u| !crate::domain::mute::is_always(*u)).map(|u| format::date_time(&u)).unwrap_or_default()
    }
}

/// Links to the pages around the one shown (each a `?before=` cursor).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryLinks {
    /// The seq of the oldest message shown, when older ones exist ("load earlier").
    pub older_than: Option<Seq>,
    /// Set on a page of history: the cursor of the next newer page, or `Seq::END` when
    /// that is the latest page (the chat itself).
    pub newer_before: Option<Seq>,
}

/// What the chat page's forms show again after a refusal (then the page answers 422).
#[derive(Debug, Clone, Default)]
pub struct PageForms {
    /// `?reply_to=`: the composer answers this message.
    pub reply_to: Option<Seq>,
    pub composer_text: String,
    pub composer_error: Option<String>,
    /// The members panel's "add" and "rename" forms, given only after a refusal (groups only).
    pub add: Option<Field>,
    pub rename: Option<Field>,
    /// Why a mute was refused (a `for` outside the five choices).
    pub mute_error: Option<String>,
}

impl PageForms {
    pub fn has_group_forms(&self) -> bool {
        self.add.is_some() || self.rename.is_some()
    }
    pub fn has_errors(&self) -> bool {
        self.composer_error.is_some() || self.has_group_forms()
    }
}

/// A group's members and what the viewer may do about them.
pub struct GroupPanel {
    pub me: UserId,
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
    pub fn new(me: UserId, members: Vec<Member>, friends: Vec<FriendName>, name: &str) -> Self {
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
pub struct MessagesFragment {
    pub chat_id: ChatId,
    pub rows: Vec<Row>,
    pub pages: HistoryLinks,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::MessageId;

    fn message(sender: UserId, kind: MessageKind, at: DateTime<Utc>) -> MessageView {
        MessageView {
            message_id: MessageId::new_v7(),
            chat_id: ChatId::new_v7(),
            seq: Seq::ZERO,
            rev: crate::models::Rev::ZERO,
            sender,
            sender_name: "alice".into(),
            sent_time: at,
            text: "hi".into(),
            kind,
            edited: false,
            deleted: false,
            reply_to: None,
            quote: None,
            reactions: vec![],
            mentions: vec![],
        }
    }

    #[test]
    fn texts_of_one_sender_group_within_ten_minutes_of_one_day() {
        let (alice, bob) = (UserId::new_v7(), UserId::new_v7());
        let noon = DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z").unwrap().with_timezone(&Utc);
        let first = message(alice, MessageKind::Text, noon);
        assert!(continues(&first, &message(alice, MessageKind::Text, noon + TimeDelta::minutes(9))));
        assert!(!continues(&first, &message(alice, MessageKind::Text, noon + TimeDelta::minutes(10))));
        assert!(!continues(&first, &message(bob, MessageKind::Text, noon + TimeDelta::minutes(1))));
        assert!(!continues(&first, &message(alice, MessageKind::System, noon + TimeDelta::minutes(1))));
        let before_midnight = message(alice, MessageKind::Text, noon + TimeDelta::minutes(11 * 60 + 58));
        assert!(!continues(&before_midnight, &message(alice, MessageKind::Text, noon + TimeDelta::hours(12))));
    }

    #[test]
    fn a_timeline_separates_days_and_marks_continued_messages() {
        let alice = UserId::new_v7();
        let noon = DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z").unwrap().with_timezone(&Utc);
        let ms = vec![
            message(alice, MessageKind::Text, noon),
            message(alice, MessageKind::Text, noon + TimeDelta::minutes(1)),
            message(alice, MessageKind::Text, noon + TimeDelta::days(1)),
        ];
        let viewer = Viewer { user_id: alice, username: "alice".into(), csrf_token: String::new(), owns_group: false };
        let shape: Vec<&str> = timeline_at(ms, &viewer, None, noon)
            .iter()
            .map(|row| match row {
                Row::Day(_) => "day",
                Row::Message(item) if item.continued => "continued",
                Row::Message(_) => "first",
            })
            .collect();
        assert_eq!(shape, ["day", "first", "continued", "day", "first"]);
    }

    /// Usernames and emoji are validated before they are stored, so no hostile name
    /// reaches a reaction today; the accessible name and title are escaped anyway, should
    /// that ever change (a rename rule, an imported account).
    #[test]
    fn a_reactions_accessible_name_escapes_hostile_names() {
        let (alice, mallory) = (UserId::new_v7(), UserId::new_v7());
        let mut m = message(alice, MessageKind::Text, Utc::now());
        let hostile = "\"><script>alert(1)</script><b x='";
        m.reactions = vec![crate::models::messages::Reaction {
            emoji: "👍\" onmouseover=\"x".into(),
            people: vec![(mallory, hostile.into()), (alice, "alice".into())],
        }];
        let viewer = Viewer { user_id: alice, username: "alice".into(), csrf_token: String::new(), owns_group: false };
        let html = render_message(&m, &viewer, &[], &[]);
        assert!(!html.contains("<script>") && !html.contains("<b x=") && !html.contains("\" onmouseover"), "{html}");
        let label = html.split("aria-label=\"👍").nth(1).and_then(|rest| rest.split('"').next()).expect("a reaction's label");
        assert!(label.contains("script") && !label.contains(['<', '>', '\'']), "escaped: {label}");
        assert!(label.ends_with(" and you"), "{label}");
        let title = html.split("title=\"").find(|t| t.contains("script")).and_then(|t| t.split('"').next()).expect("a title");
        assert!(!title.contains(['<', '>', '\'']), "escaped: {title}");
    }
}
