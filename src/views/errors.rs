use askama::Template;

use super::Layout;

/// Every error page (403, 404, 422, 429, 500, 503, ...) in the site layout.
#[derive(Template)]
#[template(path = "errors/error.html")]
pub struct ErrorPage {
    pub layout: Layout,
    pub status: u16,
    pub heading: String,
    pub message: String,
}
