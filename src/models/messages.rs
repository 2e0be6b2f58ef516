//! The `messages` table. `seq` comes from `chats.last_seq`, incremented under the chat
//! row's lock in the message's own transaction: gap-free and in commit order. `rev`
//! (`chats.last_rev`) is taken the same way by every new message and every change to
//! one (`message_actions`, `reactions`). Reading messages takes the reader's `Membership`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use super::attachments::AttachmentView;
use super::chats::Membership;
use super::decorations::{self, Decorations, Wanted};
use super::{text_column, violates, ChatId, MessageId, Rev, Seq, UserId};
use crate::db::schema::{messages, users};

text_column!(
    /// What a message is: written by a person, or a line the app writes about a group
    /// ("alice added bob").
    MessageKind {
        Text = "text",
        System = "system",
    }
);

/// Characters of the original a reply quotes.
pub const QUOTE_CHARS: usize = 120;

/// The message a reply answers, as the reply shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub seq: Seq,
    pub message_id: MessageId,
    pub sender_name: String,
    /// The first `QUOTE_CHARS` characters; empty once the original was deleted.
    pub excerpt: String,
    pub deleted: bool,
}

/// One emoji on a message, with who chose it (in the order they did).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reaction {
    pub emoji: String,
    pub people: Vec<(UserId, String)>,
}

/// A message with what every view of it shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView {
    pub message_id: MessageId,
    pub chat_id: ChatId,
    pub seq: Seq,
    /// The rev of its latest change.
    pub rev: Rev,
    pub sender: UserId,
    pub sender_name: String,
    pub sent_time: DateTime<Utc>,
    /// Empty once deleted.
    pub text: String,
    pub kind: MessageKind,
    pub edited: bool,
    pub deleted: bool,
    pub reply_to: Option<Seq>,
    /// Filled by `decorate` (a reply's original, its reactions, the members it mentions).
    pub quote: Option<Quote>,
    pub reactions: Vec<Reaction>,
    /// Lower-case usernames of the members it mentions.
    pub mentions: Vec<String>,
}

/// A message's row, as the queries below select it.
/// A message's row without its sender's name, which `decorate` adds: joining `users`
/// per row cost a page of 50 messages ~50 µs of PostgreSQL's CPU (50 index probes for
/// the chat's few senders; BENCHMARKS.md, "Issue 19, `plans`").
type Bare =
    (MessageId, ChatId, Seq, Rev, UserId, DateTime<Utc>, String, MessageKind, Option<DateTime<Utc>>, Option<DateTime<Utc>>, Option<Seq>);

fn bare_view((message_id, chat_id, seq, rev, sender, sent_time, text, kind, edited_at, deleted_at, reply_to): Bare) -> MessageView {
    MessageView {
        message_id,
        chat_id,
        seq,
        rev,
        sender,
        // Named by `decorate` (or `repeated`) from the senders' rows.
        sender_name: String::new(),
        sent_time,
        text,
        kind,
        edited: edited_at.is_some(),
        deleted: deleted_at.is_some(),
        reply_to,
        quote: None,
        reactions: vec![],
        mentions: vec![],
    }
}

/// What a message of a deleted account names as its sender (its user row is gone).
pub const DELETED_ACCOUNT: &str = "Deleted account";

/// The columns of a `Bare` row, in its order.
macro_rules! bare_columns {
    () => {
        (
            messages::message_id,
            messages::chat_id,
            messages::seq,
            messages::rev,
            messages::sender,
            messages::sent_time,
            messages::text,
            messages::kind,
            messages::edited_at,
            messages::deleted_at,
            messages::reply_to,
        )
    };
}

/// Messages with their files, for the reads that show both (the chat page, its
/// fragments, the live catch-up): the files come in the decorations' statement.
#[derive(Debug, Default)]
pub struct WithFiles {
    pub messages: Vec<MessageView>,
    /// By message, then in each message's order (as `attachments::for_messages`).
    pub files: Vec<AttachmentView>,
}

/// Loads what the rows of one chat show beside themselves: the senders' names, the
/// quoted originals of replies, reactions, mentions and, if `files`, the files
/// (`decorations`: one statement, plus one for the quotes when a row is a reply; none
/// for no rows).
fn decorate(conn: &mut PgConnection, chat_id: ChatId, rows: Vec<Bare>, files: bool) -> QueryResult<WithFiles> {
    let mut views: Vec<MessageView> = rows.into_iter().map(bare_view).collect();
    if views.is_empty() {
        return Ok(WithFiles::default());
    }
    let replied: Vec<Seq> = views.iter().filter_map(|m| m.reply_to).collect();
    let quotes: HashMap<Seq, Quote> =
        if replied.is_empty() { HashMap::new() } else { quotes(conn, chat_id, &replied)?.into_iter().map(|q| (q.seq, q)).collect() };
    let reacted: Vec<MessageId> = views.iter().filter(|m| !m.deleted).map(|m| m.message_id).collect();
    let mentioning: Vec<Seq> = views.iter().filter(|m| !m.deleted).map(|m| m.seq).collect();
    let mut senders: Vec<UserId> = views.iter().map(|m| m.sender).collect();
    senders.sort_unstable();
    senders.dedup();
    let files_of: Vec<MessageId> = if files { views.iter().map(|m| m.message_id).collect() } else { vec![] };
    let wanted = Wanted { reacted: &reacted, mentioning: &mentioning, senders: &senders, files_of: &files_of };
    let Decorations { reactions, mentions, names, files } = decorations::load(conn, chat_id, wanted)?;
    let mut by_id: HashMap<MessageId, Vec<Reaction>> = HashMap::new();
    for (message_id, emoji, user_id, username) in reactions {
        let list = by_id.entry(message_id).or_default();
        match list.iter_mut().find(|r| r.emoji == emoji) {
            Some(r) => r.people.push((user_id, username)),
            None => list.push(Reaction { emoji, people: vec![(user_id, username)] }),
        }
    }
    for m in &mut views {
        m.sender_name = names.get(&m.sender).map_or(DELETED_ACCOUNT, String::as_str).to_string();
        m.quote = m.reply_to.and_then(|s| quotes.get(&s).cloned());
        m.reactions = by_id.remove(&m.message_id).unwrap_or_default();
        m.mentions = mentions.iter().filter(|(s, _)| *s == m.seq).map(|(_, n)| n.clone()).collect();
    }
    Ok(WithFiles { messages: views, files })
}

/// The originals that replies quote (of this chat only: a reply's key names its own chat).
/// Through `reply_quotes()` (000043), whose plan is made once per connection: as a
/// statement of its own it was planned on every call (an array parameter).
fn quotes(conn: &mut PgConnection, chat_id: ChatId, seqs: &[Seq]) -> QueryResult<Vec<Quote>> {
    #[derive(QueryableByName)]
    struct Original {
        #[diesel(sql_type = BigInt)]
        seq: Seq,
        #[diesel(sql_type = SqlUuid)]
        message_id: MessageId,
        #[diesel(sql_type = Nullable<Text>)]
        sender_name: Option<String>,
        #[diesel(sql_type = Text)]
        text: String,
        #[diesel(sql_type = diesel::sql_types::Bool)]
        deleted: bool,
    }
    let found: Vec<Original> = crate::db::prepared("SELECT seq, message_id, sender_name, text, deleted FROM reply_quotes($1, $2)")
        .bind::<SqlUuid, _>(chat_id)
        .bind::<Array<BigInt>, _>(seqs)
        .load(conn)?;
    Ok(found
        .into_iter()
        .map(|o| Quote {
            seq: o.seq,
            message_id: o.message_id,
            sender_name: o.sender_name.unwrap_or_else(|| DELETED_ACCOUNT.to_string()),
            excerpt: o.text.chars().take(QUOTE_CHARS).collect(),
            deleted: o.deleted,
        })
        .collect())
}

/// The newest `limit` messages before `before` (`Seq::END`: the latest), oldest first.
pub fn page_before(conn: &mut PgConnection, membership: &Membership, before: Seq, limit: i64) -> QueryResult<Vec<MessageView>> {
    Ok(page_before_with(conn, membership, before, limit, false)?.messages)
}

/// `page_before` with the messages' files.
pub fn page_before_with_files(conn: &mut PgConnection, membership: &Membership, before: Seq, limit: i64) -> QueryResult<WithFiles> {
    page_before_with(conn, membership, before, limit, true)
}

fn page_before_with(conn: &mut PgConnection, membership: &Membership, before: Seq, limit: i64, files: bool) -> QueryResult<WithFiles> {
    let mut page: Vec<Bare> = messages::table
        .filter(messages::chat_id.eq(membership.chat_id()))
        .filter(messages::seq.lt(before))
        .order(messages::seq.desc())
        .limit(limit)
        .select(bare_columns!())
        .load(conn)?;
    page.reverse();
    decorate(conn, membership.chat_id(), page, files)
}

/// Up to `limit` messages after `after`, oldest first (newer pages of history).
pub fn after(conn: &mut PgConnection, membership: &Membership, after: Seq, limit: i64) -> QueryResult<Vec<MessageView>> {
    Ok(after_with(conn, membership, after, limit, false)?.messages)
}

/// `after` with the messages' files.
pub fn after_with_files(conn: &mut PgConnection, membership: &Membership, after: Seq, limit: i64) -> QueryResult<WithFiles> {
    after_with(conn, membership, after, limit, true)
}

fn after_with(conn: &mut PgConnection, membership: &Membership, after: Seq, limit: i64, files: bool) -> QueryResult<WithFiles> {
    let rows = messages::table
        .filter(messages::chat_id.eq(membership.chat_id()))
        .filter(messages::seq.gt(after))
        .order(messages::seq)
        .limit(limit)
        .select(bare_columns!())
        .load(conn)?;
    decorate(conn, membership.chat_id(), rows, files)
}

/// Up to `limit` messages whose latest change is after `since`, in rev order, each once
/// in its current form (resume, polling, live catch-up), with their files.
pub fn changed_after_with_files(conn: &mut PgConnection, membership: &Membership, since: Rev, limit: i64) -> QueryResult<WithFiles> {
    let rows = messages::table
        .filter(messages::chat_id.eq(membership.chat_id()))
        .filter(messages::rev.gt(since))
        .order(messages::rev)
        .limit(limit)
        .select(bare_columns!())
        .load(conn)?;
    decorate(conn, membership.chat_id(), rows, true)
}

/// The highest seq among the messages a client that has seen everything up to `rev`
/// knows (what came later with a higher seq is new to it, the rest are changes).
pub fn last_seq_at(conn: &mut PgConnection, membership: &Membership, rev: Rev) -> QueryResult<Seq> {
    messages::table
        .filter(messages::chat_id.eq(membership.chat_id()))
        .filter(messages::rev.le(rev))
        .select(diesel::dsl::max(messages::seq))
        .first::<Option<Seq>>(conn)
        .map(|s| s.unwrap_or(Seq::ZERO))
}

/// One message of the chat, by its position, decorated.
pub fn find(conn: &mut PgConnection, membership: &Membership, seq: Seq) -> QueryResult<Option<MessageView>> {
    let row: Option<Bare> = messages::table
        .filter(messages::chat_id.eq(membership.chat_id()))
        .filter(messages::seq.eq(seq))
        .select(bare_columns!())
        .first(conn)
        .optional()?;
    Ok(row.map(|r| decorate(conn, membership.chat_id(), vec![r], false)).transpose()?.and_then(|mut v| v.messages.pop()))
}

/// Re-reads messages by id after a change, decorated (for the live update).
pub(super) fn reload(conn: &mut PgConnection, chat_id: ChatId, message_id: MessageId) -> QueryResult<MessageView> {
    let row: Bare = messages::table
        .filter(messages::chat_id.eq(chat_id))
        .filter(messages::message_id.eq(message_id))
        .select(bare_columns!())
        .first(conn)?;
    decorate(conn, chat_id, vec![row], false)?.messages.pop().ok_or(diesel::result::Error::NotFound)
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
    /// `reply_to` is no earlier message of this chat: nothing stored.
    NoSuchReply,
}

pub struct NewMessage<'a> {
    pub chat_id: ChatId,
    pub sender: UserId,
    pub text: &'a str,
    pub client_id: Option<Uuid>,
    pub kind: MessageKind,
    /// The seq of the message this one answers.
    pub reply_to: Option<Seq>,
}

/// What `send_message` returns.
#[derive(QueryableByName)]
struct Sent {
    #[diesel(sql_type = SqlUuid)]
    message_id: MessageId,
    #[diesel(sql_type = SqlUuid)]
    chat_id: ChatId,
    #[diesel(sql_type = BigInt)]
    seq: Seq,
    #[diesel(sql_type = BigInt)]
    rev: Rev,
    #[diesel(sql_type = SqlUuid)]
    sender: UserId,
    #[diesel(sql_type = Text)]
    sender_name: String,
    #[diesel(sql_type = Timestamptz)]
    sent_time: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    text: String,
    #[diesel(sql_type = Text)]
    kind: MessageKind,
    #[diesel(sql_type = Nullable<BigInt>)]
    reply_to: Option<Seq>,
    #[diesel(sql_type = Array<Text>)]
    mentions: Vec<String>,
}

impl NewMessage<'_> {
    /// Stores the message with the chat's next seq and rev, records the members it
    /// mentions and moves the sender's read marker, in one statement: the
    /// `send_message` function (migration 000025; first 000006, the block guard 000022) locks the chat row,
    /// then writes guarded by every rule. A reply costs one more query (its quote).
    pub fn send(&self, conn: &mut PgConnection) -> QueryResult<SendOutcome> {
        self.send_as(conn, MessageId::new_v7())
    }

    /// `send` with an id chosen beforehand (a send with files writes them first, under
    /// the message's id, in the same transaction).
    pub fn send_as(&self, conn: &mut PgConnection, message_id: MessageId) -> QueryResult<SendOutcome> {
        let mentions = if self.kind == MessageKind::Text { crate::domain::mentions::mentioned(self.text) } else { vec![] };
        let stored = crate::db::prepared("SELECT * FROM send_message($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind::<SqlUuid, _>(self.chat_id)
            .bind::<SqlUuid, _>(message_id)
            .bind::<SqlUuid, _>(self.sender)
            .bind::<Text, _>(self.text)
            .bind::<Nullable<SqlUuid>, _>(self.client_id)
            .bind::<Text, _>(self.kind)
            .bind::<Nullable<BigInt>, _>(self.reply_to)
            .bind::<Array<Text>, _>(&mentions)
            .get_result::<Sent>(conn)
            .optional();
        match stored {
            Ok(Some(sent)) => {
                let quote = match sent.reply_to {
                    Some(seq) => quotes(conn, sent.chat_id, &[seq])?.pop(),
                    None => None,
                };
                Ok(SendOutcome::Sent(MessageView {
                    message_id: sent.message_id,
                    chat_id: sent.chat_id,
                    seq: sent.seq,
                    rev: sent.rev,
                    sender: sent.sender,
                    sender_name: sent.sender_name,
                    sent_time: sent.sent_time,
                    text: sent.text,
                    kind: sent.kind,
                    edited: false,
                    deleted: false,
                    reply_to: sent.reply_to,
                    quote,
                    reactions: vec![],
                    mentions: sent.mentions,
                }))
            }
            Ok(None) => self.refusal(conn),
            // Two identical POSTs at once: the second lost on the unique key (its
            // statement rolled back, so no seq was used); answer with the first.
            Err(e) if violates(&e, "messages_sender_client_id_key") => Ok(SendOutcome::Repeated(self.repeated(conn)?.ok_or(e)?)),
            // A reply to a seq this chat does not have (yet): the key or the check
            // refused it, the statement rolled back. Membership first, as below.
            Err(e) if violates(&e, "messages_reply_to_fkey") || violates(&e, "messages_reply_to_earlier") => match self.refusal(conn)? {
                SendOutcome::NotParticipant => Ok(SendOutcome::NotParticipant),
                _ => Ok(SendOutcome::NoSuchReply),
            },
            Err(e) => Err(e),
        }
    }

    /// For a send inside a larger transaction (one with files): `NotParticipant` or
    /// `NoSuchReply` when `reply_to` names no message of this chat, before the send.
    pub fn refused_reply(&self, conn: &mut PgConnection) -> QueryResult<Option<SendOutcome>> {
        let Some(seq) = self.reply_to else { return Ok(None) };
        let found =
            diesel::select(diesel::dsl::exists(messages::table.filter(messages::chat_id.eq(self.chat_id)).filter(messages::seq.eq(seq))))
                .get_result::<bool>(conn)?;
        if found {
            return Ok(None);
        }
        Ok(Some(match self.refusal(conn)? {
            SendOutcome::NotParticipant => SendOutcome::NotParticipant,
            _ => SendOutcome::NoSuchReply,
        }))
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
    pub fn repeated(&self, conn: &mut PgConnection) -> QueryResult<Option<MessageView>> {
        let Some(client_id) = self.client_id else { return Ok(None) };
        let row: Option<Bare> = messages::table
            .filter(messages::sender.eq(self.sender))
            .filter(messages::client_id.eq(client_id))
            .select(bare_columns!())
            .first(conn)
            .optional()?;
        let Some(row) = row else { return Ok(None) };
        // The sender is sending, so has a row; a repeat is a retry, rare enough for a
        // second look-up (the reads of pages name their senders in `decorate`).
        let sender_name: String = users::table.find(self.sender).select(users::username).first(conn)?;
        Ok(Some(MessageView { sender_name, ..bare_view(row) }))
    }
}
