//! Sends "chat X reached rev N", "session S ended", "person P's inbox changed" and
//! "P is typing in chat X" to the other instances with one
//! `pg_notify` per batch, outside any transaction (a NOTIFY inside a message's
//! transaction would serialise the commits of all sends; see STACK.md §2). Pending
//! updates are coalesced: per chat the highest rev, each session end and each person once.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, RunQueryDsl};
use uuid::Uuid;

use super::registry::SessionEnd;
use crate::models::{ChatId, Rev, UserId};

/// What the notifier thread is asked to tell the other instances.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Update {
    Reached(ChatId, Rev),
    Ended(SessionEnd),
    /// The person's inbox changed (their streams re-read it).
    Poked(UserId),
    /// The person (named) is typing in the chat.
    Typing(ChatId, UserId, String),
}

/// One batch, coalesced.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Batch {
    pub reached: HashMap<ChatId, Rev>,
    pub ended: HashSet<SessionEnd>,
    pub poked: HashSet<UserId>,
    pub typing: HashMap<(ChatId, UserId), String>,
}

impl Batch {
    fn add(&mut self, update: Update) {
        match update {
            Update::Reached(chat, rev) => {
                let end = self.reached.entry(chat).or_insert(rev);
                *end = (*end).max(rev);
            }
            Update::Ended(end) => {
                self.ended.insert(end);
            }
            Update::Poked(user_id) => {
                self.poked.insert(user_id);
            }
            Update::Typing(chat, user_id, name) => {
                self.typing.insert((chat, user_id), name);
            }
        }
    }
}

pub const CHANNEL: &str = "chaat_live";
/// NOTIFY payloads must stay below 8000 bytes.
const MAX_PAYLOAD: usize = 7_000;

pub(super) fn spawn(url: String, instance: Uuid, updates: Receiver<Update>) {
    let spawned = std::thread::Builder::new().name("chaat-notifier".into()).spawn(move || {
        let mut conn: Option<PgConnection> = None;
        // Blocks until something happened; then takes everything queued since.
        while let Ok(first) = updates.recv() {
            let mut batch = Batch::default();
            batch.add(first);
            while let Ok(update) = updates.try_recv() {
                batch.add(update);
            }
            for payload in payloads(instance, &batch) {
                if let Err(e) = notify(&mut conn, &url, &payload) {
                    // Listeners' sweeps will catch up; try a fresh connection next time.
                    tracing::warn!(error = %e, "live notify failed");
                    conn = None;
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
    });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "could not start the live notifier");
    }
}

fn notify(conn: &mut Option<PgConnection>, url: &str, payload: &str) -> anyhow::Result<()> {
    if conn.is_none() {
        let mut fresh = PgConnection::establish(url)?;
        // A notification is a hint (a lost one is caught up by the sweep), not data: its
        // commit need not wait for a WAL flush. PostgreSQL commits notifying
        // transactions one at a time across the cluster, holding that lock through the
        // flush, so a durable NOTIFY here also delayed every other notifier: the
        // session cache's barriers and the session ends' triggers.
        diesel::sql_query("SET synchronous_commit = off").execute(&mut fresh)?;
        *conn = Some(fresh);
    }
    let Some(c) = conn.as_mut() else { return Ok(()) };
    diesel::sql_query(format!("SELECT pg_notify('{CHANNEL}', $1)")).bind::<Text, _>(payload).execute(c)?;
    Ok(())
}

/// `instance;item,item,...`, split to respect the payload limit. An item is
/// `chat:seq` ("chat reached seq"), `end:user:sid` (that session ended) or
/// `others:user:sid` (every session of that user but `sid` ended), `u:user` (that
/// person's inbox changed) or `t:chat:user:name` (that person, called name, is typing
/// there; a username never holds `,` `:` or `;`). Session ends come
/// first, in the first payloads, so a listener ends a stream before it hears of a
/// message sent after the end. An instance that knows only `chat:seq` skips the other
/// items (their first part is no chat id), so old and new instances can run together.
pub(super) fn payloads(instance: Uuid, batch: &Batch) -> Vec<String> {
    let head = format!("{instance};");
    let ends = batch.ended.iter().filter_map(|end| match end {
        SessionEnd::One { user_id, sid } if is_sid(sid) => Some(format!("end:{user_id}:{sid},")),
        SessionEnd::AllBut { user_id, keep_sid } if is_sid(keep_sid) => Some(format!("others:{user_id}:{keep_sid},")),
        _ => None,
    });
    let reached = batch.reached.iter().map(|(chat, seq)| format!("{chat}:{seq},"));
    let poked = batch.poked.iter().map(|user| format!("u:{user},"));
    let typing = batch.typing.iter().filter(|(_, name)| is_username(name)).map(|((chat, user), name)| format!("t:{chat}:{user}:{name},"));
    let mut out = vec![];
    let mut current = head.clone();
    for item in ends.chain(reached).chain(poked).chain(typing) {
        if current.len() + item.len() > MAX_PAYLOAD {
            out.push(std::mem::replace(&mut current, head.clone()));
        }
        current.push_str(&item);
    }
    if current.len() > head.len() {
        out.push(current);
    }
    out
}

/// A session's public id as `TypedSession::log_in` makes it: hex, so it never holds the
/// payload's separators.
fn is_sid(sid: &str) -> bool {
    !sid.is_empty() && sid.len() <= 64 && sid.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A username as `domain::Username` allows it: never one of the payload's separators.
fn is_username(name: &str) -> bool {
    !name.is_empty() && name.len() <= 32 && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
}

/// The inverse of `payloads` for one payload: who sent it and what it says. Unknown or
/// malformed items are skipped.
pub(super) fn parse(payload: &str) -> Option<(Uuid, Batch)> {
    let (instance, items) = payload.split_once(';')?;
    let mut batch = Batch::default();
    for item in items.split(',').filter(|s| !s.is_empty()) {
        if let Some(update) = parse_item(item) {
            batch.add(update);
        }
    }
    Some((instance.parse().ok()?, batch))
}

fn parse_item(item: &str) -> Option<Update> {
    let (first, rest) = item.split_once(':')?;
    let session = |rest: &str| -> Option<(crate::models::UserId, String)> {
        let (user, sid) = rest.split_once(':')?;
        is_sid(sid).then_some((user.parse().ok()?, sid.to_string()))
    };
    match first {
        "end" => session(rest).map(|(user_id, sid)| Update::Ended(SessionEnd::One { user_id, sid })),
        "others" => session(rest).map(|(user_id, keep_sid)| Update::Ended(SessionEnd::AllBut { user_id, keep_sid })),
        "u" => Some(Update::Poked(rest.parse().ok()?)),
        "t" => {
            let (chat, rest) = rest.split_once(':')?;
            let (user, name) = rest.split_once(':')?;
            is_username(name).then_some(())?;
            Some(Update::Typing(chat.parse().ok()?, user.parse().ok()?, name.to_string()))
        }
        chat => Some(Update::Reached(chat.parse().ok()?, Rev::new(rest.parse().ok()?)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::UserId;

    fn reached(items: impl IntoIterator<Item = (ChatId, Rev)>) -> Batch {
        Batch { reached: items.into_iter().collect(), ..Batch::default() }
    }

    #[test]
    fn a_payload_round_trips() {
        let me = Uuid::now_v7();
        let chat = ChatId::new_v7();
        let batch = reached([(chat, Rev::new(42).unwrap())]);
        let p = payloads(me, &batch);
        assert_eq!(p.len(), 1);
        assert_eq!(parse(&p[0]), Some((me, batch)));
    }

    #[test]
    fn many_chats_are_split_below_the_notify_limit() {
        let batch = reached((0..1000).map(|i| (ChatId::new_v7(), Rev::new(i).unwrap())));
        let p = payloads(Uuid::now_v7(), &batch);
        assert!(p.len() > 1 && p.iter().all(|s| s.len() < 8000));
        let total: usize = p.iter().filter_map(|s| parse(s)).map(|(_, b)| b.reached.len()).sum();
        assert_eq!(total, 1000);
    }

    #[test]
    fn session_ends_round_trip_coalesced_and_ahead_of_the_chats() {
        let (me, alice, chat) = (Uuid::now_v7(), UserId::new_v7(), ChatId::new_v7());
        let mut batch = Batch::default();
        let end = SessionEnd::One { user_id: alice, sid: "00ff".repeat(8) };
        let others = SessionEnd::AllBut { user_id: alice, keep_sid: "ab12".repeat(8) };
        for update in [
            Update::Reached(chat, Rev::new(3).unwrap()),
            Update::Ended(end.clone()),
            Update::Reached(chat, Rev::new(5).unwrap()),
            Update::Ended(end.clone()),
            Update::Ended(others.clone()),
        ] {
            batch.add(update);
        }
        assert_eq!(batch.ended.len(), 2, "each end once");
        let p = payloads(me, &batch);
        assert_eq!(p.len(), 1);
        assert!(p[0].find("end:").unwrap() < p[0].find(&chat.to_string()).unwrap(), "ends first: {}", p[0]);
        let (from, parsed) = parse(&p[0]).unwrap();
        assert_eq!(from, me);
        assert_eq!(parsed.reached, HashMap::from([(chat, Rev::new(5).unwrap())]));
        assert_eq!(parsed.ended, HashSet::from([end, others]));
    }

    #[test]
    fn many_session_ends_come_before_any_chat_across_payloads() {
        let mut batch = reached((0..300).map(|i| (ChatId::new_v7(), Rev::new(i).unwrap())));
        for _ in 0..300 {
            batch.add(Update::Ended(SessionEnd::One { user_id: UserId::new_v7(), sid: "0123456789abcdef".repeat(2) }));
        }
        let p = payloads(Uuid::now_v7(), &batch);
        let parsed: Vec<Batch> = p.iter().map(|s| parse(s).unwrap().1).collect();
        let last_with_ends = parsed.iter().rposition(|b| !b.ended.is_empty()).unwrap();
        let first_with_chats = parsed.iter().position(|b| !b.reached.is_empty()).unwrap();
        assert!(last_with_ends <= first_with_chats);
        assert_eq!(parsed.iter().map(|b| b.ended.len()).sum::<usize>(), 300);
        assert_eq!(parsed.iter().map(|b| b.reached.len()).sum::<usize>(), 300);
    }

    /// The parser of instances that know only `chat:seq` (before session ends existed).
    fn parse_v1(payload: &str) -> Option<(Uuid, Vec<(ChatId, Rev)>)> {
        let (instance, items) = payload.split_once(';')?;
        let items = items
            .split(',')
            .filter(|s| !s.is_empty())
            .filter_map(|item| {
                let (chat, seq) = item.split_once(':')?;
                Some((chat.parse().ok()?, Rev::new(seq.parse().ok()?)?))
            })
            .collect();
        Some((instance.parse().ok()?, items))
    }

    #[test]
    fn old_and_new_instances_understand_each_other() {
        let (me, chat) = (Uuid::now_v7(), ChatId::new_v7());
        let mut batch = reached([(chat, Rev::new(7).unwrap())]);
        batch.add(Update::Ended(SessionEnd::One { user_id: UserId::new_v7(), sid: "beef".into() }));
        batch.add(Update::Ended(SessionEnd::AllBut { user_id: UserId::new_v7(), keep_sid: "cafe".into() }));
        let p = payloads(me, &batch);
        assert_eq!(parse_v1(&p[0]), Some((me, vec![(chat, Rev::new(7).unwrap())])), "an old instance skips the ends");
        let old = format!("{me};{chat}:7,");
        assert_eq!(parse(&old), Some((me, reached([(chat, Rev::new(7).unwrap())]))), "a new one reads the old format");
    }

    #[test]
    fn inbox_pokes_and_typing_round_trip_and_old_instances_skip_them() {
        let (me, alice, chat) = (Uuid::now_v7(), UserId::new_v7(), ChatId::new_v7());
        let mut batch = reached([(chat, Rev::new(2).unwrap())]);
        batch.add(Update::Poked(alice));
        batch.add(Update::Poked(alice));
        batch.add(Update::Typing(chat, alice, "alice".into()));
        batch.add(Update::Typing(chat, alice, "a,b".into()));
        let p = payloads(me, &batch);
        assert_eq!(p.len(), 1);
        let (_, parsed) = parse(&p[0]).unwrap();
        assert_eq!(parsed.poked, HashSet::from([alice]));
        assert!(parsed.typing.is_empty(), "the last name given (a,b) could break the format: not sent");
        assert!(!p[0].contains("a,b"), "a name that could break the format is never sent");
        assert_eq!(parse_v1(&p[0]), Some((me, vec![(chat, Rev::new(2).unwrap())])), "an old instance skips them");
        let good = format!("{me};t:{chat}:{alice}:alice,");
        assert_eq!(parse(&good).unwrap().1.typing, HashMap::from([((chat, alice), "alice".to_string())]));
    }

    #[test]
    fn a_sid_that_could_break_the_format_is_never_sent_or_read() {
        let user = UserId::new_v7();
        let mut batch = Batch::default();
        for sid in ["", "a,b", "a:b", "x;y", "zz"] {
            batch.add(Update::Ended(SessionEnd::One { user_id: user, sid: sid.into() }));
        }
        assert!(payloads(Uuid::now_v7(), &batch).is_empty());
        let (_, parsed) = parse(&format!("{};end:{user}:zz,end:{user}:,others:nope:ab,", Uuid::now_v7())).unwrap();
        assert_eq!(parsed, Batch::default());
    }
}
