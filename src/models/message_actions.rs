//! Changes to a message: edit (with its earlier texts in `message_edits`) and delete
//! (which erases). Each is one transaction that locks the chat row first, the lock every
//! send takes, re-checks that the actor still takes part, and takes the chat's next rev
//! (`chats.last_rev`) for the message: revs stay gap-free and in commit order, and a
//! change racing a send or another change waits for it. Reactions (`reactions.rs`) use
//! the same `lock_target` and `take_rev`.

use chrono::{DateTime, TimeDelta, Utc};
use diesel::prelude::*;

use super::chats::Membership;
use super::messages::{self as message_reads, MessageKind, MessageView};
use super::participants::Role;
use super::{mentions, ChatId, MessageId, Rev, Seq, UserId};
use crate::db::schema::{chat_participants, chats, message_edits, message_mentions, message_reactions, messages};
use crate::domain::MessageText;

/// How long after sending a message its sender may edit it.
pub const EDIT_WITHIN: TimeDelta = TimeDelta::hours(24);

/// Why a change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such message in the chat, or the actor no longer takes part (404).
    NotFound,
    /// A line the app wrote: nobody changes it (409).
    SystemLine,
    /// Deleted already: takes no further change (409).
    Deleted,
    /// Not the sender (nor, for a deletion, the group's owner) (403).
    NotAllowed,
    /// Edited more than `EDIT_WITHIN` after sending (403).
    TooLate,
    /// A 21st distinct emoji (422).
    TooManyEmoji,
}

/// The message about to change, read under the chat's lock.
pub(super) struct Target {
    pub message_id: MessageId,
    pub chat_id: ChatId,
    pub seq: Seq,
    pub sender: UserId,
    pub sent_time: DateTime<Utc>,
    pub text: String,
    pub edited_at: Option<DateTime<Utc>>,
    pub is_group: bool,
    /// The actor owns the group.
    pub owner: bool,
}

/// Locks the chat row, then finds the message at `seq` for a change by the person of
/// `membership`, refusing system lines and deleted messages.
pub(super) fn lock_target(conn: &mut PgConnection, membership: &Membership, seq: Seq) -> QueryResult<Result<Target, Refusal>> {
    let chat_id = membership.chat_id();
    let is_group: Option<bool> = chats::table.find(chat_id).select(chats::is_group).for_update().first(conn).optional()?;
    let Some(is_group) = is_group else { return Ok(Err(Refusal::NotFound)) };
    let role: Option<Role> =
        chat_participants::table.find((chat_id, membership.viewer())).select(chat_participants::role).first(conn).optional()?;
    let Some(role) = role else { return Ok(Err(Refusal::NotFound)) };
    type Found = (MessageId, UserId, DateTime<Utc>, String, MessageKind, Option<DateTime<Utc>>, Option<DateTime<Utc>>);
    let found: Option<Found> = messages::table
        .filter(messages::chat_id.eq(chat_id))
        .filter(messages::seq.eq(seq))
        .select((
            messages::message_id,
            messages::sender,
            messages::sent_time,
            messages::text,
            messages::kind,
            messages::edited_at,
            messages::deleted_at,
        ))
        .first(conn)
        .optional()?;
    let Some((message_id, sender, sent_time, text, kind, edited_at, deleted_at)) = found else { return Ok(Err(Refusal::NotFound)) };
    if kind == MessageKind::System {
        return Ok(Err(Refusal::SystemLine));
    }
    if deleted_at.is_some() {
        return Ok(Err(Refusal::Deleted));
    }
    Ok(Ok(Target { message_id, chat_id, seq, sender, sent_time, text, edited_at, is_group, owner: is_group && role == Role::Owner }))
}

/// Takes the chat's next rev for the message (the chat row is locked already).
pub(super) fn take_rev(conn: &mut PgConnection, target: &Target) -> QueryResult<Rev> {
    let rev: Rev = diesel::update(chats::table.find(target.chat_id))
        .set(chats::last_rev.eq(chats::last_rev + 1))
        .returning(chats::last_rev)
        .get_result(conn)?;
    diesel::update(messages::table.find((target.message_id, target.chat_id))).set(messages::rev.eq(rev)).execute(conn)?;
    Ok(rev)
}

/// Gives each reply to the target (not deleted) the chat's next rev, in seq order:
/// their quote shows the target's text, so they changed too. Returns them re-read, to
/// publish after the target.
fn touch_replies(conn: &mut PgConnection, target: &Target) -> QueryResult<Vec<MessageView>> {
    let replies: Vec<MessageId> = messages::table
        .filter(messages::chat_id.eq(target.chat_id))
        .filter(messages::reply_to.eq(target.seq))
        .filter(messages::deleted_at.is_null())
        .order(messages::seq)
        .select(messages::message_id)
        .load(conn)?;
    let mut out = Vec::with_capacity(replies.len());
    for message_id in replies {
        let rev: Rev = diesel::update(chats::table.find(target.chat_id))
            .set(chats::last_rev.eq(chats::last_rev + 1))
            .returning(chats::last_rev)
            .get_result(conn)?;
        diesel::update(messages::table.find((message_id, target.chat_id))).set(messages::rev.eq(rev)).execute(conn)?;
        out.push(message_reads::reload(conn, target.chat_id, message_id)?);
    }
    Ok(out)
}

/// What a change did.
#[derive(Debug)]
pub enum Changed {
    /// The message after the change, then the replies that quote it (to publish after
    /// commit, in this order: their revs follow).
    Changed(MessageView, Vec<MessageView>),
    /// Nothing to do (an edit to the same text): the message as it is.
    Same(MessageView),
}

/// The sender replaces the text within `EDIT_WITHIN`; the text it had is kept.
pub fn edit(conn: &mut PgConnection, membership: &Membership, seq: Seq, text: &MessageText) -> QueryResult<Result<Changed, Refusal>> {
    conn.transaction(|conn| {
        let target = match lock_target(conn, membership, seq)? {
            Ok(t) => t,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if target.sender != membership.viewer() {
            return Ok(Err(Refusal::NotAllowed));
        }
        if Utc::now() - target.sent_time > EDIT_WITHIN {
            return Ok(Err(Refusal::TooLate));
        }
        if target.text == text.as_str() {
            return Ok(Ok(Changed::Same(message_reads::reload(conn, target.chat_id, target.message_id)?)));
        }
        let rev = take_rev(conn, &target)?;
        diesel::insert_into(message_edits::table)
            .values((
                message_edits::message_id.eq(target.message_id),
                message_edits::chat_id.eq(target.chat_id),
                message_edits::replaced_rev.eq(rev),
                message_edits::text.eq(&target.text),
                message_edits::written_at.eq(target.edited_at.unwrap_or(target.sent_time)),
            ))
            .execute(conn)?;
        diesel::update(messages::table.find((target.message_id, target.chat_id)))
            .set((messages::text.eq(text.as_str()), messages::edited_at.eq(diesel::dsl::now)))
            .execute(conn)?;
        mentions::record(conn, target.chat_id, target.seq, target.is_group, &crate::domain::mentions::mentioned(text.as_str()))?;
        let message = message_reads::reload(conn, target.chat_id, target.message_id)?;
        Ok(Ok(Changed::Changed(message, touch_replies(conn, &target)?)))
    })
}

/// The sender, or a group's owner, deletes a message: its text, earlier texts,
/// reactions and mentions are erased (rows deleted, the text emptied); the row stays,
/// so positions stay gap-free, and shows "Message deleted".
pub fn delete(conn: &mut PgConnection, membership: &Membership, seq: Seq) -> QueryResult<Result<(MessageView, Vec<MessageView>), Refusal>> {
    conn.transaction(|conn| {
        let target = match lock_target(conn, membership, seq)? {
            Ok(t) => t,
            Err(refusal) => return Ok(Err(refusal)),
        };
        if target.sender != membership.viewer() && !target.owner {
            return Ok(Err(Refusal::NotAllowed));
        }
        take_rev(conn, &target)?;
        diesel::delete(
            message_edits::table.filter(message_edits::chat_id.eq(target.chat_id)).filter(message_edits::message_id.eq(target.message_id)),
        )
        .execute(conn)?;
        diesel::delete(
            message_reactions::table
                .filter(message_reactions::chat_id.eq(target.chat_id))
                .filter(message_reactions::message_id.eq(target.message_id)),
        )
        .execute(conn)?;
        diesel::delete(
            message_mentions::table.filter(message_mentions::chat_id.eq(target.chat_id)).filter(message_mentions::seq.eq(target.seq)),
        )
        .execute(conn)?;
        // Its files go in the same transaction (SPEC §7: erased from the database).
        super::attachments::erase_for_message(conn, target.chat_id, target.message_id)?;
        diesel::update(messages::table.find((target.message_id, target.chat_id)))
            .set((messages::text.eq(""), messages::edited_at.eq(None::<DateTime<Utc>>), messages::deleted_at.eq(diesel::dsl::now)))
            .execute(conn)?;
        let message = message_reads::reload(conn, target.chat_id, target.message_id)?;
        Ok(Ok((message, touch_replies(conn, &target)?)))
    })
}

/// An earlier text of a message.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct EarlierText {
    pub text: String,
    pub written_at: DateTime<Utc>,
}

/// The message and its earlier texts, oldest first (none if never edited); `None` for
/// no such message or a deleted one.
pub fn history(conn: &mut PgConnection, membership: &Membership, seq: Seq) -> QueryResult<Option<(MessageView, Vec<EarlierText>)>> {
    let Some(message) = message_reads::find(conn, membership, seq)? else { return Ok(None) };
    if message.deleted {
        return Ok(None);
    }
    let earlier = message_edits::table
        .filter(message_edits::chat_id.eq(message.chat_id))
        .filter(message_edits::message_id.eq(message.message_id))
        .order(message_edits::replaced_rev)
        .select((message_edits::text, message_edits::written_at))
        .load(conn)?;
    Ok(Some((message, earlier)))
}
