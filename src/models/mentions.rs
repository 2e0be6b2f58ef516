//! The `message_mentions` table: who a group message mentions (written by the send and
//! by edits, erased with a deleted message). A mention of me is unread while its seq is
//! after my read marker: the chat list shows "@" (`chats::list_for_user` reads the same
//! rows), and the inbox's notification and mute logic can ask `unread_for`.

use diesel::prelude::*;

use super::{ChatId, Seq, UserId};
use crate::db::schema::{blocks, chat_participants, message_mentions, messages, users};

/// Whether a message of `chat_id` after `user_id`'s read marker mentions them (a primary
/// key range probe), leaving out messages of people they blocked (SPEC §10: those never
/// notify). A mention notifies even in a muted chat (SPEC §7): this is the hook.
pub fn unread_for(conn: &mut PgConnection, user_id: UserId, chat_id: ChatId) -> QueryResult<bool> {
    let read = chat_participants::table.find((chat_id, user_id)).select(chat_participants::last_read_seq).first::<Seq>(conn).optional()?;
    let Some(read) = read else { return Ok(false) };
    let blocked_senders = blocks::table.filter(blocks::blocker.eq(user_id)).select(blocks::blocked);
    diesel::select(diesel::dsl::exists(
        message_mentions::table
            .inner_join(messages::table.on(messages::chat_id.eq(message_mentions::chat_id).and(messages::seq.eq(message_mentions::seq))))
            .filter(message_mentions::user_id.eq(user_id))
            .filter(message_mentions::chat_id.eq(chat_id))
            .filter(message_mentions::seq.gt(read))
            .filter(messages::sender.ne_all(blocked_senders)),
    ))
    .get_result(conn)
}

/// Records who the message at `seq` mentions now: the members of the group among
/// `names` (lower-case usernames), replacing what an earlier version mentioned. Nothing
/// for a direct chat. Called in the change's transaction.
pub(super) fn record(conn: &mut PgConnection, chat_id: ChatId, seq: Seq, is_group: bool, names: &[String]) -> QueryResult<()> {
    diesel::delete(message_mentions::table.filter(message_mentions::chat_id.eq(chat_id)).filter(message_mentions::seq.eq(seq)))
        .execute(conn)?;
    if !is_group || names.is_empty() {
        return Ok(());
    }
    let members: Vec<UserId> = users::table
        .inner_join(chat_participants::table)
        .filter(chat_participants::chat_id.eq(chat_id))
        .filter(users::username.eq_any(names))
        .select(users::user_id)
        .load(conn)?;
    let rows: Vec<_> = members
        .into_iter()
        .map(|u| (message_mentions::chat_id.eq(chat_id), message_mentions::seq.eq(seq), message_mentions::user_id.eq(u)))
        .collect();
    diesel::insert_into(message_mentions::table).values(rows).on_conflict_do_nothing().execute(conn)?;
    Ok(())
}
