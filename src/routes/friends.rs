//! `/friends`: friends, pending requests both ways, the user search; unfriending.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::domain::Username;
use crate::error::AppError;
use crate::models::friends::{self, Unfriended};
use crate::pages::friends::{friends_page, Parts};
use crate::pages::friendship::{answer, ReturnTo};
use crate::views;

#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

/// The page; for htmx (the search field) only the search results.
pub async fn index(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    req: HttpRequest,
    search: web::Query<Search>,
) -> Result<HttpResponse, AppError> {
    let htmx = views::is_htmx(&req);
    let page = friends_page(&user, &pool, search.into_inner().q, if htmx { Parts::SearchOnly } else { Parts::All }).await?;
    let mut resp = if htmx { views::ok(&page.as_search_results())? } else { views::ok(&page)? };
    // The same URL answers with a page or a fragment: caches must keep them apart.
    resp.headers_mut().insert(header::VARY, header::HeaderValue::from_static("HX-Request"));
    Ok(resp)
}

/// Unfriends `{username}`: 404 for no such user, 409 when not friends.
pub async fn remove(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    req: HttpRequest,
    name: web::Path<String>,
    form: web::Form<ReturnTo>,
) -> Result<HttpResponse, AppError> {
    let origin = form.origin();
    let name = Username::parse(&name).map_err(|_| AppError::NotFound)?;
    let (me, them) = (user.user_id, name.clone());
    let result = match db::run(&pool, move |conn| friends::remove(conn, me, &them).map_err(AppError::from)).await? {
        Unfriended::Removed => Ok(format!("{name} is no longer your friend.")),
        Unfriended::NotFriends => Err(AppError::Conflict(format!("You are not friends with {name}."))),
        Unfriended::NoSuchUser => Err(AppError::NotFound),
    };
    Ok(answer(&user, &pool, views::is_htmx(&req), &origin, result).await?.into_response()?)
}
