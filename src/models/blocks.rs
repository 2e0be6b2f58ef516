//! The `blocks` table (SPEC §10): one row per direction, `blocker` → `blocked`.
//!
//! A block is one transaction that takes the pair's lock (`lock_pair`, migration 000022:
//! the lock a new request takes in its own statement), then their direct chat's row
//! (the lock `send_message` takes), and only then writes: a request or a direct message
//! racing the block is stored before it (and ended by it) or refused, never after.
//! The database refuses what a block forbids in its own write paths: the request insert
//! (trigger `friend_requests_guard`), a friendship (`friends_guard`) and a direct
//! message (`send_message`); a group add needs a friendship, which the block ended.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::Uuid as SqlUuid;

use super::friend_requests::Status;
use super::{friends, UserId};
use crate::db::schema::{blocks, chats, direct_chats, friend_requests, users};

/// Takes the lock every decision between `a` and `b` takes first (until commit).
pub fn lock_pair(conn: &mut PgConnection, a: UserId, b: UserId) -> QueryResult<()> {
    crate::db::prepared("SELECT lock_pair($1, $2)").bind::<SqlUuid, _>(a).bind::<SqlUuid, _>(b).execute(conn).map(|_| ())
}

/// `me` blocks `them`: ends our friendship and every pending request between us.
/// Blocking twice changes nothing more.
pub fn block(conn: &mut PgConnection, me: UserId, them: UserId) -> QueryResult<()> {
    conn.transaction(|conn| {
        lock_pair(conn, me, them)?;
        let (low, high) = friends::ordered(me, them);
        // The direct chat's row, as a send locks it: a send holding it commits first.
        let direct = direct_chats::table.find((low, high)).select(direct_chats::chat_id).first::<uuid::Uuid>(conn).optional()?;
        if let Some(chat_id) = direct {
            chats::table.find(chat_id).select(chats::chat_id).for_update().first::<uuid::Uuid>(conn)?;
        }
        diesel::insert_into(blocks::table)
            .values((blocks::blocker.eq(me), blocks::blocked.eq(them)))
            .on_conflict_do_nothing()
            .execute(conn)?;
        // Mine to them are withdrawn, theirs to me rejected (they see "answered").
        for (from, to, status) in [(me, them, Status::Withdrawn), (them, me, Status::Rejected)] {
            diesel::update(
                friend_requests::table
                    .filter(friend_requests::from_user.eq(from))
                    .filter(friend_requests::to_user.eq(to))
                    .filter(friend_requests::status.eq(Status::Pending)),
            )
            .set((friend_requests::status.eq(status), friend_requests::responded_at.eq(diesel::dsl::now)))
            .execute(conn)?;
        }
        diesel::delete(
            crate::db::schema::friends::table
                .filter(crate::db::schema::friends::user1.eq(low))
                .filter(crate::db::schema::friends::user2.eq(high)),
        )
        .execute(conn)?;
        Ok(())
    })
}

/// `me` unblocks `them`: search and requests work again; the friendship is not restored.
pub fn unblock(conn: &mut PgConnection, me: UserId, them: UserId) -> QueryResult<bool> {
    diesel::delete(blocks::table.find((me, them))).execute(conn).map(|n| n == 1)
}

/// Whether `me` blocked `them`.
pub fn has_blocked(conn: &mut PgConnection, me: UserId, them: UserId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(blocks::table.find((me, them)))).get_result(conn)
}

/// Whether either of the two blocked the other.
pub fn between(conn: &mut PgConnection, a: UserId, b: UserId) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        blocks::table.filter(blocks::blocker.eq(a).and(blocks::blocked.eq(b)).or(blocks::blocker.eq(b).and(blocks::blocked.eq(a)))),
    ))
    .get_result(conn)
}

/// Someone `me` blocked, as Settings lists them.
#[derive(Debug, Clone, Queryable)]
pub struct Blocked {
    pub user_id: UserId,
    pub username: String,
    pub since: DateTime<Utc>,
}

/// Everyone `me` blocked, by name.
pub fn list(conn: &mut PgConnection, me: UserId) -> QueryResult<Vec<Blocked>> {
    blocks::table
        .inner_join(users::table.on(users::user_id.eq(blocks::blocked)))
        .filter(blocks::blocker.eq(me))
        .order(users::username)
        .select((users::user_id, users::username, blocks::since))
        .load(conn)
}

/// The ids of everyone `me` blocked (their messages are collapsed for me).
/// (Notifications skip them through the chat list's `last_shown_seq`.)
pub fn ids(conn: &mut PgConnection, me: UserId) -> QueryResult<Vec<UserId>> {
    blocks::table.filter(blocks::blocker.eq(me)).select(blocks::blocked).load(conn)
}
