//! Profiles.

use actix_web::{web, HttpResponse};

use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::domain::Username;
use crate::error::AppError;
use crate::models::friends::{self, Friendship};
use crate::models::users;
use crate::views::accounts::{ProfilePage, Relation};
use crate::views::{self, Layout};

pub async fn show(user: CurrentUser, pool: web::Data<DbPool>, name: web::Path<String>) -> Result<HttpResponse, AppError> {
    let name = Username::parse(&name).map_err(|_| AppError::NotFound)?;
    views::ok(&profile(&user, &pool, name).await?)
}

/// Loads `name`'s profile as `user` sees it (friendship actions re-render it too).
pub(super) async fn profile(user: &CurrentUser, pool: &DbPool, name: Username) -> Result<ProfilePage, AppError> {
    let me = user.user_id;
    let (counts, profile, friendship) = db::run(pool, move |conn| {
        let profile = users::find_by_username(conn, &name)?.ok_or(AppError::NotFound)?;
        let friendship = if profile.user_id == me { None } else { Some(friends::friendship(conn, me, profile.user_id)?) };
        Ok::<_, AppError>((users::nav_counts(conn, me)?, profile, friendship))
    })
    .await?;
    let relation = match friendship {
        None => Relation::Myself,
        Some(Friendship::Friends { .. }) => Relation::Friends,
        Some(Friendship::RequestSent { request_id }) => Relation::RequestSent { request_id },
        Some(Friendship::RequestReceived { request_id, greeting }) => Relation::RequestReceived { request_id, greeting },
        Some(Friendship::None) => Relation::None,
    };
    let section = if relation == Relation::Myself { "profile" } else { "" };
    Ok(ProfilePage {
        layout: Layout::for_user(user, counts, profile.username.clone(), section),
        user_id: profile.user_id,
        username: profile.username,
        join_date: profile.join_date,
        relation,
        notice: None,
        refused: None,
        htmx: false,
    })
}
