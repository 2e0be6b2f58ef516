//! The `friend_requests` table: a request is `pending` until it is answered once, by the
//! receiver (`accepted`, `rejected`) or the sender (`withdrawn`).
//!
//! Every rule that two people clicking at the same moment could break is decided by the
//! database, never by a check followed by a write:
//! - `friend_requests_one_pending_per_pair` (a partial unique index over the unordered
//!   pair) lets at most one request per pair be pending. `send` inserts against it with
//!   `ON CONFLICT ... DO UPDATE`: one atomic statement that inserts a new request, or
//!   accepts the other person's pending one, or finds my own pending one.
//! - Answers are conditional updates (`... AND status = 'pending'`): of two concurrent
//!   accepts, the second finds nothing pending and changes nothing.
//! - `friends_pair_key` keeps one friendship row per pair, whoever inserts it.
//! - No pending request between friends: a friendship is only ever created by accepting
//!   the pair's pending request, so a concurrent `send` for that pair waits on that row in
//!   the unique index until the accept commits; `send` checks for a friendship only after
//!   its insert (a statement with a fresh snapshot) and rolls back if there is one.
//! - Blocks and the receiver's request policy (SPEC §10) are checked by the insert
//!   itself (trigger `friend_requests_guard`, migration 000022), after the pair's lock
//!   that a block takes too: a request racing a block is refused or ended by it.

use super::{friends, text_column, users, violates, RequestId, UserId};
use crate::db::schema::{friend_requests, users as users_table};
use crate::domain::{Greeting, Username};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Text, Uuid as SqlUuid};

text_column!(
    /// Where a request stands.
    Status {
        Pending = "pending",
        Accepted = "accepted",
        Rejected = "rejected",
        Withdrawn = "withdrawn",
    }
);

/// What sending a request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// A new pending request.
    Requested { request_id: RequestId },
    /// They had already asked me: their request was accepted instead, we are friends now.
    AcceptedTheirs { request_id: RequestId },
}

/// Why a request was not sent; the text is shown next to the form (422).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendRefusal {
    #[error("There is no one with that username.")]
    NoSuchUser,
    #[error("You can’t send a friend request to yourself.")]
    Yourself,
    #[error("You are already friends.")]
    AlreadyFriends,
    #[error("You already sent a friend request. It is waiting for an answer.")]
    AlreadyRequested,
    /// Their policy (`users.request_policy`) refuses me.
    #[error("This person is not accepting requests.")]
    NotAccepting,
}

/// Ends `send`'s transaction: a refusal found after a write must roll it back.
enum Abort {
    Refused(SendRefusal),
    Db(diesel::result::Error),
}

impl From<diesel::result::Error> for Abort {
    fn from(e: diesel::result::Error) -> Self {
        Abort::Db(e)
    }
}

#[derive(QueryableByName)]
struct Upserted {
    #[diesel(sql_type = SqlUuid)]
    request_id: RequestId,
    #[diesel(sql_type = SqlUuid)]
    from_user: UserId,
}

/// Sends `from`'s request to `to`, or accepts `to`'s pending request to `from`.
pub fn send(conn: &mut PgConnection, from: UserId, to: &Username, greeting: &Greeting) -> QueryResult<Result<Sent, SendRefusal>> {
    let result = conn.transaction(|conn| {
        let them = users::find_by_username(conn, to)?.ok_or(Abort::Refused(SendRefusal::NoSuchUser))?.user_id;
        if them == from {
            return Err(Abort::Refused(SendRefusal::Yourself));
        }
        // Inserts, or (their request is pending) accepts theirs, or (mine is) returns nothing.
        let row = crate::db::prepared(
            "INSERT INTO friend_requests AS r (request_id, from_user, to_user, greeting) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (LEAST(from_user, to_user), GREATEST(from_user, to_user)) WHERE status = 'pending' \
             DO UPDATE SET status = 'accepted', responded_at = now() WHERE r.from_user = EXCLUDED.to_user \
             RETURNING r.request_id, r.from_user",
        )
        .bind::<SqlUuid, _>(RequestId::new_v7())
        .bind::<SqlUuid, _>(from)
        .bind::<SqlUuid, _>(them)
        .bind::<Text, _>(greeting.as_str())
        .get_result::<Upserted>(conn)
        .optional()
        .map_err(|e| match e {
            // The statement's own guard (trigger `friend_requests_guard`, 000022): across
            // a block the answer is an unknown name's; against their policy, its refusal.
            e if violates(&e, "friend_requests_blocked") => Abort::Refused(SendRefusal::NoSuchUser),
            e if violates(&e, "friend_requests_policy") => Abort::Refused(SendRefusal::NotAccepting),
            e => Abort::Db(e),
        })?;
        match row {
            None => Err(Abort::Refused(SendRefusal::AlreadyRequested)),
            Some(theirs) if theirs.from_user == them => {
                friends::insert_pair(conn, from, them)?;
                Ok(Sent::AcceptedTheirs { request_id: theirs.request_id })
            }
            // Checked after the insert, never before: see the module comment.
            Some(_) if friends::are_friends(conn, from, them)? => Err(Abort::Refused(SendRefusal::AlreadyFriends)),
            Some(mine) => Ok(Sent::Requested { request_id: mine.request_id }),
        }
    });
    match result {
        Ok(sent) => Ok(Ok(sent)),
        Err(Abort::Refused(refusal)) => Ok(Err(refusal)),
        Err(Abort::Db(e)) => Err(e),
    }
}

/// Who answers: the receiver accepts or rejects, the sender withdraws.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Receiver,
    Sender,
}

/// An answered request: who the other person is.
#[derive(Debug, Clone, PartialEq, Eq, QueryableByName)]
pub struct Answered {
    #[diesel(sql_type = SqlUuid)]
    pub from_user: UserId,
    #[diesel(sql_type = SqlUuid)]
    pub to_user: UserId,
    /// The other person's username.
    #[diesel(sql_type = Text)]
    pub other: String,
}

/// Why a request could not be answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotAnswerable {
    /// No such request, or not one this user may answer this way (404: reveals nothing).
    NotFound,
    /// It was already answered (409).
    NotPending { side: Side, status: Status },
}

impl std::error::Error for NotAnswerable {}

impl std::fmt::Display for NotAnswerable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match *self {
            NotAnswerable::NotFound => "There is no such friend request.",
            NotAnswerable::NotPending { side, status } => not_pending_message(side, status),
        })
    }
}

fn not_pending_message(side: Side, status: Status) -> &'static str {
    match (side, status) {
        (Side::Receiver, Status::Accepted) => "You already accepted this friend request.",
        (Side::Receiver, Status::Rejected) => "You already rejected this friend request.",
        (Side::Receiver, Status::Withdrawn) => "This friend request was withdrawn.",
        (Side::Sender, Status::Accepted) => "This friend request was already accepted.",
        // The sender is not told in so many words that they were turned down.
        (Side::Sender, Status::Rejected) => "This friend request was already answered.",
        (Side::Sender, Status::Withdrawn) => "You already withdrew this friend request.",
        (_, Status::Pending) => "This friend request is still pending.",
    }
}

/// The receiver accepts: the request and the new friendship commit together.
pub fn accept(conn: &mut PgConnection, request_id: RequestId, me: UserId) -> QueryResult<Result<Answered, NotAnswerable>> {
    conn.transaction(|conn| {
        let answered = close(conn, request_id, me, Side::Receiver, Status::Accepted)?;
        if let Ok(a) = &answered {
            friends::insert_pair(conn, a.from_user, a.to_user)?;
        }
        Ok(answered)
    })
}

pub fn reject(conn: &mut PgConnection, request_id: RequestId, me: UserId) -> QueryResult<Result<Answered, NotAnswerable>> {
    close(conn, request_id, me, Side::Receiver, Status::Rejected)
}

pub fn withdraw(conn: &mut PgConnection, request_id: RequestId, me: UserId) -> QueryResult<Result<Answered, NotAnswerable>> {
    close(conn, request_id, me, Side::Sender, Status::Withdrawn)
}

/// One conditional update: only `me`'s side of a pending request changes. When nothing
/// changed, a second look says why (the update alone decided; this only explains).
fn close(
    conn: &mut PgConnection,
    request_id: RequestId,
    me: UserId,
    side: Side,
    to: Status,
) -> QueryResult<Result<Answered, NotAnswerable>> {
    let answered = crate::db::prepared(
        "UPDATE friend_requests r SET status = $4, responded_at = now() \
          WHERE r.request_id = $1 AND r.status = 'pending' \
            AND CASE WHEN $3 THEN r.to_user = $2 ELSE r.from_user = $2 END \
         RETURNING r.from_user, r.to_user, (SELECT u.username FROM users u \
           WHERE u.user_id = CASE WHEN r.from_user = $2 THEN r.to_user ELSE r.from_user END) AS other",
    )
    .bind::<SqlUuid, _>(request_id)
    .bind::<SqlUuid, _>(me)
    .bind::<diesel::sql_types::Bool, _>(side == Side::Receiver)
    .bind::<Text, _>(to)
    .get_result::<Answered>(conn)
    .optional()?;
    if let Some(answered) = answered {
        return Ok(Ok(answered));
    }
    let request = friend_requests::table.find(request_id).select(friend_requests::status).into_boxed();
    let mine = match side {
        Side::Receiver => request.filter(friend_requests::to_user.eq(me)),
        Side::Sender => request.filter(friend_requests::from_user.eq(me)),
    };
    let current = mine.first::<Status>(conn).optional()?;
    Ok(Err(match current {
        Some(status) => NotAnswerable::NotPending { side, status },
        None => NotAnswerable::NotFound,
    }))
}

/// The columns of a `PendingRequest` (the other person is the joined `users` row).
macro_rules! pending_columns {
    () => {
        (friend_requests::request_id, users_table::user_id, users_table::username, friend_requests::greeting, friend_requests::sent_date)
    };
}

/// A pending request as listed on /friends, with the other person.
#[derive(Debug, Clone, Queryable)]
pub struct PendingRequest {
    pub request_id: RequestId,
    pub user_id: UserId,
    pub username: String,
    pub greeting: String,
    pub sent_date: DateTime<Utc>,
}

/// Pending requests to `me`, newest first, with their senders.
pub fn incoming(conn: &mut PgConnection, me: UserId) -> QueryResult<Vec<PendingRequest>> {
    friend_requests::table
        .inner_join(users_table::table.on(users_table::user_id.eq(friend_requests::from_user)))
        .filter(friend_requests::to_user.eq(me))
        .filter(friend_requests::status.eq(Status::Pending))
        .order((friend_requests::sent_date.desc(), friend_requests::request_id.desc()))
        .select(pending_columns!())
        .load(conn)
}

/// Pending requests from `me`, newest first, with their receivers.
pub fn outgoing(conn: &mut PgConnection, me: UserId) -> QueryResult<Vec<PendingRequest>> {
    friend_requests::table
        .inner_join(users_table::table.on(users_table::user_id.eq(friend_requests::to_user)))
        .filter(friend_requests::from_user.eq(me))
        .filter(friend_requests::status.eq(Status::Pending))
        .order((friend_requests::sent_date.desc(), friend_requests::request_id.desc()))
        .select(pending_columns!())
        .load(conn)
}
