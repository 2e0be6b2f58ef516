//! Preparing a scenario through the UI: people sign up, become friends and open their
//! direct chat, and (for pages) fill it with history.

use std::sync::Arc;

use anyhow::{bail, Context};
use futures_util::stream::{self, StreamExt, TryStreamExt};
use reqwest::StatusCode;
use uuid::Uuid;

use super::person::Person;
use super::Target;

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
            befriend(target, &a, &b).await?;
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

/// `a` sends `b` a friend request and `b` accepts it from the /friends page. Without
/// those routes (404) the friendship is inserted through `Target::befriend_sql`.
pub async fn befriend(target: &Target, a: &Person, b: &Person) -> anyhow::Result<()> {
    let resp = a.post_form("/friend-requests", &[("to", &b.username), ("greeting", "hello from the load test")]).await?;
    match resp.status() {
        StatusCode::NOT_FOUND => return befriend_sql(target, &a.username, &b.username).await,
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

async fn befriend_sql(target: &Target, a: &str, b: &str) -> anyhow::Result<()> {
    use diesel::sql_types::{Text, Uuid as SqlUuid};
    use diesel::{Connection, PgConnection, RunQueryDsl};
    let Some(url) = target.befriend_sql.clone() else {
        bail!("the app has no friend-request routes yet: pass --befriend-sql (uses DATABASE_URL)");
    };
    let (a, b) = (a.to_string(), b.to_string());
    tokio::task::spawn_blocking(move || {
        let mut conn = PgConnection::establish(&url)?;
        diesel::sql_query(
            "INSERT INTO friends (id, user1, user2) \
             SELECT $1, LEAST(x.user_id, y.user_id), GREATEST(x.user_id, y.user_id) \
               FROM users x, users y WHERE x.username = $2 AND y.username = $3 \
             ON CONFLICT DO NOTHING",
        )
        .bind::<SqlUuid, _>(Uuid::now_v7())
        .bind::<Text, _>(a)
        .bind::<Text, _>(b)
        .execute(&mut conn)?;
        Ok::<_, anyhow::Error>(())
    })
    .await?
}

/// Fills a chat with `n` messages, taking turns (for the pages scenario).
pub async fn fill(pair: &Pair, n: usize) -> anyhow::Result<()> {
    for i in 0..n {
        let who = if i % 2 == 0 { &pair.a } else { &pair.b };
        who.send(pair.chat, &format!("history message {i}: the quick brown fox jumps over the lazy dog")).await?;
    }
    Ok(())
}
