//! `/friends`: the user search, pending requests both ways, and my friends.

use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::domain::UsernamePrefix;
use crate::error::AppError;
use crate::models::{friend_requests, friends, users};
use crate::views::friends::FriendsPage;
use crate::views::Layout;

/// What the friends page shows besides the search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parts {
    /// The whole page.
    All,
    /// Only the search results (the htmx search field): no lists, no badges.
    SearchOnly,
}

pub async fn friends_page(user: &CurrentUser, pool: &DbPool, q: String, parts: Parts) -> Result<FriendsPage, AppError> {
    let me = user.user_id;
    let q = q.trim().to_string();
    let prefix = UsernamePrefix::parse(&q);
    let (counts, results, lists) = db::run(pool, move |conn| {
        let results = prefix.map(|p| friends::search(conn, me, &p)).transpose()?;
        if parts == Parts::SearchOnly {
            return Ok::<_, AppError>((users::NavCounts::default(), results, None));
        }
        let lists = (friend_requests::incoming(conn, me)?, friend_requests::outgoing(conn, me)?, friends::list(conn, me)?);
        Ok((users::nav_counts(conn, me)?, results, Some(lists)))
    })
    .await?;
    let (incoming, outgoing, friends) = lists.unwrap_or_default();
    Ok(FriendsPage {
        layout: Layout::for_user(user, counts, "Friends", "friends"),
        q,
        results,
        incoming,
        outgoing,
        friends,
        notice: None,
        refused: None,
        htmx: false,
    })
}
