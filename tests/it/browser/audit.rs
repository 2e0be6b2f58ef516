//! Every page type as people see it, with realistic data: axe-core finds no serious or
//! critical violation (light and dark), the Nu HTML Checker finds no error, nothing
//! overflows at 360 px, and screenshots at 375×812 and 1280×800 (light and dark) are
//! written to target/screenshots/ for looking at.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write as _;
use std::path::Path;

use diesel::RunQueryDsl;

use fantoccini::Client;
use uuid::Uuid;

use super::*;
use crate::helpers::{Client as Http, TestApp};
use crate::oidc::{app_with_provider, sign_in_at_provider, AtProvider, Provider};

/// 32 characters, the longest username there is.
pub const LONG_NAME: &str = "maximilian_alexander.longname-32";
const LONG_WORD: &str =
    "Pneumonoultramicroscopicsilicovolcanoconiosis-and-a-link-https://example.com/a/very/long/path/without/any/spaces/at/all";

/// The page types, named, with the people whose view they are.
struct Pages {
    /// The OpenID provider's issuer (its pages are under it): each browser signs in there
    /// once, to see the username form of a first sign-in (`oidc-username`).
    issuer: String,
    /// (name, path) seen by nobody logged in.
    guest: Vec<(&'static str, String)>,
    /// (name, path) seen by `newbie`, who has no friends and no chats (empty states).
    newbie: Vec<(&'static str, String)>,
    /// (name, path) seen by alice, who has friends, requests, chats and unread messages.
    alice: Vec<(&'static str, String)>,
    /// (name, path) seen by the person with the longest name there is.
    long: Vec<(&'static str, String)>,
}

/// alice has friends (bob, carol, the long name), an incoming request (dave), an outgoing
/// one (erin), a direct chat with bob (long words, several lines), an unread direct
/// chat with the long name (muted) and a group of four. At 1280 px the chat pages show
/// the list beside the chat (two panes). Sign-in with an OpenID provider is
/// configured: the login page has its button, Settings its part (alice's unlinked, the
/// long name's linked), and a failed sign-in its error page.
async fn seed(app: &TestApp, provider: &Provider) -> Pages {
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    let long = app.signed_up(LONG_NAME).await;
    let dave = app.signed_up("dave").await;
    app.signed_up("erin").await;
    app.signed_up("bea").await;
    app.signed_up("newbie").await;
    for friend in [&bob, &carol, &long] {
        alice.befriend(friend).await;
    }
    bob.befriend(&carol).await;
    let asked = dave.send_friend_request(&alice, "Hi Alice! We met at the climbing gym on Tuesday.").await;
    assert!(asked.status().is_redirection());
    let asked = alice.send_friend_request("erin", "").await;
    assert!(asked.status().is_redirection());

    let direct = alice.open_direct(&bob).await;
    bob.send(direct, "Hey! Are we still on for Saturday?").await;
    bob.send(direct, "I can bring the tent.").await;
    alice.send(direct, "Yes! Meet at the station at 8.\nI'll bring snacks.").await;
    bob.send(direct, LONG_WORD).await;
    alice.send(direct, "👍 perfect").await;

    let group = alice.create_group("Weekend trip to the mountains", &[&bob, &carol, &long]).await;
    alice.send(group, "Who's driving?").await;
    carol.send(group, "I can take three people.").await;
    long.send(group, "Count me in! My name is long, does it wrap?").await;
    bob.send(group, LONG_WORD).await;
    // Every kind of message (issue 14): edited, reacted to, a reply, a mention, deleted,
    // and a reply whose original is deleted.
    let actions = |seq: i64, what: &str| format!("/chats/{group}/messages/{seq}/{what}");
    carol.post(&actions(3, "edit"), &[("text", "I can take three people (edited: four).")]).await;
    for (who, emoji) in [(&bob, "👍"), (&alice, "👍"), (&long, "🎉")] {
        who.post(&actions(3, "reactions"), &[("emoji", emoji)]).await;
    }
    let reply = |to: &str, text: &str| {
        let (to, text) = (to.to_string(), text.to_string());
        let bob = &bob;
        async move {
            let fields = [("text", text.as_str()), ("client_id", &Uuid::new_v4().to_string()), ("reply_to", to.as_str())];
            bob.post(&format!("/chats/{group}/messages"), &fields).await
        }
    };
    reply("3", "Great, @alice and @carol can come with you then.").await;
    carol.send(group, "Oops, wrong chat").await;
    reply("7", "What was that?").await;
    carol.post(&actions(7, "delete"), &[]).await;

    let long_chat = long.open_direct(&alice).await;
    long.send(long_chat, "Unread: did you get my message about the trip?").await;
    long.send(long_chat, "And another one.").await;
    // alice muted it: its unread count is greyed in her list and counts in no badge.
    let muted = alice.post(&format!("/chats/{long_chat}/mute"), &[("for", "always")]).await;
    assert!(muted.status().is_redirection());
    // Account safety (SPEC §10): someone alice blocked (Settings lists them).
    app.signed_up("mallory").await;
    assert!(alice.post("/users/mallory/block", &[]).await.status().is_redirection());

    // The long name's account is linked to a provider account (as Settings makes it).
    diesel::sql_query(
        "INSERT INTO oidc_identities (issuer, subject, user_id) SELECT $1, 'sub-long', user_id FROM users WHERE username = $2",
    )
    .bind::<diesel::sql_types::Text, _>(&provider.issuer)
    .bind::<diesel::sql_types::Text, _>(LONG_NAME)
    .execute(&mut app.conn())
    .unwrap();
    let (_, settings) = long.get_page("/settings").await;
    assert!(crate::helpers::has(&settings, "form[action='/settings/oidc/unlink']"), "linked: {settings}");

    Pages {
        issuer: provider.issuer.clone(),
        guest: vec![
            ("signup", "/signup".into()),
            ("login", "/login".into()),
            ("recover", "/recover".into()),
            // What the provider's `error=` turns into (its text shown escaped).
            ("oidc-error", "/auth/oidc/callback?error=access_denied&error_description=The+person+declined+to+share+their+account".into()),
        ],
        newbie: vec![("chats-empty", "/chats".into()), ("friends-empty", "/friends".into())],
        alice: vec![
            ("chats", "/chats".into()),
            ("direct-chat", format!("/chats/{direct}")),
            ("group-chat", format!("/chats/{group}")),
            ("friends", "/friends?q=b".into()),
            ("settings", "/settings".into()),
            ("profile", format!("/users/{LONG_NAME}")),
            ("profile-blocked", "/users/mallory".into()),
            ("error-404", "/users/nobody-at-all".into()),
            ("search", "/search?q=the".into()),
            ("search-none", "/search?q=nothing%20here".into()),
            ("group-permalink", format!("/chats/{group}?at=3")),
            ("message-edit", format!("/chats/{group}/messages/2/edit")),
            ("message-history", format!("/chats/{group}/messages/3/history")),
            ("message-delete", format!("/chats/{group}/messages/2/delete")),
            ("message-react", format!("/chats/{group}/messages/3/reactions")),
            ("direct-chat-reply", format!("/chats/{direct}?reply_to=1")),
        ],
        long: vec![
            ("chats-long-name", "/chats".into()),
            ("own-profile-long-name", format!("/users/{LONG_NAME}")),
            ("settings-oidc-linked", "/settings".into()),
        ],
    }
}

pub(super) fn axe_source() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}: run `make assets`", path.display()))
}

/// Runs axe-core in the page; returns the serious and critical violations, described.
pub(super) async fn axe(browser: &Client, source: &str) -> Vec<String> {
    let loaded = browser.execute(&format!("{source}\n;return typeof window.axe"), vec![]).await.unwrap();
    assert_eq!(loaded.as_str(), Some("object"), "axe-core loads in the page");
    let run = r#"
        const done = arguments[arguments.length - 1];
        axe.run(document, { resultTypes: ['violations'] })
          .then(r => done(r.violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => `${v.id} (${v.impact}): ${v.help}\n` + v.nodes.slice(0, 8)
              .map(n => `      ${n.target.join(' ')}: ${(n.failureSummary || '').replace(/\s+/g, ' ')}`).join('\n'))))
          .catch(e => done(['axe failed: ' + e]));
    "#;
    let found = browser.execute_async(run, vec![]).await.unwrap();
    serde_json::from_value(found).unwrap()
}

/// Sets the viewport (not the window) to `width`×`height`.
pub(super) async fn viewport(browser: &Client, width: u32, height: u32) {
    browser.set_window_size(width, height).await.unwrap();
    let inner = browser.execute("return [innerWidth, innerHeight]", vec![]).await.unwrap();
    let (w, h) = (inner[0].as_u64().unwrap() as u32, inner[1].as_u64().unwrap() as u32);
    if (w, h) != (width, height) {
        browser.set_window_size(width + (width - w.min(width)), height + (height - h.min(height))).await.unwrap();
    }
}

/// Elements that stick out of the viewport sideways (ignoring visually hidden ones),
/// with every <details> open (the members panel, the new group form).
pub(super) const OVERFLOW: &str = r#"
const closed = [...document.querySelectorAll('details:not([open])')];
closed.forEach(d => d.open = true);
const out = [];
if (document.querySelector('main > .chat') && document.documentElement.scrollHeight > innerHeight)
  out.push(`the chat page scrolls (only its messages should): ${document.documentElement.scrollHeight}px high`);
if (document.documentElement.scrollWidth > innerWidth) out.push(`the page scrolls sideways: ${document.documentElement.scrollWidth}px wide`);
for (const el of document.body.querySelectorAll('*')) {
  const r = el.getBoundingClientRect();
  if (r.width <= 1 || r.height <= 1 || el.closest('.skip-link, .visually-hidden')) continue;
  if (r.right > innerWidth + 0.5 || r.left < -0.5) {
    out.push(`${el.tagName.toLowerCase()}${el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : ''} spans ${Math.round(r.left)}..${Math.round(r.right)}`);
  }
  if (out.length > 8) break;
}
closed.forEach(d => d.open = false);
return out;
"#;

/// Visits each page in one browser: axe at both sizes, the 360 px overflow check,
/// screenshots at 375×812 and 1280×800. Returns the problems found, page by page.
async fn audit_pages(browser: &Client, app: &TestApp, pages: &Pages, dark: bool) -> String {
    let theme = if dark { "dark" } else { "light" };
    let source = axe_source();
    let mut problems = String::new();
    let visit = async |name: &str, path: &str, problems: &mut String| {
        browser.goto(&format!("{}{path}", app.address)).await.unwrap();
        let is_dark = browser.execute("return matchMedia('(prefers-color-scheme: dark)').matches", vec![]).await.unwrap();
        if is_dark.as_bool() != Some(dark) {
            fail_with_screenshot(
                browser,
                &format!("{name}-{theme}"),
                &format!("prefers-color-scheme: dark is {dark} in the {theme} browser"),
            )
            .await;
        }
        viewport(browser, 360, 740).await;
        let overflow: Vec<String> = serde_json::from_value(browser.execute(OVERFLOW, vec![]).await.unwrap()).unwrap();
        if !overflow.is_empty() {
            screenshot(browser, &format!("failed-{name}-{theme}-360")).await;
            let _ = writeln!(problems, "{name} ({theme}, 360 px): {}", overflow.join("; "));
        }
        for (w, h) in [(375, 812), (1280, 800)] {
            viewport(browser, w, h).await;
            screenshot(browser, &format!("{name}-{w}-{theme}")).await;
            // A long page's end too (WebDriver screenshots show the viewport only).
            let scrolled = "if (document.documentElement.scrollHeight <= innerHeight) return false; scrollTo(0, document.documentElement.scrollHeight); return true";
            if browser.execute(scrolled, vec![]).await.unwrap() == true {
                screenshot(browser, &format!("{name}-{w}-{theme}-end")).await;
                browser.execute("scrollTo(0, 0)", vec![]).await.unwrap();
            }
            // Settings' part for the OpenID provider (between the top and the end).
            let provider = "let f = document.querySelector(\"form[action^='/settings/oidc/']\"); if (!f) return false; \
                            f.closest('section, .card, form').scrollIntoView({block: 'center'}); return true";
            if browser.execute(provider, vec![]).await.unwrap() == true {
                screenshot(browser, &format!("{name}-{w}-{theme}-oidc")).await;
                browser.execute("scrollTo(0, 0)", vec![]).await.unwrap();
            }
            // The group's members panel, open (it drops over the messages).
            let panel = "let d = document.querySelector('details.members-panel'); if (d) d.open = arguments[0]; return !!d";
            if browser.execute(panel, vec![true.into()]).await.unwrap() == true {
                screenshot(browser, &format!("{name}-{w}-{theme}-members")).await;
                browser.execute(panel, vec![false.into()]).await.unwrap();
            }
            for v in axe(browser, &source).await {
                let _ = writeln!(problems, "{name} ({theme}, {w} px): {v}");
            }
        }
    };
    for (name, path) in &pages.guest {
        visit(name, path, &mut problems).await;
    }
    // A first sign-in through the provider (its own pages), up to the username form.
    browser.goto(&format!("{}/login", app.address)).await.unwrap();
    browser.find(fantoccini::Locator::Css("form[action='/auth/oidc/start'] button")).await.unwrap().click().await.unwrap();
    let sub = if dark { "sub-dave" } else { "sub-carol" };
    super::oidc::to_the_username_form(browser, &pages.issuer, sub).await;
    visit("oidc-username", "/auth/oidc/username", &mut problems).await;
    browser.delete_all_cookies().await.unwrap();
    login(browser, app, "newbie").await;
    for (name, path) in &pages.newbie {
        visit(name, path, &mut problems).await;
    }
    browser.delete_all_cookies().await.unwrap();
    login(browser, app, "alice").await;
    for (name, path) in &pages.alice {
        visit(name, path, &mut problems).await;
    }
    browser.delete_all_cookies().await.unwrap();
    login(browser, app, LONG_NAME).await;
    for (name, path) in &pages.long {
        visit(name, path, &mut problems).await;
    }
    problems
}

/// axe-core on every page type, light and dark, at phone and desktop sizes; no sideways
/// overflow at 360 px; screenshots of each for looking at.
#[actix_web::test]
async fn every_page_type_passes_axe_light_and_dark_and_fits_a_phone() {
    axe_source();
    let (app, provider) = app_with_provider().await;
    let pages = seed(&app, &provider).await;
    let (app, pages) = (&app, &pages);
    with_sessions(&[Session::JS, Session::DARK], |b| async move {
        let (light, dark) = futures_util::join!(audit_pages(&b[0], app, pages, false), audit_pages(&b[1], app, pages, true));
        let problems = light + &dark;
        assert!(
            problems.is_empty(),
            "serious or critical axe-core violations, or overflow at 360 px (screenshots in {}):\n{problems}",
            screenshot_dir().display()
        );
    })
    .await;
}

/// The Nu HTML Checker: no error on any page type (one JVM start for all pages). The
/// only messages left out are about htmx 4's attribute names (`hx-sse:connect`,
/// `hx-headers:inherited`…: a colon the checker does not accept in attribute names).
#[actix_web::test]
async fn every_page_type_is_valid_html() {
    let jar = Path::new(env!("CARGO_MANIFEST_DIR")).join("node_modules/vnu-jar/build/dist/vnu.jar");
    assert!(jar.exists(), "{} is missing: run `make assets`", jar.display());
    let (app, provider) = app_with_provider().await;
    let pages = seed(&app, &provider).await;
    let dir = std::env::temp_dir().join(format!("chaat-vnu-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    let mut save = async |who: &Http, name: &str, path: &str| {
        let (_, html) = who.get_page(path).await;
        let file = dir.join(format!("{name}.html"));
        std::fs::write(&file, html).unwrap();
        files.push(file);
    };
    let guest = app.client();
    for (name, path) in &pages.guest {
        save(&guest, name, path).await;
    }
    // The username form of a first sign-in through the provider, and with an error.
    let newcomer = app.client();
    let callback = sign_in_at_provider(&newcomer, &provider, AtProvider::LogIn("sub-carol")).await;
    assert!(newcomer.get(&callback).await.status().is_redirection());
    save(&newcomer, "oidc-username", "/auth/oidc/username").await;
    let newbie = app.client();
    assert!(newbie.login("newbie", crate::helpers::PASSWORD).await.status().is_redirection());
    for (name, path) in &pages.newbie {
        save(&newbie, name, path).await;
    }
    let alice = app.client();
    assert!(alice.login("alice", crate::helpers::PASSWORD).await.status().is_redirection());
    for (name, path) in &pages.alice {
        save(&alice, name, path).await;
    }
    let long = app.client();
    assert!(long.login(LONG_NAME, crate::helpers::PASSWORD).await.status().is_redirection());
    for (name, path) in &pages.long {
        save(&long, name, path).await;
    }
    // A form with errors (422) and a guest's 404.
    let wrong = guest.post("/signup", &[("username", "x"), ("password", "short"), ("password_confirm", "other")]).await;
    assert_eq!(wrong.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    std::fs::write(dir.join("signup-errors.html"), wrong.text().await.unwrap()).unwrap();
    files.push(dir.join("signup-errors.html"));
    let taken = newcomer.post("/auth/oidc/username", &[("username", "alice")]).await;
    assert_eq!(taken.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);
    std::fs::write(dir.join("oidc-username-error.html"), taken.text().await.unwrap()).unwrap();
    files.push(dir.join("oidc-username-error.html"));
    // The recovery codes page (a POST's answer, shown once).
    let codes = alice.post("/settings/recovery-codes", &[("current_password", crate::helpers::PASSWORD)]).await;
    assert_eq!(codes.status(), reqwest::StatusCode::OK);
    std::fs::write(dir.join("recovery-codes.html"), codes.text().await.unwrap()).unwrap();
    files.push(dir.join("recovery-codes.html"));

    let out =
        match std::process::Command::new("java").arg("-jar").arg(&jar).args(["--errors-only", "--format", "json"]).args(&files).output() {
            Ok(out) => out,
            Err(e) => panic!("java: {e}: run `make deps` (installs a headless JRE)"),
        };
    let report: serde_json::Value =
        serde_json::from_slice(&out.stderr).unwrap_or_else(|e| panic!("vnu's JSON report: {e}: {}", String::from_utf8_lossy(&out.stderr)));
    let mut errors = String::new();
    let mut htmx = std::collections::BTreeSet::new();
    for m in report["messages"].as_array().unwrap() {
        let text = m["message"].as_str().unwrap_or("");
        if text.starts_with("Attribute “hx-") && text.contains("” not allowed on element “") {
            htmx.insert(text.to_string());
            continue;
        }
        let file = m["url"].as_str().unwrap_or("").rsplit('/').next().unwrap_or("");
        let _ = writeln!(errors, "{file}:{}: {} {text}\n    {}", m["lastLine"], m["type"], m["extract"].as_str().unwrap_or("").trim());
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("left out (htmx 4 attribute names): {htmx:#?}");
    assert!(errors.is_empty(), "the Nu HTML Checker found errors:\n{errors}");
}
