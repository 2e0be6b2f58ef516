//! `/users/{username}`: a profile as the current person sees it.

use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::domain::Username;
use crate::error::AppError;
use crate::models::friends::{self, Friendship};
use crate::models::{blocks, users};
use crate::views::accounts::ProfilePage;
use crate::views::Layout;

pub async fn profile_page(user: &CurrentUser, pool: &DbPool, name: Username) -> Result<ProfilePage, AppError> {
    let me = user.user_id;
    let (counts, profile, friendship, blocked) = db::run(pool, move |conn| {
        let profile = users::find_by_username(conn, &name)?.ok_or(AppError::NotFound)?;
        let friendship = if profile.user_id == me { None } else { Some(friends::friendship(conn, me, profile.user_id)?) };
        let blocked = profile.user_id != me && blocks::has_blocked(conn, me, profile.user_id)?;
        Ok::<_, AppError>((users::nav_counts(conn, me)?, profile, friendship, blocked))
    })
    .await?;
    let myself = friendship.is_none();
    let section = if myself { "profile" } else { "" };
    Ok(ProfilePage {
        layout: Layout::for_user(user, counts, profile.username.clone(), section),
        user_id: profile.user_id,
        username: profile.username,
        join_date: profile.join_date,
        myself,
        friendship: friendship.unwrap_or(Friendship::None),
        notice: None,
        refused: None,
        htmx: false,
        blocked,
    })
}
