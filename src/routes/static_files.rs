//! Static assets, embedded in the binary under content-hashed names (`crate::assets`):
//! a name's bytes never change, so every asset is cached for a year (`immutable`), and
//! any other name (an old hash, an unhashed name) is 404. Each is sent brotli- or
//! gzip-compressed (made at build time) when the request accepts it, else as it is;
//! each representation has its own ETag and Content-Length.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};

use crate::assets::{self, Asset, Encoded};
use crate::compression::Coding;

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// GET and HEAD (actix sends HEAD's headers, Content-Length included, without the body).
pub async fn serve(req: HttpRequest, file: web::Path<String>) -> HttpResponse {
    // Only names from the table: no path is ever built from the request.
    let Some(asset) = assets::served_as(file.as_str()) else {
        return HttpResponse::NotFound().finish();
    };
    let (coding, encoded) = representation(asset, Coding::preferred(&req));
    let not_modified = unchanged(&req, encoded.etag);
    let mut res = if not_modified { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    res.insert_header((header::ETAG, encoded.etag))
        .insert_header((header::CACHE_CONTROL, IMMUTABLE))
        .insert_header((header::VARY, "Accept-Encoding"));
    if not_modified {
        return res.finish();
    }
    if let Some(value) = coding.header_value() {
        res.insert_header((header::CONTENT_ENCODING, value));
    }
    res.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type))).body(encoded.bytes)
}

/// The coding to send: the preferred one where the asset has it (build.rs keeps only
/// what is smaller), else identity.
fn representation(asset: &'static Asset, preferred: Coding) -> (Coding, &'static Encoded) {
    match (preferred, &asset.br, &asset.gzip) {
        (Coding::Br, Some(br), _) => (Coding::Br, br),
        (Coding::Gzip, _, Some(gzip)) => (Coding::Gzip, gzip),
        _ => (Coding::Identity, &asset.identity),
    }
}

/// `If-None-Match` lists this representation's tag (weak comparison, RFC 9110) or `*`.
fn unchanged(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim())
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}
