//! The `messages` table. `seq` comes from `chats.last_seq`, incremented under the chat
//! row's lock in the message's own transaction: gap-free and in commit order.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use crate::db::schema::chats;
use crate::models::violates;

/// A message with what every view of it shows.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct MessageView {
    #[diesel(sql_type = SqlUuid)]
    pub message_id: Uuid,
    #[diesel(sql_type = SqlUuid)]
    pub chat_id: Uuid,
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = SqlUuid)]
    pub sender: Uuid,
    #[diesel(sql_type = Text)]
    pub sender_name: String,
    #[diesel(sql_type = Timestamptz)]
    pub sent_time: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub text: String,
    /// `text` or `system` (membership lines of groups).
    #[diesel(sql_type = Text)]
    pub kind: String,
}

const SELECT_VIEW: &str = "SELECT m.message_id, m.chat_id, m.seq, m.sender, u.username AS sender_name, \
                                  m.sent_time, m.text, m.kind \
                             FROM messages m JOIN users u ON u.user_id = m.sender ";

/// The newest `limit` messages before `before` (all when `None`), oldest first.
pub fn page_before(conn: &mut PgConnection, chat_id: Uuid, before: Option<i64>, limit: i64) -> QueryResult<Vec<MessageView>> {
    let mut page: Vec<MessageView> = crate::db::prepared(format!(
        "{SELECT_VIEW} WHERE m.chat_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3"
    ))
    .bind::<SqlUuid, _>(chat_id)
    .bind::<BigInt, _>(before.unwrap_or(i64::MAX))
    .bind::<BigInt, _>(limit)
    .load(conn)?;
    page.reverse();
    Ok(page)
}

/// Up to `limit` messages after `after`, oldest first (resume, polling, live catch-up).
pub fn after(conn: &mut PgConnection, chat_id: Uuid, after: i64, limit: i64) -> QueryResult<Vec<MessageView>> {
    crate::db::prepared(format!("{SELECT_VIEW} WHERE m.chat_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3"))
        .bind::<SqlUuid, _>(chat_id)
        .bind::<BigInt, _>(after)
        .bind::<BigInt, _>(limit)
        .load(conn)
}

fn by_client_id(conn: &mut PgConnection, sender: Uuid, client_id: Uuid) -> QueryResult<Option<MessageView>> {
    crate::db::prepared(format!("{SELECT_VIEW} WHERE m.sender = $1 AND m.client_id = $2"))
        .bind::<SqlUuid, _>(sender)
        .bind::<SqlUuid, _>(client_id)
        .get_result(conn)
        .optional()
}

#[derive(Debug, PartialEq, Eq)]
pub enum SendOutcome {
    Sent(MessageView),
    /// The same `client_id` was already sent: the first message, nothing new stored.
    Repeated(MessageView),
    /// The sender is not (or no longer) in the chat.
    NotParticipant,
    /// A direct chat whose two people are not friends (any more).
    NotFriends,
}

pub struct NewMessage<'a> {
    pub chat_id: Uuid,
    pub sender: Uuid,
    pub text: &'a str,
    pub client_id: Option<Uuid>,
    pub kind: &'a str,
}

impl NewMessage<'_> {
    /// Stores the message with the chat's next seq and moves the sender's read marker.
    pub fn send(&self, conn: &mut PgConnection) -> QueryResult<SendOutcome> {
        if let Some(client_id) = self.client_id {
            if let Some(first) = by_client_id(conn, self.sender, client_id)? {
                return Ok(SendOutcome::Repeated(first));
            }
        }
        match conn.transaction(|conn| self.insert_locked(conn)) {
            // Two identical POSTs at once: the second lost on the unique key; answer
            // with the first.
            Err(e) if violates(&e, "messages_sender_client_id_key") => {
                let client_id = self.client_id.ok_or(e)?;
                Ok(SendOutcome::Repeated(by_client_id(conn, self.sender, client_id)?.ok_or(diesel::result::Error::NotFound)?))
            }
            other => other,
        }
    }

    fn insert_locked(&self, conn: &mut PgConnection) -> QueryResult<SendOutcome> {
        // Lock the chat row first: sends to one chat queue here, and membership changes
        // (which also take this lock) are seen by the checks below, which run after it
        // in statements of their own (each takes a fresh snapshot after the lock).
        let Some(is_group) = chats::table
            .find(self.chat_id)
            .select(chats::is_group)
            .for_update()
            .first::<bool>(conn)
            .optional()?
        else {
            return Ok(SendOutcome::NotParticipant);
        };
        // Membership and, for a direct chat, the friendship of its pair: one round trip.
        let checks: Checks = crate::db::prepared(
            "SELECT EXISTS (SELECT 1 FROM chat_participants WHERE chat_id = $1 AND user_id = $2) AS member, \
                    EXISTS (SELECT 1 FROM direct_chats d \
                              JOIN friends f ON f.user1 = d.user_low AND f.user2 = d.user_high \
                             WHERE d.chat_id = $1) AS friends",
        )
        .bind::<SqlUuid, _>(self.chat_id)
        .bind::<SqlUuid, _>(self.sender)
        .get_result(conn)?;
        if !checks.member {
            return Ok(SendOutcome::NotParticipant);
        }
        if !is_group && self.kind == "text" && !checks.friends {
            return Ok(SendOutcome::NotFriends);
        }
        // The next seq, the message, the sender's read marker and the message as views
        // show it, in one statement (data-modifying CTEs all run, in this transaction).
        let view = crate::db::prepared(
            "WITH c AS (UPDATE chats SET last_seq = last_seq + 1, last_activity_at = now() \
                         WHERE chat_id = $1 RETURNING last_seq), \
                  m AS (INSERT INTO messages (message_id, chat_id, seq, sender, text, client_id, kind) \
                        SELECT $2, $1, c.last_seq, $3, $4, $5, $6 FROM c \
                        RETURNING message_id, chat_id, seq, sender, sent_time, text, kind), \
                  p AS (UPDATE chat_participants SET last_read_seq = (SELECT last_seq FROM c) \
                         WHERE chat_id = $1 AND user_id = $3) \
             SELECT m.message_id, m.chat_id, m.seq, m.sender, u.username AS sender_name, \
                    m.sent_time, m.text, m.kind \
               FROM m JOIN users u ON u.user_id = m.sender",
        )
        .bind::<SqlUuid, _>(self.chat_id)
        .bind::<SqlUuid, _>(Uuid::now_v7())
        .bind::<SqlUuid, _>(self.sender)
        .bind::<Text, _>(self.text)
        .bind::<Nullable<SqlUuid>, _>(self.client_id)
        .bind::<Text, _>(self.kind)
        .get_result(conn)?;
        Ok(SendOutcome::Sent(view))
    }
}

#[derive(QueryableByName)]
struct Checks {
    #[diesel(sql_type = Bool)]
    member: bool,
    #[diesel(sql_type = Bool)]
    friends: bool,
}

/// The chats' current ends, for the live sweep: `(chat_id, last_seq)`.
pub fn last_seqs(conn: &mut PgConnection, chat_ids: &[Uuid]) -> QueryResult<Vec<(Uuid, i64)>> {
    chats::table
        .filter(chats::chat_id.eq_any(chat_ids))
        .select((chats::chat_id, chats::last_seq))
        .load(conn)
}
