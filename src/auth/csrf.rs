//! CSRF protection for every unsafe request: the browser must say the request comes from
//! our own origin (Fetch Metadata, else Origin/Referer), and it must carry the session's
//! token (a visitor who is not logged in: the token of the signed form cookie,
//! `auth::browser`): as the `X-CSRF-Token` header (htmx) or the `csrf_token` field of a
//! urlencoded form, and in a multipart form as its first part, a field named
//! `csrf_token`. That part is read here, before the handler accepts the body, and put
//! back in front of the rest (see `read_multipart_token`). A token in the URL is refused
//! outright: URLs end up in logs and in `Referer` headers.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{header, Method};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes, BytesMut};
use futures_util::{stream, StreamExt};

mod multipart;

use super::browser;
use super::current_user::TypedSession;
use super::origin::{self, Origin};
use super::tokens::constant_time_eq;
use crate::config::Settings;
use crate::error::AppError;

pub const FIELD: &str = "csrf_token";
pub const HEADER: &str = "X-CSRF-Token";
/// Form bodies are small (a message is at most 4000 characters); larger ones are refused.
pub const FORM_LIMIT: usize = 64 * 1024;
/// The whole form body must arrive within this time (64 KiB at 56 kbit/s), else 408
/// and the connection closes: the server's request timeout covers only the head, so a
/// body trickled byte by byte would otherwise hold its connection for ever.
pub const FORM_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

pub async fn protect<B: MessageBody>(mut req: ServiceRequest, next: Next<B>) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error> {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    match check(&mut req).await {
        Ok(()) => next.call(req).await.map(ServiceResponse::map_into_left_body),
        // A response, not an Err: errors would bypass the error-page middleware.
        Err(refusal) => Ok(req.error_response(refusal).map_into_right_body()),
    }
}

async fn check(req: &mut ServiceRequest) -> Result<(), actix_web::Error> {
    if !same_origin(req) {
        tracing::info!("refused cross-origin {} {}", req.method(), req.path());
        return Err(AppError::Forbidden("cross-origin request").into());
    }
    if form_field(req.query_string().as_bytes(), FIELD).is_some() {
        tracing::info!("refused {} {} with a CSRF token in its URL", req.method(), req.path());
        return Err(AppError::Forbidden("CSRF token in the URL").into());
    }
    // A session the store could not load (the database is away) is a 503, not a 403.
    // A visitor who is not logged in has the token of the signed form cookie.
    let expected = TypedSession::loaded(req.request())?.csrf_token_if_any().or_else(|| browser::form_token(req.request()));
    let Some(submitted) = submitted_token(req).await? else {
        return Err(AppError::Forbidden("missing CSRF token").into());
    };
    match expected {
        Some(expected) if constant_time_eq(expected.as_bytes(), submitted.as_bytes()) => Ok(()),
        _ => Err(AppError::Forbidden("wrong CSRF token").into()),
    }
}

/// Where the browser tells us, the request must come from this site.
fn same_origin(req: &ServiceRequest) -> bool {
    let headers = req.headers();
    if let Some(site) = headers.get("Sec-Fetch-Site") {
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let source = headers.get(header::ORIGIN).or_else(|| headers.get(header::REFERER));
    let Some(url) = source.and_then(|v| v.to_str().ok()) else {
        // Non-browser clients send neither; the token check still applies to them.
        return true;
    };
    let trusted = req.app_data::<web::Data<Settings>>().map(|s| s.trusted_proxies.clone()).unwrap_or_default();
    let requested = origin::requested(headers, req.peer_addr().map(|a| a.ip()), &trusted);
    // Scheme, host and port must all match; "null" and unparsable values never do.
    requested.is_some() && Origin::of_url(url) == requested
}

async fn submitted_token(req: &mut ServiceRequest) -> Result<Option<String>, actix_web::Error> {
    // A multipart body says it first, whatever the headers say.
    if is_multipart(req) {
        return read_multipart_token(req).await.map(Some);
    }
    // Form bodies are read (and checked) even when the header carries the token.
    let body = if is_form(req) { Some(read_form(req).await?) } else { None };
    if let Some(v) = req.headers().get(HEADER).and_then(|v| v.to_str().ok()) {
        return Ok(Some(v.to_owned()));
    }
    Ok(body.and_then(|body| form_field(&body, FIELD)))
}

fn content_type(req: &ServiceRequest) -> Option<&str> {
    req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
}

fn is_form(req: &ServiceRequest) -> bool {
    content_type(req).is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"))
}

/// Any `multipart/…` body (in any letter case): such a body must open with the token.
fn is_multipart(req: &ServiceRequest) -> bool {
    req.headers().get(header::CONTENT_TYPE).is_some_and(|ct| ct.as_bytes().get(..10).is_some_and(|t| t.eq_ignore_ascii_case(b"multipart/")))
}

/// Reads a multipart body up to the end of its first part, which must be the field
/// `csrf_token` within `multipart::FIRST_PART_LIMIT` bytes, and in time (the form
/// timeout, besides the upload deadline around the payload). Anything else is a 403 and
/// not a byte more is read. The bytes read are then put back in front of the rest of the
/// stream, so the handler's multipart reader sees the whole body (and skips that part).
async fn read_multipart_token(req: &mut ServiceRequest) -> Result<String, actix_web::Error> {
    let Some(boundary) = content_type(req).and_then(multipart::boundary) else {
        return Err(AppError::Forbidden("multipart body without a boundary").into());
    };
    let (_, slot) = req.parts_mut();
    let mut payload = std::mem::replace(slot, Payload::None);
    let mut read = BytesMut::new();
    let token = match tokio::time::timeout(FORM_READ_TIMEOUT, first_part(&mut payload, &mut read, &boundary)).await {
        Ok(token) => token,
        Err(_) => {
            tracing::info!("multipart body too slow; closing the connection");
            let closing = actix_web::HttpResponse::RequestTimeout().force_close().finish();
            return Err(actix_web::error::InternalError::from_response("multipart body too slow", closing).into());
        }
    };
    let token = token.inspect_err(|e| tracing::info!("refused {} {}: {e}", req.method(), req.path()))?;
    let replay = stream::once(std::future::ready(Ok(read.freeze()))).chain(payload);
    // Fused: the multipart reader may poll again after the end.
    req.set_payload(Payload::Stream { payload: Box::pin(replay.fuse()) });
    Ok(token)
}

/// Reads chunks into `read` until the first part is complete: its token, or why not.
async fn first_part(payload: &mut Payload, read: &mut BytesMut, boundary: &str) -> Result<String, actix_web::Error> {
    loop {
        match multipart::first_part(read, boundary) {
            multipart::FirstPart::Token(token) => return Ok(token),
            multipart::FirstPart::Refused(why) => return Err(AppError::Forbidden(why).into()),
            multipart::FirstPart::NeedMore => {}
        }
        match payload.next().await {
            Some(chunk) => read.extend_from_slice(&chunk?),
            None => return Err(AppError::Forbidden("multipart body ended within its first part").into()),
        }
    }
}

/// Reads the (bounded) form body, refuses one that is not UTF-8 once decoded (the form
/// parser would silently turn such bytes into U+FFFD), and puts it back for the handler.
async fn read_form(req: &mut ServiceRequest) -> Result<Vec<u8>, actix_web::Error> {
    let (_, slot) = req.parts_mut();
    let mut payload = std::mem::replace(slot, Payload::None);
    let mut body = Vec::new();
    let read = async {
        while let Some(chunk) = payload.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > FORM_LIMIT {
                return Err(actix_web::error::ErrorPayloadTooLarge("form too large"));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(())
    };
    match tokio::time::timeout(FORM_READ_TIMEOUT, read).await {
        Ok(read) => read?,
        Err(_) => {
            tracing::info!("form body too slow; closing the connection");
            let closing = actix_web::HttpResponse::RequestTimeout().force_close().finish();
            return Err(actix_web::error::InternalError::from_response("form body too slow", closing).into());
        }
    }
    if !is_utf8_form(&body) {
        return Err(actix_web::error::ErrorBadRequest("form is not UTF-8"));
    }
    req.set_payload(Bytes::from(body.clone()).into());
    Ok(body)
}

fn is_utf8_form(body: &[u8]) -> bool {
    body.split(|b| *b == b'&').all(|pair| {
        let spaced: Vec<u8> = pair.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect();
        percent_encoding::percent_decode(&spaced).decode_utf8().is_ok()
    })
}

fn form_field(encoded: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(encoded).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::{form_field, is_utf8_form};

    #[test]
    fn a_form_must_decode_to_utf8() {
        assert!(is_utf8_form(b"text=h%C3%A9llo+world&x=%F0%9F%98%80"));
        assert!(!is_utf8_form(b"text=%FF%FE"));
        assert!(!is_utf8_form(b"a=1&%C3=2"));
    }

    #[test]
    fn the_token_is_found_among_other_form_fields() {
        assert_eq!(form_field(b"a=1&csrf_token=abc%20d&b=2", "csrf_token").as_deref(), Some("abc d"));
        assert_eq!(form_field(b"a=1", "csrf_token"), None);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use url::form_urlencoded;

    use super::{form_field, is_utf8_form, FIELD};
    use crate::domain::test_strings::{hostile_string, CASES};

    fn encode(fields: &[(String, String)]) -> String {
        form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish()
    }

    /// Byte sequences that are not UTF-8: a bare continuation byte, a lead byte without
    /// its continuation, an encoded surrogate (U+D800), an overlong `/`, beyond U+10FFFF.
    const NOT_UTF8: &[&str] = &["%FF", "%80", "%C3", "%ED%A0%80", "%C0%AF", "%F4%90%80%80"];

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_bytes_are_judged_without_panicking(body in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = is_utf8_form(&body);
            let _ = form_field(&body, FIELD);
        }

        #[test]
        fn any_fields_a_browser_encodes_pass_and_the_token_is_found(
            fields in prop::collection::vec((hostile_string(12), hostile_string(40)), 0..8),
            token in "[A-Za-z0-9_-]{1,64}", at in any::<prop::sample::Index>(),
        ) {
            let mut fields = fields;
            fields.retain(|(k, _)| k != FIELD);
            let at = at.index(fields.len() + 1);
            fields.insert(at, (FIELD.to_string(), token.clone()));
            let body = encode(&fields);
            prop_assert!(is_utf8_form(body.as_bytes()), "{:?}", body);
            prop_assert_eq!(form_field(body.as_bytes(), FIELD), Some(token));
        }

        #[test]
        fn one_escape_that_is_not_utf8_anywhere_refuses_the_form(
            fields in prop::collection::vec(("[a-z]{1,8}", hostile_string(20)), 1..6),
            at in any::<prop::sample::Index>(), in_key in any::<bool>(), bad in prop::sample::select(NOT_UTF8),
        ) {
            let mut pairs: Vec<String> = fields.iter().map(|f| encode(std::slice::from_ref(f))).collect();
            let i = at.index(pairs.len());
            let (key, value) = pairs[i].split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).unwrap_or_default();
            pairs[i] = if in_key { format!("{key}{bad}={value}") } else { format!("{key}={value}{bad}") };
            prop_assert!(!is_utf8_form(pairs.join("&").as_bytes()), "{:?}", pairs);
        }

        /// Broken escapes (`%`, `%G1`, `%4`) are taken literally, as the form parser takes
        /// them: without a high byte a body decodes to ASCII and is accepted.
        #[test]
        fn broken_escapes_without_high_bytes_are_accepted(body in "[g-z0-7=&+;% ]{0,200}") {
            prop_assert!(is_utf8_form(body.as_bytes()), "{:?}", body);
        }
    }
}
