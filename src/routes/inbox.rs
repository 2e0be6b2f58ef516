//! The live inbox's actions (SPEC §6): typing, muting a chat, notification settings.

use actix_web::{web, HttpRequest, HttpResponse};
use chrono::Utc;
use serde::Deserialize;

use super::id_in_path;
use crate::auth::oidc::OidcState;
use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::domain::MuteFor;
use crate::error::AppError;
use crate::live::Hub;
use crate::models::inbox::{self, NotifyPrefs};
use crate::models::{chats, ChatId};
use crate::pages::chat::{chat_page, Position};
use crate::pages::settings::settings_page;
use crate::views::chats::PageForms;
use crate::views::{self, is_htmx, redirect_after_post, see_other};

/// `POST /chats/{chat_id}/typing`: tells the chat's other open pages that I am typing
/// (at most once per 3 s per person and chat; the others are answered alike). Stored
/// nowhere. 204 for htmx and scripts, 303 to the chat for a plain form.
pub async fn typing(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    path: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let chat_id: ChatId = id_in_path(&path)?;
    let me = user.user_id;
    db::run(&pool, move |conn| chats::find_for_participant(conn, me, chat_id).map_err(AppError::from)).await?.ok_or(AppError::NotFound)?;
    hub.typing(chat_id, me, &user.username);
    if is_htmx(&req) {
        return Ok(HttpResponse::NoContent().finish());
    }
    Ok(see_other(&format!("/chats/{chat_id}")))
}

#[derive(Deserialize)]
pub struct MuteForm {
    #[serde(rename = "for", default)]
    duration: String,
}

/// `POST /chats/{chat_id}/mute`: `for` = `1h`, `8h`, `1w`, `always` or `off`. Anything
/// else: the chat page again with the error next to the choice (422).
pub async fn mute(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    path: web::Path<String>,
    form: web::Form<MuteForm>,
) -> Result<HttpResponse, AppError> {
    let chat_id: ChatId = id_in_path(&path)?;
    let duration = match MuteFor::parse(&form.duration) {
        Ok(duration) => duration,
        Err(invalid) => {
            let forms = PageForms { mute_error: Some(invalid.to_string()), ..PageForms::default() };
            return Ok(views::invalid(&chat_page(&user, &pool, chat_id, Position::Latest, forms).await?)?);
        }
    };
    let me = user.user_id;
    let until = duration.until(Utc::now());
    db::run(&pool, move |conn| {
        let membership = chats::find_for_participant(conn, me, chat_id)?.ok_or(AppError::NotFound)?;
        Ok::<_, AppError>(inbox::mute(conn, &membership, until)?)
    })
    .await?;
    hub.poke(me);
    Ok(redirect_after_post(&req, &format!("/chats/{chat_id}")))
}

#[derive(Deserialize)]
pub struct NotificationsForm {
    #[serde(default)]
    notify: Option<String>,
    #[serde(default)]
    previews: Option<String>,
}

/// `on`/`off`, or the default when left out; anything else is `None` (refused).
fn on_off(raw: Option<&str>, default: bool) -> Option<bool> {
    match raw {
        None => Some(default),
        Some("on") => Some(true),
        Some("off") => Some(false),
        Some(_) => None,
    }
}

/// `POST /settings/notifications`: `notify` (`on`/`off`, default `off`) and `previews`
/// (`on`/`off`, default `on`). The browser's permission is asked by the page's script
/// when this form turns notifications on; the server only keeps the choice.
pub async fn notifications(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    oidc: web::Data<OidcState>,
    form: web::Form<NotificationsForm>,
) -> Result<HttpResponse, AppError> {
    let defaults = NotifyPrefs::default();
    let (notify, previews) = (on_off(form.notify.as_deref(), defaults.notify), on_off(form.previews.as_deref(), defaults.previews));
    let (Some(notify), Some(previews)) = (notify, previews) else {
        let mut page = settings_page(&user, &pool, &oidc).await?;
        page.notifications_error = Some("Choose on or off for each.".into());
        return Ok(views::invalid(&page)?);
    };
    let prefs = NotifyPrefs { notify, previews };
    let me = user.user_id;
    db::run(&pool, move |conn| inbox::set_prefs(conn, me, prefs).map_err(AppError::from)).await?;
    hub.poke(me);
    Ok(redirect_after_post(&req, "/settings?done=notifications"))
}
