//! Preparing a scenario through the UI: people sign up, become friends and open their
//! direct chat, and (for pages) fill it with history.

use std::sync::Arc;

use anyhow::{bail, Context};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use uuid::Uuid;

use crate::person::Person;
use crate::Target;

/// Two friends and their direct chat; `a` sends, `b` listens.
pub struct Pair {
    pub a: Arc<Person>,
    pub b: Arc<Person>,
    pub chat: Uuid,
}

/// Signs up `2 * n` people, makes each pair friends and opens their chats.
pub async fn pairs(target: &Target, n: usize) -> anyhow::Result<Vec<Pair>> {
    let names: Vec<String> = (0..2 * n).map(|i| format!("ld{}-{i}", target.run_id)).collect();
    let people: Vec<Arc<Person>> = stream::iter(names)
        .map(|name| async move { Person::sign_up(target, name).await.map(Arc::new) })
        .buffered(target.signup_concurrency.max(1))
        .try_collect()
        .await?;
    let pairs = stream::iter(people.chunks(2).map(|c| (c[0].clone(), c[1].clone())).collect::<Vec<_>>())
        .map(|(a, b)| async move {
            befriend(&a, &b).await?;
            let chat = a.open_direct(&b.username).await?;
            a.page(&format!("/chats/{chat}")).await?;
            b.page(&format!("/chats/{chat}")).await?;
            Ok::<_, anyhow::Error>(Pair { a, b, chat })
        })
        .buffer_unordered(16)
        .try_collect()
        .await?;
    Ok(pairs)
}

/// `a` sends `b` a friend request and `b` accepts it from the /friends page.
pub async fn befriend(a: &Person, b: &Person) -> anyhow::Result<()> {
    let resp = a.post_form("/friend-requests", &[("to", &b.username), ("greeting", "hello from the load test")]).await?;
    match resp.status() {
        s if s.is_success() || s.is_redirection() => {}
        s => bail!("friend request {} -> {} answered {s}", a.username, b.username),
    }
    let friends = b.page("/friends").await?;
    let id = accept_link(&friends).context("no request to accept on /friends")?;
    let resp = b.post_form(&format!("/friend-requests/{id}/accept"), &[]).await?;
    if !(resp.status().is_success() || resp.status().is_redirection()) {
        bail!("accepting the request of {} answered {}", a.username, resp.status());
    }
    Ok(())
}

/// The request id of the first `/friend-requests/<uuid>/accept` in a page.
pub fn accept_link(html: &str) -> Option<Uuid> {
    html.match_indices("/friend-requests/").find_map(|(i, m)| {
        let rest = &html[i + m.len()..];
        let (id, tail) = rest.split_at_checked(36)?;
        tail.starts_with("/accept").then(|| id.parse().ok()).flatten()
    })
}

/// Fills a chat with `n` messages, taking turns (for the pages scenario).
pub async fn fill(pair: &Pair, n: usize) -> anyhow::Result<()> {
    for i in 0..n {
        let who = if i % 2 == 0 { &pair.a } else { &pair.b };
        who.send(pair.chat, &format!("history message {i}: the quick brown fox jumps over the lazy dog")).await?;
    }
    Ok(())
}
