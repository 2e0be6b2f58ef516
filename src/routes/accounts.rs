//! Signup, login and logout.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::current_user::CsrfToken;
use crate::auth::oidc::OidcState;
use crate::auth::throttle::{self, Throttled};
use crate::auth::{password, TypedSession};
use crate::config::Settings;
use crate::cpu;
use crate::db::{self, DbPool};
use crate::domain::{Password, Username};
use crate::error::{retry_secs, AppError};
use crate::models::users::{self, NewUser, SignupOutcome};
use crate::models::UserId;
use crate::views::accounts::{LoginPage, SignupPage};
use crate::views::form::Field;
use crate::views::{self, see_other, Layout};

const WRONG_CREDENTIALS: &str = "Wrong username or password.";

fn throttled_message(t: Throttled) -> String {
    format!("Too many attempts. Please try again in {} seconds.", retry_secs(t.retry_after))
}

fn client_addr(req: &HttpRequest) -> String {
    req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_else(|| "unknown".into())
}

fn user_agent(req: &HttpRequest) -> Option<&str> {
    req.headers().get(actix_web::http::header::USER_AGENT).and_then(|v| v.to_str().ok())
}

pub async fn signup_form(csrf: CsrfToken) -> Result<HttpResponse, AppError> {
    Ok(views::ok(&SignupPage {
        layout: Layout { section: "signup", ..Layout::anonymous("Sign up", csrf.0) },
        username: Field::default(),
        password_error: None,
        password_confirm_error: None,
        form_error: None,
    })?)
}

#[derive(Deserialize)]
pub struct SignupForm {
    username: String,
    password: String,
    password_confirm: String,
}

pub async fn signup(
    req: HttpRequest,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    csrf: CsrfToken,
    form: web::Form<SignupForm>,
) -> Result<HttpResponse, AppError> {
    let form = form.into_inner();
    let mut page = SignupPage {
        layout: Layout { section: "signup", ..Layout::anonymous("Sign up", csrf.0) },
        username: Field::new(form.username.clone()),
        password_error: None,
        password_confirm_error: None,
        form_error: None,
    };
    let username = Username::parse(&form.username).map_err(|e| page.username.error = Some(e.to_string())).ok();
    let password = Password::parse(form.password.clone()).map_err(|e| page.password_error = Some(e.to_string())).ok();
    if password.is_some() && form.password != form.password_confirm {
        page.password_confirm_error = Some("The two passwords do not match.".into());
    }
    let (Some(username), Some(password), None) = (username, password, &page.password_confirm_error) else {
        return Ok(views::invalid(&page)?);
    };

    let buckets = [
        (throttle::bucket("signup", "addr", &client_addr(&req)), settings.signup_per_addr()),
        (throttle::bucket("signup", "user", username.as_str()), settings.signup_per_user()),
    ];
    let verdict = db::run(&pool, move |conn| {
        for (bucket, limit) in &buckets {
            if let Err(t) = throttle::hit(conn, bucket, *limit)? {
                return Ok::<_, AppError>(Err(t));
            }
        }
        Ok(Ok(()))
    })
    .await?;
    if let Err(t) = verdict {
        page.form_error = Some(throttled_message(t));
        return Ok(views::render(StatusCode::TOO_MANY_REQUESTS, &page)?);
    }

    let salt = password::new_salt();
    let pwd_hash = {
        let salt = salt.clone();
        cpu::run(move || password::hash(&password, &salt)).await??
    };
    let user_id = UserId::new_v7();
    let name = username.clone();
    let outcome = db::run(&pool, move |conn| {
        NewUser { user_id, username: name.as_str(), dynamic_salt: &salt, pwd_hash: &pwd_hash }.insert(conn).map_err(AppError::from)
    })
    .await?;
    match outcome {
        SignupOutcome::Created(user_id) => {
            TypedSession::of(&req).log_in(user_id, username.as_str(), user_agent(&req))?;
            Ok(see_other("/chats"))
        }
        SignupOutcome::UsernameTaken => {
            page.username.error = Some("That username is taken. Try another one.".into());
            Ok(views::invalid(&page)?)
        }
    }
}

pub async fn login_form(req: HttpRequest, oidc: web::Data<OidcState>, csrf: CsrfToken) -> Result<HttpResponse, AppError> {
    if TypedSession::of(&req).current_user().is_some() {
        return Ok(see_other("/chats"));
    }
    Ok(views::ok(&login_page(&oidc, csrf.0, String::new(), None))?)
}

/// `oidc`: the "Sign in with …" button shows when a provider is configured.
fn login_page(oidc: &OidcState, csrf_token: String, username: String, form_error: Option<String>) -> LoginPage {
    LoginPage {
        layout: Layout { section: "login", ..Layout::anonymous("Log in", csrf_token) },
        username: Field::new(username),
        form_error,
        oidc_name: oidc.name(),
    }
}

#[derive(Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
}

pub async fn login(
    req: HttpRequest,
    pool: web::Data<DbPool>,
    settings: web::Data<Settings>,
    oidc: web::Data<OidcState>,
    csrf: CsrfToken,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let LoginForm { username: typed, password } = form.into_inner();
    let username = Username::parse(&typed).ok();
    let addr_bucket = throttle::bucket("login", "addr", &client_addr(&req));
    let user_bucket = username.as_ref().map(|u| throttle::bucket("login", "user", u.as_str()));
    let (per_addr, per_user) = (settings.login_per_addr(), settings.login_per_user());

    let lookup = {
        let (username, user_bucket) = (username.clone(), user_bucket.clone());
        db::run(&pool, move |conn| {
            // While a username is throttled even the right password is refused.
            if let Some(bucket) = &user_bucket {
                if let Err(t) = throttle::check(conn, bucket, per_user)? {
                    return Ok::<_, AppError>(Err(t));
                }
            }
            if let Err(t) = throttle::hit(conn, &addr_bucket, per_addr)? {
                return Ok(Err(t));
            }
            Ok(Ok(match &username {
                Some(name) => users::credentials(conn, name)?,
                None => None,
            }))
        })
        .await?
    };
    let credentials = match lookup {
        Ok(found) => found,
        Err(t) => {
            let page = login_page(&oidc, csrf.0, typed, Some(throttled_message(t)));
            return Ok(views::render(StatusCode::TOO_MANY_REQUESTS, &page)?);
        }
    };

    // The same work whether or not the user exists: the answer time reveals nothing.
    let verified = cpu::run(move || match credentials {
        Some(c) if password::verify_stored(&password, c.pwd_hash.as_deref()) => Some(c),
        Some(_) => None,
        None => {
            password::verify_dummy(&password);
            None
        }
    })
    .await?;

    match verified {
        Some(c) => {
            TypedSession::of(&req).log_in(c.user_id, &c.username, user_agent(&req))?;
            Ok(see_other("/chats"))
        }
        None => {
            if let Some(bucket) = user_bucket {
                db::run(&pool, move |conn| throttle::record(conn, &bucket, per_user).map_err(AppError::from)).await?;
            }
            Ok(views::invalid(&login_page(&oidc, csrf.0, typed, Some(WRONG_CREDENTIALS.into())))?)
        }
    }
}

pub async fn logout(req: HttpRequest) -> HttpResponse {
    TypedSession::of(&req).log_out();
    see_other("/login")
}
