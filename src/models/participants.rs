//! The `chat_participants` table: who is in a chat, in which role, and how far each has read.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Uuid as SqlUuid};

use super::chats::Membership;
use super::{text_column, ChatId, Seq, UserId};
use crate::db::schema::{chat_participants, users};

text_column!(
    /// What someone may do in a group (a direct chat's two people are both members).
    Role {
        /// Removes members; passes on to the longest-standing member when leaving.
        Owner = "owner",
        Member = "member",
    }
);

/// Moves `user_id`'s read marker forward to `seq` (never backwards, never past the
/// chat's end). Nothing happens for someone not in the chat. Says whether it moved
/// (then the live inbox tells whoever shows it).
pub fn mark_read(conn: &mut PgConnection, chat_id: ChatId, user_id: UserId, seq: Seq) -> QueryResult<bool> {
    crate::db::prepared(
        "UPDATE chat_participants p SET last_read_seq = LEAST($3, c.last_seq) \
           FROM chats c \
          WHERE c.chat_id = p.chat_id AND p.chat_id = $1 AND p.user_id = $2 \
            AND p.last_read_seq < LEAST($3, c.last_seq)",
    )
    .bind::<SqlUuid, _>(chat_id)
    .bind::<SqlUuid, _>(user_id)
    .bind::<BigInt, _>(seq)
    .execute(conn)
    .map(|n| n > 0)
}

/// Someone in a chat, as the group's members panel shows them.
#[derive(Debug, Clone, Queryable)]
pub struct Member {
    pub user_id: UserId,
    pub username: String,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

impl Member {
    pub fn is_owner(&self) -> bool {
        self.role == Role::Owner
    }
}

/// The people of the chat: the owner first, then by how long they have been in it.
pub fn members(conn: &mut PgConnection, membership: &Membership) -> QueryResult<Vec<Member>> {
    chat_participants::table
        .inner_join(users::table)
        .filter(chat_participants::chat_id.eq(membership.chat_id()))
        .order((chat_participants::role.eq(Role::Owner).desc(), chat_participants::joined_at, chat_participants::user_id))
        .select((users::user_id, users::username, chat_participants::role, chat_participants::joined_at))
        .load(conn)
}
