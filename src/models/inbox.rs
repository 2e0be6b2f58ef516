//! What the live inbox reads (SPEC §6): a person's notification settings, mutes, the
//! per-person digests of the live sweep, and friend requests as the inbox shows them.
//! The chat list's rows themselves come from `chats::list_for_user` / `list_rows`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Text, Uuid as SqlUuid};

use super::chats::Membership;
use super::friend_requests::Status;
use super::{ChatId, RequestId, UserId};
use crate::db::schema::{chat_participants, friend_requests, users};

/// Browser notifications: opt-in, and whether they show the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Queryable)]
pub struct NotifyPrefs {
    pub notify: bool,
    pub previews: bool,
}

impl Default for NotifyPrefs {
    /// As a new account has them (the columns' defaults).
    fn default() -> Self {
        NotifyPrefs { notify: false, previews: true }
    }
}

pub fn prefs(conn: &mut PgConnection, user_id: UserId) -> QueryResult<NotifyPrefs> {
    users::table.find(user_id).select((users::notify, users::notify_previews)).first(conn)
}

pub fn set_prefs(conn: &mut PgConnection, user_id: UserId, prefs: NotifyPrefs) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set((users::notify.eq(prefs.notify), users::notify_previews.eq(prefs.previews)))
        .execute(conn)
        .map(|_| ())
}

/// Mutes the chat for its viewer until `until` (`None`: unmutes).
pub fn mute(conn: &mut PgConnection, membership: &Membership, until: Option<DateTime<Utc>>) -> QueryResult<()> {
    diesel::update(chat_participants::table.find((membership.chat_id(), membership.viewer())))
        .set(chat_participants::muted_until.eq(until))
        .execute(conn)
        .map(|_| ())
}

/// Until when the viewer muted the chat (`None`, or a time in the past: not muted).
pub fn muted_until(conn: &mut PgConnection, membership: &Membership) -> QueryResult<Option<DateTime<Utc>>> {
    chat_participants::table.find((membership.chat_id(), membership.viewer())).select(chat_participants::muted_until).first(conn)
}

/// The inbox fingerprint of each of `people` (the `inbox_digests` function, migration
/// 000031), and whom each blocked (SPEC §10: a block changes their list's previews and
/// how their open group streams render a blocked person's messages; the block's poke
/// may be lost like any notification): the live sweep wakes the streams of whoever's
/// changed.
pub fn digests(conn: &mut PgConnection, people: &[UserId]) -> QueryResult<Vec<(UserId, String)>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = SqlUuid)]
        user_id: UserId,
        #[diesel(sql_type = Text)]
        digest: String,
    }
    let rows: Vec<Row> = crate::db::prepared(
        "SELECT d.user_id, d.digest || COALESCE((SELECT '|' || string_agg(b.blocked::text, ',' ORDER BY b.blocked) \
                                                       FROM blocks b WHERE b.blocker = d.user_id), '') AS digest \
               FROM inbox_digests($1) d",
    )
    .bind::<Array<SqlUuid>, _>(people)
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.user_id, r.digest)).collect())
}

/// Who takes part in a chat: only to tell their live inboxes that it changed (their
/// streams then read it through each person), never shown.
pub fn participant_ids(conn: &mut PgConnection, chat_id: ChatId) -> QueryResult<Vec<UserId>> {
    chat_participants::table.filter(chat_participants::chat_id.eq(chat_id)).select(chat_participants::user_id).load(conn)
}

/// The sender and the receiver of a request.
pub fn parties(conn: &mut PgConnection, request_id: RequestId) -> QueryResult<Option<(UserId, UserId)>> {
    friend_requests::table.find(request_id).select((friend_requests::from_user, friend_requests::to_user)).first(conn).optional()
}

/// My requests among `ids` that were answered (accepted or rejected; a withdrawn one
/// was mine to withdraw), with the other person's name.
pub fn answers_to(conn: &mut PgConnection, me: UserId, ids: &[RequestId]) -> QueryResult<Vec<Answer>> {
    friend_requests::table
        .inner_join(users::table.on(users::user_id.eq(friend_requests::to_user)))
        .filter(friend_requests::from_user.eq(me))
        .filter(friend_requests::request_id.eq_any(ids))
        .filter(friend_requests::status.eq_any([Status::Accepted, Status::Rejected]))
        .select((friend_requests::request_id, users::username, friend_requests::status))
        .load(conn)
}

/// An answer to one of my requests.
#[derive(Debug, Clone, Queryable)]
pub struct Answer {
    pub request_id: RequestId,
    /// Who answered.
    pub username: String,
    pub status: Status,
}
