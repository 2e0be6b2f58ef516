//! A person's control over their own account (SPEC §10): who may send them requests,
//! and deleting the account.

use std::collections::BTreeSet;

use diesel::prelude::*;
use diesel::sql_types::{Text, Uuid as SqlUuid};

use super::groups::{self, Actor, Change, Outcome};
use super::messages::DELETED_ACCOUNT;
use super::{text_column, ChatId, MessageId, Rev, Seq, UserId};
use crate::db::schema::{chat_participants, chats, message_reactions, messages, users};

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

/// What a deletion changed in chats, to publish after its commit.
#[derive(Debug, Default)]
pub struct Deleted {
    /// The groups it left.
    pub left: Vec<Change>,
    /// Chats with messages that lost the account's reactions, each with its new last
    /// rev: their open pages load the changed messages.
    pub unreacted: Vec<(ChatId, Rev)>,
}

/// Deletes the account in one transaction: its reactions go, each message that had one
/// taking its chat's next rev as a toggle would (so open pages stop showing them), and
/// it leaves every group (an owner's role
/// passes on as on leaving, with lines that name no one: "Deleted account left"), its
/// throttle counters (which name it) go, its username is held for 30 days (a digest
/// of it: `held_usernames`), and the user row goes with everything that is only theirs
/// by `ON DELETE CASCADE` (sessions, picture, friendships, requests, blocks, recovery
/// codes, provider links, their side of direct chats; tables added later that
/// reference `users` the same way follow). Their messages stay, sender id and all,
/// shown as "Deleted account"; chats they created stay (`created_by` becomes NULL).
/// Chats are locked in `chat_id` order (each chat's row, as a send or a toggle locks it,
/// before its reactions go or it is left), so two deletions cannot deadlock.
pub fn delete(conn: &mut PgConnection, me: UserId, username: &str) -> QueryResult<Deleted> {
    conn.transaction(|conn| {
        let groups: Vec<ChatId> = chat_participants::table
            .inner_join(chats::table)
            .filter(chat_participants::user_id.eq(me))
            .filter(chats::is_group.eq(true))
            .order(chat_participants::chat_id)
            .select(chat_participants::chat_id)
            .load(conn)?;
        // Every message I reacted to (in chats I may have left since), by chat and seq.
        let reacted: Vec<(ChatId, Seq, MessageId)> = message_reactions::table
            .inner_join(
                messages::table
                    .on(messages::message_id.eq(message_reactions::message_id).and(messages::chat_id.eq(message_reactions::chat_id))),
            )
            .filter(message_reactions::user_id.eq(me))
            .select((messages::chat_id, messages::seq, messages::message_id))
            .distinct()
            .order((messages::chat_id, messages::seq))
            .load(conn)?;
        let every: BTreeSet<ChatId> = groups.iter().copied().chain(reacted.iter().map(|r| r.0)).collect();
        let mut done = Deleted::default();
        for chat_id in every {
            let mine: Vec<MessageId> = reacted.iter().filter(|r| r.0 == chat_id).map(|r| r.2).collect();
            if !mine.is_empty() {
                done.unreacted.push((chat_id, unreact(conn, me, chat_id, &mine)?));
            }
            if !groups.contains(&chat_id) {
                continue;
            }
            if let Outcome::Changed(mut change) = groups::leave(conn, chat_id, Actor { user_id: me, username: DELETED_ACCOUNT })? {
                for line in &mut change.lines {
                    line.sender_name = DELETED_ACCOUNT.to_string();
                }
                done.left.push(change);
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
        Ok(done)
    })
}

/// Takes `me`'s reactions off `reacted` (messages of `chat_id`, in seq order) under the
/// chat row's lock, giving each message the chat's next rev; returns the last.
fn unreact(conn: &mut PgConnection, me: UserId, chat_id: ChatId, reacted: &[MessageId]) -> QueryResult<Rev> {
    let mut rev: Rev = chats::table.find(chat_id).select(chats::last_rev).for_update().first(conn)?;
    diesel::delete(
        message_reactions::table
            .filter(message_reactions::user_id.eq(me))
            .filter(message_reactions::chat_id.eq(chat_id))
            .filter(message_reactions::message_id.eq_any(reacted)),
    )
    .execute(conn)?;
    for message_id in reacted {
        rev = diesel::update(chats::table.find(chat_id))
            .set(chats::last_rev.eq(chats::last_rev + 1))
            .returning(chats::last_rev)
            .get_result(conn)?;
        diesel::update(messages::table.find((message_id, chat_id))).set(messages::rev.eq(rev)).execute(conn)?;
    }
    Ok(rev)
}
