//! Static assets, embedded in the binary. The vendored htmx files carry their version in
//! the path and are cached for a year; our own CSS and JS are revalidated by ETag.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::auth::tokens::sha256_hex;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    immutable: bool,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "htmx-4.0.1.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!(concat!(env!("OUT_DIR"), "/htmx.min.js")),
        immutable: true,
    },
    Asset {
        name: "hx-sse-4.0.1.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!(concat!(env!("OUT_DIR"), "/hx-sse.min.js")),
        immutable: true,
    },
    Asset {
        name: "hx-upsert-4.0.1.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!(concat!(env!("OUT_DIR"), "/hx-upsert.min.js")),
        immutable: true,
    },
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../../static/app.css"), immutable: false },
    Asset {
        name: "chat.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/chat.js"),
        immutable: false,
    },
    Asset { name: "app.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../static/app.js"), immutable: false },
    Asset {
        name: "attachments.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/attachments.js"),
        immutable: false,
    },
    Asset {
        name: "inbox.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../static/inbox.js"),
        immutable: false,
    },
];

pub async fn serve(req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    // Only names from the table above: no path is ever built from the request.
    let Some(asset) = ASSETS.iter().find(|a| a.name == file.as_str()) else {
        return HttpResponse::NotFound().finish();
    };
    let etag = format!("\"{}\"", &sha256_hex(asset.body)[..32]);
    let cache = if asset.immutable { "public, max-age=31536000, immutable" } else { "public, no-cache" };
    let matches = req.headers().get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut resp = if matches { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    resp.insert_header((header::ETAG, etag)).insert_header((header::CACHE_CONTROL, cache));
    if matches {
        return resp.finish();
    }
    resp.content_type(asset.content_type).body(asset.body)
}
