//! `/settings`: display picture, password, active sessions.

use actix_multipart::form::bytes::Bytes as UploadBytes;
use actix_multipart::form::MultipartForm;
use actix_multipart::MultipartError;
use actix_web::error::PayloadError;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::auth::oidc::OidcState;
use crate::auth::{password, throttle, CurrentUser, TypedSession};
use crate::config::Settings;
use crate::cpu;
use crate::db::{self, DbPool};
use crate::domain::Password;
use crate::error::{retry_secs, wait_in_words, AppError, UNAVAILABLE_RETRY_SECS};
use crate::live::Hub;
use crate::models::{display_pictures, sessions, users};
use crate::pages::settings::settings_page;
use crate::pictures::{self, limits};
use crate::views::{self, see_other};

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

/// Confirmations after a redirect, chosen from a fixed list (never echoed from the URL).
fn notice(done: Option<&str>) -> Option<String> {
    match done? {
        "picture" => Some("Your display picture was updated.".into()),
        "password" => Some("Your password was changed. Your other sessions were logged out.".into()),
        "sessions" => Some("Your other sessions were logged out.".into()),
        "oidc-linked" => Some("Your provider account is linked: you can sign in with it.".into()),
        "oidc-unlinked" => Some("Your provider account is unlinked.".into()),
        "notifications" => Some("Your notification settings were saved.".into()),
        "unblocked" => Some("Unblocked. You can find each other again; your friendship is not restored.".into()),
        "requests" => Some("Saved who may send you friend requests.".into()),
        _ => None,
    }
}

pub async fn show(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    oidc: web::Data<OidcState>,
    done: web::Query<Done>,
) -> Result<HttpResponse, AppError> {
    let mut settings = settings_page(&user, &pool, &oidc).await?;
    settings.notice = notice(done.done.as_deref());
    Ok(views::ok(&settings)?)
}

/// The upload form. Its first part, `csrf_token`, was checked by `auth::csrf` before the
/// body reached this handler; as an unknown field here it is skipped. The limit is
/// `pictures::limits::MAX_UPLOAD_BYTES` (a test below checks they agree).
#[derive(MultipartForm)]
pub struct PictureUpload {
    #[multipart(limit = "5MiB")]
    picture: Option<UploadBytes>,
}

const UPLOAD_TOO_LARGE: &str = "That file is too large: a picture may be at most 5 MB.";
const _: () = assert!(limits::UPLOADS_PER_PERSON.window.as_secs() == 60, "the message below says \"a minute\"");
const DECODERS_BUSY: &str = "Many pictures are being processed right now. Please try again in a few seconds.";

/// Each attempt counts against the person's upload limit before the body is read; then
/// the picture is read (at most 5 MiB), decoded within `pictures::limits` in the picture
/// queue (not the one logins use) and stored. Every refusal is the settings page with
/// the reason next to the picture field.
pub async fn update_display_picture(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    oidc: web::Data<OidcState>,
    payload: web::Payload,
) -> actix_web::Result<HttpResponse> {
    let bucket = throttle::bucket("picture", "user", &user.user_id.to_string());
    let verdict = db::run(&pool, move |conn| throttle::hit(conn, &bucket, limits::UPLOADS_PER_PERSON).map_err(AppError::from)).await?;
    if let Err(t) = verdict {
        // Read (and drop) the body first: a browser still sending it would otherwise
        // see the connection close instead of this answer.
        drain(payload).await;
        let message = format!(
            "Too many uploads: at most {} a minute. Please try again in {} seconds.",
            limits::UPLOADS_PER_PERSON.limit,
            retry_secs(t.retry_after)
        );
        let mut answer = picture_refused(&user, &pool, &oidc, StatusCode::TOO_MANY_REQUESTS, message).await?;
        answer.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(retry_secs(t.retry_after)));
        return Ok(answer);
    }

    let form = match MultipartForm::<PictureUpload>::from_request(&req, &mut payload.into_inner()).await {
        Ok(form) => form,
        Err(e) if is_over_limit(&e) => {
            return Ok(picture_refused(&user, &pool, &oidc, StatusCode::PAYLOAD_TOO_LARGE, UPLOAD_TOO_LARGE.into()).await?);
        }
        // Anything else malformed in the body: 400, as actix-multipart says.
        Err(e) => return Err(e),
    };
    let upload = form.into_inner().picture.map(|p| p.data).unwrap_or_default();
    let encoded = match cpu::run_picture(move || pictures::reencode(&upload)).await? {
        Ok(encoded) => encoded,
        Err(cpu::Busy) => {
            let mut answer = picture_refused(&user, &pool, &oidc, StatusCode::SERVICE_UNAVAILABLE, DECODERS_BUSY.into()).await?;
            answer.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(UNAVAILABLE_RETRY_SECS));
            return Ok(answer);
        }
    };
    match encoded {
        Ok(picture) => {
            let me = user.user_id;
            db::run(&pool, move |conn| display_pictures::replace(conn, me, picture.content_type, &picture.bytes).map_err(AppError::from))
                .await?;
            Ok(see_other("/settings?done=picture"))
        }
        Err(invalid) => Ok(picture_refused(&user, &pool, &oidc, StatusCode::UNPROCESSABLE_ENTITY, invalid.to_string()).await?),
    }
}

/// The settings page with `message` next to the picture field.
async fn picture_refused(
    user: &CurrentUser,
    pool: &DbPool,
    oidc: &OidcState,
    status: StatusCode,
    message: String,
) -> Result<HttpResponse, AppError> {
    let mut settings = settings_page(user, pool, oidc).await?;
    settings.picture_error = Some(message);
    Ok(views::render(status, &settings)?)
}

/// The multipart reader went over a limit: the field's (`#[multipart(limit)]`), the
/// body's (`MultipartFormConfig`, `startup`), or its 64 KiB buffer with the headers of a
/// part. All are this one error, told by its type (never by its text).
fn is_over_limit(e: &actix_web::Error) -> bool {
    matches!(e.as_error::<MultipartError>(), Some(MultipartError::Payload(PayloadError::Overflow)))
}

/// Reads a body to its end and drops it, up to the largest upload (then the connection
/// closes after the answer); within the upload deadline (`auth::upload_deadline`).
async fn drain(mut payload: web::Payload) {
    let mut read = 0;
    while let Some(Ok(chunk)) = payload.next().await {
        read += chunk.len();
        if read > limits::MAX_BODY_BYTES {
            break;
        }
    }
}

#[derive(Deserialize)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
    new_password_confirm: String,
}

pub async fn update_password(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    config: web::Data<Settings>,
    oidc: web::Data<OidcState>,
    form: web::Form<PasswordChange>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let me = user.user_id;
    // Wrong current passwords are counted per person like failed logins (growing waits
    // after a few), so a borrowed or stolen session cannot guess the password here.
    let bucket = throttle::bucket("password", "user", &me.to_string());
    let rule = config.login_per_browser();
    let stored = {
        let bucket = bucket.clone();
        db::run(&pool, move |conn| {
            if let Err(t) = throttle::check_backoff(conn, &bucket, rule)? {
                return Ok::<_, AppError>(Err(t));
            }
            Ok(Ok(users::credentials_by_id(conn, me)?))
        })
        .await?
    };
    let stored = match stored {
        Ok(stored) => stored,
        Err(t) => {
            let mut settings = settings_page(&user, &pool, &oidc).await?;
            settings.current_password_error =
                Some(format!("Too many wrong passwords. Please try again in {}.", wait_in_words(t.retry_after)));
            return Ok(views::too_many(&settings, t.retry_after)?);
        }
    };
    // An account made through an OpenID provider sets its first password with an
    // empty `current_password`.
    let current_ok = match stored.pwd_hash {
        None => form.current_password.is_empty(),
        Some(hash) => {
            let current = form.current_password.clone();
            cpu::run(move || password::verify(&current, &hash)).await?
        }
    };
    db::run(&pool, move |conn| {
        if current_ok { throttle::forgive(conn, &bucket) } else { throttle::record_failure(conn, &bucket, rule) }.map_err(AppError::from)
    })
    .await?;
    let mut settings = settings_page(&user, &pool, &oidc).await?;
    if !current_ok {
        settings.current_password_error = Some("That is not your current password.".into());
    }
    let new = Password::parse(form.new_password.clone()).map_err(|e| settings.new_password_error = Some(e.to_string())).ok();
    if new.is_some() && form.new_password != form.new_password_confirm {
        settings.new_password_confirm_error = Some("The two passwords do not match.".into());
    }
    let (Some(new), true, None) = (new, current_ok, &settings.new_password_confirm_error) else {
        return Ok(views::invalid(&settings)?);
    };
    let salt = password::new_salt();
    let pwd_hash = {
        let salt = salt.clone();
        cpu::run(move || password::hash(&new, &salt)).await??
    };
    let sid = user.sid.clone();
    db::run(&pool, move |conn| users::change_password(conn, me, &salt, &pwd_hash, &sid).map_err(AppError::from)).await?;
    // Every other session is gone; this one continues under a new key, so a copy of its
    // cookie taken before the change (the reason to change a password) opens nothing.
    TypedSession::of(&req).renew_key();
    hub.end_other_sessions(me, &user.sid);
    Ok(see_other("/settings?done=password"))
}

pub async fn log_out_other_sessions(user: CurrentUser, pool: web::Data<DbPool>, hub: web::Data<Hub>) -> Result<HttpResponse, AppError> {
    let (me, sid) = (user.user_id, user.sid.clone());
    db::run(&pool, move |conn| sessions::delete_others(conn, me, &sid).map_err(AppError::from)).await?;
    hub.end_other_sessions(me, &user.sid);
    Ok(see_other("/settings?done=sessions"))
}

#[cfg(test)]
mod tests {
    use actix_multipart::form::MultipartCollect;

    use super::*;

    #[test]
    fn the_picture_field_limit_is_the_largest_upload() {
        assert_eq!(PictureUpload::limit("picture"), Some(limits::MAX_UPLOAD_BYTES));
    }

    #[test]
    fn only_the_overflow_of_a_limit_counts_as_too_large() {
        assert!(is_over_limit(&MultipartError::Payload(PayloadError::Overflow).into()));
        assert!(!is_over_limit(&MultipartError::Payload(PayloadError::Incomplete(None)).into()));
        assert!(!is_over_limit(&MultipartError::Incomplete.into()));
        assert!(!is_over_limit(&actix_web::error::ErrorPayloadTooLarge("not multipart's")));
    }
}
