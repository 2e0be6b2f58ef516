//! Sign in with an OpenID Connect provider (SPEC 11): start, callback, the first
//! sign-in's username, and linking in Settings. Every route answers 404 when no
//! provider is configured (`OidcClient`).

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::current_user::{keys, CsrfToken};
use crate::auth::oidc::{Identity, OidcClient, OidcState, Pending, Purpose};
use crate::auth::throttle;
use crate::auth::{password, CurrentUser, TypedSession};
use crate::config::{Limit, Settings};
use crate::cpu;
use crate::db::{self, DbPool};
use crate::domain::Username;
use crate::error::AppError;
use crate::models::oidc_identities::{self, CreateOutcome, LinkOutcome};
use crate::models::users;
use crate::pages::oidc::{first_username_page, username_page};
use crate::pages::settings::settings_page;
use crate::views::form::Field;
use crate::views::{self, see_other};

fn user_agent(req: &HttpRequest) -> Option<&str> {
    req.headers().get(actix_web::http::header::USER_AGENT).and_then(|v| v.to_str().ok())
}

fn client_addr(req: &HttpRequest) -> String {
    req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".into())
}

/// Counts an attempt of `action` from the client's address against `limit` (the
/// throttles of password login and signup apply here too): 429 when over.
async fn throttle_addr(req: &HttpRequest, pool: &DbPool, action: &'static str, limit: Limit) -> Result<(), AppError> {
    let bucket = throttle::bucket(action, "addr", &client_addr(req));
    let verdict = db::run(pool, move |conn| throttle::hit(conn, &bucket, limit).map_err(AppError::from)).await?;
    verdict.map_err(|t| AppError::TooManyRequests { retry_after: t.retry_after })
}

/// Sends the browser to the provider, `purpose` remembered in its session.
async fn redirect_to_provider(req: &HttpRequest, oidc: &OidcClient, purpose: Purpose) -> Result<HttpResponse, AppError> {
    let session = TypedSession::loaded(req)?;
    let (url, pending) = oidc.0.start(purpose).await?;
    session.put(keys::OIDC_PENDING, &pending)?;
    Ok(see_other(&url))
}

/// `POST /auth/oidc/start`: the login page's "Sign in with …". A login attempt for
/// the per-address throttle.
pub async fn start(
    req: HttpRequest,
    oidc: OidcClient,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
) -> Result<HttpResponse, AppError> {
    throttle_addr(&req, &pool, "login", settings.login_per_addr()).await?;
    redirect_to_provider(&req, &oidc, Purpose::SignIn).await
}

#[derive(Deserialize)]
pub struct Callback {
    state: Option<String>,
    code: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// `GET /auth/oidc/callback`: where the provider sends the browser back.
pub async fn callback(
    req: HttpRequest,
    oidc: OidcClient,
    pool: web::Data<DbPool>,
    query: web::Query<Callback>,
) -> Result<HttpResponse, AppError> {
    let session = TypedSession::loaded(&req)?;
    // Taken out whatever comes next: a state is used once.
    let pending: Option<Pending> = session.take(keys::OIDC_PENDING);
    let Callback { state, code, error, error_description } = query.into_inner();
    if let Some(error) = error {
        let said = match error_description {
            Some(description) => format!("{error}: {description}"),
            None => error,
        };
        let said: String = said.chars().take(300).collect();
        return Err(AppError::SignInFailed(format!("{} answered “{said}”", oidc.0.name())));
    }
    let pending = match (pending, state) {
        (Some(pending), Some(state)) if pending.matches(&state) => pending,
        _ => {
            return Err(AppError::SignInFailed(
                "this answer does not belong to a sign-in started in this browser, or it was used already or has expired".into(),
            ))
        }
    };
    let code = code.filter(|c| !c.is_empty()).ok_or_else(|| AppError::SignInFailed("the provider sent no code".into()))?;
    let identity = oidc.0.finish(&pending, &code).await?;

    match pending.purpose {
        Purpose::SignIn => {
            let (issuer, subject) = (identity.issuer.clone(), identity.subject.clone());
            let linked = db::run(&pool, move |conn| oidc_identities::find_user(conn, &issuer, &subject).map_err(AppError::from)).await?;
            match linked {
                Some((user_id, username)) => {
                    session.log_in(user_id, &username, user_agent(&req))?;
                    Ok(see_other("/chats"))
                }
                None => {
                    // First sign-in: no session until a username is chosen; the verified
                    // identity waits in this (anonymous) session.
                    session.put(keys::OIDC_IDENTITY, &identity)?;
                    Ok(see_other("/auth/oidc/username"))
                }
            }
        }
        Purpose::Link(user_id) => {
            if session.current_user().map(|u| u.user_id) != Some(user_id) {
                return Err(AppError::SignInFailed("you are no longer logged in as the person who started linking".into()));
            }
            let Identity { issuer, subject, .. } = identity;
            let outcome =
                db::run(&pool, move |conn| oidc_identities::link(conn, user_id, &issuer, &subject).map_err(AppError::from)).await?;
            match outcome {
                LinkOutcome::Linked | LinkOutcome::AlreadyMine => Ok(see_other("/settings?done=oidc-linked")),
                LinkOutcome::SomeoneElses => {
                    Err(AppError::Conflict(format!("That {} account is already linked to another Chaat account.", oidc.0.name())))
                }
                LinkOutcome::HaveAnother => Err(AppError::Conflict(format!(
                    "Your account is already linked to another {} account: unlink it first.",
                    oidc.0.name()
                ))),
            }
        }
    }
}

/// The verified identity waiting for its username, if still fresh.
fn waiting_identity(session: &TypedSession) -> Result<Identity, AppError> {
    session
        .peek::<Identity>(keys::OIDC_IDENTITY)
        .filter(Identity::is_fresh)
        .ok_or_else(|| AppError::SignInFailed("no sign-in is waiting for a username in this browser (it may have expired)".into()))
}

/// `GET /auth/oidc/username`: the first sign-in's username form.
pub async fn username_form(req: HttpRequest, oidc: OidcClient, pool: web::Data<DbPool>, csrf: CsrfToken) -> Result<HttpResponse, AppError> {
    let identity = waiting_identity(&TypedSession::loaded(&req)?)?;
    Ok(views::ok(&first_username_page(&pool, oidc.0.name(), csrf.0, &identity).await?)?)
}

#[derive(Deserialize)]
pub struct UsernameForm {
    username: String,
}

/// `POST /auth/oidc/username`: creates the account linked to the provider account and
/// logs it in.
pub async fn choose_username(
    req: HttpRequest,
    oidc: OidcClient,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    csrf: CsrfToken,
    form: web::Form<UsernameForm>,
) -> Result<HttpResponse, AppError> {
    let session = TypedSession::loaded(&req)?;
    let identity = waiting_identity(&session)?;
    // Making an account: the signup throttle per address.
    throttle_addr(&req, &pool, "signup", settings.signup_per_addr()).await?;
    let typed = form.into_inner().username;
    let username = match Username::parse(&typed) {
        Ok(name) => name,
        Err(e) => return Ok(views::invalid(&username_page(oidc.0.name(), csrf.0, Field::err(typed, e.to_string())))?),
    };
    let salt = password::new_salt();
    let name = username.clone();
    let Identity { issuer, subject, .. } = identity;
    let outcome =
        db::run(&pool, move |conn| oidc_identities::create_user(conn, name.as_str(), &salt, &issuer, &subject).map_err(AppError::from))
            .await?;
    let (user_id, username, created) = match outcome {
        CreateOutcome::Created(user_id) => (user_id, username.as_str().to_string(), true),
        CreateOutcome::AlreadyLinked(user_id, username) => (user_id, username, false),
        CreateOutcome::UsernameTaken => {
            let field = Field::err(typed, "That username is taken. Try another one.");
            return Ok(views::invalid(&username_page(oidc.0.name(), csrf.0, field))?);
        }
    };
    // Logging in takes the identity out of the session.
    session.log_in(user_id, &username, user_agent(&req))?;
    if !created {
        // Made by a concurrent request of this sign-in, which showed the codes.
        return Ok(see_other("/chats"));
    }
    // A new account gets its first recovery codes as a password signup does (SPEC §10):
    // without a password, they are its way back if the provider goes away.
    session.put(super::account::CODES_DUE, &true)?;
    Ok(see_other("/signup/recovery-codes"))
}

/// `POST /settings/oidc/link`: the same flow, linking the provider account to me.
pub async fn link(req: HttpRequest, user: CurrentUser, oidc: OidcClient) -> Result<HttpResponse, AppError> {
    redirect_to_provider(&req, &oidc, Purpose::Link(user.user_id)).await
}

#[derive(Deserialize)]
pub struct UnlinkForm {
    current_password: String,
}

/// `POST /settings/oidc/unlink`: only with a password set (nobody locks themselves out).
pub async fn unlink(
    user: CurrentUser,
    oidc: OidcClient,
    state: web::Data<OidcState>,
    pool: web::Data<DbPool>,
    form: web::Form<UnlinkForm>,
) -> Result<HttpResponse, AppError> {
    let me = user.user_id;
    let stored = db::run(&pool, move |conn| users::credentials_by_id(conn, me).map_err(AppError::from)).await?;
    let Some(hash) = stored.pwd_hash else {
        return Err(AppError::Conflict(format!("Set a password first: without it or {} you could not sign in any more.", oidc.0.name())));
    };
    let current = form.into_inner().current_password;
    if !cpu::run(move || password::verify(&current, &hash)).await? {
        let mut settings = settings_page(&user, &pool, &state).await?;
        if let Some(section) = settings.oidc.as_mut() {
            section.unlink_error = Some("That is not your current password.".into());
        }
        return Ok(views::invalid(&settings)?);
    }
    let issuer = oidc.0.issuer().to_string();
    db::run(&pool, move |conn| oidc_identities::unlink(conn, me, &issuer).map_err(AppError::from)).await?;
    Ok(see_other("/settings?done=oidc-unlinked"))
}
