//! A deadline for multipart uploads (pictures, sends with files), whose body is read after this middleware:
//! its first part (the CSRF token) by `csrf::protect`, the rest by the handler. The server's request timeout covers only the head, and form bodies get
//! theirs in `csrf::read_form`; without this a body trickled byte by byte would hold its
//! connection for ever. The time allowed grows with the declared size, at a rate that
//! a poor mobile link still reaches; past it the read fails, the answer is 408 and the
//! connection closes.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::HttpResponse;
use futures_util::{stream, StreamExt};

/// Time for any upload, before its size counts.
const BASE: Duration = Duration::from_secs(10);
/// The slowest rate waited for: 64 KiB/s (512 kbit/s), so 5 MiB may take 90 s.
const MIN_BYTES_PER_SEC: u64 = 64 * 1024;

/// How long a body of `declared` bytes may take (`max` when not declared or larger).
pub fn allowed(declared: Option<u64>, max: u64) -> Duration {
    BASE + Duration::from_secs(declared.unwrap_or(max).min(max) / MIN_BYTES_PER_SEC)
}

pub async fn limit_uploads(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let multipart = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.starts_with("multipart/"));
    if !multipart {
        return next.call(req).await.map(ServiceResponse::map_into_left_body);
    }
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    // A send with files may be ten times larger than a picture (13 min at the slowest rate).
    let max = if req.path().ends_with("/messages") { crate::uploads::MAX_BODY_BYTES } else { crate::pictures::MAX_UPLOAD_BYTES as u64 };
    let deadline = tokio::time::Instant::now() + allowed(declared, max);
    // Set when the body ran out of time: whatever the handler made of the failed read,
    // the answer is then a 408 that closes the connection.
    let too_slow = Rc::new(Cell::new(false));
    let (_, slot) = req.parts_mut();
    let payload = std::mem::replace(slot, Payload::None);
    let timed = stream::unfold((Some(payload), too_slow.clone()), move |(state, too_slow)| async move {
        let mut payload = state?;
        match tokio::time::timeout_at(deadline, payload.next()).await {
            Ok(Some(chunk)) => Some((chunk, (Some(payload), too_slow))),
            Ok(None) => None,
            Err(_) => {
                too_slow.set(true);
                let error = PayloadError::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, "upload too slow"));
                Some((Err(error), (None, too_slow)))
            }
        }
    });
    // Fused: the multipart reader may poll again after the end.
    req.set_payload(Payload::Stream { payload: Box::pin(timed.fuse()) });
    let res = next.call(req).await?;
    if !too_slow.get() {
        return Ok(res.map_into_left_body());
    }
    tracing::info!("upload too slow; closing the connection");
    Ok(res.into_response(HttpResponse::RequestTimeout().force_close().finish()).map_into_right_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_allowed_grows_with_the_declared_size_up_to_the_largest_upload() {
        let max = 5 * 1024 * 1024;
        assert_eq!(allowed(Some(1000), max), BASE);
        assert_eq!(allowed(Some(640 * 1024), max), BASE + Duration::from_secs(10));
        assert_eq!(allowed(None, max), BASE + Duration::from_secs(80));
        assert_eq!(allowed(Some(u64::MAX), max), allowed(None, max));
    }
}
