//! Bytes on the wire (issue 19): every asset under a content-hashed name with immutable
//! caching, precompressed (brotli, gzip) and picked by `Accept-Encoding`; pages
//! gzip-compressed on the fly (brotli costs too much CPU per page); attachment downloads
//! and event streams never.

use std::io::Read;
use std::time::Duration;

use reqwest::{Response, StatusCode};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::{alice_and_bob, assert_redirect, Client, TestApp};

const CHROMIUM: &str = "gzip, deflate, br, zstd";

fn header(resp: &Response, name: &str) -> Option<String> {
    resp.headers().get(name).map(|v| v.to_str().unwrap().to_string())
}

/// Every `Vary` value, lowercased.
fn vary(resp: &Response) -> Vec<String> {
    resp.headers()
        .get_all("vary")
        .iter()
        .flat_map(|v| v.to_str().unwrap().split(',').map(|s| s.trim().to_ascii_lowercase()).collect::<Vec<_>>())
        .collect()
}

async fn get_with(client: &Client, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = client.http.get(client.url(path));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap()
}

fn decode(coding: Option<&str>, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        None => out.extend_from_slice(bytes),
        Some("br") => {
            brotli::Decompressor::new(bytes, 4096).read_to_end(&mut out).unwrap();
        }
        Some("gzip") => {
            flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        }
        Some(other) => panic!("unexpected Content-Encoding {other}"),
    }
    out
}

/// Two renderings of a page are the same but for the composer's fresh `client_id`.
fn same_page(a: &[u8], b: &[u8]) -> bool {
    fn without_client_id(page: &[u8]) -> String {
        let page = String::from_utf8(page.to_vec()).unwrap();
        let marker = "name=\"client_id\" value=\"";
        match page.find(marker) {
            Some(i) => format!("{}{}", &page[..i], &page[i + marker.len() + 36..]),
            None => page,
        }
    }
    without_client_id(a) == without_client_id(b)
}

/// The stylesheets and scripts a page loads.
fn assets_of(page: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(page);
    let mut urls = Vec::new();
    for (css, attr) in [("link[rel=stylesheet]", "href"), ("script[src]", "src")] {
        let sel = scraper::Selector::parse(css).unwrap();
        urls.extend(doc.select(&sel).filter_map(|e| e.value().attr(attr).map(str::to_string)));
    }
    urls
}

#[actix_web::test]
async fn every_asset_a_page_loads_is_immutable_named_after_its_bytes_and_sent_compressed_when_accepted() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    let (status, page) = alice.get_page(&format!("/chats/{chat}")).await;
    assert_eq!(status, StatusCode::OK);
    let urls = assets_of(&page);
    assert_eq!(urls.len(), 8, "app.css, htmx and its two extensions, app.js, inbox.js, chat.js, attachments.js: {urls:?}");
    // htmx opens the chat's stream from a timer set when it loads; chat.js's handlers for
    // the stream's answer (a 503 means polling, never a page swapped in) must be in place
    // by then, so both deferred page scripts come first.
    let at = |name: &str| urls.iter().position(|u| u.starts_with(&format!("/static/{name}."))).unwrap();
    assert!(at("chat") < at("htmx") && at("attachments") < at("htmx"), "page scripts before htmx: {urls:?}");
    for url in &urls {
        let file = url.strip_prefix("/static/").unwrap_or_else(|| panic!("{url} is not under /static/"));
        let plain = alice.get(url).await;
        assert_eq!(plain.status(), StatusCode::OK, "{url}");
        assert_eq!(header(&plain, "cache-control").as_deref(), Some("public, max-age=31536000, immutable"), "{url}");
        assert!(vary(&plain).contains(&"accept-encoding".to_string()), "{url}");
        assert_eq!(header(&plain, "content-encoding"), None, "no Accept-Encoding, no coding: {url}");
        let etag = header(&plain, "etag").unwrap();
        let length = plain.content_length().unwrap();
        let bytes = plain.bytes().await.unwrap();
        assert_eq!(length, bytes.len() as u64, "{url}");
        // The name's hash is the start of the SHA-256 of what is served.
        let hash = hex::encode(Sha256::digest(&bytes));
        let parts: Vec<&str> = file.split('.').collect();
        assert_eq!(parts[parts.len() - 2], &hash[..12], "{url}");

        let mut etags = vec![etag.clone()];
        for (accept, coding) in [(CHROMIUM, "br"), ("gzip, deflate", "gzip"), ("br;q=0.5, gzip", "gzip"), ("identity", "")] {
            let resp = get_with(&alice, url, &[("Accept-Encoding", accept)]).await;
            assert_eq!(resp.status(), StatusCode::OK);
            let coding = (!coding.is_empty()).then_some(coding);
            assert_eq!(header(&resp, "content-encoding").as_deref(), coding, "{url} for {accept}");
            assert!(vary(&resp).contains(&"accept-encoding".to_string()), "{url}");
            assert_eq!(header(&resp, "cache-control").as_deref(), Some("public, max-age=31536000, immutable"));
            let tag = header(&resp, "etag").unwrap();
            let length = resp.content_length().unwrap();
            let body = resp.bytes().await.unwrap();
            assert_eq!(length, body.len() as u64, "{url} for {accept}: Content-Length of the encoded bytes");
            assert_eq!(decode(coding, &body), bytes, "{url} for {accept}: decodes to the file");
            if coding.is_some() {
                assert!(body.len() < bytes.len(), "{url}: compressed is smaller");
                assert_ne!(tag, etag, "{url}: each representation has its own ETag");
            }
            etags.push(tag.clone());

            // Revalidation with this representation's tag, and HEAD.
            let again = get_with(&alice, url, &[("Accept-Encoding", accept), ("If-None-Match", &tag)]).await;
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{url} for {accept}");
            assert_eq!(header(&again, "etag"), Some(tag.clone()));
            assert!(vary(&again).contains(&"accept-encoding".to_string()));
            assert!(header(&again, "cache-control").unwrap().contains("immutable"));
            assert!(again.bytes().await.unwrap().is_empty());
            let head = alice.http.head(alice.url(url)).header("Accept-Encoding", accept).send().await.unwrap();
            assert_eq!(head.status(), StatusCode::OK, "HEAD {url}");
            assert_eq!(header(&head, "content-length"), Some(length.to_string()), "HEAD {url} for {accept}: the GET's length");
            assert_eq!(header(&head, "content-encoding").as_deref(), coding);
            assert_eq!(header(&head, "etag"), Some(tag));
            assert!(head.bytes().await.unwrap().is_empty());
        }
        // Another representation's tag is not this one's: the body comes again.
        let other = get_with(&alice, url, &[("Accept-Encoding", "gzip"), ("If-None-Match", &etag)]).await;
        assert_eq!(other.status(), StatusCode::OK);
        let weak = get_with(&alice, url, &[("If-None-Match", &format!("\"nope\", W/{etag}"))]).await;
        assert_eq!(weak.status(), StatusCode::NOT_MODIFIED, "a list and a weak tag match too");
    }
    // Anonymous pages load them the same way.
    let (_, login) = app.client().get_page("/login").await;
    let login_assets = assets_of(&login);
    assert!(login_assets.len() >= 5 && login_assets.iter().all(|u| urls.contains(u)), "{login_assets:?}");
}

#[actix_web::test]
async fn old_and_unknown_asset_names_are_404() {
    let app = TestApp::spawn().await;
    let client = app.client();
    let (_, login) = client.get_page("/login").await;
    let css = assets_of(&login).into_iter().find(|u| u.ends_with(".css")).unwrap();
    assert_eq!(client.get(&css).await.status(), StatusCode::OK);
    let wrong_hash = format!("/static/app.{}.css", "0".repeat(12));
    for path in ["/static/app.css", "/static/app.js", "/static/htmx-4.0.1.min.js", "/static/htmx.min.js", wrong_hash.as_str(), "/static/"] {
        assert_eq!(client.get(path).await.status(), StatusCode::NOT_FOUND, "{path}");
        let head = client.http.head(client.url(path)).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::NOT_FOUND, "HEAD {path}");
    }
}

#[actix_web::test]
async fn pages_are_compressed_for_browsers_that_accept_it_and_only_then() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    for i in 0..30 {
        alice.send(chat, &format!("message {i}: the quick brown fox jumps over the lazy dog")).await;
    }
    let path = format!("/chats/{chat}");
    let plain = alice.get(&path).await;
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(header(&plain, "content-encoding"), None, "no Accept-Encoding: the page as it is");
    assert!(vary(&plain).contains(&"accept-encoding".to_string()));
    let plain = plain.bytes().await.unwrap();
    assert!(plain.len() > 10_000, "a chat page with history: {} bytes", plain.len());
    // gzip whenever it is accepted, even where br is preferred; br alone: as it is.
    for (accept, coding) in [(CHROMIUM, "gzip"), ("gzip", "gzip"), ("br;q=1, gzip;q=0.5", "gzip")] {
        let resp = get_with(&alice, &path, &[("Accept-Encoding", accept)]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(&resp, "content-encoding").as_deref(), Some(coding), "{accept}");
        assert!(vary(&resp).contains(&"accept-encoding".to_string()));
        assert_eq!(header(&resp, "cache-control").as_deref(), Some("no-store"), "pages stay uncached");
        let length = resp.content_length().expect("a compressed page has a Content-Length");
        let body = resp.bytes().await.unwrap();
        assert_eq!(length, body.len() as u64);
        assert!(body.len() * 4 < plain.len(), "{coding}: {} of {} bytes", body.len(), plain.len());
        let decoded = decode(Some(coding), &body);
        assert!(same_page(&decoded, &plain), "{coding} decodes to the same page");
    }
    for accept in ["br", "gzip;q=0, br", "identity"] {
        let resp = get_with(&alice, &path, &[("Accept-Encoding", accept)]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(&resp, "content-encoding"), None, "{accept}: no gzip, the page as it is");
        assert!(vary(&resp).contains(&"accept-encoding".to_string()));
        assert!(same_page(&resp.bytes().await.unwrap(), &plain), "{accept}");
    }
    // An htmx fragment, and an answer that already varies (HX-Request) keeps that too.
    let resp = get_with(&bob, "/friends", &[("Accept-Encoding", "br"), ("HX-Request", "true")]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let varies = vary(&resp);
    assert!(varies.contains(&"hx-request".to_string()) && varies.contains(&"accept-encoding".to_string()), "{varies:?}");
    // Error pages are pages too.
    let missing = get_with(&alice, "/chats/not-a-chat", &[("Accept-Encoding", CHROMIUM)]).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&missing, "content-encoding").as_deref(), Some("gzip"));
    let text = decode(Some("gzip"), &missing.bytes().await.unwrap());
    assert!(String::from_utf8(text).unwrap().contains("<main"));
    // Not HTML: as it is.
    let health = get_with(&alice, "/healthz", &[("Accept-Encoding", "br")]).await;
    assert_eq!(header(&health, "content-encoding"), None);
    assert_eq!(health.text().await.unwrap(), "ok");
}

/// A multipart send of one file, as a browser's form without JavaScript does.
async fn send_file(client: &Client, chat: Uuid, name: &str, bytes: &[u8]) {
    const BOUNDARY: &str = "wireTestBoundary";
    let token = client.csrf_token().await;
    let mut body = Vec::new();
    for (field, value) in [("csrf_token", token.as_str()), ("text", "a file"), ("client_id", &Uuid::new_v4().to_string())] {
        body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    body.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: text/plain\r\n\r\n")
            .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let resp = client
        .http
        .post(client.url(&format!("/chats/{chat}/messages")))
        .header("Content-Type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_redirect(&resp, &format!("/chats/{chat}"));
}

#[actix_web::test]
async fn attachment_downloads_are_sent_exactly_as_stored_whatever_the_browser_accepts() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    // Very compressible text: still never compressed on the fly.
    let text = "the same line again and again\n".repeat(2000).into_bytes();
    send_file(&alice, chat, "notes.txt", &text).await;
    let (_, page) = bob.get_page(&format!("/chats/{chat}")).await;
    let doc = scraper::Html::parse_document(&page);
    let sel = scraper::Selector::parse(".attachment a").unwrap();
    let link = doc.select(&sel).find_map(|a| a.value().attr("href")).unwrap().to_string();

    let plain = bob.get(&link).await;
    assert_eq!(plain.status(), StatusCode::OK);
    let plain_headers = plain.headers().clone();
    for accept in [CHROMIUM, "gzip"] {
        let resp = get_with(&bob, &link, &[("Accept-Encoding", accept)]).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(&resp, "content-encoding"), None, "{accept}");
        assert!(!vary(&resp).contains(&"accept-encoding".to_string()));
        for name in [
            "content-type",
            "content-length",
            "etag",
            "cache-control",
            "content-disposition",
            "x-content-type-options",
            "content-security-policy",
        ] {
            assert_eq!(resp.headers().get(name), plain_headers.get(name), "{name} for {accept}");
        }
        assert_eq!(resp.content_length(), Some(text.len() as u64));
        assert_eq!(resp.bytes().await.unwrap(), text);
    }
    assert_eq!(plain.bytes().await.unwrap(), text);
}

/// Reads the stream until `needle` has arrived, within `wait`.
async fn until_seen<B: AsRef<[u8]>>(
    body: &mut (impl futures_util::Stream<Item = reqwest::Result<B>> + Unpin),
    seen: &mut String,
    needle: &str,
    wait: Duration,
) -> bool {
    use futures_util::StreamExt;
    let deadline = tokio::time::Instant::now() + wait;
    while !seen.contains(needle) {
        match tokio::time::timeout_at(deadline, body.next()).await {
            Ok(Some(Ok(chunk))) => seen.push_str(&String::from_utf8_lossy(chunk.as_ref())),
            _ => return false,
        }
    }
    true
}

#[actix_web::test]
async fn event_streams_are_never_compressed_and_each_event_arrives_at_once() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    let resp = get_with(&bob, &format!("/chats/{chat}/events"), &[("Accept-Encoding", CHROMIUM)]).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(header(&resp, "content-type").unwrap().starts_with("text/event-stream"));
    // actix-web-lab marks a stream `identity` itself; either way, not compressed.
    assert!(matches!(header(&resp, "content-encoding").as_deref(), None | Some("identity")), "{:?}", resp.headers());
    let mut body = Box::pin(resp.bytes_stream());
    let mut seen = String::new();
    // One message at a time: each is read as text before the next is sent.
    for i in 0..3 {
        let text = format!("live message number {i}");
        alice.send(chat, &text).await;
        assert!(until_seen(&mut body, &mut seen, &text, Duration::from_secs(20)).await, "{text} arrives by itself: {seen}");
    }
}

#[actix_web::test]
async fn the_bytes_scenario_counts_a_first_visit_and_a_repeat_visit_that_refetches_no_asset() {
    use chaat_load::bytes::{BytesOptions, CHROMIUM_ACCEPT_ENCODING};
    let app = TestApp::spawn().await;
    for accept in [CHROMIUM_ACCEPT_ENCODING, "identity"] {
        // A target per run: its people have names of their own.
        let mut target = chaat_load::Target::new(&app.address).unwrap();
        target.signup_concurrency = 2;
        let opts = BytesOptions { history: 20, accept_encoding: accept.into(), cpu_requests: 0 };
        let report = chaat_load::bytes::run(&target, &opts).await.unwrap();
        println!("{}", report.text);
        let (first, repeat) = (&report.json["first_visit"], &report.json["repeat_visit"]);
        let answers = first["answers"].as_array().unwrap();
        let assets: Vec<&serde_json::Value> = answers.iter().filter(|a| a["url"].as_str().unwrap().starts_with("/static/")).collect();
        assert_eq!(assets.len(), 8, "{}", report.text);
        // The page in gzip (cheap on the fly), the assets in br (made once at build time).
        let compressed = accept != "identity";
        assert_eq!(answers[0]["content_encoding"].as_str(), compressed.then_some("gzip"), "the page: {}", report.text);
        for asset in &assets {
            assert_eq!(asset["content_encoding"].as_str(), compressed.then_some("br"), "{}", report.text);
        }
        let skipped = repeat["not_requested"].as_array().unwrap();
        assert_eq!(skipped.len(), 8, "every asset is kept: {}", report.text);
        assert!(repeat["bytes"].as_u64().unwrap() * 2 < first["bytes"].as_u64().unwrap(), "{}", report.text);
    }
}
