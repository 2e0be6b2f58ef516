//! The `messages` table. `seq` comes from `chats.last_seq`, incremented under the chat
//! row's lock in the message's own transaction: gap-free and in commit order. Reading
//! messages takes the reader's `Membership`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use super::chats::Membership;
use super::{text_column, violates, ChatId, MessageId, Seq, UserId};
use crate::db::schema::{messages, users};

text_column!(
    /// What a message is: written by a person, or a line the app writes about a group
    /// ("alice added bob").
    MessageKind {
        Text = "text",
        System = "system",
    }
);

/// A message with what every view of it shows.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, QueryableByName)]
pub struct MessageView {
    #[diesel(sql_type = SqlUuid)]
    pub message_id: MessageId,
    #[diesel(sql_type = SqlUuid)]
    pub chat_id: ChatId,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub seq: Seq,
    #[diesel(sql_type = SqlUuid)]
    pub sender: UserId,
    #[diesel(sql_type = Text)]
    pub sender_name: String,
    #[diesel(sql_type = Timestamptz)]
    pub sent_time: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    pub text: String,
    #[diesel(sql_type = Text)]
    pub kind: MessageKind,
}

diesel::define_sql_function!(fn coalesce(x: Nullable<Text>, y: Text) -> Text);

/// What a message of a deleted account names as its sender (its user row is gone).
pub const DELETED_ACCOUNT: &str = "Deleted account";

/// Messages joined with their senders: a deleted account's messages stay, without one.
macro_rules! with_senders {
    () => {
        messages::table.left_join(users::table.on(users::user_id.eq(messages::sender)))
    };
}

/// The columns of a `MessageView`, in its order.
macro_rules! message_view_columns {
    () => {
        (
            messages::message_id,
            messages::chat_id,
            messages::seq,
            messages::sender,
            coalesce(users::username.nullable(), DELETED_ACCOUNT),
            messages::sent_time,
            messages::text,
            messages::kind,
        )
    };
}

/// The newest `limit` messages before `before` (`Seq::END`: the latest), oldest first.
pub fn page_before(conn: &mut PgConnection, membership: &Membership, before: Seq, limit: i64) -> QueryResult<Vec<MessageView>> {
    let mut page: Vec<MessageView> = with_senders!()
        .filter(messages::chat_id.eq(membership.chat_id()))
        .filter(messages::seq.lt(before))
        .order(messages::seq.desc())
        .limit(limit)
        .select(message_view_columns!())
        .load(conn)?;
    page.reverse();
    Ok(page)
}

/// Up to `limit` messages after `after`, oldest first (resume, polling, live catch-up,
/// newer pages of history).
pub fn after(conn: &mut PgConnection, membership: &Membership, after: Seq, limit: i64) -> QueryResult<Vec<MessageView>> {
    with_senders!()
        .filter(messages::chat_id.eq(membership.chat_id()))
        .filter(messages::seq.gt(after))
        .order(messages::seq)
        .limit(limit)
        .select(message_view_columns!())
        .load(conn)
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
    pub chat_id: ChatId,
    pub sender: UserId,
    pub text: &'a str,
    pub client_id: Option<Uuid>,
    pub kind: MessageKind,
}

impl NewMessage<'_> {
    /// Stores the message with the chat's next seq and moves the sender's read marker,
    /// in one statement: the `send_message` function (migration 000006) locks the chat
    /// row, then writes guarded by every rule.
    pub fn send(&self, conn: &mut PgConnection) -> QueryResult<SendOutcome> {
        let stored = crate::db::prepared("SELECT * FROM send_message($1, $2, $3, $4, $5, $6)")
            .bind::<SqlUuid, _>(self.chat_id)
            .bind::<SqlUuid, _>(MessageId::new_v7())
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
    /// Asked after the lock is gone, so a change in between may pick another refusal;
    /// either way nothing was stored. Membership first: someone outside the chat learns
    /// nothing, not even that their own earlier message with this `client_id` exists.
    fn refusal(&self, conn: &mut PgConnection) -> QueryResult<SendOutcome> {
        let member = diesel::select(diesel::dsl::exists(crate::db::schema::chat_participants::table.find((self.chat_id, self.sender))))
            .get_result::<bool>(conn)?;
        if !member {
            return Ok(SendOutcome::NotParticipant);
        }
        // The write's guards are membership, the friendship of a direct chat's pair (for
        // text) and the repeat: a member whose send is no repeat was refused as a non-friend.
        Ok(match self.repeated(conn)? {
            Some(first) => SendOutcome::Repeated(first),
            None => SendOutcome::NotFriends,
        })
    }

    /// The message sent earlier with this `client_id`, if any (`client_id` is unique per
    /// sender; only asked once the sender is known to be in the chat).
    fn repeated(&self, conn: &mut PgConnection) -> QueryResult<Option<MessageView>> {
        let Some(client_id) = self.client_id else { return Ok(None) };
        with_senders!()
            .filter(messages::sender.eq(self.sender))
            .filter(messages::client_id.eq(client_id))
            .select(message_view_columns!())
            .first(conn)
            .optional()
    }
}
