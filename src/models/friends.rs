//! The `friends` table: one row per pair, `user1 < user2`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use uuid::Uuid;

use super::friend_requests::Status;
use super::{users, RequestId, UserId};
use crate::db::schema::{friend_requests, friends};
use crate::domain::{Username, UsernamePrefix};

/// The pair in the order the table stores it.
pub fn ordered(a: UserId, b: UserId) -> (UserId, UserId) {
    if a < b {
        (a, b)
    } else {
        (b, a)
    }
}

pub fn are_friends(conn: &mut PgConnection, a: UserId, b: UserId) -> QueryResult<bool> {
    let (user1, user2) = ordered(a, b);
    diesel::select(diesel::dsl::exists(friends::table.filter(friends::user1.eq(user1)).filter(friends::user2.eq(user2)))).get_result(conn)
}

/// A friend, as pickers show them (the new-group form, "add a member").
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct FriendName {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub user_id: UserId,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub username: String,
}

/// All friends of `user_id`, by username.
pub fn list_of(conn: &mut PgConnection, user_id: UserId) -> QueryResult<Vec<FriendName>> {
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
    RequestSent { request_id: RequestId },
    RequestReceived { request_id: RequestId, greeting: String },
    None,
}

pub fn friendship(conn: &mut PgConnection, me: UserId, them: UserId) -> QueryResult<Friendship> {
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
        .filter(friend_requests::status.eq(Status::Pending))
        .filter(
            friend_requests::from_user
                .eq(me)
                .and(friend_requests::to_user.eq(them))
                .or(friend_requests::from_user.eq(them).and(friend_requests::to_user.eq(me))),
        )
        .select((friend_requests::request_id, friend_requests::from_user, friend_requests::greeting))
        .first::<(RequestId, UserId, String)>(conn)
        .optional()?;
    Ok(match pending {
        Some((request_id, from, _)) if from == me => Friendship::RequestSent { request_id },
        Some((request_id, _, greeting)) => Friendship::RequestReceived { request_id, greeting },
        None => Friendship::None,
    })
}

/// Records the friendship of `a` and `b` (in either order); an existing one is kept.
/// Only called while accepting the pair's pending request, in the same transaction: that
/// is what keeps pending requests and friendships apart (see `friend_requests`).
pub fn insert_pair(conn: &mut PgConnection, a: UserId, b: UserId) -> QueryResult<()> {
    let (user1, user2) = ordered(a, b);
    diesel::insert_into(friends::table)
        .values((friends::id.eq(Uuid::now_v7()), friends::user1.eq(user1), friends::user2.eq(user2)))
        .on_conflict((friends::user1, friends::user2))
        .do_nothing()
        .execute(conn)
        .map(|_| ())
}

/// What unfriending did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfriended {
    Removed,
    NotFriends,
    NoSuchUser,
}

/// Ends the friendship of `me` and `them`: its one row stands for both directions.
/// Their direct chat stays (sending is refused until they are friends again).
pub fn remove(conn: &mut PgConnection, me: UserId, them: &Username) -> QueryResult<Unfriended> {
    let Some(them) = users::find_by_username(conn, them)? else {
        return Ok(Unfriended::NoSuchUser);
    };
    let (user1, user2) = ordered(me, them.user_id);
    let deleted = diesel::delete(friends::table.filter(friends::user1.eq(user1)).filter(friends::user2.eq(user2))).execute(conn)?;
    Ok(if deleted == 1 { Unfriended::Removed } else { Unfriended::NotFriends })
}

/// A friend as listed on /friends.
#[derive(Debug, Clone, QueryableByName)]
pub struct Friend {
    #[diesel(sql_type = SqlUuid)]
    pub user_id: UserId,
    #[diesel(sql_type = Text)]
    pub username: String,
    #[diesel(sql_type = Timestamptz)]
    pub since: DateTime<Utc>,
}

/// `me`'s friends by name.
pub fn list(conn: &mut PgConnection, me: UserId) -> QueryResult<Vec<Friend>> {
    crate::db::prepared(
        "SELECT u.user_id, u.username, f.since FROM friends f \
         JOIN users u ON u.user_id = CASE WHEN f.user1 = $1 THEN f.user2 ELSE f.user1 END \
         WHERE f.user1 = $1 OR f.user2 = $1 \
         ORDER BY u.username",
    )
    .bind::<SqlUuid, _>(me)
    .load(conn)
}

/// Someone found by the user search, and where `me` stands with them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub user_id: UserId,
    pub username: String,
    pub friendship: Friendship,
}

/// The most people a search shows.
pub const SEARCH_LIMIT: i64 = 20;

/// People whose username starts with `prefix` (never `me`, never someone either of us
/// blocked: they find nobody, as for an unknown name), each with their friendship
/// state, in one query: the joins use the friends pair key and the pending-pair index.
pub fn search(conn: &mut PgConnection, me: UserId, prefix: &UsernamePrefix) -> QueryResult<Vec<Person>> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = SqlUuid)]
        user_id: UserId,
        #[diesel(sql_type = Text)]
        username: String,
        #[diesel(sql_type = Nullable<Timestamptz>)]
        since: Option<DateTime<Utc>>,
        #[diesel(sql_type = Nullable<SqlUuid>)]
        request_id: Option<RequestId>,
        #[diesel(sql_type = Nullable<SqlUuid>)]
        from_user: Option<UserId>,
        #[diesel(sql_type = Nullable<Text>)]
        greeting: Option<String>,
    }
    let rows: Vec<Row> = crate::db::prepared(
        "SELECT u.user_id, u.username, f.since, r.request_id, r.from_user, r.greeting \
         FROM users u \
         LEFT JOIN friends f ON f.user1 = LEAST(u.user_id, $1) AND f.user2 = GREATEST(u.user_id, $1) \
         LEFT JOIN friend_requests r ON r.status = 'pending' \
           AND LEAST(r.from_user, r.to_user) = LEAST(u.user_id, $1) \
           AND GREATEST(r.from_user, r.to_user) = GREATEST(u.user_id, $1) \
         WHERE u.username LIKE $2 ESCAPE '\\' AND u.user_id <> $1 \
           AND NOT blocked_between(u.user_id, $1) \
         ORDER BY u.username = $3 DESC, u.username \
         LIMIT $4",
    )
    .bind::<SqlUuid, _>(me)
    .bind::<Text, _>(like_prefix(prefix.as_str()))
    .bind::<Text, _>(prefix.as_str())
    .bind::<BigInt, _>(SEARCH_LIMIT)
    .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let friendship = match (r.since, r.request_id, r.from_user) {
                (Some(since), _, _) => Friendship::Friends { since },
                (None, Some(request_id), Some(from)) if from == me => Friendship::RequestSent { request_id },
                (None, Some(request_id), Some(_)) => Friendship::RequestReceived { request_id, greeting: r.greeting.unwrap_or_default() },
                _ => Friendship::None,
            };
            Person { user_id: r.user_id, username: r.username, friendship }
        })
        .collect())
}

/// A LIKE pattern matching strings that start with `prefix` taken literally (`\` is the
/// escape character: `%`, `_` and `\` itself are escaped).
fn like_prefix(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::{like_prefix, ordered};
    use crate::models::UserId;
    use uuid::Uuid;

    #[test]
    fn like_metacharacters_in_a_prefix_are_taken_literally() {
        assert_eq!(like_prefix("ali"), "ali%");
        assert_eq!(like_prefix("a_b"), "a\\_b%");
        assert_eq!(like_prefix("100%"), "100\\%%");
        assert_eq!(like_prefix("a\\"), "a\\\\%");
    }

    #[test]
    fn a_pair_is_stored_smaller_id_first() {
        let (a, b) = (UserId::from(Uuid::from_u128(1)), UserId::from(Uuid::from_u128(2)));
        assert_eq!(ordered(a, b), (a, b));
        assert_eq!(ordered(b, a), (a, b));
    }
}
