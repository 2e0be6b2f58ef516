//! One simulated person: a browser-like HTTP client with its own cookie jar (the
//! session), the CSRF token taken from the last page, and the forms a person submits.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::header::HeaderValue;
use reqwest::{Response, StatusCode};
use uuid::Uuid;

use crate::Target;

pub const PASSWORD: &str = "load-test-password-1";

pub struct Person {
    pub username: String,
    pub http: reqwest::Client,
    base: String,
    /// The session's cookies, shared by `http` and the hot paths' own connections
    /// (`Poster`, `sse::EventStream`).
    jar: Arc<Jar>,
    base_url: url::Url,
    addr: SocketAddr,
    request_timeout: Duration,
    csrf: Mutex<String>,
}

/// The value of the hidden `csrf_token` field (or the htmx header attribute) in a page.
pub fn csrf_token_in(html: &str) -> Option<String> {
    for marker in ["name=\"csrf_token\" value=\"", "\"X-CSRF-Token\":\""] {
        if let Some(start) = html.find(marker).map(|i| i + marker.len()) {
            let end = html[start..].find('"')? + start;
            if end > start {
                return Some(html[start..end].to_string());
            }
        }
    }
    None
}

/// A browser-like client: cookies kept, redirects not followed (we read Location),
/// never through a proxy (traffic stays on 127.0.0.1).
pub fn browser(target: &Target) -> anyhow::Result<reqwest::Client> {
    browser_with(target, Arc::new(Jar::default()))
}

fn browser_with(target: &Target, jar: Arc<Jar>) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .cookie_provider(jar)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .user_agent("chaat-load")
        .timeout(target.request_timeout)
        .pool_max_idle_per_host(64)
        // actix-web closes idle keep-alive connections after 5 s; reusing one at that
        // moment fails ("connection closed before message completed"), so drop ours first.
        .pool_idle_timeout(Duration::from_secs(3))
        .build()?)
}

impl Person {
    /// Signs `username` up through the signup form, logged in afterwards.
    pub async fn sign_up(target: &Target, username: String) -> anyhow::Result<Self> {
        let jar = Arc::new(Jar::default());
        let base_url = url::Url::parse(&target.base)?;
        let port = base_url.port_or_known_default().context("the base has a port")?;
        let person = Person {
            username,
            http: browser_with(target, jar.clone())?,
            base: target.base.clone(),
            jar,
            base_url,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            request_timeout: target.request_timeout,
            csrf: Mutex::new(String::new()),
        };
        person.page("/signup").await.context("signup page")?;
        let pw = PASSWORD;
        let resp = person.post_form("/signup", &[("username", &person.username), ("password", pw), ("password_confirm", pw)]).await?;
        if resp.status() != StatusCode::SEE_OTHER {
            bail!("signup of {} answered {}", person.username, resp.status());
        }
        // The session was renewed with a new CSRF token: take it from a page.
        person.page("/chats").await.context("chat list after signup")?;
        Ok(person)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The app's address (127.0.0.1) for the hot paths' own connections.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `Host` header's value, as reqwest sends it.
    pub fn host(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// The `Cookie` header the session's requests carry (the jar's, as reqwest sends it).
    pub fn cookie_header(&self) -> Option<HeaderValue> {
        self.jar.cookies(&self.base_url)
    }

    /// Stores a response's `Set-Cookie` values, as reqwest does for its own requests.
    pub fn store_cookies(&self, set_cookies: &[String]) {
        for c in set_cookies {
            self.jar.add_cookie_str(c, &self.base_url);
        }
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// The CSRF token of the last page read (a multipart form's first part).
    pub fn csrf_token(&self) -> String {
        self.token()
    }

    fn token(&self) -> String {
        self.csrf.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// GETs a page (expects 200), remembers its CSRF token, returns the body.
    pub async fn page(&self, path: &str) -> anyhow::Result<String> {
        let resp = self.http.get(self.url(path)).send().await?;
        if resp.status() != StatusCode::OK {
            bail!("GET {path} answered {}", resp.status());
        }
        let body = resp.text().await?;
        if let Some(token) = csrf_token_in(&body) {
            *self.csrf.lock().unwrap_or_else(|e| e.into_inner()) = token;
        }
        Ok(body)
    }

    /// POSTs a plain form with the page's `csrf_token` field added.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<Response> {
        let token = self.token();
        let mut form = fields.to_vec();
        form.push(("csrf_token", &token));
        Ok(self.http.post(self.url(path)).form(&form).send().await?)
    }

    /// POSTs like htmx: `HX-Request` and the token in `X-CSRF-Token`.
    pub async fn post_htmx(&self, path: &str, fields: &[(&str, &str)]) -> anyhow::Result<Response> {
        let token = self.token();
        Ok(self.http.post(self.url(path)).header("HX-Request", "true").header("X-CSRF-Token", token).form(fields).send().await?)
    }

    /// Finds or creates the direct chat with `friend` (303 to the chat).
    pub async fn open_direct(&self, friend: &str) -> anyhow::Result<Uuid> {
        let resp = self.post_form("/chats/direct", &[("username", friend)]).await?;
        let location = resp.headers().get("location").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
        match location.strip_prefix("/chats/").and_then(|id| id.parse().ok()) {
            Some(id) if resp.status() == StatusCode::SEE_OTHER => Ok(id),
            _ => bail!("opening the chat of {} with {friend} answered {} {location}", self.username, resp.status()),
        }
    }

    /// Sends a message from the chat page's form, as htmx does; Ok when accepted.
    pub async fn send(&self, chat: Uuid, text: &str) -> anyhow::Result<()> {
        let client_id = Uuid::new_v4().to_string();
        let resp = self.post_htmx(&format!("/chats/{chat}/messages"), &[("text", text), ("client_id", &client_id)]).await?;
        let status = resp.status();
        // Read the fragment, as the browser does, so the connection is reusable.
        let _ = resp.bytes().await?;
        if status != StatusCode::OK {
            bail!("send answered {status}");
        }
        Ok(())
    }
}
