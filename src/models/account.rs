//! A person's control over their own account (SPEC §10): who may send them requests,
//! and deleting the account.

use diesel::prelude::*;
use diesel::sql_types::{Text, Uuid as SqlUuid};

use super::groups::{self, Actor, Change, Outcome};
use super::messages::DELETED_ACCOUNT;
use super::{text_column, ChatId, UserId};
use crate::db::schema::{chat_participants, chats, users};

text_column!(
    /// Who may send me friend requests.
    RequestPolicy {
        Everyone = "everyone",
        SharedGroups = "shared-groups",
        Nobody = "nobody",
    }
);

pub fn request_policy(conn: &mut PgConnection, me: UserId) -> QueryResult<RequestPolicy> {
    users::table.find(me).select(users::request_policy).first(conn)
}

pub fn set_request_policy(conn: &mut PgConnection, me: UserId, policy: RequestPolicy) -> QueryResult<()> {
    diesel::update(users::table.find(me)).set(users::request_policy.eq(policy)).execute(conn).map(|_| ())
}

/// Deletes the account in one transaction: it leaves every group (an owner's role
/// passes on as on leaving, with lines that name no one: "Deleted account left"), its
/// throttle counters (which name it) go, its username is held for 30 days (a digest
/// of it: `held_usernames`), and the user row goes with everything that is only theirs
/// by `ON DELETE CASCADE` (sessions, picture, friendships, requests, blocks, recovery
/// codes, provider links, their side of direct chats; tables added later that
/// reference `users` the same way follow). Their messages stay, sender id and all,
/// shown as "Deleted account"; chats they created stay (`created_by` becomes NULL).
/// Returns the groups' changes, to publish after commit.
pub fn delete(conn: &mut PgConnection, me: UserId, username: &str) -> QueryResult<Vec<Change>> {
    conn.transaction(|conn| {
        let groups: Vec<ChatId> = chat_participants::table
            .inner_join(chats::table)
            .filter(chat_participants::user_id.eq(me))
            .filter(chats::is_group.eq(true))
            .order(chat_participants::chat_id)
            .select(chat_participants::chat_id)
            .load(conn)?;
        let mut changes = vec![];
        for chat_id in groups {
            if let Outcome::Changed(mut change) = groups::leave(conn, chat_id, Actor { user_id: me, username: DELETED_ACCOUNT })? {
                for line in &mut change.lines {
                    line.sender_name = DELETED_ACCOUNT.to_string();
                }
                changes.push(change);
            }
        }
        crate::db::prepared(
            "DELETE FROM auth_throttle t \
              WHERE substring(t.bucket FROM '^[^:]*:[^:]*:(.*)$') IN ($1, $2::uuid::text) \
                 OR starts_with(substring(t.bucket FROM '^[^:]*:[^:]*:(.*)$'), $1 || '|')",
        )
        .bind::<Text, _>(username)
        .bind::<SqlUuid, _>(me)
        .execute(conn)?;
        crate::db::prepared(
            "INSERT INTO held_usernames (name_hash, free_after) \
             VALUES (sha256(convert_to(lower($1), 'UTF8')), now() + interval '30 days') \
             ON CONFLICT (name_hash) DO UPDATE SET free_after = EXCLUDED.free_after",
        )
        .bind::<Text, _>(username)
        .execute(conn)?;
        diesel::delete(users::table.find(me)).execute(conn)?;
        Ok(changes)
    })
}
