//! A browser-like HTTP client: keeps cookies, does not follow redirects, remembers the
//! session's CSRF token and adds it to form posts.

use std::sync::{Arc, Mutex};

use reqwest::header::HeaderMap;
use reqwest::{Response, StatusCode};

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    jar: Arc<reqwest::cookie::Jar>,
    csrf: Mutex<Option<String>>,
}

impl Client {
    pub fn new(base: &str) -> Self {
        let jar = Arc::new(reqwest::cookie::Jar::default());
        // The server closes idle keep-alive connections after 5 s; a pooled connection
        // reused at that instant fails with IncompleteMessage (seen in a busy full run).
        // Idle connections are dropped here first, as browsers and chaat-load do.
        let http = reqwest::Client::builder()
            .cookie_provider(jar.clone())
            .redirect(reqwest::redirect::Policy::none())
            .pool_idle_timeout(std::time::Duration::from_secs(3))
            .build()
            .unwrap();
        Client { http, base: base.to_string(), jar, csrf: Mutex::new(None) }
    }

    /// The same browser (cookies, CSRF token) talking to another instance.
    pub fn moved_to(&self, base: &str) -> Client {
        let csrf = Mutex::new(self.csrf.lock().unwrap().clone());
        Client { http: self.http.clone(), base: base.to_string(), jar: self.jar.clone(), csrf }
    }

    /// The `Cookie` header this browser sends (for hand-written requests).
    pub fn cookie_header(&self) -> String {
        use reqwest::cookie::CookieStore;
        let url = self.base.parse().unwrap();
        self.jar.cookies(&url).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// GET and return (status, body); remembers the page's CSRF token.
    pub async fn get_page(&self, path: &str) -> (StatusCode, String) {
        let resp = self.get(path).await;
        let status = resp.status();
        let body = resp.text().await.unwrap();
        if let Some(token) = csrf_token_in(&body) {
            *self.csrf.lock().unwrap() = Some(token);
        }
        (status, body)
    }

    /// GET like htmx does (`HX-Request: true`): the fragment, not the page.
    pub async fn get_htmx(&self, path: &str) -> Response {
        self.http.get(self.url(path)).header("HX-Request", "true").send().await.unwrap()
    }

    /// The session's CSRF token, read from a page (the login page works for anyone:
    /// logged-in visitors are redirected, so fall back to settings).
    pub async fn csrf_token(&self) -> String {
        if let Some(t) = self.csrf.lock().unwrap().clone() {
            return t;
        }
        let (status, _) = self.get_page("/login").await;
        if status == StatusCode::SEE_OTHER {
            self.get_page("/settings").await;
        }
        self.csrf.lock().unwrap().clone().expect("a page with a CSRF token")
    }

    /// Forgets the remembered token (after login, logout, ...: the session changed).
    pub fn forget_csrf(&self) {
        *self.csrf.lock().unwrap() = None;
    }

    /// POSTs a form with the session's CSRF token added.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let token = self.csrf_token().await;
        let mut fields: Vec<(&str, &str)> = form.to_vec();
        fields.push(("csrf_token", &token));
        self.post_raw(path, &fields, HeaderMap::new()).await
    }

    /// POSTs like htmx does: `HX-Request: true` and the token in `X-CSRF-Token`.
    pub async fn post_htmx(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let token = self.csrf_token().await;
        let mut headers = HeaderMap::new();
        headers.insert("HX-Request", "true".parse().unwrap());
        headers.insert("X-CSRF-Token", token.parse().unwrap());
        self.post_raw(path, form, headers).await
    }

    /// POSTs exactly the given fields and headers (no token added).
    pub async fn post_raw(&self, path: &str, form: &[(&str, &str)], headers: HeaderMap) -> Response {
        self.http.post(self.url(path)).headers(headers).form(form).send().await.unwrap()
    }

    pub async fn signup(&self, username: &str, password: &str) -> Response {
        let resp = self.post("/signup", &[("username", username), ("password", password), ("password_confirm", password)]).await;
        self.forget_csrf();
        resp
    }

    pub async fn login(&self, username: &str, password: &str) -> Response {
        let resp = self.post("/login", &[("username", username), ("password", password)]).await;
        self.forget_csrf();
        resp
    }

    pub async fn logout(&self) -> Response {
        let resp = self.post("/logout", &[]).await;
        self.forget_csrf();
        resp
    }
}

pub use chaat_load::person::csrf_token_in;
