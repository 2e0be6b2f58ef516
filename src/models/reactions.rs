//! The `message_reactions` table: one row per person and emoji on a message, toggled.
//! A toggle is a change of the message: it takes the chat's next rev under the chat
//! row's lock (`message_actions::lock_target`), which also makes the cap of 20 distinct
//! emoji per message race-free (every toggle of the chat is serialised there).

use diesel::prelude::*;

use super::chats::Membership;
use super::message_actions::{lock_target, take_rev, Refusal};
use super::messages::{self, MessageView};
use super::Seq;
use crate::db::schema::message_reactions;
use crate::domain::Emoji;

/// Distinct emoji a message holds at most.
pub const MAX_DISTINCT: i64 = 20;

/// Adds my `emoji` to the message, or takes it back if I had it.
pub fn toggle(conn: &mut PgConnection, membership: &Membership, seq: Seq, emoji: &Emoji) -> QueryResult<Result<MessageView, Refusal>> {
    conn.transaction(|conn| {
        let target = match lock_target(conn, membership, seq)? {
            Ok(t) => t,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let mine = message_reactions::table.find((target.message_id, target.chat_id, emoji.as_str(), membership.viewer()));
        let removed = diesel::delete(mine).execute(conn)?;
        if removed == 0 {
            let emoji_there = diesel::select(diesel::dsl::exists(
                message_reactions::table
                    .filter(message_reactions::chat_id.eq(target.chat_id))
                    .filter(message_reactions::message_id.eq(target.message_id))
                    .filter(message_reactions::emoji.eq(emoji.as_str())),
            ))
            .get_result::<bool>(conn)?;
            if !emoji_there {
                let distinct: i64 = message_reactions::table
                    .filter(message_reactions::chat_id.eq(target.chat_id))
                    .filter(message_reactions::message_id.eq(target.message_id))
                    .select(diesel::dsl::count(message_reactions::emoji).aggregate_distinct())
                    .first(conn)?;
                if distinct >= MAX_DISTINCT {
                    return Ok(Err(Refusal::TooManyEmoji));
                }
            }
            diesel::insert_into(message_reactions::table)
                .values((
                    message_reactions::message_id.eq(target.message_id),
                    message_reactions::chat_id.eq(target.chat_id),
                    message_reactions::emoji.eq(emoji.as_str()),
                    message_reactions::user_id.eq(membership.viewer()),
                ))
                .execute(conn)?;
        }
        take_rev(conn, &target)?;
        Ok(Ok(messages::reload(conn, target.chat_id, target.message_id)?))
    })
}
