//! What a page of one chat's messages shows beside their rows, read in one statement:
//! the reactions, the members each message mentions, and the senders' usernames.
//!
//! Why one statement (issue 19, `plans`, BENCHMARKS.md): PostgreSQL's CPU per chat
//! page is mostly a fixed cost per statement (a round trip, a transaction, the
//! executor's start-up and tear-down), not rows. Reactions and mentions were two
//! statements, and the page's rows joined `users` once per message for the sender's
//! name (50 index probes for the two or three people who write in a chat). Here the
//! three are one `UNION ALL` (raw SQL: the builder cannot combine differently shaped
//! rows), and the names are looked up once per distinct sender. Each part keeps the
//! index its own statement used; the orders the views want are made in Rust (below),
//! so PostgreSQL runs no sort.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Nullable, SmallInt, Text, Timestamptz, Uuid as SqlUuid};

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
}

/// Which part of the statement a row comes from.
const REACTION: i16 = 1;
const MENTION: i16 = 2;
const NAME: i16 = 3;

#[derive(QueryableByName)]
struct Part {
    #[diesel(sql_type = SmallInt)]
    part: i16,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    message_id: Option<MessageId>,
    #[diesel(sql_type = Nullable<BigInt>)]
    seq: Option<Seq>,
    #[diesel(sql_type = Nullable<Text>)]
    emoji: Option<String>,
    #[diesel(sql_type = SqlUuid)]
    user_id: UserId,
    #[diesel(sql_type = Text)]
    username: String,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    reacted_at: Option<DateTime<Utc>>,
}

/// The reactions to `ids`, the mentions of `seqs` (both of chat `chat_id`: the keys of
/// reactions and mentions name their chat) and the usernames of `senders`.
pub fn load(conn: &mut PgConnection, chat_id: ChatId, ids: &[MessageId], seqs: &[Seq], senders: &[UserId]) -> QueryResult<Decorations> {
    let rows: Vec<Part> = crate::db::prepared(
        "SELECT 1::int2 AS part, r.message_id, NULL::bigint AS seq, r.emoji, u.user_id, u.username, r.reacted_at \
           FROM message_reactions r JOIN users u ON u.user_id = r.user_id \
          WHERE r.chat_id = $1 AND r.message_id = ANY($2) \
         UNION ALL \
         SELECT 2::int2, NULL, mm.seq, NULL, u.user_id, u.username, NULL \
           FROM message_mentions mm JOIN users u ON u.user_id = mm.user_id \
          WHERE mm.chat_id = $1 AND mm.seq = ANY($3) \
         UNION ALL \
         SELECT 3::int2, NULL, NULL, NULL, u.user_id, u.username, NULL \
           FROM users u WHERE u.user_id = ANY($4)",
    )
    .bind::<SqlUuid, _>(chat_id)
    .bind::<Array<SqlUuid>, _>(ids)
    .bind::<Array<BigInt>, _>(seqs)
    .bind::<Array<SqlUuid>, _>(senders)
    .load(conn)?;
    Ok(sorted(rows))
}

/// Splits the rows by part, in the orders the separate statements had (`ORDER BY
/// reacted_at, emoji, user_id` and `ORDER BY username`), compared as bytes: the private
/// cluster's collation (`initdb --no-locale`, C), and `Uuid`'s order as PostgreSQL's.
fn sorted(rows: Vec<Part>) -> Decorations {
    let mut out = Decorations::default();
    let mut reactions: Vec<(DateTime<Utc>, Reacted)> = Vec::new();
    for row in rows {
        match (row.part, row.message_id, row.seq, row.emoji, row.reacted_at) {
            (REACTION, Some(message_id), _, Some(emoji), Some(at)) => reactions.push((at, (message_id, emoji, row.user_id, row.username))),
            (MENTION, _, Some(seq), _, _) => out.mentions.push((seq, row.username)),
            (NAME, ..) => {
                out.names.insert(row.user_id, row.username);
            }
            _ => {}
        }
    }
    reactions.sort_by(|(a_at, a), (b_at, b)| (a_at, &a.1, a.2).cmp(&(b_at, &b.1, b.2)));
    out.reactions = reactions.into_iter().map(|(_, r)| r).collect();
    out.mentions.sort_by(|a, b| a.1.cmp(&b.1));
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
            emoji: emoji.map(str::to_string),
            user_id: user,
            username: name.to_string(),
            reacted_at: at.map(|s| Utc.timestamp_opt(s, 0).unwrap()),
        }
    }

    #[test]
    fn the_parts_come_apart_in_the_orders_of_the_separate_statements() {
        let (m, a, b) = (MessageId::new_v7(), UserId::new_v7(), UserId::new_v7());
        let rows = vec![
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
    }
}
