//! The `messages` table. `seq` comes from `chats.last_seq`, incremented under the chat
//! row's lock in the message's own transaction: gap-free and in commit order. `rev`
//! (`chats.last_rev`) is taken the same way by every new message and every change to
//! one (`message_actions`, `reactions`). Reading messages takes the reader's `Membership`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use super::attachments::{AttachmentView, Kind as FileKind};
use super::chats::Membership;
use super::ids::AttachmentId;
use super::{text_column, violates, ChatId, MessageId, Rev, Seq, UserId};
use crate::db::schema::{message_mentions, message_reactions, messages, users};

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
type Row = (
    MessageId,
    ChatId,
    Seq,
    Rev,
    UserId,
    String,
    DateTime<Utc>,
    String,
    MessageKind,
    Option<DateTime<Utc>>,
    Option<DateTime<Utc>>,
    Option<Seq>,
);

fn view((message_id, chat_id, seq, rev, sender, sender_name, sent_time, text, kind, edited_at, deleted_at, reply_to): Row) -> MessageView {
    MessageView {
        message_id,
        chat_id,
        seq,
        rev,
        sender,
        sender_name,
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

diesel::define_sql_function!(fn coalesce(x: Nullable<Text>, y: Text) -> Text);

/// What a message of a deleted account names as its sender (its user row is gone).
pub const DELETED_ACCOUNT: &str = "Deleted account";

/// Messages joined with their senders: a deleted account's messages stay, without one.
macro_rules! with_senders {
    () => {
        messages::table.left_join(users::table.on(users::user_id.eq(messages::sender)))
    };
}

/// The columns of a `Row`, in its order.
macro_rules! message_columns {
    () => {
        (
            messages::message_id,
            messages::chat_id,
            messages::seq,
            messages::rev,
            messages::sender,
            coalesce(users::username.nullable(), DELETED_ACCOUNT),
            messages::sent_time,
            messages::text,
            messages::kind,
            messages::edited_at,
            messages::deleted_at,
            messages::reply_to,
        )
    };
}

/// Loads what the rows of one chat show beside themselves: the quoted originals of
/// replies, reactions and mentions (three queries, none for a list that needs none).
fn decorate(conn: &mut PgConnection, chat_id: ChatId, rows: Vec<Row>) -> QueryResult<Vec<MessageView>> {
    let mut views: Vec<MessageView> = rows.into_iter().map(view).collect();
    if views.is_empty() {
        return Ok(views);
    }
    let replied: Vec<Seq> = views.iter().filter_map(|m| m.reply_to).collect();
    let quotes: HashMap<Seq, Quote> =
        if replied.is_empty() { HashMap::new() } else { quotes(conn, chat_id, &replied)?.into_iter().map(|q| (q.seq, q)).collect() };
    let ids: Vec<MessageId> = views.iter().filter(|m| !m.deleted).map(|m| m.message_id).collect();
    let reacted: Vec<(MessageId, String, UserId, String)> = message_reactions::table
        .inner_join(users::table)
        .filter(message_reactions::chat_id.eq(chat_id))
        .filter(message_reactions::message_id.eq_any(&ids))
        .order((message_reactions::reacted_at, message_reactions::emoji, message_reactions::user_id))
        .select((message_reactions::message_id, message_reactions::emoji, users::user_id, users::username))
        .load(conn)?;
    let seqs: Vec<Seq> = views.iter().filter(|m| !m.deleted).map(|m| m.seq).collect();
    let mentioned: Vec<(Seq, String)> = message_mentions::table
        .inner_join(users::table)
        .filter(message_mentions::chat_id.eq(chat_id))
        .filter(message_mentions::seq.eq_any(&seqs))
        .order(users::username)
        .select((message_mentions::seq, users::username))
        .load(conn)?;
    let mut by_id: HashMap<MessageId, Vec<Reaction>> = HashMap::new();
    for (message_id, emoji, user_id, username) in reacted {
        let list = by_id.entry(message_id).or_default();
        match list.iter_mut().find(|r| r.emoji == emoji) {
            Some(r) => r.people.push((user_id, username)),
            None => list.push(Reaction { emoji, people: vec![(user_id, username)] }),
        }
    }
    for m in &mut views {
        m.quote = m.reply_to.and_then(|s| quotes.get(&s).cloned());
        m.reactions = by_id.remove(&m.message_id).unwrap_or_default();
        m.mentions = mentioned.iter().filter(|(s, _)| *s == m.seq).map(|(_, n)| n.clone()).collect();
    }
    Ok(views)
}

/// The originals that replies quote (of this chat only: a reply's key names its own chat).
fn quotes(conn: &mut PgConnection, chat_id: ChatId, seqs: &[Seq]) -> QueryResult<Vec<Quote>> {
    type Original = (Seq, MessageId, String, String, Option<DateTime<Utc>>);
    let found: Vec<Original> = with_senders!()
        .filter(messages::chat_id.eq(chat_id))
        .filter(messages::seq.eq_any(seqs))
        .select((
            messages::seq,
            messages::message_id,
            coalesce(users::username.nullable(), DELETED_ACCOUNT),
            messages::text,
            messages::deleted_at,
        ))
        .load(conn)?;
    Ok(found
        .into_iter()
        .map(|(seq, message_id, sender_name, text, deleted_at)| Quote {
            seq,
            message_id,
            sender_name,
            excerpt: text.chars().take(QUOTE_CHARS).collect(),
            deleted: deleted_at.is_some(),
        })
        .collect())
}

/// A page of history with everything its messages show, files included.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// Oldest first, decorated as `decorate` does it.
    pub messages: Vec<MessageView>,
    /// The files of `messages`, in each message's order (`attachments::for_messages`).
    pub files: Vec<AttachmentView>,
}

/// One row of `page_before`: the message, the original it quotes, and its reactions,
/// mentions and files as parallel arrays (`array_agg` is NULL where there are none).
#[derive(QueryableByName)]
struct PageRow {
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
    #[diesel(sql_type = Bool)]
    edited: bool,
    #[diesel(sql_type = Bool)]
    deleted: bool,
    #[diesel(sql_type = Nullable<BigInt>)]
    reply_to: Option<Seq>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    quote_id: Option<MessageId>,
    #[diesel(sql_type = Nullable<Text>)]
    quote_sender: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    quote_text: Option<String>,
    #[diesel(sql_type = Nullable<Bool>)]
    quote_deleted: Option<bool>,
    #[diesel(sql_type = Nullable<Array<Text>>)]
    reaction_emoji: Option<Vec<String>>,
    #[diesel(sql_type = Nullable<Array<SqlUuid>>)]
    reaction_users: Option<Vec<UserId>>,
    #[diesel(sql_type = Nullable<Array<Text>>)]
    reaction_names: Option<Vec<String>>,
    #[diesel(sql_type = Nullable<Array<Text>>)]
    mentions: Option<Vec<String>>,
    #[diesel(sql_type = Nullable<Array<SqlUuid>>)]
    file_ids: Option<Vec<AttachmentId>>,
    #[diesel(sql_type = Nullable<Array<Text>>)]
    file_names: Option<Vec<String>>,
    #[diesel(sql_type = Nullable<Array<BigInt>>)]
    file_sizes: Option<Vec<i64>>,
    #[diesel(sql_type = Nullable<Array<Text>>)]
    file_kinds: Option<Vec<FileKind>>,
    #[diesel(sql_type = Nullable<Array<Nullable<Integer>>>)]
    file_widths: Option<Vec<Option<i32>>>,
    #[diesel(sql_type = Nullable<Array<Nullable<Integer>>>)]
    file_heights: Option<Vec<Option<i32>>>,
}

impl PageRow {
    /// The message as `decorate` makes it, and its files, in order.
    fn split(self, files: &mut Vec<AttachmentView>) -> MessageView {
        let quote = match (self.reply_to, self.quote_id) {
            (Some(seq), Some(message_id)) => Some(Quote {
                seq,
                message_id,
                sender_name: self.quote_sender.unwrap_or_default(),
                excerpt: self.quote_text.unwrap_or_default().chars().take(QUOTE_CHARS).collect(),
                deleted: self.quote_deleted.unwrap_or(false),
            }),
            _ => None,
        };
        let mut reactions: Vec<Reaction> = Vec::new();
        let people = self.reaction_users.unwrap_or_default().into_iter().zip(self.reaction_names.unwrap_or_default());
        for (emoji, person) in self.reaction_emoji.unwrap_or_default().into_iter().zip(people) {
            match reactions.iter_mut().find(|r| r.emoji == emoji) {
                Some(r) => r.people.push(person),
                None => reactions.push(Reaction { emoji, people: vec![person] }),
            }
        }
        let file_ids = self.file_ids.unwrap_or_default();
        files.reserve(file_ids.len());
        let mut names = self.file_names.unwrap_or_default().into_iter();
        let mut sizes = self.file_sizes.unwrap_or_default().into_iter();
        let mut kinds = self.file_kinds.unwrap_or_default().into_iter();
        let mut widths = self.file_widths.unwrap_or_default().into_iter();
        let mut heights = self.file_heights.unwrap_or_default().into_iter();
        for attachment_id in file_ids {
            let (Some(name), Some(size), Some(kind)) = (names.next(), sizes.next(), kinds.next()) else { break };
            files.push(AttachmentView {
                attachment_id,
                message_id: self.message_id,
                name,
                size,
                kind,
                thumb_width: widths.next().flatten(),
                thumb_height: heights.next().flatten(),
            });
        }
        MessageView {
            message_id: self.message_id,
            chat_id: self.chat_id,
            seq: self.seq,
            rev: self.rev,
            sender: self.sender,
            sender_name: self.sender_name,
            sent_time: self.sent_time,
            text: self.text,
            kind: self.kind,
            edited: self.edited,
            deleted: self.deleted,
            reply_to: self.reply_to,
            quote,
            reactions,
            mentions: self.mentions.unwrap_or_default(),
        }
    }
}

/// The newest `limit` messages before `before` (`Seq::END`: the latest), oldest first,
/// with their quotes, reactions, mentions and files: the chat page's history in one
/// statement (it was five: the page, quotes, reactions, mentions, files; BENCHMARKS.md
/// "Issue 19, `pages`"). Raw SQL: the builder cannot say a `WITH … MATERIALIZED` read
/// once by three grouped joins. Each decoration is one grouped scan for the whole page
/// (a `LATERAL` per message measured 3× slower: an executor cycle per row and kind).
/// What each holds is `decorate`'s (tests/it/page_reads.rs compares the two):
/// reactions in the order chosen, mentions by name, none of either on a deleted
/// message; files in their order.
pub fn page_before(conn: &mut PgConnection, membership: &Membership, before: Seq, limit: i64) -> QueryResult<Page> {
    let rows: Vec<PageRow> = crate::db::prepared(
        "WITH page AS MATERIALIZED ( \
             SELECT pm.message_id, pm.chat_id, pm.seq, pm.rev, pm.sender, pm.sent_time, pm.text, pm.kind, pm.edited_at, \
                    pm.deleted_at, pm.reply_to \
               FROM messages pm WHERE pm.chat_id = $1 AND pm.seq < $2 ORDER BY pm.seq DESC LIMIT $3) \
         SELECT m.message_id, m.chat_id, m.seq, m.rev, m.sender, COALESCE(u.username, 'Deleted account') AS sender_name, \
                m.sent_time, m.text, m.kind, m.edited_at IS NOT NULL AS edited, m.deleted_at IS NOT NULL AS deleted, m.reply_to, \
                q.message_id AS quote_id, COALESCE(qu.username, 'Deleted account') AS quote_sender, q.text AS quote_text, \
                q.deleted_at IS NOT NULL AS quote_deleted, \
                r.reaction_emoji, r.reaction_users, r.reaction_names, \
                mt.mentions, \
                f.file_ids, f.file_names, f.file_sizes, f.file_kinds, f.file_widths, f.file_heights \
           FROM page m \
           LEFT JOIN users u ON u.user_id = m.sender \
           LEFT JOIN messages q ON q.chat_id = m.chat_id AND q.seq = m.reply_to \
           LEFT JOIN users qu ON qu.user_id = q.sender \
           LEFT JOIN (SELECT mr.message_id, \
                             array_agg(mr.emoji ORDER BY mr.reacted_at, mr.emoji, mr.user_id) AS reaction_emoji, \
                             array_agg(mr.user_id ORDER BY mr.reacted_at, mr.emoji, mr.user_id) AS reaction_users, \
                             array_agg(ru.username ORDER BY mr.reacted_at, mr.emoji, mr.user_id) AS reaction_names \
                        FROM message_reactions mr JOIN users ru ON ru.user_id = mr.user_id \
                       WHERE mr.message_id = ANY (ARRAY(SELECT p.message_id FROM page p WHERE p.deleted_at IS NULL)) \
                       GROUP BY mr.message_id) r ON r.message_id = m.message_id \
           LEFT JOIN (SELECT mm.seq, array_agg(mu.username ORDER BY mu.username) AS mentions \
                        FROM message_mentions mm JOIN users mu ON mu.user_id = mm.user_id \
                       WHERE mm.chat_id = $1 AND mm.seq = ANY (ARRAY(SELECT p.seq FROM page p WHERE p.deleted_at IS NULL)) \
                       GROUP BY mm.seq) mt ON mt.seq = m.seq \
           LEFT JOIN (SELECT a.message_id, \
                             array_agg(a.attachment_id ORDER BY a.position) AS file_ids, \
                             array_agg(a.name ORDER BY a.position) AS file_names, \
                             array_agg(a.size ORDER BY a.position) AS file_sizes, \
                             array_agg(a.kind ORDER BY a.position) AS file_kinds, \
                             array_agg(a.thumb_width ORDER BY a.position) AS file_widths, \
                             array_agg(a.thumb_height ORDER BY a.position) AS file_heights \
                        FROM attachments a \
                       WHERE a.chat_id = $1 AND a.message_id = ANY (ARRAY(SELECT p.message_id FROM page p)) \
                       GROUP BY a.message_id) f ON f.message_id = m.message_id \
          ORDER BY m.seq",
    )
    .bind::<SqlUuid, _>(membership.chat_id())
    .bind::<BigInt, _>(before)
    .bind::<BigInt, _>(limit)
    .load(conn)?;
    let mut files = Vec::new();
    let messages = rows.into_iter().map(|row| row.split(&mut files)).collect();
    Ok(Page { messages, files })
}

/// Up to `limit` messages after `after`, oldest first (newer pages of history).
pub fn after(conn: &mut PgConnection, membership: &Membership, after: Seq, limit: i64) -> QueryResult<Vec<MessageView>> {
    let rows = with_senders!()
        .filter(messages::chat_id.eq(membership.chat_id()))
        .filter(messages::seq.gt(after))
        .order(messages::seq)
        .limit(limit)
        .select(message_columns!())
        .load(conn)?;
    decorate(conn, membership.chat_id(), rows)
}

/// Up to `limit` messages whose latest change is after `since`, in rev order, each once
/// in its current form (resume, polling, live catch-up).
pub fn changed_after(conn: &mut PgConnection, membership: &Membership, since: Rev, limit: i64) -> QueryResult<Vec<MessageView>> {
    let rows = with_senders!()
        .filter(messages::chat_id.eq(membership.chat_id()))
        .filter(messages::rev.gt(since))
        .order(messages::rev)
        .limit(limit)
        .select(message_columns!())
        .load(conn)?;
    decorate(conn, membership.chat_id(), rows)
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
    let row: Option<Row> = with_senders!()
        .filter(messages::chat_id.eq(membership.chat_id()))
        .filter(messages::seq.eq(seq))
        .select(message_columns!())
        .first(conn)
        .optional()?;
    Ok(row.map(|r| decorate(conn, membership.chat_id(), vec![r])).transpose()?.and_then(|mut v| v.pop()))
}

/// Re-reads messages by id after a change, decorated (for the live update).
pub(super) fn reload(conn: &mut PgConnection, chat_id: ChatId, message_id: MessageId) -> QueryResult<MessageView> {
    let row: Row = with_senders!()
        .filter(messages::chat_id.eq(chat_id))
        .filter(messages::message_id.eq(message_id))
        .select(message_columns!())
        .first(conn)?;
    decorate(conn, chat_id, vec![row])?.pop().ok_or(diesel::result::Error::NotFound)
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
        let row: Option<Row> = with_senders!()
            .filter(messages::sender.eq(self.sender))
            .filter(messages::client_id.eq(client_id))
            .select(message_columns!())
            .first(conn)
            .optional()?;
        Ok(row.map(view))
    }
}
