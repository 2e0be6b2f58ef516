//! Bytes on the wire: which coding a browser accepts, and pages compressed on the fly.
//!
//! Assets are compressed once at build time (`build.rs`, brotli 11 and gzip 9) and picked
//! by `routes::static_files`; pages (HTML, rendered in one piece) are compressed here, by
//! [`pages`], in place on the worker like the rendering before it, with gzip whatever
//! else the browser accepts (BENCHMARKS.md, "Issue 19, `wire`": brotli 3 cost the app
//! five times gzip 1's CPU per page, for 6.0 against 10.5 KB a chat page).
//! Only responses whose type is `text/html` and whose body is whole are touched: event
//! streams, attachment downloads, pictures and assets pass as they are (their own
//! Content-Length and ETag).

use std::io::Write as _;

use actix_web::body::{BodySize, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, AcceptEncoding, ContentEncoding, Encoding, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::Bytes;

/// A content coding we send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    Br,
    Gzip,
    Identity,
}

/// Below this a page is sent as it is: the coding's own bytes and CPU would not pay.
const MIN_PAGE_BYTES: usize = 1024;

/// gzip at level 1 with flate2's zlib-rs backend (deflate's quick strategy), measured
/// with the `pages` scenario as a browser asks (BENCHMARKS.md, "Issue 19, `wire`"): a
/// 125 KB chat page makes 10.5 KB, for ~+115 µs of app CPU per request (chat pages and
/// chat lists in turn; medians on a busy machine). Brotli 3, the coding before, made
/// 6.0 KB for ~+600 µs, more than the whole per-request budget of 5,000 pages a second
/// on two cores; gzip 2 makes 8.4 KB for ~+200 µs. Every size here fits a TCP
/// connection's first flight (ten segments, ~14 KB), so a phone gets the page in the
/// same round trips.
const PAGE_GZIP_LEVEL: u32 = 1;

impl Coding {
    /// The best coding the request accepts (`Accept-Encoding`, its q-values honoured; br
    /// before gzip at equal weight); none, or nothing we have, is identity. A request
    /// that refuses identity too still gets it rather than a 406.
    pub fn preferred(req: &impl actix_web::HttpMessage) -> Coding {
        const SUPPORTED: [Encoding; 3] = [Encoding::brotli(), Encoding::gzip(), Encoding::identity()];
        let Some(accept) = req.get_header::<AcceptEncoding>() else { return Coding::Identity };
        match accept.negotiate(SUPPORTED.iter()) {
            Some(Encoding::Known(ContentEncoding::Brotli)) => Coding::Br,
            Some(Encoding::Known(ContentEncoding::Gzip)) => Coding::Gzip,
            _ => Coding::Identity,
        }
    }

    /// How a page is sent: gzip when the request accepts it (q > 0), else as it is. A
    /// browser's br is not used for pages: it costs several times gzip's CPU (see
    /// [`PAGE_GZIP_LEVEL`]); every browser accepts gzip.
    pub fn for_page(req: &impl actix_web::HttpMessage) -> Coding {
        const SUPPORTED: [Encoding; 2] = [Encoding::gzip(), Encoding::identity()];
        let Some(accept) = req.get_header::<AcceptEncoding>() else { return Coding::Identity };
        match accept.negotiate(SUPPORTED.iter()) {
            Some(Encoding::Known(ContentEncoding::Gzip)) => Coding::Gzip,
            _ => Coding::Identity,
        }
    }

    /// The `Content-Encoding` value; `None` for identity (no header at all).
    pub fn header_value(self) -> Option<HeaderValue> {
        match self {
            Coding::Br => Some(HeaderValue::from_static("br")),
            Coding::Gzip => Some(HeaderValue::from_static("gzip")),
            Coding::Identity => None,
        }
    }
}

/// A page gzip-compressed with the settings for pages.
pub fn gzip_page(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(bytes.len() / 8), flate2::Compression::new(PAGE_GZIP_LEVEL));
    encoder.write_all(bytes)?;
    encoder.finish()
}

/// Middleware: gzip-compresses HTML answers for browsers that accept it, with
/// `Vary: Accept-Encoding` on every HTML answer (whatever it was sent in).
pub async fn pages<B: MessageBody>(req: ServiceRequest, next: Next<B>) -> Result<ServiceResponse<EitherBody<B, Bytes>>, actix_web::Error> {
    let coding = Coding::for_page(&req);
    let res = next.call(req).await?;
    Ok(res.map_body(|head, body| {
        if !is_page(head.status, head.headers()) {
            return EitherBody::left(body);
        }
        head.headers_mut().append(header::VARY, HeaderValue::from_static("Accept-Encoding"));
        let Some(content_encoding) = coding.header_value() else { return EitherBody::left(body) };
        if !matches!(body.size(), BodySize::Sized(n) if n >= MIN_PAGE_BYTES as u64) {
            return EitherBody::left(body);
        }
        let bytes = match body.try_into_bytes() {
            Ok(bytes) => bytes,
            Err(body) => return EitherBody::left(body),
        };
        match gzip_page(&bytes) {
            Ok(encoded) if encoded.len() < bytes.len() => {
                head.headers_mut().insert(header::CONTENT_ENCODING, content_encoding);
                // The body's length is the encoded one; actix writes it from the body.
                head.headers_mut().remove(header::CONTENT_LENGTH);
                EitherBody::right(Bytes::from(encoded))
            }
            Ok(_) => EitherBody::right(bytes),
            Err(e) => {
                tracing::warn!(error = %e, "compressing a page failed; sent as it is");
                EitherBody::right(bytes)
            }
        }
    }))
}

/// An HTML answer with a body, not yet encoded.
fn is_page(status: StatusCode, headers: &header::HeaderMap) -> bool {
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("text/html"));
    html && !headers.contains_key(header::CONTENT_ENCODING)
        && !matches!(status, StatusCode::NO_CONTENT | StatusCode::NOT_MODIFIED | StatusCode::PARTIAL_CONTENT)
        && !status.is_informational()
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use actix_web::test::TestRequest;

    use super::*;

    fn preferred(accept: &str) -> Coding {
        Coding::preferred(&TestRequest::default().insert_header((header::ACCEPT_ENCODING, accept)).to_http_request())
    }

    #[test]
    fn the_best_accepted_coding_is_chosen() {
        assert_eq!(Coding::preferred(&TestRequest::default().to_http_request()), Coding::Identity);
        assert_eq!(preferred("gzip, deflate, br, zstd"), Coding::Br);
        assert_eq!(preferred("gzip, deflate, br"), Coding::Br);
        assert_eq!(preferred("gzip, deflate"), Coding::Gzip);
        assert_eq!(preferred("br;q=0.5, gzip"), Coding::Gzip);
        assert_eq!(preferred("br;q=0, gzip;q=0"), Coding::Identity);
        assert_eq!(preferred("identity"), Coding::Identity);
        assert_eq!(preferred("deflate, zstd"), Coding::Identity);
        assert_eq!(preferred(""), Coding::Identity);
        assert_eq!(preferred("*"), Coding::Identity);
    }

    #[test]
    fn pages_are_gzip_for_every_browser_and_as_they_are_otherwise() {
        let page =
            |accept: &str| Coding::for_page(&TestRequest::default().insert_header((header::ACCEPT_ENCODING, accept)).to_http_request());
        assert_eq!(Coding::for_page(&TestRequest::default().to_http_request()), Coding::Identity);
        assert_eq!(page("gzip, deflate, br, zstd"), Coding::Gzip);
        assert_eq!(page("gzip, deflate, br"), Coding::Gzip);
        assert_eq!(page("br;q=1, gzip;q=0.5"), Coding::Gzip);
        assert_eq!(page("br"), Coding::Identity);
        assert_eq!(page("gzip;q=0, br"), Coding::Identity);
        assert_eq!(page("identity"), Coding::Identity);
        assert_eq!(page(""), Coding::Identity);
    }

    #[test]
    fn a_gzip_page_decodes_to_the_page() {
        let page = "<li class=\"message\">hello, the quick brown fox</li>\n".repeat(200);
        let gz = gzip_page(page.as_bytes()).unwrap();
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut back).unwrap();
        assert_eq!(back, page.as_bytes());
        assert!(gz.len() < page.len() / 10);
    }
}
