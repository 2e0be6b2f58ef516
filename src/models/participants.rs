//! The `chat_participants` table: who is in a chat, and how far each has read.

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Uuid as SqlUuid};
use uuid::Uuid;

/// Moves my read marker forward to `seq` (never backwards, never past the chat's end).
pub fn mark_read(conn: &mut PgConnection, chat_id: Uuid, user_id: Uuid, seq: i64) -> QueryResult<()> {
    diesel::sql_query(
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
