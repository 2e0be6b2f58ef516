//! Signup, login and logout.

use std::sync::Arc;

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::current_user::CsrfToken;
use crate::auth::oidc::OidcState;
use crate::auth::throttle::{self, Throttled};
use crate::auth::{browser, password, recovery, tokens, TypedSession};
use crate::config::Settings;
use crate::cpu;
use crate::db::{self, DbPool};
use crate::domain::{Password, Username};
use crate::error::{wait_in_words, AppError};
use crate::live::Hub;
use crate::models::recovery_codes;
use crate::models::users::{self, NewUser, SignupOutcome};
use crate::models::UserId;
use crate::views::accounts::{LoginPage, RecoverPage, SignupPage};
use crate::views::form::Field;
use crate::views::{self, see_other, Layout};

const WRONG_CREDENTIALS: &str = "Wrong username or password.";

fn throttled_message(t: Throttled) -> String {
    format!("Too many attempts. Please try again in {}.", wait_in_words(t.retry_after))
}

/// The client address throttles count by (`auth::client_addr`: the peer, or behind a
/// trusted proxy the client it names; IPv6 by its /64).
fn client_addr(req: &HttpRequest) -> String {
    crate::auth::client_addr::throttle_key(req)
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
        return Ok(views::too_many(&page, t.retry_after)?);
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
            browser::remember_login(&req, user_id);
            // The first recovery codes are made and shown once, on the page this leads to.
            TypedSession::of(&req).put(super::account::CODES_DUE, &true)?;
            Ok(see_other("/signup/recovery-codes"))
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

/// The throttle buckets of a login attempt for one username. Failures are counted
/// three ways (SECURITY.md, "Password guessing"):
/// - per browser: this browser (its form cookie), from this address, for this name:
///   growing delays after a few failures, so a guesser slows down while the name's
///   owner, in another browser, is not affected;
/// - per address and name, whatever the browser: the same delays after more
///   failures, for a script that throws its cookies away;
/// - per name from everywhere: a high ceiling per hour against guessing from many
///   addresses.
///
/// A browser known for the name (its owner logged in with it before) is exempt from
/// the last two, so strangers' failures never lock the owner out of their own browser.
struct LoginBuckets {
    browser: String,
    addr_and_user: String,
    user: String,
}

impl LoginBuckets {
    fn new(name: &Username, addr: &str, browser: &str) -> Self {
        LoginBuckets {
            browser: throttle::bucket("login", "browser", &format!("{name}|{addr}|{browser}")),
            addr_and_user: throttle::bucket("login", "addr_user", &format!("{name}|{addr}")),
            user: throttle::bucket("login", "user", name.as_str()),
        }
    }
}

/// Names the browser for the throttle: a hash of its form token (the cookie itself
/// never reaches the table); "-" for a browser without one (a logged-in session).
fn browser_id(req: &HttpRequest) -> String {
    browser::form_token(req).map_or_else(|| "-".into(), |token| tokens::sha256_hex(token.as_bytes())[..32].to_string())
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
    let addr = client_addr(&req);
    let addr_bucket = throttle::bucket("login", "addr", &addr);
    let buckets = username.as_ref().map(|name| Arc::new(LoginBuckets::new(name, &addr, &browser_id(&req))));
    let known_user = browser::known_user(&req);
    let (per_addr, per_browser, per_addr_and_user, per_user) =
        (settings.login_per_addr(), settings.login_per_browser(), settings.login_per_addr_and_user(), settings.login_per_user());

    let lookup = {
        let (username, buckets) = (username.clone(), buckets.clone());
        db::run(&pool, move |conn| {
            // While this browser waits, even the right password is refused: it is the
            // one that guessed.
            if let Some(b) = &buckets {
                if let Err(t) = throttle::check_backoff(conn, &b.browser, per_browser)? {
                    return Ok::<_, AppError>(Err(t));
                }
            }
            let credentials = match &username {
                Some(name) => users::credentials(conn, name)?,
                None => None,
            };
            let known = credentials.as_ref().is_some_and(|c| Some(c.user_id) == known_user);
            if let (Some(b), false) = (&buckets, known) {
                if let Err(t) = throttle::check_backoff(conn, &b.addr_and_user, per_addr_and_user)? {
                    return Ok(Err(t));
                }
                if let Err(t) = throttle::check(conn, &b.user, per_user)? {
                    return Ok(Err(t));
                }
            }
            if let Err(t) = throttle::hit(conn, &addr_bucket, per_addr)? {
                return Ok(Err(t));
            }
            Ok(Ok(credentials))
        })
        .await?
    };
    let credentials = match lookup {
        Ok(found) => found,
        Err(t) => return Ok(views::too_many(&login_page(&oidc, csrf.0, typed, Some(throttled_message(t))), t.retry_after)?),
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
            if let Some(b) = buckets {
                db::run(&pool, move |conn| throttle::forgive(conn, &b.browser).map_err(AppError::from)).await?;
            }
            TypedSession::of(&req).log_in(c.user_id, &c.username, user_agent(&req))?;
            browser::remember_login(&req, c.user_id);
            Ok(see_other("/chats"))
        }
        None => {
            if let Some(b) = buckets {
                db::run(&pool, move |conn| {
                    throttle::record_failure(conn, &b.browser, per_browser)?;
                    throttle::record_failure(conn, &b.addr_and_user, per_addr_and_user)?;
                    throttle::record(conn, &b.user, per_user).map_err(AppError::from)
                })
                .await?;
            }
            Ok(views::invalid(&login_page(&oidc, csrf.0, typed, Some(WRONG_CREDENTIALS.into())))?)
        }
    }
}

/// One message for every failure of a recovery (unknown name, wrong or used code).
const RECOVERY_FAILED: &str = "That username and recovery code do not match an unused code.";

fn recover_page(csrf_token: String, username: String) -> RecoverPage {
    RecoverPage {
        layout: Layout { section: "login", ..Layout::anonymous("Recover your account", csrf_token) },
        username: Field::new(username),
        code_error: None,
        new_password_error: None,
        new_password_confirm_error: None,
        form_error: None,
    }
}

pub async fn recover_form(csrf: CsrfToken) -> Result<HttpResponse, AppError> {
    Ok(views::ok(&recover_page(csrf.0, String::new()))?)
}

#[derive(Deserialize)]
pub struct RecoverForm {
    username: String,
    code: String,
    new_password: String,
    new_password_confirm: String,
}

/// A recovery code sets a new password, ends every session and logs in (SPEC §10). It
/// is throttled exactly as a login of that name from this browser and address is (the
/// same buckets: a failure here is a failed login), so codes cannot be guessed faster
/// than passwords; while throttled even a valid code waits (429).
pub async fn recover(
    req: HttpRequest,
    pool: web::Data<DbPool>,
    hub: web::Data<Hub>,
    settings: web::Data<Settings>,
    csrf: CsrfToken,
    form: web::Form<RecoverForm>,
) -> Result<HttpResponse, AppError> {
    let RecoverForm { username: typed, code, new_password, new_password_confirm } = form.into_inner();
    let mut page = recover_page(csrf.0, typed.clone());
    let new = Password::parse(new_password.clone()).map_err(|e| page.new_password_error = Some(e.to_string())).ok();
    if new.is_some() && new_password != new_password_confirm {
        page.new_password_confirm_error = Some("The two passwords do not match.".into());
    }
    let (Some(new), None) = (new, &page.new_password_confirm_error) else {
        return Ok(views::invalid(&page)?);
    };
    let username = Username::parse(&typed).ok();
    let addr = client_addr(&req);
    let addr_bucket = throttle::bucket("login", "addr", &addr);
    let buckets = username.as_ref().map(|name| Arc::new(LoginBuckets::new(name, &addr, &browser_id(&req))));
    let (per_addr, per_browser, per_addr_and_user, per_user) =
        (settings.login_per_addr(), settings.login_per_browser(), settings.login_per_addr_and_user(), settings.login_per_user());
    let lookup = {
        let (username, buckets) = (username.clone(), buckets.clone());
        db::run(&pool, move |conn| {
            if let Some(b) = &buckets {
                for (bucket, rule) in [(&b.browser, per_browser), (&b.addr_and_user, per_addr_and_user)] {
                    if let Err(t) = throttle::check_backoff(conn, bucket, rule)? {
                        return Ok::<_, AppError>(Err(t));
                    }
                }
                if let Err(t) = throttle::check(conn, &b.user, per_user)? {
                    return Ok(Err(t));
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
            page.form_error = Some(throttled_message(t));
            return Ok(views::too_many(&page, t.retry_after)?);
        }
    };
    // The new password is hashed whether or not the name and code are right: the
    // answer's time tells nothing.
    let salt = password::new_salt();
    let pwd_hash = {
        let salt = salt.clone();
        cpu::run(move || password::hash(&new, &salt)).await??
    };
    let recovered = match (credentials, recovery::normalize(&code)) {
        (Some(c), Some(code)) => {
            let digest = recovery::digest(c.user_id, &code);
            let user_id = c.user_id;
            let done =
                db::run(&pool, move |conn| recovery_codes::recover(conn, user_id, &digest, &salt, &pwd_hash).map_err(AppError::from))
                    .await?;
            done.then_some(c)
        }
        _ => None,
    };
    match recovered {
        Some(c) => {
            if let Some(b) = buckets {
                db::run(&pool, move |conn| throttle::forgive(conn, &b.browser).map_err(AppError::from)).await?;
            }
            hub.end_other_sessions(c.user_id, "");
            TypedSession::of(&req).log_in(c.user_id, &c.username, user_agent(&req))?;
            browser::remember_login(&req, c.user_id);
            Ok(see_other("/chats"))
        }
        None => {
            if let Some(b) = buckets {
                db::run(&pool, move |conn| {
                    throttle::record_failure(conn, &b.browser, per_browser)?;
                    throttle::record_failure(conn, &b.addr_and_user, per_addr_and_user)?;
                    throttle::record(conn, &b.user, per_user).map_err(AppError::from)
                })
                .await?;
            }
            page.form_error = Some(RECOVERY_FAILED.into());
            Ok(views::invalid(&page)?)
        }
    }
}

pub async fn logout(req: HttpRequest, hub: web::Data<Hub>) -> HttpResponse {
    // Its event streams end now; the session middleware deletes the row right after.
    if let Some(user) = TypedSession::of(&req).current_user() {
        hub.end_session(user.user_id, &user.sid);
    }
    TypedSession::of(&req).log_out();
    see_other("/login")
}
