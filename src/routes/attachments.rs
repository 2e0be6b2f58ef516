//! `/attachments/{id}` and its `/thumbnail`: a file of a chat, to its participants only
//! (404 for anyone else, a former member included, and once its message is deleted).
//! Nothing is ever served in a way a browser would render as a page of our origin:
//! other files only as `application/octet-stream` downloads, images as the image type
//! they were re-encoded to, all with `nosniff` and `Content-Security-Policy: sandbox`.
//! The file is read chunk by chunk as the response is written.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use diesel::PgConnection;
use futures_util::stream;

use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::domain::FileName;
use crate::error::AppError;
use crate::models::attachments::{self, Attachment, Kind};
use crate::models::chats::{self, Membership};
use crate::models::ids::AttachmentId;
use crate::models::UserId;

/// Private: a file is only for the chat's participants. Its bytes never change, so a
/// browser may keep it; the ETag answers a revalidation with 304.
const CACHE: &str = "private, max-age=86400";

/// The membership behind attachment `id` for `me` (404 for anyone not in its chat), on
/// the caller's connection: each request reads it with the file in one blocking hop.
fn membership_for(conn: &mut PgConnection, me: UserId, id: AttachmentId) -> Result<Membership, AppError> {
    let chat_id = attachments::chat_of(conn, id)?.ok_or(AppError::NotFound)?;
    chats::find_for_participant(conn, me, chat_id)?.ok_or(AppError::NotFound)
}

fn etag(sha256: &str, suffix: &str) -> String {
    format!("\"{}{suffix}\"", &sha256[..32.min(sha256.len())])
}

fn unchanged(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
}

/// The headers every answer of a file has.
fn headers(mut res: HttpResponseBuilder, etag: &str) -> HttpResponseBuilder {
    res.insert_header((header::ETAG, etag.to_string()))
        .insert_header((header::CACHE_CONTROL, CACHE))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox"));
    res
}

pub async fn show(req: HttpRequest, user: CurrentUser, pool: web::Data<DbPool>, path: web::Path<String>) -> Result<HttpResponse, AppError> {
    let id: AttachmentId = super::id_in_path(&path)?;
    let me = user.user_id;
    let (membership, file): (Membership, Attachment) = db::run(&pool, move |conn| {
        let membership = membership_for(conn, me, id)?;
        let file = attachments::find(conn, &membership, id)?.ok_or(AppError::NotFound)?;
        Ok::<_, AppError>((membership, file))
    })
    .await?;
    let tag = etag(&file.sha256, "");
    if unchanged(&req, &tag) {
        return Ok(headers(HttpResponse::NotModified(), &tag).finish());
    }
    let mut res = headers(HttpResponse::Ok(), &tag);
    match file.kind {
        // Shown inline by the page's <img> and the viewer; a link opens it alone.
        Kind::Image => res.content_type(file.content_type.as_str()).insert_header((
            header::CONTENT_DISPOSITION,
            FileName::from_stored(file.name.clone()).content_disposition().replacen("attachment", "inline", 1),
        )),
        Kind::File => res
            .content_type("application/octet-stream")
            .insert_header((header::CONTENT_DISPOSITION, FileName::from_stored(file.name.clone()).content_disposition())),
    };
    // One chunk per poll, each its own short query: a download holds at most a chunk.
    let pool = pool.get_ref().clone();
    let chunks = stream::unfold(Some(0i32), move |next| {
        let (pool, membership) = (pool.clone(), membership.clone());
        async move {
            let n = next?;
            match db::run(&pool, move |conn| attachments::chunk(conn, &membership, id, n).map_err(AppError::from)).await {
                Ok(Some(bytes)) => Some((Ok::<_, AppError>(web::Bytes::from(bytes)), Some(n + 1))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        }
    });
    Ok(res.no_chunking(file.size as u64).streaming(chunks))
}

pub async fn thumbnail(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let id: AttachmentId = super::id_in_path(&path)?;
    let me = user.user_id;
    let (content_type, bytes, sha256) = db::run(&pool, move |conn| {
        let membership = membership_for(conn, me, id)?;
        attachments::thumbnail(conn, &membership, id)?.ok_or(AppError::NotFound)
    })
    .await?;
    let tag = etag(&sha256, "-t");
    if unchanged(&req, &tag) {
        return Ok(headers(HttpResponse::NotModified(), &tag).finish());
    }
    Ok(headers(HttpResponse::Ok(), &tag).content_type(content_type).insert_header((header::CONTENT_DISPOSITION, "inline")).body(bytes))
}
