//! Profiles.

use actix_web::{web, HttpResponse};

use crate::auth::CurrentUser;
use crate::db::DbPool;
use crate::domain::Username;
use crate::error::AppError;
use crate::pages::profile::profile_page;
use crate::views;

pub async fn show(user: CurrentUser, pool: web::Data<DbPool>, name: web::Path<String>) -> Result<HttpResponse, AppError> {
    let name = Username::parse(&name).map_err(|_| AppError::NotFound)?;
    Ok(views::ok(&profile_page(&user, &pool, name).await?)?)
}
