//! Real-browser tests: headless Chromium through chromedriver (Debian packages), each
//! person a separate browser session against the app started by the test.
//!
//! This file is the harness; the scenarios are in `chat` (people chatting), `audit`
//! (axe-core, the Nu HTML Checker and screenshots of every page type), `oidc` (signing in
//! with an OpenID provider).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::{TestApp, PASSWORD};

mod account_safety;
mod attachments;
mod attachments_more;
mod audit;
mod chat;
mod inbox;
mod message_actions;
mod oidc;
mod search_more;
mod wire;

pub const LIVE: Duration = Duration::from_secs(3);
pub const PAGE: Duration = Duration::from_secs(10);

/// How a browser session is started.
#[derive(Clone, Copy, Debug, Default)]
pub struct Session {
    pub javascript: bool,
    /// `prefers-color-scheme: dark`, by Blink's own setting `preferredColorScheme=0` (0 is
    /// dark, 1 light; `--force-dark-mode` works too). The audit test checks it with
    /// `matchMedia` in every page.
    pub dark: bool,
}

impl Session {
    pub const JS: Session = Session { javascript: true, dark: false };
    pub const NO_JS: Session = Session { javascript: false, dark: false };
    pub const DARK: Session = Session { javascript: true, dark: true };
}

/// A chromedriver process (its own process group, so Chromium dies with it).
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Driver {
    pub async fn start() -> Self {
        use std::os::unix::process::CommandExt;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver (Debian package chromium-driver; `make test` installs it)");
        let url = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if reqwest::get(format!("{url}/status")).await.is_ok_and(|r| r.status().is_success()) {
                return Driver { child, url };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        unsafe { libc::kill(-(child.id() as i32), libc::SIGKILL) };
        let _ = child.wait();
        panic!("chromedriver did not come up within 5 s");
    }

    /// A new browser (fresh profile). `javascript: false` turns scripts off.
    pub async fn browser(&self, javascript: bool) -> Client {
        self.session(Session { javascript, dark: false }).await
    }

    pub async fn session(&self, session: Session) -> Client {
        let Session { javascript, dark } = session;
        let mut args = vec![
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,800",
        ];
        // One --blink-settings flag (a second one would replace the first).
        let blink = match (javascript, dark) {
            (true, false) => None,
            (true, true) => Some("--blink-settings=preferredColorScheme=0"),
            (false, false) => Some("--blink-settings=scriptEnabled=false"),
            (false, true) => Some("--blink-settings=scriptEnabled=false,preferredColorScheme=0"),
        };
        args.extend(blink);
        let caps = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": args,
                "prefs": { "profile.managed_default_content_settings.javascript": if javascript { 1 } else { 2 } }
            }
        });
        let serde_json::Value::Object(caps) = caps else { unreachable!() };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Kill chromedriver and every Chromium it started (same process group).
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

pub fn screenshot_dir() -> std::path::PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("screenshots")
}

/// Saves a screenshot under target/screenshots/ (for failures and for looking at).
pub async fn screenshot(browser: &Client, name: &str) {
    if let Ok(png) = browser.screenshot().await {
        let dir = screenshot_dir();
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(format!("{name}.png")), png);
    }
}

/// Saves a screenshot named `failed-{name}` and panics with what was expected and where it is.
pub async fn fail_with_screenshot(browser: &Client, name: &str, expected: &str) {
    screenshot(browser, &format!("failed-{name}")).await;
    let url = browser.current_url().await.map(|u| u.to_string()).unwrap_or_default();
    panic!("{expected} (at {url}; screenshot in {})", screenshot_dir().join(format!("failed-{name}.png")).display());
}

/// Waits for an element; on failure says what was expected and saves a screenshot.
pub async fn wait_for(browser: &Client, locator: Locator<'_>, within: Duration, name: &str, expected: &str) -> Element {
    match browser.wait().at_most(within).for_element(locator).await {
        Ok(element) => element,
        Err(e) => {
            fail_with_screenshot(browser, name, &format!("{expected}: {e}")).await;
            unreachable!()
        }
    }
}

/// Polls a JavaScript expression (the body of a function) until it returns `true`.
pub async fn wait_until(browser: &Client, js: &str, within: Duration, name: &str, expected: &str) {
    let deadline = std::time::Instant::now() + within;
    loop {
        if browser.execute(js, vec![]).await.ok().and_then(|v| v.as_bool()) == Some(true) {
            return;
        }
        if std::time::Instant::now() >= deadline {
            fail_with_screenshot(browser, name, &format!("{expected} within {within:?}")).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Logs in with the login form (people made over HTTP have the password `PASSWORD`).
pub async fn login(browser: &Client, app: &TestApp, username: &str) {
    browser.goto(&format!("{}/login", app.address)).await.unwrap();
    browser.find(Locator::Css("#username")).await.unwrap().send_keys(username).await.unwrap();
    browser.find(Locator::Css("#password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    browser.find(Locator::Css("form[action='/login'] button[type=submit]")).await.unwrap().click().await.unwrap();
    let chats = format!("{}/chats", app.address);
    wait_until(
        browser,
        &format!("return location.href === {chats:?}"),
        PAGE,
        &format!("login-{username}"),
        &format!("{username} lands on /chats after logging in"),
    )
    .await;
}

pub async fn signup(browser: &Client, app: &TestApp, username: &str) {
    browser.goto(&format!("{}/signup", app.address)).await.unwrap();
    browser.find(Locator::Css("#username")).await.unwrap().send_keys(username).await.unwrap();
    browser.find(Locator::Css("#password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    browser.find(Locator::Css("#password_confirm")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    browser.find(Locator::Css("form[action='/signup'] button[type=submit]")).await.unwrap().click().await.unwrap();
    // The first recovery codes are shown once; "continue" leads to the chats.
    browser.wait().at_most(PAGE).for_url(&format!("{}/signup/recovery-codes", app.address).parse().unwrap()).await.unwrap();
    browser.find(Locator::Css("a[href='/chats'].btn")).await.unwrap().click().await.unwrap();
    browser.wait().at_most(PAGE).for_url(&format!("{}/chats", app.address).parse().unwrap()).await.unwrap();
}

/// `asker` finds `friend` with the search on /friends and sends a request with a
/// greeting; `friend` accepts it on their /friends page.
pub async fn befriend_in_browsers(asker: &Client, friend: &Client, app: &TestApp, friend_name: &str) {
    // The search form's own URL (typing would race the live search's swap).
    asker.goto(&format!("{}/friends?q={}", app.address, &friend_name[..2])).await.unwrap();
    let form = format!("form[action='/friend-requests']:has(input[name=to][value='{friend_name}'])");
    let form = asker.wait().at_most(PAGE).for_element(Locator::Css(&form)).await.unwrap();
    form.find(Locator::Css("input[name=greeting]")).await.unwrap().send_keys("hi, it's me").await.unwrap();
    form.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    asker.wait().at_most(PAGE).for_element(Locator::XPath("//button[contains(., 'Withdraw')]")).await.unwrap();

    friend.goto(&format!("{}/friends", app.address)).await.unwrap();
    let greeting = friend.wait().at_most(PAGE).for_element(Locator::XPath("//*[contains(., \"hi, it's me\")]")).await;
    assert!(greeting.is_ok(), "the greeting is shown to the receiver");
    friend.find(Locator::Css("form[action$='/accept'] button")).await.unwrap().click().await.unwrap();
    friend.wait().at_most(PAGE).for_element(Locator::Css("form[action='/chats/direct']")).await.unwrap();
}

/// Opens the direct chat with `friend` from their profile's "Message" button.
pub async fn open_chat(browser: &Client, app: &TestApp, friend: &str) {
    browser.goto(&format!("{}/users/{friend}", app.address)).await.unwrap();
    browser.find(Locator::Css("form[action='/chats/direct'] button")).await.unwrap().click().await.unwrap();
    if browser.wait().at_most(PAGE).for_element(Locator::Css("#composer-text")).await.is_err() {
        screenshot(browser, "failed-open-chat").await;
        panic!("expected the chat with {friend} to open (screenshot in target/screenshots/failed-open-chat.png)");
    }
}

pub fn message_with(text: &str) -> String {
    format!("//ol[@id='messages']//div[contains(@class,'message-body')][contains(., '{text}')]")
}

/// Waits for a message containing `text`; on failure saves a screenshot and says what was expected.
pub async fn expect_message(browser: &Client, text: &str, within: Duration, who: &str) {
    let xpath = message_with(text);
    if browser.wait().at_most(within).for_element(Locator::XPath(&xpath)).await.is_err() {
        fail_with_screenshot(browser, who, &format!("{who} expected to see {text:?} within {within:?}")).await;
    }
}

/// Runs a browser test body and always closes the browsers afterwards.
pub async fn with_browsers<F, Fut>(n: usize, javascript: bool, body: F)
where
    F: FnOnce(Vec<Client>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    with_sessions(&vec![Session { javascript, dark: false }; n], body).await;
}

/// Like `with_browsers`, one browser per given session kind.
pub async fn with_sessions<F, Fut>(sessions: &[Session], body: F)
where
    F: FnOnce(Vec<Client>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let driver = Driver::start().await;
    let mut browsers = Vec::new();
    for &session in sessions {
        browsers.push(driver.session(session).await);
    }
    let handles: Vec<Client> = browsers.to_vec();
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(body(handles))).await;
    if outcome.is_err() {
        // Whatever failed (an unwrap too): how each browser looked at that moment.
        let test = std::thread::current().name().unwrap_or("test").rsplit("::").next().unwrap_or("test").to_string();
        for (i, b) in browsers.iter().enumerate() {
            screenshot(b, &format!("failed-{test}-browser{i}")).await;
        }
        eprintln!("screenshots of the browsers at the failure: {}/failed-{test}-browser*.png", screenshot_dir().display());
    }
    for b in browsers {
        let _ = b.close().await;
    }
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
