//! Sends written together (group commit, issue 19): one statement, the `send_messages`
//! function, writes every send of a batch in one transaction, each with the guards of
//! `NewMessage::send` and an outcome of its own: a refused send does not fail the
//! others. Migration 000034 writes the batch as a set (one insert for all its messages,
//! each chat's row updated once), falling back to 000029's send-by-send loop for a batch
//! that replies to one of its own sends. The batcher (`crate::send_batch`) gathers them.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use super::messages::{MessageKind, MessageView, Quote, SendOutcome, QUOTE_CHARS};
use super::{ChatId, MessageId, Rev, Seq, UserId};
use crate::domain::MessageText;

/// A person's text message (no files), waiting to be written.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub chat_id: ChatId,
    /// Minted when the request arrived.
    pub message_id: MessageId,
    pub sender: UserId,
    pub text: MessageText,
    pub client_id: Option<Uuid>,
    /// The seq of the message this one answers.
    pub reply_to: Option<Seq>,
}

/// The database refused the text by `messages_text_length`'s rule. A `MessageText`
/// always keeps it, so this means the two rules drifted apart: only that send fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the database refused the text of a message that MessageText accepted")]
pub struct InvalidText;

/// One row of `send_messages`.
#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = Integer)]
    ord: i32,
    #[diesel(sql_type = Text)]
    outcome: String,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    message_id: Option<MessageId>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    chat_id: Option<ChatId>,
    #[diesel(sql_type = Nullable<BigInt>)]
    seq: Option<Seq>,
    #[diesel(sql_type = Nullable<BigInt>)]
    rev: Option<Rev>,
    #[diesel(sql_type = Nullable<Text>)]
    sender_name: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    sent_time: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<Text>)]
    text: Option<String>,
    #[diesel(sql_type = Bool)]
    edited: bool,
    #[diesel(sql_type = Bool)]
    deleted: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    reply_to: Option<Seq>,
    #[diesel(sql_type = Array<Text>)]
    mentions: Vec<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    quote_message_id: Option<MessageId>,
    #[diesel(sql_type = Nullable<Text>)]
    quote_sender_name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    quote_text: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    quote_deleted: Option<bool>,
}

/// Writes `batch` in one statement (so one transaction and one commit), each chat's
/// sends in the order given; answers each send, in the same order, as `NewMessage::send`
/// would have. An error means nothing of the batch was written (or, when the connection
/// was lost during the commit, that nobody knows: each send may be repeated with its
/// `client_id`).
pub fn send_all(conn: &mut PgConnection, batch: &[Outgoing]) -> QueryResult<Vec<Result<SendOutcome, InvalidText>>> {
    if batch.is_empty() {
        return Ok(vec![]);
    }
    let chat_ids: Vec<ChatId> = batch.iter().map(|o| o.chat_id).collect();
    let message_ids: Vec<MessageId> = batch.iter().map(|o| o.message_id).collect();
    let senders: Vec<UserId> = batch.iter().map(|o| o.sender).collect();
    let texts: Vec<&str> = batch.iter().map(|o| o.text.as_str()).collect();
    let client_ids: Vec<Option<Uuid>> = batch.iter().map(|o| o.client_id).collect();
    let reply_tos: Vec<Option<Seq>> = batch.iter().map(|o| o.reply_to).collect();
    // Usernames have no spaces: one string per send instead of an array of arrays.
    let mentions: Vec<String> = batch.iter().map(|o| crate::domain::mentions::mentioned(o.text.as_str()).join(" ")).collect();
    let rows: Vec<Row> = crate::db::prepared("SELECT * FROM send_messages($1, $2, $3, $4, $5, $6, $7)")
        .bind::<Array<SqlUuid>, _>(chat_ids)
        .bind::<Array<SqlUuid>, _>(message_ids)
        .bind::<Array<SqlUuid>, _>(senders)
        .bind::<Array<Text>, _>(texts)
        .bind::<Array<Nullable<SqlUuid>>, _>(client_ids)
        .bind::<Array<Nullable<BigInt>>, _>(reply_tos)
        .bind::<Array<Text>, _>(mentions)
        .load(conn)?;
    if rows.len() != batch.len() || rows.iter().enumerate().any(|(i, r)| r.ord as usize != i + 1) {
        return Err(diesel::result::Error::DeserializationError(
            format!("send_messages answered {} rows for {} sends, or out of order", rows.len(), batch.len()).into(),
        ));
    }
    rows.into_iter().zip(batch).map(|(row, sent)| outcome(row, sent)).collect()
}

fn outcome(row: Row, sent: &Outgoing) -> QueryResult<Result<SendOutcome, InvalidText>> {
    Ok(Ok(match row.outcome.as_str() {
        "sent" => SendOutcome::Sent(view(row, sent)?),
        "repeated" => SendOutcome::Repeated(view(row, sent)?),
        "not_participant" => SendOutcome::NotParticipant,
        "not_friends" => SendOutcome::NotFriends,
        "no_such_reply" => SendOutcome::NoSuchReply,
        "invalid" => return Ok(Err(InvalidText)),
        other => return Err(diesel::result::Error::DeserializationError(format!("{other:?} is not an outcome of a send").into())),
    }))
}

/// The message a `sent` or `repeated` row carries (for `repeated`: the first one, which
/// may be another chat's when a client reused its id there).
fn view(row: Row, sent: &Outgoing) -> QueryResult<MessageView> {
    let missing = || diesel::result::Error::DeserializationError("a sent or repeated row without its message".into());
    let quote = match (row.quote_message_id, row.reply_to) {
        (Some(message_id), Some(seq)) => Some(Quote {
            seq,
            message_id,
            sender_name: row.quote_sender_name.unwrap_or_default(),
            excerpt: row.quote_text.unwrap_or_default().chars().take(QUOTE_CHARS).collect(),
            deleted: row.quote_deleted.unwrap_or(false),
        }),
        _ => None,
    };
    Ok(MessageView {
        message_id: row.message_id.ok_or_else(missing)?,
        chat_id: row.chat_id.ok_or_else(missing)?,
        seq: row.seq.ok_or_else(missing)?,
        rev: row.rev.ok_or_else(missing)?,
        sender: sent.sender,
        sender_name: row.sender_name.ok_or_else(missing)?,
        sent_time: row.sent_time.ok_or_else(missing)?,
        text: row.text.ok_or_else(missing)?,
        kind: MessageKind::Text,
        edited: row.edited,
        deleted: row.deleted,
        reply_to: row.reply_to,
        quote,
        reactions: vec![],
        mentions: row.mentions,
    })
}
