//! The chat page (the latest messages, or a page of history), and the fragments of
//! history that htmx loads into it.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::auth::CurrentUser;
use crate::db::{self, DbPool, Standby};
use crate::error::AppError;
use crate::live::inbox::list_marker;
use crate::models::attachments::AttachmentView;
use crate::models::chats::{self, ChatListRow, Membership, OpenedChat};
use crate::models::friends::{self, FriendName};
use crate::models::messages::{self, MessageView, WithFiles};
use crate::models::participants::Role;
use crate::models::participants::{self, Member};
use crate::models::users::NavCounts;
use crate::models::Rev;
use crate::models::{groups, inbox, ChatId, Seq, UserId};
use crate::views::chats::{
    collapse_blocked, flat, timeline, with_files, ChatListItem, ChatPage, Composer, GroupPanel, HistoryLinks, MessagesFragment, MuteState,
    PageForms, Row, Viewer, GROUP_WITHIN,
};
use crate::views::Layout;

/// Messages per page of history.
pub const PAGE_SIZE: i64 = 50;
/// Messages shown before and after a permalink's message.
pub const AROUND: i64 = 25;
/// The most messages one poll (`?after=`) returns.
const POLL_LIMIT: i64 = 4 * PAGE_SIZE;

/// Which messages a chat page shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// The latest page, followed live; opening it reads the chat.
    Latest,
    /// The page of history just before this seq (read without JavaScript).
    Before(Seq),
    /// The page of history around this seq (`?at=`, the permalink of replies, search
    /// and notifications): up to `AROUND` messages before and after it.
    Around(Seq),
}

impl Position {
    /// The `?before=` cursor of the page this position shows.
    fn before(self) -> Seq {
        match self {
            Position::Latest => Seq::END,
            Position::Before(seq) => seq,
            Position::Around(seq) => Seq::new(seq.get().saturating_add(AROUND + 1)).unwrap_or(Seq::END),
        }
    }

    /// How many messages the page shows.
    fn size(self) -> i64 {
        match self {
            Position::Around(_) => 2 * AROUND + 1,
            _ => PAGE_SIZE,
        }
    }
}

/// How `viewer` sees the messages of a chat (the forms in each need the token).
pub fn viewer(user: &CurrentUser, membership: &Membership) -> Viewer {
    let chat = membership.chat();
    Viewer {
        user_id: user.user_id,
        username: user.username.clone(),
        csrf_token: user.csrf_token.clone(),
        owns_group: chat.is_group && chat.role == Role::Owner,
    }
}

/// Everything the chat page shows, loaded in one blocking round.
struct Loaded {
    counts: NavCounts,
    muted_until: Option<DateTime<Utc>>,
    read_moved: bool,
    /// My chats, for the list beside the chat.
    list: Vec<ChatListRow>,
    membership: Membership,
    /// The page, plus one older message when there is one.
    history: Vec<MessageView>,
    /// Members and my friends, for a group's members panel.
    group: Option<(Vec<Member>, Vec<FriendName>)>,
    /// The message the composer answers.
    reply_to: Option<MessageView>,
    /// The files of `history`'s messages.
    files: Vec<AttachmentView>,
    /// The people I blocked (SPEC §10: their messages collapse; a direct chat says so).
    blocked: Vec<UserId>,
}

async fn load(pool: &DbPool, user: &CurrentUser, chat_id: ChatId, position: Position, reply_to: Option<Seq>) -> Result<Loaded, AppError> {
    let me = user.user_id;
    db::run(pool, move |conn| {
        let (membership, muted_until, read_moved, blocked) = match position {
            Position::Latest => {
                let OpenedChat { membership, muted_until, read_moved, blocked } =
                    chats::open_for_participant(conn, me, chat_id)?.ok_or(AppError::NotFound)?;
                (membership, muted_until, read_moved, blocked)
            }
            Position::Before(_) | Position::Around(_) => {
                let membership = chats::find_for_participant(conn, me, chat_id)?.ok_or(AppError::NotFound)?;
                let muted_until = inbox::muted_until(conn, &membership)?;
                (membership, muted_until, false, crate::models::blocks::ids(conn, me)?)
            }
        };
        // After the read marker moved: the badges no longer count this chat.
        let (list, counts) = chats::list_for_user(conn, me)?;
        let WithFiles { messages: history, files } =
            messages::page_before_with_files(conn, &membership, position.before(), position.size() + 1)?;
        let group =
            if membership.chat().is_group { Some((participants::members(conn, &membership)?, friends::list_of(conn, me)?)) } else { None };
        let reply_to = match reply_to {
            Some(seq) => messages::find(conn, &membership, seq)?.filter(|m| !m.deleted),
            None => None,
        };
        Ok::<_, AppError>(Loaded { counts, muted_until, read_moved, list, membership, history, group, reply_to, files, blocked })
    })
    .await
}

/// The chat page; with errors in `forms` the caller answers 422 (the input is kept).
pub async fn chat_page(
    user: &CurrentUser,
    pool: &DbPool,
    chat_id: ChatId,
    position: Position,
    forms: PageForms,
) -> Result<ChatPage, AppError> {
    let Loaded { counts, muted_until, read_moved, list, membership, history, group, reply_to, files, blocked } =
        load(pool, user, chat_id, position, forms.reply_to).await?;
    let chat = membership.chat().clone();
    if group.is_none() && forms.has_group_forms() {
        return Err(groups::Refusal::DirectChat.into());
    }
    let viewer = viewer(user, &membership);
    let (shown, older, mut pages) = split_page(history, position.size());
    if position != Position::Latest {
        pages.newer_before = Some(newer_cursor(shown.last().map(|m| m.seq), chat.last_seq));
    }
    let composer = Composer {
        chat_id,
        reply_to,
        csrf_token: user.csrf_token.clone(),
        client_id: Uuid::new_v4(),
        text: forms.composer_text,
        // After a refused send the form stays, to keep the text and show why.
        closed: (!chat.can_send && forms.composer_error.is_none()).then(|| match chat.other_id {
            Some(other) if blocked.contains(&other) => format!(
                "You blocked {}. Neither of you can send messages here; you can still read your history. Unblock them from their profile or in Settings.",
                chat.title()
            ),
            _ => format!("You are no longer friends with {}. You can read your history, but not send messages.", chat.title()),
        }),
        error: forms.composer_error,
    };
    let group = group.map(|(members, friends)| {
        let mut panel = GroupPanel::new(user.user_id, members, friends, chat.title());
        panel.add = forms.add.unwrap_or_default();
        panel.rename = forms.rename.unwrap_or(panel.rename);
        panel
    });
    let mut rows = collapse_blocked(timeline(shown, &viewer, older.as_ref()), &blocked);
    with_files(&mut rows, files);
    if let Position::Around(at) = position {
        for row in &mut rows {
            if let Row::Message(item) = row {
                item.highlighted = item.m.seq == at;
            }
        }
    }
    let seen_seq = if chat.is_group { None } else { list.iter().find(|r| r.chat_id == chat_id).and_then(|r| r.other_read_seq) };
    let list_marker = list_marker(&list);
    let list = list.into_iter().map(|row| ChatListItem::new(row, &user.username, Some(chat_id))).collect();
    let live = position == Position::Latest;
    Ok(ChatPage {
        layout: Layout {
            inbox_stream: !live,
            inbox_list: Some(list_marker.clone()),
            ..Layout::for_user(user, counts, chat.title().to_string(), "chats")
        },
        list_marker,
        list,
        mute: MuteState { until: muted_until.filter(|u| *u > Utc::now()), error: forms.mute_error },
        seen_seq,
        read_moved,
        rows,
        pages,
        last_seq: chat.last_seq,
        last_rev: chat.last_rev,
        live,
        chat,
        composer,
        group,
        group_within_secs: GROUP_WITHIN.num_seconds(),
    })
}

/// Which fragment of history htmx asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// The page before this seq ("load earlier").
    Before(Seq),
    /// What came after this seq (the page of history after it).
    After(Seq),
    /// Every message changed after this rev, new ones included (polling while the
    /// stream is down), in rev order.
    Changed(Rev),
}

/// A fragment of history. Polling (`After`, `Changed`) stands in for the live stream and
/// reads the primary; a page of older messages (`Before`) may come from the standby
/// once it has replayed the chat up to the rev the primary has now (`db::standby`). The
/// membership and the blocks are read on the primary first: a removal counts at once.
pub async fn messages_fragment(
    user: &CurrentUser,
    pool: &DbPool,
    standby: &Standby,
    chat_id: ChatId,
    cursor: Cursor,
) -> Result<MessagesFragment, AppError> {
    let me = user.user_id;
    let authorize = move |conn: &mut diesel::PgConnection| {
        let membership = chats::find_for_participant(conn, me, chat_id)?.ok_or(AppError::NotFound)?;
        let need = vec![(chat_id, membership.chat().last_rev)];
        Ok::<_, AppError>(((membership, crate::models::blocks::ids(conn, me)?), need))
    };
    let read = move |conn: &mut diesel::PgConnection, (membership, _): &(Membership, Vec<UserId>)| {
        let WithFiles { messages: history, files } = match cursor {
            Cursor::After(after) => messages::after_with_files(conn, membership, after, POLL_LIMIT)?,
            Cursor::Changed(since) => messages::changed_after_with_files(conn, membership, since, POLL_LIMIT)?,
            Cursor::Before(before) => messages::page_before_with_files(conn, membership, before, PAGE_SIZE + 1)?,
        };
        Ok::<_, AppError>((history, files))
    };
    let ((membership, blocked), (history, files)) = match cursor {
        Cursor::Before(_) => standby.read(pool, authorize, read).await?,
        Cursor::After(_) | Cursor::Changed(_) => {
            db::run(pool, move |conn| {
                let (allowed, _) = authorize(conn)?;
                let found = read(conn, &allowed)?;
                Ok::<_, AppError>((allowed, found))
            })
            .await?
        }
    };
    let viewer = viewer(user, &membership);
    if let Cursor::After(_) | Cursor::Changed(_) = cursor {
        let mut rows = collapse_blocked(flat(history, &viewer), &blocked);
        with_files(&mut rows, files);
        return Ok(MessagesFragment { chat_id, rows, pages: HistoryLinks::default() });
    }
    let (shown, older, pages) = split_page(history, PAGE_SIZE);
    let mut rows = collapse_blocked(timeline(shown, &viewer, older.as_ref()), &blocked);
    with_files(&mut rows, files);
    Ok(MessagesFragment { chat_id, rows, pages })
}

/// A page loaded with one message more than it shows: that one (the oldest) only says
/// that older messages exist, and how the first shown one is grouped.
fn split_page(mut history: Vec<MessageView>, size: i64) -> (Vec<MessageView>, Option<MessageView>, HistoryLinks) {
    if history.len() as i64 <= size {
        return (history, None, HistoryLinks::default());
    }
    let older = history.remove(0);
    let older_than = history.first().map(|m| m.seq);
    (history, Some(older), HistoryLinks { older_than, newer_before: None })
}

/// The `?before=` cursor of the page after one whose newest message is `newest_shown`:
/// `Seq::END` (the chat itself) once that page would reach the end.
fn newer_cursor(newest_shown: Option<Seq>, last_seq: Seq) -> Seq {
    match newest_shown {
        Some(newest) if newest.get().saturating_add(PAGE_SIZE) < last_seq.get() => {
            Seq::new(newest.get() + PAGE_SIZE + 1).unwrap_or(Seq::END)
        }
        _ => Seq::END,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(n: i64) -> Seq {
        Seq::new(n).unwrap()
    }

    #[test]
    fn the_page_around_a_seq_holds_it_in_its_middle() {
        // The page before 126 shows 75..125: 25 before 100 and 25 after.
        assert_eq!(Position::Around(seq(100)).before(), seq(126));
        assert_eq!(Position::Around(seq(100)).size(), 51);
        assert_eq!(Position::Around(Seq::END).before(), Seq::END);
        assert_eq!(Position::Latest.before(), Seq::END);
    }

    #[test]
    fn the_newer_page_follows_the_shown_one_until_the_latest() {
        // 120 messages: the pages before 71 and 21 show 21..70 and 1..20.
        assert_eq!(newer_cursor(Some(seq(20)), seq(120)), seq(71));
        assert_eq!(newer_cursor(Some(seq(70)), seq(120)), Seq::END);
        assert_eq!(newer_cursor(None, seq(120)), Seq::END);
    }
}
