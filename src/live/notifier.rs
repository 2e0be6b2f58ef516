//! Sends "chat X reached seq N" to the other instances with one `pg_notify` per batch,
//! outside any message transaction (a NOTIFY inside it would serialise the commits of
//! all sends; see STACK.md §2). Pending updates are coalesced per chat.

use std::collections::HashMap;
use std::sync::mpsc::Receiver;
use std::time::Duration;

use diesel::sql_types::Text;
use diesel::{Connection, PgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::models::{ChatId, Seq};

pub const CHANNEL: &str = "chaat_live";
/// NOTIFY payloads must stay below 8000 bytes.
const MAX_PAYLOAD: usize = 7_000;

pub(super) fn spawn(url: String, instance: Uuid, updates: Receiver<(ChatId, Seq)>) {
    let spawned = std::thread::Builder::new().name("chaat-notifier".into()).spawn(move || {
        let mut conn: Option<PgConnection> = None;
        // Blocks until something happened; then takes everything queued since.
        while let Ok(first) = updates.recv() {
            let mut reached: HashMap<ChatId, Seq> = HashMap::from([first]);
            while let Ok((chat, seq)) = updates.try_recv() {
                let end = reached.entry(chat).or_insert(seq);
                *end = (*end).max(seq);
            }
            for payload in payloads(instance, &reached) {
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
        *conn = Some(PgConnection::establish(url)?);
    }
    let Some(c) = conn.as_mut() else { return Ok(()) };
    diesel::sql_query(format!("SELECT pg_notify('{CHANNEL}', $1)")).bind::<Text, _>(payload).execute(c)?;
    Ok(())
}

/// `instance;chat:seq,chat:seq,...`, split to respect the payload limit.
pub(super) fn payloads(instance: Uuid, reached: &HashMap<ChatId, Seq>) -> Vec<String> {
    let head = format!("{instance};");
    let mut out = vec![];
    let mut current = head.clone();
    for (chat, seq) in reached {
        let item = format!("{chat}:{seq},");
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

/// The inverse of `payloads` for one payload: who sent it and what it says.
pub(super) fn parse(payload: &str) -> Option<(Uuid, Vec<(ChatId, Seq)>)> {
    let (instance, items) = payload.split_once(';')?;
    let items = items
        .split(',')
        .filter(|s| !s.is_empty())
        .filter_map(|item| {
            let (chat, seq) = item.split_once(':')?;
            Some((chat.parse().ok()?, Seq::new(seq.parse().ok()?)?))
        })
        .collect();
    Some((instance.parse().ok()?, items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payload_round_trips() {
        let me = Uuid::now_v7();
        let chat = ChatId::new_v7();
        let p = payloads(me, &HashMap::from([(chat, Seq::new(42).unwrap())]));
        assert_eq!(p.len(), 1);
        assert_eq!(parse(&p[0]), Some((me, vec![(chat, Seq::new(42).unwrap())])));
    }

    #[test]
    fn many_chats_are_split_below_the_notify_limit() {
        let reached: HashMap<ChatId, Seq> = (0..1000).map(|i| (ChatId::new_v7(), Seq::new(i).unwrap())).collect();
        let p = payloads(Uuid::now_v7(), &reached);
        assert!(p.len() > 1 && p.iter().all(|s| s.len() < 8000));
        let total: usize = p.iter().filter_map(|s| parse(s)).map(|(_, items)| items.len()).sum();
        assert_eq!(total, 1000);
    }
}
