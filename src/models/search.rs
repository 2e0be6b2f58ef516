//! Message search (SPEC §9) over the expression index of migration 000008:
//! `search_document(text)` (folded words, and pairs of characters of scripts written
//! without spaces), GIN; the statements keep texts only (`m.kind = 'text'`).
//!
//! **Scope.** A search reads many chats at once, so it cannot take one `Membership`:
//! every statement here joins `chats_as_seen` on the viewer, the view whose row is what
//! a `Membership` is made from, so only chats the viewer is in *now* are read (someone
//! who left or was removed no longer finds anything there). Narrowing to one chat
//! (`chat=`) takes that chat's `Membership`.
//!
//! FIXME(issue 14): deleted messages must not be found: add the deletion filter (e.g.
//! `AND m.deleted_at IS NULL`) next to `m.kind = 'text'` in both statements of
//! `messages` (not to the index: a partial index has no statistics for the planner).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};

use super::chats::Membership;
use super::{ChatId, MessageId, Seq, UserId};

/// Results per page.
pub const PAGE_SIZE: i64 = 20;

/// Where the next page starts: just older than this message. Results are newest first
/// by `message_id`, a UUIDv7 minted when the send was handled: its send time to the
/// millisecond, unique, and already indexed (the primary key), so the newest matches of
/// a common word are read by walking that index backwards instead of collecting every
/// match and sorting them (see `messages`). In a URL the cursor is opaque: the id's 32
/// hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub message_id: MessageId,
}

impl Cursor {
    pub fn encode(&self) -> String {
        self.message_id.as_uuid().simple().to_string()
    }

    /// `None` for anything `encode` did not make (the search then starts at the newest).
    pub fn decode(s: &str) -> Option<Cursor> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let id = uuid::Uuid::parse_str(s).ok()?;
        Some(Cursor { message_id: MessageId::from(id) })
    }
}

/// What to look for: a text-search query, messages of some people, or both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// `to_tsquery('simple', …)` text (built by `SearchQuery::tsquery`), and when not
    /// empty, the senders one of whom must have written it.
    Text { tsquery: String, from: Vec<UserId> },
    /// Only `from:`: everything these people wrote.
    From(Vec<UserId>),
}

/// A message found, with its chat as the viewer sees it.
#[derive(Debug, Clone, QueryableByName)]
pub struct Hit {
    #[diesel(sql_type = SqlUuid)]
    pub message_id: MessageId,
    #[diesel(sql_type = SqlUuid)]
    pub chat_id: ChatId,
    #[diesel(sql_type = BigInt)]
    pub seq: Seq,
    #[diesel(sql_type = Timestamptz)]
    pub sent_time: DateTime<Utc>,
    #[diesel(sql_type = SqlUuid)]
    pub sender: UserId,
    #[diesel(sql_type = Text)]
    pub sender_name: String,
    #[diesel(sql_type = Text)]
    pub text: String,
    #[diesel(sql_type = Bool)]
    pub is_group: bool,
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub other_name: Option<String>,
}

impl Hit {
    pub fn cursor(&self) -> Cursor {
        Cursor { message_id: self.message_id }
    }

    pub fn chat_title(&self) -> &str {
        super::chats::title(self.name.as_deref(), self.other_name.as_deref())
    }
}

/// `search_fold` of each text, in order: the fold the index uses.
pub fn fold(conn: &mut PgConnection, texts: &[String]) -> QueryResult<Vec<String>> {
    #[derive(QueryableByName)]
    struct Folded {
        #[diesel(sql_type = Text)]
        folded: String,
    }
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Folded> = crate::db::prepared(
        "SELECT search_fold(t.text) AS folded \
           FROM unnest($1::text[]) WITH ORDINALITY AS t(text, n) \
          ORDER BY t.n",
    )
    .bind::<Array<Text>, _>(texts)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| r.folded).collect())
}

/// Up to `limit` texts of chats `viewer` is in now (or of `within` only), newest first,
/// older than `before`.
///
/// Planned afresh for each query (`plan_cache_mode`, for this transaction only): the
/// best plan depends on how common the words are, which the planner reads from the
/// index expression's statistics only when it sees the query. A rare word is found
/// through the GIN index (`messages_search_idx`) and its few matches sorted; a word in
/// a large share of the messages by walking the primary key backwards (newest first),
/// testing each text, until the page is full. A cached generic plan would use one of
/// the two for every word. And without parallel workers: with a LIMIT, workers walking
/// the key each run ahead of the page (measured at 1,000,000 messages: 72,000 texts
/// tested for 21 results, 1.6 s, instead of about 3,000).
pub fn messages(
    conn: &mut PgConnection,
    viewer: UserId,
    within: Option<&Membership>,
    wanted: &Wanted,
    before: Option<Cursor>,
    limit: i64,
) -> QueryResult<Vec<Hit>> {
    let chat = within.map(Membership::chat_id);
    let before = before.map(|c| c.message_id);
    conn.transaction(|conn| {
        crate::db::prepared(
            "SELECT set_config('plan_cache_mode', 'force_custom_plan', true), \
                    set_config('max_parallel_workers_per_gather', '0', true)",
        )
        .execute(conn)?;
        match wanted {
            Wanted::Text { tsquery, from } => crate::db::prepared(
                "SELECT m.message_id, m.chat_id, m.seq, m.sent_time, m.sender, COALESCE(s.username, 'Deleted account') AS sender_name, m.text, \
                        v.is_group, v.name, v.other_name \
                   FROM messages m \
                   JOIN chats_as_seen v ON v.chat_id = m.chat_id AND v.viewer = $1 \
                   LEFT JOIN users s ON s.user_id = m.sender \
                  WHERE m.kind = 'text' \
                    AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = v.viewer AND b.blocked = m.sender) \
                    AND search_document(m.text) @@ to_tsquery('simple', $2) \
                    AND ($3::uuid IS NULL OR m.chat_id = $3) \
                    AND (cardinality($4::uuid[]) = 0 OR m.sender = ANY ($4::uuid[])) \
                    AND ($5::uuid IS NULL OR m.message_id < $5) \
                  ORDER BY m.message_id DESC \
                  LIMIT $6",
            )
            .bind::<SqlUuid, _>(viewer)
            .bind::<Text, _>(tsquery.as_str())
            .bind::<Nullable<SqlUuid>, _>(chat)
            .bind::<Array<SqlUuid>, _>(from.as_slice())
            .bind::<Nullable<SqlUuid>, _>(before)
            .bind::<BigInt, _>(limit)
            .load(conn),
            // Only senders: their messages, newest first.
            Wanted::From(from) => crate::db::prepared(
                "SELECT m.message_id, m.chat_id, m.seq, m.sent_time, m.sender, COALESCE(s.username, 'Deleted account') AS sender_name, m.text, \
                        v.is_group, v.name, v.other_name \
                   FROM messages m \
                   JOIN chats_as_seen v ON v.chat_id = m.chat_id AND v.viewer = $1 \
                   LEFT JOIN users s ON s.user_id = m.sender \
                  WHERE m.kind = 'text' \
                    AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = v.viewer AND b.blocked = m.sender) \
                    AND m.sender = ANY ($2::uuid[]) \
                    AND ($3::uuid IS NULL OR m.chat_id = $3) \
                    AND ($4::uuid IS NULL OR m.message_id < $4) \
                  ORDER BY m.message_id DESC \
                  LIMIT $5",
            )
            .bind::<SqlUuid, _>(viewer)
            .bind::<Array<SqlUuid>, _>(from.as_slice())
            .bind::<Nullable<SqlUuid>, _>(chat)
            .bind::<Nullable<SqlUuid>, _>(before)
            .bind::<BigInt, _>(limit)
            .load(conn),
        }
    })
}

/// One of my groups whose name matched.
#[derive(Debug, Clone, QueryableByName)]
pub struct GroupHit {
    #[diesel(sql_type = SqlUuid)]
    pub chat_id: ChatId,
    #[diesel(sql_type = Text)]
    pub name: String,
}

/// My groups whose name contains `text`, folded like messages (case and accents
/// aside), at most 20, by name. A person's chats are few: no index needed.
pub fn groups_named(conn: &mut PgConnection, viewer: UserId, text: &str) -> QueryResult<Vec<GroupHit>> {
    crate::db::prepared(
        "SELECT v.chat_id, v.name \
           FROM chats_as_seen v \
          WHERE v.viewer = $1 AND v.is_group AND v.name IS NOT NULL \
            AND strpos(search_fold(v.name), search_fold($2)) > 0 \
          ORDER BY v.name, v.chat_id \
          LIMIT 20",
    )
    .bind::<SqlUuid, _>(viewer)
    .bind::<Text, _>(text)
    .load(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_url_and_anything_else_is_none() {
        let c = Cursor { message_id: MessageId::new_v7() };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        let hyphenated = c.message_id.to_string();
        for bad in ["", "x", &"g".repeat(32), &c.encode()[1..], &format!("{}0", c.encode()), &hyphenated, "é".repeat(16).as_str()] {
            assert_eq!(Cursor::decode(bad), None, "{bad:?}");
        }
    }
}
