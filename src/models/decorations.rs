//! What a page of one chat's messages shows beside their rows, read in one statement:
//! the reactions, the members each message mentions, the senders' usernames and, for
//! the reads that show them, the messages' files.
//!
//! Why one statement (issue 19, `plans`, BENCHMARKS.md): PostgreSQL's CPU per chat
//! page is mostly a fixed cost per statement (a round trip, a transaction, the
//! executor's start-up and tear-down), not rows. Reactions, mentions and files were
//! three statements, and the page's rows joined `users` once per message for the
//! sender's name (50 index probes for the two or three people who write in a chat).
//! Here the four are one `UNION ALL` (raw SQL: the builder cannot combine differently
//! shaped rows), and the names are looked up once per distinct sender. Each part keeps the
//! index its own statement used; the orders the views want are made in Rust (below),
//! so PostgreSQL runs no sort.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Nullable, SmallInt, Text, Timestamptz, Uuid as SqlUuid};

use super::attachments::{AttachmentView, Kind};
use super::ids::AttachmentId;
use super::{ChatId, MessageId, Seq, UserId};

/// A reaction: (message, emoji, who, their username).
pub type Reacted = (MessageId, String, UserId, String);

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decorations {
    /// In the order they were made (then by emoji and person), as the page lists them.
    pub reactions: Vec<Reacted>,
    /// (seq, username) of the members each message mentions, by username.
    pub mentions: Vec<(Seq, String)>,
    /// The senders' usernames; a deleted account has no row, so no name here.
    pub names: HashMap<UserId, String>,
    /// By message, then in the message's order (`attachments::for_messages`'s order).
    pub files: Vec<AttachmentView>,
}

/// Which part of the statement a row comes from.
const REACTION: i16 = 1;
const MENTION: i16 = 2;
const NAME: i16 = 3;
const FILE: i16 = 4;

#[derive(QueryableByName)]
struct Part {
    #[diesel(sql_type = SmallInt)]
    part: i16,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    message_id: Option<MessageId>,
    #[diesel(sql_type = Nullable<BigInt>)]
    seq: Option<Seq>,
    /// The emoji of a reaction, the name of a file.
    #[diesel(sql_type = Nullable<Text>)]
    label: Option<String>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    user_id: Option<UserId>,
    #[diesel(sql_type = Nullable<Text>)]
    username: Option<String>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    reacted_at: Option<DateTime<Utc>>,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    attachment_id: Option<AttachmentId>,
    #[diesel(sql_type = Nullable<BigInt>)]
    size: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    file_kind: Option<Kind>,
    #[diesel(sql_type = Nullable<Integer>)]
    thumb_width: Option<i32>,
    #[diesel(sql_type = Nullable<Integer>)]
    thumb_height: Option<i32>,
    #[diesel(sql_type = Nullable<SmallInt>)]
    position: Option<i16>,
}

/// What to read for a page of one chat (`chat_id`: the keys of reactions, mentions and
/// files name their chat, so nothing of another chat can come back).
pub struct Wanted<'a> {
    /// Their reactions (the messages not deleted).
    pub reacted: &'a [MessageId],
    /// Their mentions (the same messages, by seq).
    pub mentioning: &'a [Seq],
    pub senders: &'a [UserId],
    /// Their files (empty: none read).
    pub files_of: &'a [MessageId],
}

pub fn load(conn: &mut PgConnection, chat_id: ChatId, wanted: Wanted<'_>) -> QueryResult<Decorations> {
    let rows: Vec<Part> = crate::db::prepared(
        "SELECT 1::int2 AS part, r.message_id, NULL::bigint AS seq, r.emoji AS label, u.user_id, u.username, r.reacted_at, \
                NULL::uuid AS attachment_id, NULL::bigint AS size, NULL::text AS file_kind, NULL::int4 AS thumb_width, \
                NULL::int4 AS thumb_height, NULL::int2 AS position \
           FROM message_reactions r JOIN users u ON u.user_id = r.user_id \
          WHERE r.chat_id = $1 AND r.message_id = ANY($2) \
         UNION ALL \
         SELECT 2::int2, NULL, mm.seq, NULL, u.user_id, u.username, NULL, NULL, NULL, NULL, NULL, NULL, NULL \
           FROM message_mentions mm JOIN users u ON u.user_id = mm.user_id \
          WHERE mm.chat_id = $1 AND mm.seq = ANY($3) \
         UNION ALL \
         SELECT 3::int2, NULL, NULL, NULL, u.user_id, u.username, NULL, NULL, NULL, NULL, NULL, NULL, NULL \
           FROM users u WHERE u.user_id = ANY($4) \
         UNION ALL \
         SELECT 4::int2, a.message_id, NULL, a.name, NULL, NULL, NULL, a.attachment_id, a.size, a.kind, a.thumb_width, \
                a.thumb_height, a.position \
           FROM attachments a WHERE a.chat_id = $1 AND a.message_id = ANY($5)",
    )
    .bind::<SqlUuid, _>(chat_id)
    .bind::<Array<SqlUuid>, _>(wanted.reacted)
    .bind::<Array<BigInt>, _>(wanted.mentioning)
    .bind::<Array<SqlUuid>, _>(wanted.senders)
    .bind::<Array<SqlUuid>, _>(wanted.files_of)
    .load(conn)?;
    Ok(sorted(rows))
}

/// Splits the rows by part, in the orders the separate statements had (`ORDER BY
/// reacted_at, emoji, user_id`, `ORDER BY username`, `ORDER BY message_id, position`),
/// compared as bytes: the private
/// cluster's collation (`initdb --no-locale`, C), and `Uuid`'s order as PostgreSQL's.
fn sorted(rows: Vec<Part>) -> Decorations {
    let mut out = Decorations::default();
    let mut reactions: Vec<(DateTime<Utc>, Reacted)> = Vec::new();
    let mut files: Vec<(i16, AttachmentView)> = Vec::new();
    for row in rows {
        match row {
            Part {
                part: REACTION,
                message_id: Some(m),
                label: Some(emoji),
                user_id: Some(u),
                username: Some(n),
                reacted_at: Some(at),
                ..
            } => reactions.push((at, (m, emoji, u, n))),
            Part { part: MENTION, seq: Some(seq), username: Some(n), .. } => out.mentions.push((seq, n)),
            Part { part: NAME, user_id: Some(u), username: Some(n), .. } => {
                out.names.insert(u, n);
            }
            Part {
                part: FILE,
                message_id: Some(message_id),
                label: Some(name),
                attachment_id: Some(attachment_id),
                size: Some(size),
                file_kind: Some(kind),
                thumb_width,
                thumb_height,
                position: Some(position),
                ..
            } => files.push((position, AttachmentView { attachment_id, message_id, name, size, kind, thumb_width, thumb_height })),
            _ => {}
        }
    }
    reactions.sort_by(|(a_at, a), (b_at, b)| (a_at, &a.1, a.2).cmp(&(b_at, &b.1, b.2)));
    out.reactions = reactions.into_iter().map(|(_, r)| r).collect();
    out.mentions.sort_by(|a, b| a.1.cmp(&b.1));
    files.sort_by_key(|(position, f)| (f.message_id, *position));
    out.files = files.into_iter().map(|(_, f)| f).collect();
    out
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn part(
        part: i16,
        message_id: Option<MessageId>,
        seq: Option<i64>,
        emoji: Option<&str>,
        user: UserId,
        name: &str,
        at: Option<i64>,
    ) -> Part {
        Part {
            part,
            message_id,
            seq: seq.map(|s| Seq::new(s).unwrap()),
            label: emoji.map(str::to_string),
            user_id: Some(user),
            username: Some(name.to_string()),
            reacted_at: at.map(|s| Utc.timestamp_opt(s, 0).unwrap()),
            attachment_id: None,
            size: None,
            file_kind: None,
            thumb_width: None,
            thumb_height: None,
            position: None,
        }
    }

    fn a_file(message_id: MessageId, name: &str, position: i16) -> Part {
        Part {
            part: FILE,
            message_id: Some(message_id),
            seq: None,
            label: Some(name.to_string()),
            user_id: None,
            username: None,
            reacted_at: None,
            attachment_id: Some(AttachmentId::new_v7()),
            size: Some(1),
            file_kind: Some(Kind::File),
            thumb_width: None,
            thumb_height: None,
            position: Some(position),
        }
    }

    #[test]
    fn the_parts_come_apart_in_the_orders_of_the_separate_statements() {
        let (m, a, b) = (MessageId::new_v7(), UserId::new_v7(), UserId::new_v7());
        let later = MessageId::new_v7();
        let rows = vec![
            a_file(later, "c.txt", 0),
            a_file(m, "b.txt", 1),
            a_file(m, "a.txt", 0),
            part(NAME, None, None, None, a, "alice", None),
            part(REACTION, Some(m), None, Some("👍"), b, "bob", Some(20)),
            part(MENTION, None, Some(3), None, b, "bob", None),
            part(REACTION, Some(m), None, Some("🎉"), a, "alice", Some(20)),
            part(REACTION, Some(m), None, Some("👍"), a, "alice", Some(10)),
            part(MENTION, None, Some(2), None, a, "alice", None),
        ];
        let d = sorted(rows);
        let emoji: Vec<(&str, &str)> = d.reactions.iter().map(|r| (r.1.as_str(), r.3.as_str())).collect();
        // By time, then emoji (bytes: 🎉 U+1F389 before 👍 U+1F44D).
        assert_eq!(emoji, [("👍", "alice"), ("🎉", "alice"), ("👍", "bob")]);
        assert_eq!(d.mentions, [(Seq::new(2).unwrap(), "alice".to_string()), (Seq::new(3).unwrap(), "bob".to_string())]);
        assert_eq!(d.names, HashMap::from([(a, "alice".to_string())]));
        let files: Vec<&str> = d.files.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(files, ["a.txt", "b.txt", "c.txt"]);
    }
}
