//! Group chats (phase 2 of the design notes): creating them and changing who is in them.
//!
//! Every change is one transaction that first locks the chat's row (`SELECT … FOR
//! UPDATE`), the lock `NewMessage::send` takes before it checks that the sender takes
//! part: a message racing a removal is therefore stored before it or refused, never
//! after it. Each change records a system line (a message of kind `system`, sent by the
//! person who acted) through `NewMessage::send`, so it takes its place in the chat's seq
//! order; the caller publishes the returned lines after commit and ends the streams of
//! whoever lost access.

use diesel::prelude::*;

use super::friends::{self, FriendName};
use super::messages::{MessageKind, MessageView, NewMessage, SendOutcome};
use super::participants::Role;
use super::{users as users_model, ChatId, Seq, UserId};
use crate::db::schema::{chat_participants, chats, users};
use crate::domain::{GroupName, Username};

/// The person acting, named in the system lines.
#[derive(Debug, Clone, Copy)]
pub struct Actor<'a> {
    pub user_id: UserId,
    pub username: &'a str,
}

/// What a change stored, for the live machinery after commit.
#[derive(Debug)]
pub struct Change {
    pub chat_id: ChatId,
    /// The system lines, in seq order.
    pub lines: Vec<MessageView>,
    /// Who lost access (removed, left), with a seq to announce: their streams end.
    pub revoked: Option<(UserId, Seq)>,
}

#[derive(Debug)]
pub enum Outcome {
    Changed(Change),
    /// Nothing to do: already a member, or the same name.
    Unchanged,
    Refused(Refusal),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such chat, or the actor is not in it (the same answer, on purpose).
    NotFound,
    /// A direct chat takes no members, renames or leaves.
    DirectChat,
    /// Only the owner removes people.
    NotOwner,
    /// Only friends of the actor can be added.
    NotAFriend,
    /// The person to remove is not in the group.
    NotAMember,
}

#[derive(Debug)]
pub enum Created {
    Group(Change),
    /// These names (as given) are not friends of the creator.
    NotFriends(Vec<String>),
}

/// Creates a group: the creator its owner, `members` (friends of the creator; the
/// creator's own name is ignored) its members, and a first line "alice created the group".
pub fn create(conn: &mut PgConnection, creator: Actor, name: &GroupName, members: &[String]) -> QueryResult<Created> {
    conn.transaction(|conn| {
        let friends = friends::list_of(conn, creator.user_id)?;
        let (chosen, not_friends) = sort_out(&friends, creator.username, members);
        if !not_friends.is_empty() {
            return Ok(Created::NotFriends(not_friends));
        }
        let chat_id = ChatId::new_v7();
        diesel::insert_into(chats::table)
            .values((
                chats::chat_id.eq(chat_id),
                chats::is_group.eq(true),
                chats::name.eq(name.as_str()),
                chats::created_by.eq(creator.user_id),
            ))
            .execute(conn)?;
        let people = std::iter::once((creator.user_id, Role::Owner)).chain(chosen.into_iter().map(|id| (id, Role::Member)));
        let rows: Vec<_> = people
            .map(|(id, role)| (chat_participants::chat_id.eq(chat_id), chat_participants::user_id.eq(id), chat_participants::role.eq(role)))
            .collect();
        diesel::insert_into(chat_participants::table).values(rows).execute(conn)?;
        let line = record(conn, chat_id, creator, &format!("{} created the group", creator.username))?;
        Ok(Created::Group(Change { chat_id, lines: vec![line], revoked: None }))
    })
}

/// Splits the wanted names into friends (ids, each once) and the others (as given); the
/// creator's own name is dropped.
fn sort_out(friends: &[FriendName], creator: &str, wanted: &[String]) -> (Vec<UserId>, Vec<String>) {
    let (mut chosen, mut others) = (vec![], vec![]);
    for name in wanted {
        let parsed = Username::parse(name).ok();
        if parsed.as_ref().is_some_and(|u| u.as_str() == creator) {
            continue;
        }
        match parsed.and_then(|u| friends.iter().find(|f| f.username == u.as_str())) {
            Some(f) if !chosen.contains(&f.user_id) => chosen.push(f.user_id),
            Some(_) => {}
            None if !others.contains(name) => others.push(name.clone()),
            None => {}
        }
    }
    (chosen, others)
}

/// Adds a friend of the actor. The newcomer sees the group's whole history, but starts
/// with it read: only what comes from their arrival on counts as unread. Two people
/// adding the same friend at once give one participant row and one line: the insert
/// does nothing on the primary key.
pub fn add(conn: &mut PgConnection, chat_id: ChatId, actor: Actor, username: &Username) -> QueryResult<Outcome> {
    conn.transaction(|conn| {
        let locked = match lock(conn, chat_id, actor)? {
            Ok(locked) => locked,
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        };
        let Some(friend) = users_model::find_by_username(conn, username)? else {
            return Ok(Outcome::Refused(Refusal::NotAFriend));
        };
        if friend.user_id == actor.user_id {
            return Ok(Outcome::Unchanged);
        }
        // The pair's lock, as a block takes it: an add racing a block of the two is
        // decided after it (no friendship any more) or before it.
        super::blocks::lock_pair(conn, actor.user_id, friend.user_id)?;
        if !friends::are_friends(conn, actor.user_id, friend.user_id)? {
            return Ok(Outcome::Refused(Refusal::NotAFriend));
        }
        // They start with everything before their arrival read: only news is unread.
        let inserted = diesel::insert_into(chat_participants::table)
            .values((
                chat_participants::chat_id.eq(chat_id),
                chat_participants::user_id.eq(friend.user_id),
                chat_participants::role.eq(Role::Member),
                chat_participants::last_read_seq.eq(locked.last_seq),
            ))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if inserted == 0 {
            return Ok(Outcome::Unchanged);
        }
        let line = record(conn, chat_id, actor, &format!("{} added {}", actor.username, friend.username))?;
        Ok(Outcome::Changed(Change { chat_id, lines: vec![line], revoked: None }))
    })
}

/// The owner removes someone; removing yourself is leaving.
pub fn remove(conn: &mut PgConnection, chat_id: ChatId, actor: Actor, username: &Username) -> QueryResult<Outcome> {
    conn.transaction(|conn| {
        let locked = match lock(conn, chat_id, actor)? {
            Ok(locked) => locked,
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        };
        if username.as_str() == actor.username {
            return leave_locked(conn, chat_id, actor, &locked);
        }
        if !locked.is_owner {
            return Ok(Outcome::Refused(Refusal::NotOwner));
        }
        let target = chat_participants::table
            .inner_join(users::table)
            .filter(chat_participants::chat_id.eq(chat_id))
            .filter(users::username.eq(username.as_str()))
            .select(users::user_id)
            .first::<UserId>(conn)
            .optional()?;
        let Some(target) = target else {
            return Ok(Outcome::Refused(Refusal::NotAMember));
        };
        let line = record(conn, chat_id, actor, &format!("{} removed {}", actor.username, username))?;
        diesel::delete(chat_participants::table.find((chat_id, target))).execute(conn)?;
        let seq = line.seq;
        Ok(Outcome::Changed(Change { chat_id, lines: vec![line], revoked: Some((target, seq)) }))
    })
}

pub fn leave(conn: &mut PgConnection, chat_id: ChatId, actor: Actor) -> QueryResult<Outcome> {
    conn.transaction(|conn| match lock(conn, chat_id, actor)? {
        Ok(locked) => leave_locked(conn, chat_id, actor, &locked),
        Err(refusal) => Ok(Outcome::Refused(refusal)),
    })
}

/// The owner's role passes to the longest-standing member (earliest `joined_at`, then
/// `user_id`); the last one out deletes the group, history and all, for everyone.
fn leave_locked(conn: &mut PgConnection, chat_id: ChatId, actor: Actor, locked: &Locked) -> QueryResult<Outcome> {
    let heir = chat_participants::table
        .inner_join(users::table)
        .filter(chat_participants::chat_id.eq(chat_id))
        .filter(chat_participants::user_id.ne(actor.user_id))
        .order((chat_participants::joined_at.asc(), chat_participants::user_id.asc()))
        .select((users::user_id, users::username))
        .first::<(UserId, String)>(conn)
        .optional()?;
    let Some((heir, heir_name)) = heir else {
        diesel::delete(chats::table.find(chat_id)).execute(conn)?;
        // No line is left to announce; a seq past the end makes streams elsewhere re-check.
        return Ok(Outcome::Changed(Change { chat_id, lines: vec![], revoked: Some((actor.user_id, locked.last_seq.next())) }));
    };
    let mut lines = vec![record(conn, chat_id, actor, &format!("{} left", actor.username))?];
    if locked.is_owner {
        diesel::update(chat_participants::table.find((chat_id, heir))).set(chat_participants::role.eq(Role::Owner)).execute(conn)?;
        lines.push(record(conn, chat_id, actor, &format!("{heir_name} is now the owner"))?);
    }
    // Last: the lines above are sent by the actor, who must still take part.
    diesel::delete(chat_participants::table.find((chat_id, actor.user_id))).execute(conn)?;
    let seq = lines.last().map_or(locked.last_seq, |l| l.seq);
    Ok(Outcome::Changed(Change { chat_id, lines, revoked: Some((actor.user_id, seq)) }))
}

/// Any member renames the group.
pub fn rename(conn: &mut PgConnection, chat_id: ChatId, actor: Actor, name: &GroupName) -> QueryResult<Outcome> {
    conn.transaction(|conn| {
        let locked = match lock(conn, chat_id, actor)? {
            Ok(locked) => locked,
            Err(refusal) => return Ok(Outcome::Refused(refusal)),
        };
        if locked.name.as_deref() == Some(name.as_str()) {
            return Ok(Outcome::Unchanged);
        }
        diesel::update(chats::table.find(chat_id)).set(chats::name.eq(name.as_str())).execute(conn)?;
        let line = record(conn, chat_id, actor, &format!("{} renamed the group to {}", actor.username, name.as_str()))?;
        Ok(Outcome::Changed(Change { chat_id, lines: vec![line], revoked: None }))
    })
}

/// A group of `user_id` with this name (the demo's "already there" check).
pub fn find_named(conn: &mut PgConnection, user_id: UserId, name: &str) -> QueryResult<Option<ChatId>> {
    chats::table
        .inner_join(chat_participants::table)
        .filter(chat_participants::user_id.eq(user_id))
        .filter(chats::is_group.eq(true))
        .filter(chats::name.eq(name))
        .select(chats::chat_id)
        .first(conn)
        .optional()
}

/// The locked chat, as the actor sees it.
struct Locked {
    last_seq: Seq,
    name: Option<String>,
    is_owner: bool,
}

/// Locks the chat row (as every send does), then checks that the actor is in a group.
fn lock(conn: &mut PgConnection, chat_id: ChatId, actor: Actor) -> QueryResult<Result<Locked, Refusal>> {
    let chat = chats::table
        .find(chat_id)
        .select((chats::is_group, chats::last_seq, chats::name))
        .for_update()
        .first::<(bool, Seq, Option<String>)>(conn)
        .optional()?;
    let role = chat_participants::table.find((chat_id, actor.user_id)).select(chat_participants::role).first::<Role>(conn).optional()?;
    Ok(match (chat, role) {
        (Some((true, last_seq, name)), Some(role)) => Ok(Locked { last_seq, name, is_owner: role == Role::Owner }),
        (Some((false, ..)), Some(_)) => Err(Refusal::DirectChat),
        _ => Err(Refusal::NotFound),
    })
}

/// Stores a system line through the one message path (seq, last activity, read marker).
fn record(conn: &mut PgConnection, chat_id: ChatId, actor: Actor, text: &str) -> QueryResult<MessageView> {
    match (NewMessage { chat_id, sender: actor.user_id, text, client_id: None, kind: MessageKind::System }).send(conn)? {
        SendOutcome::Sent(line) => Ok(line),
        // The actor takes part and we hold the chat's lock: this cannot happen.
        other => Err(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::Unknown,
            Box::new(format!("system line refused: {other:?}")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_names_are_sorted_into_friends_and_others_once_each() {
        let bob = FriendName { user_id: UserId::new_v7(), username: "bob".into() };
        let wanted = ["Bob", "bob", "alice", "dave", "dave", "not a name"].map(String::from);
        let (chosen, others) = sort_out(std::slice::from_ref(&bob), "alice", &wanted);
        assert_eq!(chosen, vec![bob.user_id]);
        assert_eq!(others, vec!["dave".to_string(), "not a name".to_string()]);
    }
}
