//! Assertions about answers.

use reqwest::{Response, StatusCode};
use uuid::Uuid;

#[track_caller]
pub fn assert_redirect(resp: &Response, location: &str) {
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "expected a 303 to {location}");
    assert_eq!(resp.headers().get("location").and_then(|v| v.to_str().ok()), Some(location));
}

/// The chat a 303 sends to (`/chats/{id}`), if the answer is one.
pub fn chat_redirected_to(resp: &Response) -> Option<Uuid> {
    if resp.status() != StatusCode::SEE_OTHER {
        return None;
    }
    resp.headers().get("location")?.to_str().ok()?.strip_prefix("/chats/")?.parse().ok()
}
