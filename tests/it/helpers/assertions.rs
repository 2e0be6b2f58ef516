//! Assertions about answers.

use reqwest::{Response, StatusCode};

#[track_caller]
pub fn assert_redirect(resp: &Response, location: &str) {
    assert_eq!(resp.status(), StatusCode::SEE_OTHER, "expected a 303 to {location}");
    assert_eq!(resp.headers().get("location").and_then(|v| v.to_str().ok()), Some(location));
}
