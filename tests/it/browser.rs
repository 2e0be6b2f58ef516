//! Real-browser tests: headless Chromium through chromedriver (Debian packages), each
//! person a separate browser session against the app started by the test.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use crate::helpers::{TestApp, PASSWORD};

const LIVE: Duration = Duration::from_secs(3);
const PAGE: Duration = Duration::from_secs(10);

/// A chromedriver process (its own process group, so Chromium dies with it).
pub struct Driver {
    child: Child,
    pub url: String,
}

impl Driver {
    pub async fn start() -> Self {
        use std::os::unix::process::CommandExt;
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("chromedriver")
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
        panic!("chromedriver did not come up within 5 s");
    }

    /// A new browser (fresh profile). `javascript: false` turns scripts off.
    pub async fn browser(&self, javascript: bool) -> Client {
        let mut args = vec![
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--window-size=1280,800",
        ];
        if !javascript {
            args.push("--blink-settings=scriptEnabled=false");
        }
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

/// Saves a screenshot under target/screenshots/ (for failures and for looking at).
pub async fn screenshot(browser: &Client, name: &str) {
    if let Ok(png) = browser.screenshot().await {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join(format!("{name}.png")), png);
    }
}

pub async fn signup(browser: &Client, app: &TestApp, username: &str) {
    browser.goto(&format!("{}/signup", app.address)).await.unwrap();
    browser.find(Locator::Css("#username")).await.unwrap().send_keys(username).await.unwrap();
    browser.find(Locator::Css("#password")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    browser.find(Locator::Css("#password_confirm")).await.unwrap().send_keys(PASSWORD).await.unwrap();
    browser.find(Locator::Css("form[action='/signup'] button[type=submit]")).await.unwrap().click().await.unwrap();
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

fn message_with(text: &str) -> String {
    format!("//ol[@id='messages']//div[contains(@class,'message-body')][contains(., '{text}')]")
}

/// Waits for a message containing `text`; on failure saves a screenshot and says what was expected.
pub async fn expect_message(browser: &Client, text: &str, within: Duration, who: &str) {
    let xpath = message_with(text);
    if browser.wait().at_most(within).for_element(Locator::XPath(&xpath)).await.is_err() {
        screenshot(browser, &format!("failed-{who}")).await;
        panic!("{who} expected to see {text:?} within {within:?} (screenshot in target/screenshots/failed-{who}.png)");
    }
}

/// Runs a browser test body and always closes the browsers afterwards.
async fn with_browsers<F, Fut>(n: usize, javascript: bool, body: F)
where
    F: FnOnce(Vec<Client>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let driver = Driver::start().await;
    let mut browsers = Vec::new();
    for _ in 0..n {
        browsers.push(driver.browser(javascript).await);
    }
    let handles: Vec<Client> = browsers.iter().cloned().collect();
    let outcome = futures_util::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(body(handles))).await;
    for b in browsers {
        let _ = b.close().await;
    }
    drop(driver);
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

#[actix_web::test]
async fn two_people_see_each_others_messages_live() {
    let app = TestApp::spawn().await;
    with_browsers(2, true, |b| async move {
        let (alice, bob) = (&b[0], &b[1]);
        signup(alice, &app, "alice").await;
        signup(bob, &app, "bob").await;
        befriend_in_browsers(alice, bob, &app, "bob").await;
        assert_eq!(crate::helpers::count(&mut app.conn(), "SELECT count(*) AS n FROM friends"), 1);
        open_chat(alice, &app, "bob").await;
        open_chat(bob, &app, "alice").await;

        let composer = alice.find(Locator::Css("#composer-text")).await.unwrap();
        composer.send_keys("hello bob\u{E007}").await.unwrap();
        expect_message(bob, "hello bob", LIVE, "bob").await;
        expect_message(alice, "hello bob", LIVE, "alice").await;
        // bob's page is visible: his read marker follows the message that arrived live.
        let read = "SELECT p.last_read_seq AS n FROM chat_participants p JOIN users u USING (user_id) WHERE u.username = 'bob'";
        let mut marked = false;
        for _ in 0..60 {
            if crate::helpers::count(&mut app.conn(), read) == 1 {
                marked = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(marked, "bob's read marker reached the live message");
        // The form came back empty and focused.
        let (value, focused) = composer_state(alice).await;
        assert_eq!(value, "");
        assert!(focused, "the composer keeps the focus after sending");

        bob.find(Locator::Css("#composer-text")).await.unwrap().send_keys("hi alice, line one\u{E008}\u{E007}\u{E000}line two\u{E007}").await.unwrap();
        expect_message(alice, "line two", LIVE, "alice").await;
        let body = alice.find(Locator::XPath(&message_with("line two"))).await.unwrap().text().await.unwrap();
        assert!(body.contains("line one\nline two"), "Shift+Enter made a new line: {body:?}");
        screenshot(alice, "direct-chat-1280").await;
    })
    .await;
}

async fn composer_state(browser: &Client) -> (String, bool) {
    for _ in 0..60 {
        let v = browser
            .execute("let t = document.getElementById('composer-text'); return [t.value, document.activeElement === t];", vec![])
            .await
            .unwrap();
        let (value, focused) = (v[0].as_str().unwrap_or("").to_string(), v[1].as_bool().unwrap_or(false));
        if value.is_empty() && focused {
            return (value, focused);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let v = browser.execute("let t = document.getElementById('composer-text'); return [t.value, document.activeElement === t];", vec![]).await.unwrap();
    (v[0].as_str().unwrap_or("").to_string(), v[1].as_bool().unwrap_or(false))
}

#[actix_web::test]
async fn without_javascript_the_chat_works_with_plain_forms() {
    let app = TestApp::spawn().await;
    let bob_http = app.signup("bob").await;
    app.signup("carol").await;
    with_browsers(1, false, |b| async move {
        let alice = &b[0];
        signup(alice, &app, "alice").await;
        // bob asks; alice accepts with a plain form post.
        let asked = bob_http.post("/friend-requests", &[("to", "alice"), ("greeting", "hey")]).await;
        assert_eq!(asked.status(), reqwest::StatusCode::SEE_OTHER);
        alice.goto(&format!("{}/friends", app.address)).await.unwrap();
        alice.find(Locator::Css("form[action$='/accept'] button")).await.unwrap().click().await.unwrap();
        alice.wait().at_most(PAGE).for_element(Locator::Css("form[action='/chats/direct']")).await.unwrap();
        assert_eq!(crate::helpers::count(&mut app.conn(), "SELECT count(*) AS n FROM friends"), 1);
        // alice finds carol and asks her, without JavaScript.
        alice.goto(&format!("{}/friends?q=car", app.address)).await.unwrap();
        let form = alice.find(Locator::Css("form[action='/friend-requests']:has(input[name=to][value='carol'])")).await.unwrap();
        form.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
        alice.wait().at_most(PAGE).for_element(Locator::XPath("//button[contains(., 'Withdraw')]")).await.unwrap();
        assert_eq!(crate::helpers::count(&mut app.conn(), "SELECT count(*) AS n FROM friend_requests WHERE status = 'pending'"), 1);
        open_chat(alice, &app, "bob").await;
        alice.find(Locator::Css("#composer-text")).await.unwrap().send_keys("sent without javascript").await.unwrap();
        alice.find(Locator::Css("#composer button[type=submit]")).await.unwrap().click().await.unwrap();
        expect_message(alice, "sent without javascript", PAGE, "alice-nojs").await;

        // bob's reply shows after following the refresh link.
        let chat = alice.current_url().await.unwrap();
        let chat_id: uuid::Uuid = chat.path().trim_start_matches("/chats/").parse().unwrap();
        crate::chats::send(&bob_http, chat_id, "reply from bob").await;
        alice.find(Locator::LinkText("Refresh")).await.unwrap().click().await.unwrap();
        expect_message(alice, "reply from bob", PAGE, "alice-nojs").await;
    })
    .await;
}

#[actix_web::test]
async fn without_event_streams_the_chat_page_polls_for_new_messages() {
    let settings = chaat::config::Settings { event_streams: false, ..crate::helpers::test_settings() };
    let app = TestApp::spawn_with(settings).await;
    let bob_http = app.signup("bob").await;
    with_browsers(1, true, |b| async move {
        let alice = &b[0];
        signup(alice, &app, "alice").await;
        crate::chats::befriend(&app, "alice", "bob");
        open_chat(alice, &app, "bob").await;
        let chat = alice.current_url().await.unwrap();
        let chat_id: uuid::Uuid = chat.path().trim_start_matches("/chats/").parse().unwrap();
        for i in 1..=2 {
            crate::chats::send(&bob_http, chat_id, &format!("polled {i}")).await;
            // The stream answers 503; chat.js polls ?after= every 3 s.
            expect_message(alice, &format!("polled {i}"), PAGE, "alice-polling").await;
        }
        let shown = alice.execute("return Array.from(document.querySelectorAll('#messages [data-seq]')).map(e => e.dataset.seq).join(',')", vec![]).await.unwrap();
        assert_eq!(shown.as_str(), Some("1,2"), "each message once, in order");
        let errors = alice.execute("return document.querySelectorAll('#messages main, #messages .error-page').length", vec![]).await.unwrap();
        assert_eq!(errors.as_i64(), Some(0), "no error page swapped into the list");
    })
    .await;
}
