//! The `messages` table. `seq` comes from `chats.last_seq`, incremented under the chat
//! row's lock in the message's own transaction: gap-free and in commit order.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use crate::db::schema::{chat_participants, chats, direct_chats, messages};
use crate::models::friends;
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
    let mut page: Vec<MessageView> = diesel::sql_query(format!(
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
    diesel::sql_query(format!("{SELECT_VIEW} WHERE m.chat_id = $1 AND m.seq > $2 ORDER BY m.seq LIMIT $3"))
        .bind::<SqlUuid, _>(chat_id)
        .bind::<BigInt, _>(after)
        .bind::<BigInt, _>(limit)
        .load(conn)
}

fn by_client_id(conn: &mut PgConnection, sender: Uuid, client_id: Uuid) -> QueryResult<Option<MessageView>> {
    diesel::sql_query(format!("{SELECT_VIEW} WHERE m.sender = $1 AND m.client_id = $2"))
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
        // (which also take this lock) are seen by the checks below, which run after it.
        let Some(is_group) = chats::table
            .find(self.chat_id)
            .select(chats::is_group)
            .for_update()
            .first::<bool>(conn)
            .optional()?
        else {
            return Ok(SendOutcome::NotParticipant);
        };
        let member = diesel::select(diesel::dsl::exists(chat_participants::table.find((self.chat_id, self.sender))))
            .get_result::<bool>(conn)?;
        if !member {
            return Ok(SendOutcome::NotParticipant);
        }
        if !is_group && self.kind == "text" {
            let (low, high) = direct_chats::table
                .filter(direct_chats::chat_id.eq(self.chat_id))
                .select((direct_chats::user_low, direct_chats::user_high))
                .first::<(Uuid, Uuid)>(conn)?;
            if !friends::are_friends(conn, low, high)? {
                return Ok(SendOutcome::NotFriends);
            }
        }
        let seq: i64 = diesel::update(chats::table.find(self.chat_id))
            .set((chats::last_seq.eq(chats::last_seq + 1), chats::last_activity_at.eq(diesel::dsl::now)))
            .returning(chats::last_seq)
            .get_result(conn)?;
        let message_id = Uuid::now_v7();
        diesel::insert_into(messages::table)
            .values((
                messages::message_id.eq(message_id),
                messages::chat_id.eq(self.chat_id),
                messages::seq.eq(seq),
                messages::sender.eq(self.sender),
                messages::text.eq(self.text),
                messages::client_id.eq(self.client_id),
                messages::kind.eq(self.kind),
            ))
            .execute(conn)?;
        diesel::update(chat_participants::table.find((self.chat_id, self.sender)))
            .set(chat_participants::last_read_seq.eq(seq))
            .execute(conn)?;
        let view = diesel::sql_query(format!("{SELECT_VIEW} WHERE m.message_id = $1"))
            .bind::<SqlUuid, _>(message_id)
            .get_result(conn)?;
        Ok(SendOutcome::Sent(view))
    }
}

/// The chats' current ends, for the live sweep: `(chat_id, last_seq)`.
pub fn last_seqs(conn: &mut PgConnection, chat_ids: &[Uuid]) -> QueryResult<Vec<(Uuid, i64)>> {
    chats::table
        .filter(chats::chat_id.eq_any(chat_ids))
        .select((chats::chat_id, chats::last_seq))
        .load(conn)
}
