//! `/display-pictures/{user_id}`: the stored picture, or a generated avatar.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::tokens::sha256_hex;
use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::models::{display_pictures, users, UserId};
use crate::pictures;

/// Browsers keep pictures but revalidate them with the ETag on every use (a 304 without
/// a body): avatar URLs carry no version, so with a max-age a new picture would stay
/// invisible to everyone who had the old one cached (the browser test of issue 6 saw it).
const CACHE: &str = "private, no-cache";

enum Picture {
    /// The client's copy (by ETag) is current.
    Unchanged(String),
    Body {
        etag: String,
        content_type: String,
        bytes: Vec<u8>,
    },
}

pub async fn show(
    _user: CurrentUser,
    req: HttpRequest,
    pool: web::Data<DbPool>,
    user_id: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let user_id: UserId = super::id_in_path(&user_id)?;
    let cached = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let picture = db::run(&pool, move |conn| {
        let unchanged = |etag: &str| cached.as_deref() == Some(etag);
        let Some(version) = display_pictures::updated_at(conn, user_id)? else {
            let user = users::find(conn, user_id)?.ok_or(AppError::NotFound)?;
            let svg = pictures::default_avatar_svg(&user.user_id, &user.username);
            let etag = format!("\"d-{}\"", &sha256_hex(svg.as_bytes())[..16]);
            if unchanged(&etag) {
                return Ok(Picture::Unchanged(etag));
            }
            return Ok(Picture::Body { etag, content_type: "image/svg+xml".into(), bytes: svg.into_bytes() });
        };
        let etag = format!("\"p-{}\"", version.timestamp_micros());
        if unchanged(&etag) {
            return Ok(Picture::Unchanged(etag));
        }
        let stored = display_pictures::find(conn, user_id)?.ok_or(AppError::NotFound)?;
        let etag = format!("\"p-{}\"", stored.updated_at.timestamp_micros());
        Ok::<_, AppError>(Picture::Body { etag, content_type: stored.content_type, bytes: stored.bytes })
    })
    .await?;
    Ok(match picture {
        Picture::Unchanged(etag) => {
            HttpResponse::NotModified().insert_header((header::ETAG, etag)).insert_header((header::CACHE_CONTROL, CACHE)).finish()
        }
        Picture::Body { etag, content_type, bytes } => HttpResponse::Ok()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, CACHE))
            .content_type(content_type)
            .body(bytes),
    })
}
