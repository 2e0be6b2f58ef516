//! `/settings`: display picture, password, active sessions.

use actix_multipart::form::bytes::Bytes as UploadBytes;
use actix_multipart::form::MultipartForm;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::auth::oidc::OidcState;
use crate::auth::{password, CurrentUser};
use crate::cpu;
use crate::db::{self, DbPool};
use crate::domain::Password;
use crate::error::AppError;
use crate::models::{display_pictures, sessions, users};
use crate::pages::settings::settings_page;
use crate::pictures;
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
/// body reached this handler; as an unknown field here it is skipped.
#[derive(MultipartForm)]
pub struct PictureUpload {
    #[multipart(limit = "5MiB")]
    picture: Option<UploadBytes>,
}

pub async fn update_display_picture(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    oidc: web::Data<OidcState>,
    form: MultipartForm<PictureUpload>,
) -> Result<HttpResponse, AppError> {
    let upload = form.into_inner().picture.map(|p| p.data.to_vec()).unwrap_or_default();
    let encoded = cpu::run(move || pictures::reencode(&upload)).await?;
    match encoded {
        Ok(picture) => {
            let me = user.user_id;
            db::run(&pool, move |conn| display_pictures::replace(conn, me, picture.content_type, &picture.bytes).map_err(AppError::from))
                .await?;
            Ok(see_other("/settings?done=picture"))
        }
        Err(invalid) => {
            let mut settings = settings_page(&user, &pool, &oidc).await?;
            settings.picture_error = Some(invalid.to_string());
            Ok(views::invalid(&settings)?)
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
    user: CurrentUser,
    pool: web::Data<DbPool>,
    oidc: web::Data<OidcState>,
    form: web::Form<PasswordChange>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let me = user.user_id;
    let stored = db::run(&pool, move |conn| users::credentials_by_id(conn, me).map_err(AppError::from)).await?;
    // An account made through an OpenID provider sets its first password with an
    // empty `current_password`.
    let current_ok = match stored.pwd_hash {
        None => form.current_password.is_empty(),
        Some(hash) => {
            let current = form.current_password.clone();
            cpu::run(move || password::verify(&current, &hash)).await?
        }
    };
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
    Ok(see_other("/settings?done=password"))
}

pub async fn log_out_other_sessions(user: CurrentUser, pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    let (me, sid) = (user.user_id, user.sid.clone());
    db::run(&pool, move |conn| sessions::delete_others(conn, me, &sid).map_err(AppError::from)).await?;
    Ok(see_other("/settings?done=sessions"))
}
