//! Cookies that belong to the browser, not to a session: signed (HMAC-SHA256, actix-web's
//! signed cookie jar) with a key of their own (`app_secrets` row `browser_cookie_key`,
//! shared by every instance), so reading them needs no database.
//!
//! - `chaat_form`: the CSRF token of an anonymous visitor (the login and signup forms).
//!   Showing a form used to create a session row for its token: one row per `GET /login`,
//!   kept 2 h, so a script could make the database write hundreds of rows a second. Now a
//!   visitor gets a database row only when a login or signup succeeds. A browser-session
//!   cookie (no `Max-Age`); its random token also names the browser for the login
//!   throttle (`routes::accounts`), as a hash.
//! - `chaat_known`: the id of the last person who logged in with this browser. The login
//!   throttle lets such a browser past the limits that count everyone's failures for that
//!   name, so strangers guessing a password cannot lock its owner out of their own
//!   browser. Kept a year; it survives logout (that is its point).
//!
//! Each value starts with its purpose (`form:`, `known:`), so one signed value cannot be
//! replayed as the other. A value whose signature does not verify is ignored.
//!
//! Handlers ask for a cookie (`form_token_or_new`, `remember_login`); `set_cookies`, a
//! middleware, adds it to whatever answer the handler gives.

use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, HttpRequest};

use super::tokens;
use crate::models::UserId;

pub const FORM_COOKIE: &str = "chaat_form";
pub const KNOWN_COOKIE: &str = "chaat_known";
/// How long a browser stays known for the person who logged in with it.
const KNOWN_FOR: Duration = Duration::from_secs(365 * 24 * 3600);

/// The signing key and the cookie attributes (app data).
#[derive(Clone)]
pub struct BrowserCookies {
    key: Key,
    secure: bool,
}

impl BrowserCookies {
    pub fn new(key: Key, secure: bool) -> Self {
        BrowserCookies { key, secure }
    }

    /// The value of the signed cookie `name` written for `purpose`, if it is genuine.
    fn read(&self, req: &HttpRequest, name: &'static str, purpose: &str) -> Option<String> {
        let mut jar = CookieJar::new();
        jar.add_original(req.cookie(name)?);
        let verified = jar.signed(&self.key).get(name)?;
        verified.value().strip_prefix(purpose)?.strip_prefix(':').map(str::to_owned)
    }

    fn cookie(&self, name: &'static str, purpose: &str, value: &str, max_age: Option<Duration>) -> Option<Cookie<'static>> {
        let mut cookie = Cookie::build(name, format!("{purpose}:{value}"))
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .finish();
        if let Some(age) = max_age {
            cookie.set_max_age(actix_web::cookie::time::Duration::seconds(age.as_secs() as i64));
        }
        let mut jar = CookieJar::new();
        jar.signed_mut(&self.key).add(cookie);
        jar.get(name).cloned()
    }
}

fn config(req: &HttpRequest) -> Option<&BrowserCookies> {
    req.app_data::<web::Data<BrowserCookies>>().map(|data| data.get_ref())
}

/// A form token minted for this request's answer.
#[derive(Clone)]
struct Minted(String);

/// A login to remember in this request's answer.
#[derive(Clone, Copy)]
struct KnownLogin(UserId);

/// The anonymous form token this browser carries, if its cookie is genuine.
pub fn form_token(req: &HttpRequest) -> Option<String> {
    config(req)?.read(req, FORM_COOKIE, "form")
}

/// The anonymous form token for a page: the browser's, or a new one that the answer
/// sets as its cookie.
pub fn form_token_or_new(req: &HttpRequest) -> String {
    if let Some(token) = form_token(req) {
        return token;
    }
    if let Some(Minted(token)) = req.extensions().get::<Minted>() {
        return token.clone();
    }
    let token = tokens::random_hex(32);
    req.extensions_mut().insert(Minted(token.clone()));
    token
}

/// Who last logged in with this browser, if its cookie is genuine.
pub fn known_user(req: &HttpRequest) -> Option<UserId> {
    config(req)?.read(req, KNOWN_COOKIE, "known")?.parse().ok()
}

/// Makes this browser known for `user_id` (after a login or signup).
pub fn remember_login(req: &HttpRequest, user_id: UserId) {
    req.extensions_mut().insert(KnownLogin(user_id));
}

/// Middleware: adds the cookies the handler asked for to its answer, whatever it is.
pub async fn set_cookies<B: MessageBody>(req: ServiceRequest, next: Next<B>) -> Result<ServiceResponse<B>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let wanted: Vec<Cookie<'static>> = {
        let req = res.request();
        let Some(config) = config(req) else { return Ok(res) };
        let extensions = req.extensions();
        let form = extensions.get::<Minted>().and_then(|Minted(token)| config.cookie(FORM_COOKIE, "form", token, None));
        let known = extensions
            .get::<KnownLogin>()
            .and_then(|KnownLogin(user_id)| config.cookie(KNOWN_COOKIE, "known", &user_id.to_string(), Some(KNOWN_FOR)));
        form.into_iter().chain(known).collect()
    };
    for cookie in wanted {
        res.response_mut().add_cookie(&cookie)?;
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use actix_web::cookie::Key;
    use actix_web::test::TestRequest;
    use actix_web::web;

    use super::{form_token, known_user, BrowserCookies, FORM_COOKIE, KNOWN_COOKIE};

    fn config() -> BrowserCookies {
        BrowserCookies::new(Key::generate(), false)
    }

    #[test]
    fn a_signed_value_reads_back_and_a_forged_or_swapped_one_does_not() {
        let config = config();
        let form = config.cookie(FORM_COOKIE, "form", "abc", None).unwrap();
        let req = |cookies: &[(&'static str, String)]| {
            let mut req = TestRequest::default().app_data(web::Data::new(config.clone()));
            for (name, value) in cookies {
                req = req.cookie(actix_web::cookie::Cookie::new(*name, value.clone()));
            }
            req.to_http_request()
        };
        assert_eq!(form_token(&req(&[(FORM_COOKIE, form.value().to_string())])).as_deref(), Some("abc"));
        // Unsigned, or signed with another key: ignored.
        assert_eq!(form_token(&req(&[(FORM_COOKIE, "form:abc".into())])), None);
        let other = BrowserCookies::new(Key::generate(), false).cookie(FORM_COOKIE, "form", "abc", None).unwrap();
        assert_eq!(form_token(&req(&[(FORM_COOKIE, other.value().to_string())])), None);
        // A form token in the known cookie's place is no user id, and the other way round.
        assert_eq!(known_user(&req(&[(KNOWN_COOKIE, form.value().to_string())])), None);
        let uid = crate::models::UserId::new_v7();
        let known = config.cookie(KNOWN_COOKIE, "known", &uid.to_string(), None).unwrap();
        assert_eq!(known_user(&req(&[(KNOWN_COOKIE, known.value().to_string())])), Some(uid));
        assert_eq!(form_token(&req(&[(FORM_COOKIE, known.value().to_string())])), None);
    }
}
