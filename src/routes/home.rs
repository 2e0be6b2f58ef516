use actix_web::{HttpRequest, HttpResponse};

use crate::auth::TypedSession;
use crate::views::see_other;

/// `/`: the chats when logged in, else the login page.
pub async fn show(req: HttpRequest) -> HttpResponse {
    match TypedSession::of(&req).current_user() {
        Some(_) => see_other("/chats"),
        None => see_other("/login"),
    }
}
