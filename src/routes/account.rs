//! Safety and control of one's account (SPEC §10): block and unblock, who may send me
//! requests, recovery codes, export, deleting the account. Recovery itself (`/recover`)
//! is with login in `accounts.rs`, whose throttle it shares.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::oidc::OidcState;
use crate::auth::throttle::Throttled;
use crate::auth::{password, recovery, throttle, CurrentUser, TypedSession};
use crate::config::Settings;
use crate::cpu;
use crate::db::{self, DbPool};
use crate::domain::Username;
use crate::error::{wait_in_words, AppError};
use crate::live::Hub;
use crate::models::account::{self, RequestPolicy};
use crate::models::{blocks, recovery_codes, users, UserId};
use crate::pages::settings::settings_page;
use crate::views::accounts::RecoveryCodesPage;
use crate::views::{self, see_other, Layout};

/// The person named in the path; unknown (or myself) is 404.
async fn other_person(pool: &DbPool, me: UserId, name: &str) -> Result<(UserId, String), AppError> {
    let name = Username::parse(name).map_err(|_| AppError::NotFound)?;
    let them = db::run(pool, move |conn| users::find_by_username(conn, &name).map_err(AppError::from)).await?.ok_or(AppError::NotFound)?;
    if them.user_id == me {
        return Err(AppError::NotFound);
    }
    Ok((them.user_id, them.username))
}

pub async fn block(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    name: web::Path<String>,
) -> Result<HttpResponse, AppError> {
    let me = user.user_id;
    let (them, name) = other_person(&pool, me, &name).await?;
    db::run(&pool, move |conn| blocks::block(conn, me, them).map_err(AppError::from)).await?;
    // Both inboxes change (requests withdrawn, my list's previews); after the commit.
    hub.poke(me);
    hub.poke(them);
    Ok(see_other(&format!("/users/{name}")))
}

#[derive(Deserialize)]
pub struct Unblock {
    return_to: Option<String>,
}

pub async fn unblock(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    name: web::Path<String>,
    form: web::Form<Unblock>,
) -> Result<HttpResponse, AppError> {
    let me = user.user_id;
    let (them, name) = other_person(&pool, me, &name).await?;
    db::run(&pool, move |conn| blocks::unblock(conn, me, them).map_err(AppError::from)).await?;
    // My list's previews show their messages again.
    hub.poke(me);
    // Back to the list it was clicked in (one fixed place, never an echoed URL).
    Ok(see_other(&match form.return_to.as_deref() {
        Some("/settings") => "/settings?done=unblocked".to_string(),
        _ => format!("/users/{name}"),
    }))
}

#[derive(Deserialize)]
pub struct Policy {
    #[serde(default)]
    from: String,
}

pub async fn set_request_policy(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    oidc: web::Data<OidcState>,
    form: web::Form<Policy>,
) -> Result<HttpResponse, AppError> {
    let Ok(policy) = form.from.parse::<RequestPolicy>() else {
        let mut settings = settings_page(&user, &pool, &oidc).await?;
        settings.safety.policy_error = Some("Choose who may send you friend requests.".into());
        return Ok(views::invalid(&settings)?);
    };
    let me = user.user_id;
    db::run(&pool, move |conn| account::set_request_policy(conn, me, policy).map_err(AppError::from)).await?;
    Ok(see_other("/settings?done=requests"))
}

/// What checking a typed current password found.
enum Check {
    Right,
    Wrong,
    Throttled(Throttled),
}

/// Checks the current password, counting wrong ones per person like a password change
/// does (the same bucket and growing waits), so a borrowed session cannot guess it
/// here. An account without a password (made through a provider) passes with an empty
/// one, as it sets its first password.
async fn check_password(pool: &DbPool, config: &Settings, me: UserId, typed: String) -> Result<Check, AppError> {
    let bucket = throttle::bucket("password", "user", &me.to_string());
    let rule = config.login_per_browser();
    let stored = {
        let bucket = bucket.clone();
        db::run(pool, move |conn| {
            if let Err(t) = throttle::check_backoff(conn, &bucket, rule)? {
                return Ok::<_, AppError>(Err(t));
            }
            Ok(Ok(users::credentials_by_id(conn, me)?))
        })
        .await?
    };
    let stored = match stored {
        Ok(stored) => stored,
        Err(t) => return Ok(Check::Throttled(t)),
    };
    let right = match stored.pwd_hash {
        None => typed.is_empty(),
        Some(hash) => cpu::run(move || password::verify(&typed, &hash)).await?,
    };
    db::run(pool, move |conn| {
        if right { throttle::forgive(conn, &bucket) } else { throttle::record_failure(conn, &bucket, rule) }.map_err(AppError::from)
    })
    .await?;
    Ok(if right { Check::Right } else { Check::Wrong })
}

const WRONG_PASSWORD: &str = "That is not your current password.";

fn too_many_wrong(t: Throttled) -> String {
    format!("Too many wrong passwords. Please try again in {}.", wait_in_words(t.retry_after))
}

#[derive(Deserialize)]
pub struct CurrentPassword {
    current_password: String,
}

/// New codes in exchange for the password: shown once, on this 200 page (never in a URL).
pub async fn regenerate_codes(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    config: web::Data<Settings>,
    oidc: web::Data<OidcState>,
    form: web::Form<CurrentPassword>,
) -> Result<HttpResponse, AppError> {
    let me = user.user_id;
    let refusal = match check_password(&pool, &config, me, form.into_inner().current_password).await? {
        Check::Right => None,
        Check::Wrong => Some((WRONG_PASSWORD.to_string(), None)),
        Check::Throttled(t) => Some((too_many_wrong(t), Some(t))),
    };
    if let Some((message, throttled)) = refusal {
        let mut settings = settings_page(&user, &pool, &oidc).await?;
        settings.safety.codes_password_error = Some(message);
        return Ok(match throttled {
            Some(t) => views::too_many(&settings, t.retry_after)?,
            None => views::invalid(&settings)?,
        });
    }
    codes_page(&user, &pool, false).await
}

/// Makes a new generation of codes and shows it.
async fn codes_page(user: &CurrentUser, pool: &DbPool, at_signup: bool) -> Result<HttpResponse, AppError> {
    let me = user.user_id;
    let (codes, digests) = recovery::generate(me);
    let counts = db::run(pool, move |conn| {
        recovery_codes::replace(conn, me, &digests)?;
        Ok::<_, AppError>(users::nav_counts(conn, me)?)
    })
    .await?;
    let page = RecoveryCodesPage {
        layout: Layout::for_user(user, counts, "Recovery codes", "settings"),
        username: user.username.clone(),
        codes,
        at_signup,
    };
    let mut resp = views::ok(&page)?;
    // Shown once: not kept by the browser's cache or history.
    resp.headers_mut().insert(actix_web::http::header::CACHE_CONTROL, actix_web::http::header::HeaderValue::from_static("no-store"));
    Ok(resp)
}

/// The session key that says the first codes are due (set by signup, taken here once).
pub const CODES_DUE: &str = "recovery_codes_due";

/// Where signup's 303 leads: the first ten codes, once. Afterwards (a reload) the codes
/// are not shown again: to Settings, where new ones can be made.
pub async fn signup_codes(req: HttpRequest, user: CurrentUser, pool: web::Data<DbPool>) -> Result<HttpResponse, AppError> {
    if TypedSession::of(&req).take::<bool>(CODES_DUE) != Some(true) {
        return Ok(see_other("/settings"));
    }
    codes_page(&user, &pool, true).await
}

pub async fn export(user: CurrentUser, pool: web::Data<DbPool>, slots: web::Data<crate::export::Slots>) -> Result<HttpResponse, AppError> {
    crate::export::response(&slots, pool.get_ref().clone(), user.user_id, user.username.clone())
}

#[derive(Deserialize)]
pub struct DeleteAccount {
    current_password: String,
    #[serde(default)]
    confirm: String,
}

pub async fn delete_account(
    req: HttpRequest,
    user: CurrentUser,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    config: web::Data<Settings>,
    oidc: web::Data<OidcState>,
    form: web::Form<DeleteAccount>,
) -> Result<HttpResponse, AppError> {
    let DeleteAccount { current_password, confirm } = form.into_inner();
    let me = user.user_id;
    let confirmed = confirm.trim().eq_ignore_ascii_case(&user.username);
    let (password_error, throttled) = match check_password(&pool, &config, me, current_password).await? {
        Check::Right => (None, None),
        Check::Wrong => (Some(WRONG_PASSWORD.to_string()), None),
        Check::Throttled(t) => (Some(too_many_wrong(t)), Some(t)),
    };
    if password_error.is_some() || !confirmed {
        let mut settings = settings_page(&user, &pool, &oidc).await?;
        settings.safety.delete_password_error = password_error;
        settings.safety.delete_confirm_error = (!confirmed).then(|| format!("Type your username, {}, to confirm.", user.username));
        settings.safety.delete_confirm = confirm;
        return Ok(match throttled {
            Some(t) => views::too_many(&settings, t.retry_after)?,
            None => views::invalid(&settings)?,
        });
    }
    let name = user.username.clone();
    let deleted = db::run(&pool, move |conn| account::delete(conn, me, &name).map_err(AppError::from)).await?;
    // Messages that lost my reactions first (their revs come before the lines of leaving).
    for (chat_id, rev) in deleted.unreacted {
        hub.publish_reached(chat_id, rev);
    }
    for change in deleted.left {
        hub.announce(change);
    }
    // Every session went with the account: end their streams here and elsewhere.
    hub.end_other_sessions(me, "");
    TypedSession::of(&req).log_out();
    Ok(see_other("/login"))
}
