//! `bytes`: what a browser downloads to show a chat page, on a first visit (empty
//! cache) and on a repeat visit (what its cache allows it to skip), counted as the
//! bytes of the answers on the wire: status line, headers and body as sent (compressed
//! bodies are not decoded: reqwest is built without decompression here). Request bytes
//! are not counted. The page is fetched as Chromium on a phone does (its
//! `Accept-Encoding`, `Accept`), then every stylesheet, script and image it names;
//! the event stream it opens is not counted.
//!
//! The repeat visit follows HTTP caching as browsers do: an answer that is `no-store`
//! (the page) is fetched again; one cached for a `max-age` not yet over and not
//! `no-cache` (an immutable asset) is not requested at all; one with an ETag is
//! revalidated (`If-None-Match`, a 304 counts its headers); anything else is fetched
//! again.
//!
//! With `--server-pid`, `cpu_requests` more fetches of the page measure the app's CPU
//! per page request as it is (`Accept-Encoding: identity`) and compressed (the given
//! `Accept-Encoding`): the difference is what compressing a page costs.

use anyhow::{bail, Context};
use futures_util::stream::{self, StreamExt};
use reqwest::header::{HeaderMap, ACCEPT, ACCEPT_ENCODING, CACHE_CONTROL, CONTENT_ENCODING, ETAG, IF_NONE_MATCH};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::person::Person;
use crate::process_cpu::per_unit;
use crate::{setup, Report, Target};

/// What Chromium sends (the brief's phone browser, without zstd, which Chaat never sends).
pub const CHROMIUM_ACCEPT_ENCODING: &str = "gzip, deflate, br";
const CHROMIUM_ACCEPT_HTML: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

#[derive(Debug, Clone)]
pub struct BytesOptions {
    /// Messages in the chat (the page shows the latest 50).
    pub history: usize,
    /// The `Accept-Encoding` sent with every request (`identity` for "as before").
    pub accept_encoding: String,
    /// Page requests for each side of the CPU measurement (with `--server-pid`).
    pub cpu_requests: usize,
}

/// One answer as it went over the wire.
#[derive(Debug, Clone)]
struct Fetched {
    url: String,
    status: u16,
    header_bytes: usize,
    body_bytes: usize,
    coding: Option<String>,
    cache_control: String,
    etag: Option<String>,
}

impl Fetched {
    fn total(&self) -> usize {
        self.header_bytes + self.body_bytes
    }

    fn json(&self) -> Value {
        json!({ "url": self.url, "status": self.status, "header_bytes": self.header_bytes, "body_bytes": self.body_bytes,
                "content_encoding": self.coding, "cache_control": self.cache_control })
    }
}

pub async fn run(target: &Target, opts: &BytesOptions) -> anyhow::Result<Report> {
    let pair = setup::pairs(target, 1).await?.into_iter().next().context("no pair")?;
    setup::fill(&pair, opts.history).await?;
    let me = &pair.a;
    let page_path = format!("/chats/{}", pair.chat);

    // First visit: the page, then everything it names (its links read from the page as
    // it is, one more request that is not counted).
    let mut first = vec![fetch(me, &page_path, opts, None).await?];
    let html = me.http.get(me.url(&page_path)).header(ACCEPT_ENCODING, "identity").send().await?.text().await?;
    for url in subresources(&html) {
        first.push(fetch(me, &url, opts, None).await?);
    }

    // Repeat visit, with what the first one left in the cache.
    let mut repeat = vec![fetch(me, &page_path, opts, None).await?];
    let mut skipped = Vec::new();
    for cached in &first[1..] {
        match reuse(cached) {
            Reuse::Fresh => skipped.push(cached.url.clone()),
            Reuse::Revalidate(etag) => repeat.push(fetch(me, &cached.url, opts, Some(&etag)).await?),
            Reuse::Refetch => repeat.push(fetch(me, &cached.url, opts, None).await?),
        }
    }

    let cpu = if target.watched.server_pid.is_some() && opts.cpu_requests > 0 {
        Some(page_cpu(target, me, &page_path, opts).await?)
    } else {
        None
    };
    Ok(report(opts, &first, &repeat, &skipped, cpu))
}

enum Reuse {
    Fresh,
    Revalidate(String),
    Refetch,
}

/// What a browser does with a cached answer on the next visit (within minutes).
fn reuse(cached: &Fetched) -> Reuse {
    let directives: Vec<String> = cached.cache_control.split(',').map(|d| d.trim().to_ascii_lowercase()).collect();
    let max_age = directives.iter().find_map(|d| d.strip_prefix("max-age=")?.parse::<u64>().ok()).unwrap_or(0);
    if directives.iter().any(|d| d == "no-store") {
        return Reuse::Refetch;
    }
    if max_age > 600 && !directives.iter().any(|d| d == "no-cache") {
        return Reuse::Fresh;
    }
    match &cached.etag {
        Some(etag) => Reuse::Revalidate(etag.clone()),
        None => Reuse::Refetch,
    }
}

/// GETs `path` like the phone's browser (revalidating `etag` when given) and counts
/// the answer.
async fn fetch(me: &Person, path: &str, opts: &BytesOptions, etag: Option<&str>) -> anyhow::Result<Fetched> {
    let mut req = me.http.get(me.url(path)).header(ACCEPT_ENCODING, opts.accept_encoding.as_str());
    if path.starts_with("/chats") {
        req = req.header(ACCEPT, CHROMIUM_ACCEPT_HTML);
    }
    if let Some(etag) = etag {
        req = req.header(IF_NONE_MATCH, etag);
    }
    let resp = req.send().await?;
    let status = resp.status();
    if !(status == StatusCode::OK || status == StatusCode::NOT_MODIFIED) {
        bail!("GET {path} answered {status}");
    }
    let header_bytes = header_bytes(status, resp.headers());
    let text = |name| resp.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let (coding, cache_control, etag) = (text(CONTENT_ENCODING), text(CACHE_CONTROL).unwrap_or_default(), text(ETAG));
    let declared = resp.content_length();
    let body_bytes = resp.bytes().await?.len();
    // A client that decoded the body would count the wrong bytes.
    if declared.is_some_and(|n| n != body_bytes as u64) {
        bail!("GET {path}: {body_bytes} bytes read for a Content-Length of {declared:?}: the client decodes bodies");
    }
    Ok(Fetched { url: path.to_string(), status: status.as_u16(), header_bytes, body_bytes, coding, cache_control, etag })
}

/// The bytes of an HTTP/1.1 answer's head: status line, each `name: value` line, the
/// blank line.
fn header_bytes(status: StatusCode, headers: &HeaderMap) -> usize {
    let status_line = "HTTP/1.1 ".len() + 3 + 1 + status.canonical_reason().unwrap_or("").len() + 2;
    status_line + headers.iter().map(|(name, value)| name.as_str().len() + 2 + value.len() + 2).sum::<usize>() + 2
}

/// The same-origin stylesheets, scripts and images a page names, in order, once each.
pub fn subresources(html: &str) -> Vec<String> {
    let mut urls: Vec<String> = Vec::new();
    let mut add = |url: &str| {
        if url.starts_with('/') && !url.starts_with("//") && !urls.iter().any(|u| u == url) {
            urls.push(url.to_string());
        }
    };
    for (tag_start, _) in html.match_indices('<') {
        let rest = &html[tag_start..];
        let Some(end) = rest.find('>') else { break };
        let tag = &rest[..end];
        let attr = |name: &str| {
            let marker = format!(" {name}=\"");
            let start = tag.find(&marker)? + marker.len();
            Some(&tag[start..start + tag[start..].find('"')?])
        };
        if tag.starts_with("<script") || tag.starts_with("<img") {
            if let Some(src) = attr("src") {
                add(src);
            }
        } else if tag.starts_with("<link") && attr("rel") == Some("stylesheet") {
            if let Some(href) = attr("href") {
                add(href);
            }
        }
    }
    urls
}

/// The app's CPU per page request, as it is and in the accepted coding.
async fn page_cpu(target: &Target, me: &Person, path: &str, opts: &BytesOptions) -> anyhow::Result<Value> {
    let mut out = serde_json::Map::new();
    for (label, accept) in [("identity", "identity"), ("compressed", opts.accept_encoding.as_str())] {
        let before = target.watched.sample();
        let done = stream::iter(0..opts.cpu_requests)
            .map(|_| async move {
                let resp = me.http.get(me.url(path)).header(ACCEPT_ENCODING, accept).send().await?;
                let ok = resp.status() == StatusCode::OK;
                resp.bytes().await?;
                anyhow::Ok(ok)
            })
            .buffer_unordered(4)
            .filter(|r| std::future::ready(matches!(r, Ok(true))))
            .count()
            .await;
        let (json, _) = per_unit(before, target.watched.sample(), done, "request");
        out.insert(label.to_string(), json!({ "requests": done, "cpu": json }));
    }
    Ok(Value::Object(out))
}

fn sum(fetched: &[Fetched]) -> usize {
    fetched.iter().map(Fetched::total).sum()
}

fn report(opts: &BytesOptions, first: &[Fetched], repeat: &[Fetched], skipped: &[String], cpu: Option<Value>) -> Report {
    let (first_total, repeat_total) = (sum(first), sum(repeat));
    let page = &first[0];
    let json = json!({
        "scenario": "bytes", "accept_encoding": opts.accept_encoding, "history": opts.history,
        "first_visit": { "bytes": first_total, "requests": first.len(), "page_bytes": page.total(),
                         "answers": first.iter().map(Fetched::json).collect::<Vec<_>>() },
        "repeat_visit": { "bytes": repeat_total, "requests": repeat.len(), "not_requested": skipped,
                          "answers": repeat.iter().map(Fetched::json).collect::<Vec<_>>() },
        "page_cpu": cpu, "ok": true,
    });
    let line = |f: &Fetched| {
        format!(
            "\n    {:>6} B  {} {} ({} B head, {} B body{})",
            f.total(),
            f.status,
            f.url,
            f.header_bytes,
            f.body_bytes,
            f.coding.as_deref().map(|c| format!(", {c}")).unwrap_or_default()
        )
    };
    let mut text = format!("bytes: a chat page ({} messages) with Accept-Encoding: {}", opts.history, opts.accept_encoding);
    text.push_str(&format!("\n  first visit: {first_total} B in {} answers", first.len()));
    first.iter().for_each(|f| text.push_str(&line(f)));
    text.push_str(&format!("\n  repeat visit: {repeat_total} B in {} answers ({} not requested)", repeat.len(), skipped.len()));
    repeat.iter().for_each(|f| text.push_str(&line(f)));
    if let Some(cpu) = json["page_cpu"].as_object() {
        for (label, v) in cpu {
            text.push_str(&format!("\n  app CPU per page request, {label}: {} µs ({} requests)", v["cpu"]["app_us"], v["requests"]));
        }
    }
    Report { text, json, ok: true }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pages_stylesheets_scripts_and_images_are_found_once_each() {
        let html = r#"<link rel="icon" href="data:x"><link rel="stylesheet" href="/static/app.1.css">
            <script defer src="/static/a.2.js"></script><img class="avatar" src="/display-pictures/u1" alt="">
            <img src="/display-pictures/u1"><script src="https://elsewhere/x.js"></script><a href="/chats">"#;
        assert_eq!(subresources(html), ["/static/app.1.css", "/static/a.2.js", "/display-pictures/u1"]);
    }

    #[test]
    fn the_repeat_visit_skips_only_what_may_be_kept() {
        let f = |cc: &str, etag: Option<&str>| Fetched {
            url: "/x".into(),
            status: 200,
            header_bytes: 0,
            body_bytes: 0,
            coding: None,
            cache_control: cc.into(),
            etag: etag.map(str::to_string),
        };
        assert!(matches!(reuse(&f("public, max-age=31536000, immutable", Some("\"a\""))), Reuse::Fresh));
        assert!(matches!(reuse(&f("public, no-cache", Some("\"a\""))), Reuse::Revalidate(_)));
        assert!(matches!(reuse(&f("no-store", None)), Reuse::Refetch));
        assert!(matches!(reuse(&f("", None)), Reuse::Refetch));
    }
}
