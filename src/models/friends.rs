//! The `friends` table: one row per pair, `user1 < user2`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::{friend_requests, friends};

/// The pair in the order the table stores it.
pub fn ordered(a: Uuid, b: Uuid) -> (Uuid, Uuid) {
    if a < b { (a, b) } else { (b, a) }
}

pub fn are_friends(conn: &mut PgConnection, a: Uuid, b: Uuid) -> QueryResult<bool> {
    let (user1, user2) = ordered(a, b);
    diesel::select(diesel::dsl::exists(
        friends::table.filter(friends::user1.eq(user1)).filter(friends::user2.eq(user2)),
    ))
    .get_result(conn)
}

/// A friend, as pickers show them (the new-group form, "add a member").
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct FriendName {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub user_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub username: String,
}

/// All friends of `user_id`, by username.
pub fn list_of(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<Vec<FriendName>> {
    crate::db::prepared(
        "SELECT u.user_id, u.username FROM friends f \
           JOIN users u ON u.user_id = CASE WHEN f.user1 = $1 THEN f.user2 ELSE f.user1 END \
          WHERE f.user1 = $1 OR f.user2 = $1 \
          ORDER BY u.username",
    )
    .bind::<diesel::sql_types::Uuid, _>(user_id)
    .load(conn)
}

/// Where `me` stands with `them`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Friendship {
    Friends { since: DateTime<Utc> },
    RequestSent { request_id: Uuid },
    RequestReceived { request_id: Uuid, greeting: String },
    None,
}

pub fn friendship(conn: &mut PgConnection, me: Uuid, them: Uuid) -> QueryResult<Friendship> {
    let (user1, user2) = ordered(me, them);
    let since = friends::table
        .filter(friends::user1.eq(user1))
        .filter(friends::user2.eq(user2))
        .select(friends::since)
        .first::<DateTime<Utc>>(conn)
        .optional()?;
    if let Some(since) = since {
        return Ok(Friendship::Friends { since });
    }
    let pending = friend_requests::table
        .filter(friend_requests::status.eq("pending"))
        .filter(
            friend_requests::from_user.eq(me).and(friend_requests::to_user.eq(them))
                .or(friend_requests::from_user.eq(them).and(friend_requests::to_user.eq(me))),
        )
        .select((friend_requests::request_id, friend_requests::from_user, friend_requests::greeting))
        .first::<(Uuid, Uuid, String)>(conn)
        .optional()?;
    Ok(match pending {
        Some((request_id, from, _)) if from == me => Friendship::RequestSent { request_id },
        Some((request_id, _, greeting)) => Friendship::RequestReceived { request_id, greeting },
        None => Friendship::None,
    })
}
