//! The `messages` table. `seq` comes from `chats.last_seq`, incremented under the chat
//! row's lock in the message's own transaction: gap-free and in commit order.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
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
    let mut page: Vec<MessageView> =
        crate::db::prepared(format!("{SELECT_VIEW} WHERE m.chat_id = $1 AND m.seq < $2 ORDER BY m.seq DESC LIMIT $3"))
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
    /// Stores the message with the chat's next seq and moves the sender's read marker,
    /// in one statement: the `send_message` function (migration 000006) locks the chat
    /// row, then writes guarded by every rule.
    pub fn send(&self, conn: &mut PgConnection) -> QueryResult<SendOutcome> {
        let stored = crate::db::prepared("SELECT * FROM send_message($1, $2, $3, $4, $5, $6)")
            .bind::<SqlUuid, _>(self.chat_id)
            .bind::<SqlUuid, _>(Uuid::now_v7())
            .bind::<SqlUuid, _>(self.sender)
            .bind::<Text, _>(self.text)
            .bind::<Nullable<SqlUuid>, _>(self.client_id)
            .bind::<Text, _>(self.kind)
            .get_result(conn)
            .optional();
        match stored {
            Ok(Some(view)) => Ok(SendOutcome::Sent(view)),
            Ok(None) => self.refusal(conn),
            // Two identical POSTs at once: the second lost on the unique key (its
            // statement rolled back, so no seq was used); answer with the first.
            Err(e) if violates(&e, "messages_sender_client_id_key") => Ok(SendOutcome::Repeated(self.repeated(conn)?.ok_or(e)?)),
            Err(e) => Err(e),
        }
    }

    /// Why nothing was stored (rare: only refused sends and repeats pay these queries).
    /// Asked after the lock is gone, so a change in between may pick the other refusal;
    /// either way nothing was stored.
    fn refusal(&self, conn: &mut PgConnection) -> QueryResult<SendOutcome> {
        if let Some(first) = self.repeated(conn)? {
            return Ok(SendOutcome::Repeated(first));
        }
        // The write's guards are membership, the friendship of a direct chat's pair (for
        // text) and the repeat: a member whose send is no repeat was refused as a non-friend.
        let member = crate::models::chats::is_participant(conn, self.chat_id, self.sender)?;
        Ok(if member { SendOutcome::NotFriends } else { SendOutcome::NotParticipant })
    }

    /// The message sent earlier with this `client_id`, if any.
    fn repeated(&self, conn: &mut PgConnection) -> QueryResult<Option<MessageView>> {
        match self.client_id {
            Some(client_id) => by_client_id(conn, self.sender, client_id),
            None => Ok(None),
        }
    }
}

/// The chats' current ends, for the live sweep: `(chat_id, last_seq)`.
pub fn last_seqs(conn: &mut PgConnection, chat_ids: &[Uuid]) -> QueryResult<Vec<(Uuid, i64)>> {
    chats::table.filter(chats::chat_id.eq_any(chat_ids)).select((chats::chat_id, chats::last_seq)).load(conn)
}
