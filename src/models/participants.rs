//! The `chat_participants` table: who is in a chat, and how far each has read.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

/// Moves my read marker forward to `seq` (never backwards, never past the chat's end).
pub fn mark_read(conn: &mut PgConnection, chat_id: Uuid, user_id: Uuid, seq: i64) -> QueryResult<()> {
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
    .map(|_| ())
}

/// Someone in a chat, as the group's members panel shows them.
#[derive(Debug, Clone, QueryableByName)]
pub struct Member {
    #[diesel(sql_type = SqlUuid)]
    pub user_id: Uuid,
    #[diesel(sql_type = Text)]
    pub username: String,
    /// `owner` or `member`.
    #[diesel(sql_type = Text)]
    pub role: String,
    #[diesel(sql_type = Timestamptz)]
    pub joined_at: DateTime<Utc>,
}

impl Member {
    pub fn is_owner(&self) -> bool {
        self.role == "owner"
    }
}

/// The people of a chat: the owner first, then by how long they have been in it.
pub fn members(conn: &mut PgConnection, chat_id: Uuid) -> QueryResult<Vec<Member>> {
    diesel::sql_query(
        "SELECT p.user_id, u.username, p.role, p.joined_at \
           FROM chat_participants p JOIN users u ON u.user_id = p.user_id \
          WHERE p.chat_id = $1 \
          ORDER BY p.role = 'owner' DESC, p.joined_at, p.user_id",
    )
    .bind::<SqlUuid, _>(chat_id)
    .load(conn)
}
