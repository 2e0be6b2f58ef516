//! `/settings`: display picture, password, active sessions.

use actix_multipart::form::bytes::Bytes as UploadBytes;
use actix_multipart::form::MultipartForm;
use actix_web::{web, HttpResponse};
use serde::Deserialize;

use crate::auth::{password, CurrentUser};
use crate::cpu;
use crate::db::{self, DbPool};
use crate::domain::Password;
use crate::error::AppError;
use crate::models::{display_pictures, sessions, users};
use crate::pictures;
use crate::views::accounts::{SessionRow, SettingsPage};
use crate::views::{self, see_other, Layout};

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
        _ => None,
    }
}

/// Loads everything the settings page shows; the handlers fill in errors.
async fn page(user: &CurrentUser, pool: &DbPool) -> Result<SettingsPage, AppError> {
    let me = user.user_id;
    let (counts, version, listed) = db::run(pool, move |conn| {
        Ok::<_, AppError>((users::nav_counts(conn, me)?, display_pictures::updated_at(conn, me)?, sessions::list_live_for_user(conn, me)?))
    })
    .await?;
    Ok(SettingsPage {
        layout: Layout::for_user(user, counts, "Settings", "settings"),
        user_id: me,
        picture_version: version.map(|v| v.timestamp_micros().to_string()).unwrap_or_else(|| "0".into()),
        has_picture: version.is_some(),
        picture_error: None,
        current_password_error: None,
        new_password_error: None,
        new_password_confirm_error: None,
        notice: None,
        sessions: listed
            .into_iter()
            .map(|s| SessionRow {
                is_current: s.sid.as_deref() == Some(user.sid.as_str()),
                user_agent: s.user_agent.unwrap_or_else(|| "Unknown browser".into()),
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
            })
            .collect(),
    })
}

pub async fn show(user: CurrentUser, pool: web::Data<DbPool>, done: web::Query<Done>) -> Result<HttpResponse, AppError> {
    let mut settings = page(&user, &pool).await?;
    settings.notice = notice(done.done.as_deref());
    views::ok(&settings)
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
    form: MultipartForm<PictureUpload>,
) -> Result<HttpResponse, AppError> {
    let upload = form.into_inner().picture.map(|p| p.data.to_vec()).unwrap_or_default();
    let encoded = cpu::run(move || pictures::reencode(&upload)).await?;
    match encoded {
        Ok(picture) => {
            let me = user.user_id;
            db::run(&pool, move |conn| display_pictures::replace(conn, me, picture.content_type, &picture.bytes)).await?;
            Ok(see_other("/settings?done=picture"))
        }
        Err(invalid) => {
            let mut settings = page(&user, &pool).await?;
            settings.picture_error = Some(invalid.to_string());
            views::invalid(&settings)
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
    form: web::Form<PasswordChange>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let me = user.user_id;
    let stored = db::run(&pool, move |conn| users::credentials_by_id(conn, me)).await?;
    let current_ok = {
        let current = form.current_password.clone();
        cpu::run(move || password::verify(&current, &stored.pwd_hash)).await?
    };
    let mut settings = page(&user, &pool).await?;
    if !current_ok {
        settings.current_password_error = Some("That is not your current password.".into());
    }
    let new = Password::parse(form.new_password.clone()).map_err(|e| settings.new_password_error = Some(e.to_string())).ok();
    if new.is_some() && form.new_password != form.new_password_confirm {
        settings.new_password_confirm_error = Some("The two passwords do not match.".into());
    }
    let (Some(new), true, None) = (new, current_ok, &settings.new_password_confirm_error) else {
        return views::invalid(&settings);
    };
    let salt = password::new_salt();
    let pwd_hash = {
        let salt = salt.clone();
        cpu::run(move || password::hash(&new, &salt)).await??
    };
    let sid = user.sid.clone();
    db::run(&pool, move |conn| {
        use diesel::Connection;
        conn.transaction(|conn| {
            users::set_password(conn, me, &salt, &pwd_hash)?;
            sessions::delete_others(conn, me, &sid)
        })
    })
    .await?;
    Ok(see_other("/settings?done=password"))
}

pub async fn log_out_other_sessions(user: CurrentUser, pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    let (me, sid) = (user.user_id, user.sid.clone());
    db::run(&pool, move |conn| sessions::delete_others(conn, me, &sid)).await?;
    Ok(see_other("/settings?done=sessions"))
}
