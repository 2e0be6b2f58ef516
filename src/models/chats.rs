//! The `chats` and `direct_chats` tables. A chat is only ever read through one of its
//! participants: `find_for_participant` and `open_for_participant` return a
//! `Membership`, the value every read of a chat's content requires, so outsiders cannot
//! tell a chat exists and no query can skip the check.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};

use super::friends::{self, ordered};
use super::participants::{self, Role};
use super::users::{self, NavCounts};
use super::{ChatId, Rev, Seq, UserId};
use crate::db::schema::{chat_participants, chats, direct_chats};
use crate::db::views::chats_as_seen;
use crate::domain::Username;

/// A chat as one of its participants sees it.
#[derive(Debug, Clone, Queryable, Selectable, QueryableByName)]
#[diesel(table_name = chats_as_seen)]
pub struct ChatForUser {
    pub chat_id: ChatId,
    pub is_group: bool,
    pub name: Option<String>,
    pub last_seq: Seq,
    pub last_read_seq: Seq,
    pub role: Role,
    /// The other person of a direct chat.
    pub other_id: Option<UserId>,
    pub other_name: Option<String>,
    /// A group, or a direct chat of two friends: a text may be sent now.
    pub can_send: bool,
    /// The chat's latest change (where a page's event stream starts).
    pub last_rev: Rev,
}

impl ChatForUser {
    /// What the viewer calls this chat: the group's name, or the other person's.
    pub fn title(&self) -> &str {
        title(self.name.as_deref(), self.other_name.as_deref())
    }
}

/// A group is called by its name; a direct chat by the other person's username.
pub fn title<'a>(name: Option<&'a str>, other_name: Option<&'a str>) -> &'a str {
    name.or(other_name).unwrap_or("chat")
}

/// Proof that `viewer` took part in the chat when it was looked up, with the chat as
/// they saw it. Made only here, by a lookup through the person; every read of a chat's
/// messages takes one.
#[derive(Debug, Clone)]
pub struct Membership {
    viewer: UserId,
    chat: ChatForUser,
}

impl Membership {
    pub fn viewer(&self) -> UserId {
        self.viewer
    }
    pub fn chat_id(&self) -> ChatId {
        self.chat.chat_id
    }
    pub fn chat(&self) -> &ChatForUser {
        &self.chat
    }
}

/// The chat as `viewer` sees it, if they take part in it: `None` for anyone else, so a
/// chat they are not in is as unknown as one that does not exist.
pub fn find_for_participant(conn: &mut PgConnection, viewer: UserId, chat_id: ChatId) -> QueryResult<Option<Membership>> {
    let chat = chats_as_seen::table
        .filter(chats_as_seen::viewer.eq(viewer))
        .filter(chats_as_seen::chat_id.eq(chat_id))
        .select(ChatForUser::as_select())
        .first(conn)
        .optional()?;
    Ok(chat.map(|chat| Membership { viewer, chat }))
}

/// Every chat `viewer` is in, as memberships (the export reads them all).
pub fn all_for_participant(conn: &mut PgConnection, viewer: UserId) -> QueryResult<Vec<Membership>> {
    let chats = chats_as_seen::table
        .filter(chats_as_seen::viewer.eq(viewer))
        .order(chats_as_seen::chat_id)
        .select(ChatForUser::as_select())
        .load(conn)?;
    Ok(chats.into_iter().map(|chat| Membership { viewer, chat }).collect())
}

/// Whether the person of `membership` still takes part, and their session `sid` still
/// exists (a primary-key probe and a probe of the person's few sessions, one statement):
/// a stream asks again after each read, since a removal or a logout may have come in
/// between.
pub fn still_participates(conn: &mut PgConnection, membership: &Membership, sid: &str) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Still {
        #[diesel(sql_type = Bool)]
        ok: bool,
    }
    let still: Still = crate::db::prepared(
        "SELECT EXISTS (SELECT 1 FROM chat_participants WHERE chat_id = $1 AND user_id = $2) \
            AND EXISTS (SELECT 1 FROM sessions WHERE user_id = $2 AND data->>'sid' = $3 AND expires_at > now()) AS ok",
    )
    .bind::<SqlUuid, _>(membership.chat_id())
    .bind::<SqlUuid, _>(membership.viewer)
    .bind::<Text, _>(sid)
    .get_result(conn)?;
    Ok(still.ok)
}

/// A chat being opened by one of its participants.
pub struct OpenedChat {
    pub membership: Membership,
    /// Until when the viewer muted the chat (in the past or `None`: not muted).
    pub muted_until: Option<DateTime<Utc>>,
    /// Opening it moved the viewer's read marker (the live inbox tells whoever shows it).
    pub read_moved: bool,
    /// Everyone the viewer blocked (their messages collapse; a direct chat says so).
    pub blocked: Vec<UserId>,
}

/// Opens the chat page: looks the chat up through `viewer`, with their mute and the
/// people they blocked, in one round trip (the page's hot path, BENCHMARKS.md), then
/// reads the chat to its end (nothing to write when it was read already). The badges
/// come with the chat list (`list_for_user`), read after this.
pub fn open_for_participant(conn: &mut PgConnection, viewer: UserId, chat_id: ChatId) -> QueryResult<Option<OpenedChat>> {
    #[derive(QueryableByName)]
    struct Head {
        #[diesel(embed)]
        chat: ChatForUser,
        #[diesel(sql_type = Nullable<Timestamptz>)]
        muted_until: Option<DateTime<Utc>>,
        #[diesel(sql_type = Array<SqlUuid>)]
        blocked: Vec<UserId>,
    }
    let head: Option<Head> = crate::db::prepared(
        "SELECT v.chat_id, v.is_group, v.name, v.last_seq, v.last_read_seq, v.role, v.other_id, v.other_name, v.can_send, \
                v.last_rev, \
                (SELECT mp.muted_until FROM chat_participants mp WHERE mp.chat_id = v.chat_id AND mp.user_id = $1) AS muted_until, \
                ARRAY(SELECT b.blocked FROM blocks b WHERE b.blocker = $1) AS blocked \
           FROM chats_as_seen v \
          WHERE v.viewer = $1 AND v.chat_id = $2",
    )
    .bind::<SqlUuid, _>(viewer)
    .bind::<SqlUuid, _>(chat_id)
    .get_result(conn)
    .optional()?;
    let Some(Head { mut chat, muted_until, blocked }) = head else { return Ok(None) };
    let read_moved = chat.last_seq.since(chat.last_read_seq) > 0;
    if read_moved {
        participants::mark_read(conn, chat_id, viewer, chat.last_seq)?;
        chat.last_read_seq = chat.last_seq;
    }
    Ok(Some(OpenedChat { membership: Membership { viewer, chat }, muted_until, read_moved, blocked }))
}

/// Why a direct chat could not be opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectRefusal {
    NoSuchUser,
    /// Only friends start a direct chat; carries the other person's username.
    NotFriends(String),
}

/// The direct chat of `me` and a friend, created with its two participants on first
/// use. Race-free: the `direct_chats` primary key admits one chat per pair; a creator
/// that loses the race rolls back and takes the winner's chat.
pub fn open_direct(conn: &mut PgConnection, me: UserId, with: &Username) -> QueryResult<Result<ChatId, DirectRefusal>> {
    let Some(friend) = users::find_by_username(conn, with)? else {
        return Ok(Err(DirectRefusal::NoSuchUser));
    };
    if !friends::are_friends(conn, me, friend.user_id)? {
        return Ok(Err(DirectRefusal::NotFriends(friend.username)));
    }
    find_or_create_direct(conn, me, friend.user_id).map(Ok)
}

fn find_or_create_direct(conn: &mut PgConnection, me: UserId, friend: UserId) -> QueryResult<ChatId> {
    let (low, high) = ordered(me, friend);
    let existing =
        |conn: &mut PgConnection| direct_chats::table.find((low, high)).select(direct_chats::chat_id).first::<ChatId>(conn).optional();
    if let Some(chat_id) = existing(conn)? {
        return Ok(chat_id);
    }
    let created = conn.transaction(|conn| {
        let chat_id = ChatId::new_v7();
        diesel::insert_into(chats::table)
            .values((chats::chat_id.eq(chat_id), chats::is_group.eq(false), chats::created_by.eq(me)))
            .execute(conn)?;
        let won = diesel::insert_into(direct_chats::table)
            .values((direct_chats::user_low.eq(low), direct_chats::user_high.eq(high), direct_chats::chat_id.eq(chat_id)))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if won == 0 {
            return Err(diesel::result::Error::RollbackTransaction);
        }
        diesel::insert_into(chat_participants::table)
            .values(vec![
                (chat_participants::chat_id.eq(chat_id), chat_participants::user_id.eq(low)),
                (chat_participants::chat_id.eq(chat_id), chat_participants::user_id.eq(high)),
            ])
            .execute(conn)?;
        Ok(chat_id)
    });
    match created {
        Err(diesel::result::Error::RollbackTransaction) => existing(conn)?.ok_or(diesel::result::Error::NotFound),
        other => other,
    }
}

/// One row of the chat list. `Hash`: the live inbox's list marker
/// (`live::inbox::list_marker`) is a hash of the rows a page rendered.
#[derive(Debug, Clone, Hash, QueryableByName)]
pub struct ChatListRow {
    #[diesel(sql_type = SqlUuid)]
    pub chat_id: ChatId,
    #[diesel(sql_type = Bool)]
    pub is_group: bool,
    #[diesel(sql_type = Nullable<Text>)]
    pub name: Option<String>,
    #[diesel(sql_type = Timestamptz)]
    pub last_activity_at: DateTime<Utc>,
    #[diesel(sql_type = BigInt)]
    pub last_seq: Seq,
    #[diesel(sql_type = BigInt)]
    pub unread: i64,
    #[diesel(sql_type = Nullable<SqlUuid>)]
    pub other_id: Option<UserId>,
    #[diesel(sql_type = Nullable<Text>)]
    pub other_name: Option<String>,
    /// The seq of the message the preview shows: below `last_seq` when the newest are
    /// from people I blocked (which then do not notify me, SPEC §10).
    #[diesel(sql_type = Nullable<BigInt>)]
    pub last_shown_seq: Option<Seq>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_text: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_kind: Option<super::messages::MessageKind>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_sender: Option<String>,
    /// The last message's first file when it has no text: (kind, name).
    #[diesel(sql_type = Nullable<Text>)]
    pub last_file_kind: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_file_name: Option<String>,
    /// Up to four members of a group, for its picture stack.
    #[diesel(sql_type = Array<SqlUuid>)]
    pub member_ids: Vec<UserId>,
    /// A message after my read marker mentions me (`models::mentions`), not one of
    /// someone I blocked: the item's "@", and a muted chat still notifies (SPEC §7).
    #[diesel(sql_type = Bool)]
    pub mentioned: bool,
    /// Muted by the viewer now: counted in no badge, its own count greyed.
    #[diesel(sql_type = Bool)]
    pub muted: bool,
    /// The other person's read marker, in a direct chat ("Seen").
    #[diesel(sql_type = Nullable<BigInt>)]
    pub other_read_seq: Option<Seq>,
    /// The chat's latest change (the inbox wakes on a rev past it: edits and deletions
    /// change the preview and the "@").
    #[diesel(sql_type = BigInt)]
    pub last_rev: Rev,
}

/// All my chats, newest activity first, and the navigation's badges, in one query. The
/// preview is the latest message not written by someone I blocked (SPEC §10). The
/// unread badge is the sum of the rows' own counts outside muted chats (what
/// `nav_counts()` adds up); the pending requests ride along as a column computed once
/// (an uncorrelated subquery). Only a person without chats costs a second statement.
pub fn list_for_user(conn: &mut PgConnection, viewer: UserId) -> QueryResult<(Vec<ChatListRow>, NavCounts)> {
    #[derive(QueryableByName)]
    struct Listed {
        #[diesel(embed)]
        item: ChatListRow,
        #[diesel(sql_type = BigInt)]
        pending_requests: i64,
    }
    let listed: Vec<Listed> = crate::db::prepared(
        "SELECT v.chat_id, v.is_group, v.name, v.last_activity_at, v.last_seq, (v.last_seq - v.last_read_seq) AS unread, \
                v.other_id, v.other_name, m.seq AS last_shown_seq, m.text AS last_text, m.kind AS last_kind, CASE WHEN m.sender IS NOT NULL THEN COALESCE(s.username, 'Deleted account') END AS last_sender, \
                f.kind AS last_file_kind, f.name AS last_file_name, \
                CASE WHEN v.is_group THEN ARRAY( \
                    SELECT gp.user_id FROM chat_participants gp WHERE gp.chat_id = v.chat_id \
                     ORDER BY gp.joined_at LIMIT 4) ELSE '{}'::uuid[] END AS member_ids, \
                EXISTS (SELECT 1 FROM message_mentions mm \
                          JOIN messages mx ON mx.chat_id = mm.chat_id AND mx.seq = mm.seq \
                         WHERE mm.user_id = $1 AND mm.chat_id = v.chat_id AND mm.seq > v.last_read_seq \
                           AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = v.viewer AND b.blocked = mx.sender)) AS mentioned, \
                v.last_rev, \
                COALESCE(mp.muted_until > now(), false) AS muted, op.last_read_seq AS other_read_seq, \
                (SELECT count(*) FROM friend_requests fr WHERE fr.to_user = $1 AND fr.status = 'pending') AS pending_requests \
           FROM chats_as_seen v \
           JOIN chat_participants mp ON mp.chat_id = v.chat_id AND mp.user_id = v.viewer \
           LEFT JOIN chat_participants op ON op.chat_id = v.chat_id AND op.user_id = v.other_id \
           LEFT JOIN LATERAL (SELECT lm.message_id, lm.seq, lm.text, lm.kind, lm.sender FROM messages lm \
                 WHERE lm.chat_id = v.chat_id AND lm.seq <= v.last_seq \
                   AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = v.viewer AND b.blocked = lm.sender) \
                 ORDER BY lm.seq DESC LIMIT 1) m ON true \
           LEFT JOIN users s ON s.user_id = m.sender \
           LEFT JOIN LATERAL (SELECT a.kind, a.name FROM attachments a \
                               WHERE m.text = '' AND a.message_id = m.message_id \
                               ORDER BY a.position LIMIT 1) f ON true \
          WHERE v.viewer = $1 \
          ORDER BY v.last_activity_at DESC, v.chat_id",
    )
    .bind::<SqlUuid, _>(viewer)
    .load(conn)?;
    let Some(pending_requests) = listed.first().map(|l| l.pending_requests) else {
        return Ok((vec![], users::nav_counts(conn, viewer)?));
    };
    let unread_messages = listed.iter().filter(|l| !l.item.muted).map(|l| l.item.unread).sum();
    Ok((listed.into_iter().map(|l| l.item).collect(), NavCounts { pending_requests, unread_messages }))
}

/// The list rows of some of my chats (the live inbox, after those chats changed): the
/// same statement as `list_for_user`, for the chats in `chat_ids` only.
pub fn list_rows(conn: &mut PgConnection, viewer: UserId, chat_ids: &[ChatId]) -> QueryResult<Vec<ChatListRow>> {
    crate::db::prepared(
        "SELECT v.chat_id, v.is_group, v.name, v.last_activity_at, v.last_seq, (v.last_seq - v.last_read_seq) AS unread, \
                v.other_id, v.other_name, m.seq AS last_shown_seq, m.text AS last_text, m.kind AS last_kind, CASE WHEN m.sender IS NOT NULL THEN COALESCE(s.username, 'Deleted account') END AS last_sender, \
                f.kind AS last_file_kind, f.name AS last_file_name, \
                CASE WHEN v.is_group THEN ARRAY( \
                    SELECT gp.user_id FROM chat_participants gp WHERE gp.chat_id = v.chat_id \
                     ORDER BY gp.joined_at LIMIT 4) ELSE '{}'::uuid[] END AS member_ids, \
                EXISTS (SELECT 1 FROM message_mentions mm \
                          JOIN messages mx ON mx.chat_id = mm.chat_id AND mx.seq = mm.seq \
                         WHERE mm.user_id = $1 AND mm.chat_id = v.chat_id AND mm.seq > v.last_read_seq \
                           AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = v.viewer AND b.blocked = mx.sender)) AS mentioned, \
                v.last_rev, \
                COALESCE(mp.muted_until > now(), false) AS muted, op.last_read_seq AS other_read_seq \
           FROM chats_as_seen v \
           JOIN chat_participants mp ON mp.chat_id = v.chat_id AND mp.user_id = v.viewer \
           LEFT JOIN chat_participants op ON op.chat_id = v.chat_id AND op.user_id = v.other_id \
           LEFT JOIN LATERAL (SELECT lm.message_id, lm.seq, lm.text, lm.kind, lm.sender FROM messages lm \
                 WHERE lm.chat_id = v.chat_id AND lm.seq <= v.last_seq \
                   AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker = v.viewer AND b.blocked = lm.sender) \
                 ORDER BY lm.seq DESC LIMIT 1) m ON true \
           LEFT JOIN users s ON s.user_id = m.sender \
           LEFT JOIN LATERAL (SELECT a.kind, a.name FROM attachments a \
                               WHERE m.text = '' AND a.message_id = m.message_id \
                               ORDER BY a.position LIMIT 1) f ON true \
          WHERE v.viewer = $1 AND v.chat_id = ANY($2) \
          ORDER BY v.last_activity_at DESC, v.chat_id",
    )
    .bind::<SqlUuid, _>(viewer)
    .bind::<Array<SqlUuid>, _>(chat_ids)
    .load(conn)
}

/// The chats' current ends, for the live sweep (no content: no membership needed).
pub fn last_seqs(conn: &mut PgConnection, chat_ids: &[ChatId]) -> QueryResult<Vec<(ChatId, Seq)>> {
    chats::table.filter(chats::chat_id.eq_any(chat_ids)).select((chats::chat_id, chats::last_seq)).load(conn)
}

/// The latest rev of every chat `viewer` is in: what a read of theirs from the standby
/// needs it to have replayed (`db::standby`).
pub fn revs_for_participant(conn: &mut PgConnection, viewer: UserId) -> QueryResult<Vec<(ChatId, Rev)>> {
    chats::table
        .inner_join(chat_participants::table)
        .filter(chat_participants::user_id.eq(viewer))
        .select((chats::chat_id, chats::last_rev))
        .load(conn)
}

/// The chats' latest revs, for the live sweep and for the standby's check that it
/// caught up (no content: no membership needed).
pub fn last_revs(conn: &mut PgConnection, chat_ids: &[ChatId]) -> QueryResult<Vec<(ChatId, Rev)>> {
    chats::table.filter(chats::chat_id.eq_any(chat_ids)).select((chats::chat_id, chats::last_rev)).load(conn)
}
