//! `/search`: messages of my chats, people and groups (SPEC §9).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::db::{DbPool, Standby};
use crate::error::AppError;
use crate::pages::search::{search_page, Asked};
use crate::views;

#[derive(Deserialize)]
pub struct Params {
    #[serde(default)]
    q: String,
    chat: Option<String>,
    before: Option<String>,
}

/// The page; for htmx (the header's search box, as one types) only its content.
pub async fn index(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    standby: web::Data<Standby>,
    req: HttpRequest,
    params: web::Query<Params>,
) -> Result<HttpResponse, AppError> {
    let Params { q, chat, before } = params.into_inner();
    // `chat=` names one of my chats; an id that is not a UUID is unknown, 404.
    let chat = chat.filter(|c| !c.is_empty()).map(|c| super::id_in_path(&c)).transpose()?;
    let htmx = views::is_htmx(&req);
    let (status, page) = search_page(&user, &pool, &standby, Asked { q, chat, before }, htmx).await?;
    let mut resp = if htmx { views::render(status, &page.as_results())? } else { views::render(status, &page)? };
    // The same URL answers with a page or a fragment: caches must keep them apart.
    resp.headers_mut().insert(header::VARY, header::HeaderValue::from_static("HX-Request"));
    Ok(resp)
}
