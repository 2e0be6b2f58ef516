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

use std::cell::RefCell;

use actix_web::body::{BodySize, EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, AcceptEncoding, ContentEncoding, Encoding, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use flate2::{Compress, FlushCompress, Status};

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

/// deflate's largest window (32 KiB), zlib's default.
const PAGE_WINDOW_BITS: u8 = 15;

thread_local! {
    /// Each worker thread's page compressor, reset for every page. A new one per page
    /// allocated ~330 KB and zeroed ~256 KB of it (window, hash chains, hash heads)
    /// before compressing a byte: a tenth of the app's CPU per `pages` request went to
    /// that, to malloc and to the page faults of the fresh memory (BENCHMARKS.md, "Issue
    /// 19, `pageapp`"). A reset zeroes only the hash heads.
    static PAGE_GZIP: RefCell<Option<Compress>> = const { RefCell::new(None) };
}

/// A page gzip-compressed with the settings for pages, with this thread's compressor.
pub fn gzip_page(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    PAGE_GZIP.with(|cell| match cell.try_borrow_mut() {
        Ok(mut kept) => {
            let compress = kept.get_or_insert_with(page_compressor);
            compress.reset();
            gzip_with(compress, bytes)
        }
        // Never expected (nothing compresses a page inside a page's compression); a
        // compressor of its own then rather than a panic.
        Err(_) => gzip_with(&mut page_compressor(), bytes),
    })
}

fn page_compressor() -> Compress {
    Compress::new_gzip(flate2::Compression::new(PAGE_GZIP_LEVEL), PAGE_WINDOW_BITS)
}

/// `bytes` through `compress` (fresh or reset) to the end of its gzip stream, into one
/// buffer sized for a page's usual ratio (an eighth, a chat page's is about a tenth).
fn gzip_with(compress: &mut Compress, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() / 8 + 64);
    loop {
        let (read, written) = (compress.total_in(), compress.total_out());
        let rest = &bytes[usize::try_from(read).unwrap_or(usize::MAX).min(bytes.len())..];
        match compress.compress_vec(rest, &mut out, FlushCompress::Finish).map_err(std::io::Error::other)? {
            Status::StreamEnd => return Ok(out),
            // Neither read nor wrote with room to write: it never will (a stream that
            // had already ended); an error, not a loop that grows the buffer forever.
            _ if (compress.total_in(), compress.total_out()) == (read, written) && out.len() < out.capacity() => {
                return Err(std::io::Error::other("gzip made no progress"));
            }
            // The buffer is full: more room, and on.
            Status::Ok | Status::BufError => out.reserve(out.capacity().max(1024)),
        }
    }
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

    fn gunzip(gz: &[u8]) -> Vec<u8> {
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(gz).read_to_end(&mut back).unwrap();
        back
    }

    #[test]
    fn pages_compressed_in_turn_by_one_thread_each_decode_to_themselves() {
        // The thread's compressor is reused: each page is a whole gzip stream of its
        // own (header, body, trailer), with nothing of the page before it.
        let first = "<li>first page</li>\n".repeat(300);
        let second = "<p>the second, other page</p>\n".repeat(500);
        // Barely compressible: more than the output buffer's first size.
        let mut x = 0x2545_f491_u32;
        let noise: Vec<u8> = (0..40_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 24) as u8
            })
            .collect();
        for page in [first.as_bytes(), second.as_bytes(), &noise, first.as_bytes()] {
            let gz = gzip_page(page).unwrap();
            assert_eq!(&gz[..3], &[0x1f, 0x8b, 8], "a gzip header");
            assert_eq!(gunzip(&gz), page);
        }
        assert!(gzip_page(&noise).unwrap().len() > noise.len() / 8 + 64, "the noise outgrows the first buffer");
    }
}
