//! THE URL table. Handlers are HTTP only: extract, parse into domain types, one model
//! call through `db::run`, then render or redirect. Routes that take a `CurrentUser`
//! are authenticated (anonymous visitors are sent to /login); CSRF is checked for every
//! unsafe method by `auth::csrf::protect`, which wraps the whole app.

mod account;
mod accounts;
mod attachments;
mod chats;
mod display_pictures;
mod events;
mod friend_requests;
mod friends;
mod groups;
mod health;
mod home;
mod inbox;
mod message_actions;
pub(crate) mod messages;
mod oidc;
mod search;
mod settings;
mod static_files;
mod users;

use std::str::FromStr;

use actix_web::web;

use crate::error::AppError;

/// Each instance's limit on messages sent per person (`messages::create`).
pub type SendLimiter = crate::auth::local_limit::LocalLimiter<crate::models::UserId>;

/// An id in a path: one that does not parse is unknown, 404 like any other.
fn id_in_path<Id: FromStr>(raw: &str) -> Result<Id, AppError> {
    raw.parse().map_err(|_| AppError::NotFound)
}

/// A `multipart/form-data` body (a send with files).
fn multipart() -> impl actix_web::guard::Guard {
    actix_web::guard::fn_guard(|ctx| {
        ctx.head()
            .headers()
            .get(actix_web::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"))
    })
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(home::show))
        .route("/healthz", web::get().to(health::check))
        .route("/static/{file}", web::get().to(static_files::serve))
        .route("/static/{file}", web::head().to(static_files::serve))
        .route("/signup", web::get().to(accounts::signup_form))
        .route("/signup", web::post().to(accounts::signup))
        .route("/login", web::get().to(accounts::login_form))
        .route("/login", web::post().to(accounts::login))
        .route("/logout", web::post().to(accounts::logout))
        .route("/signup/recovery-codes", web::get().to(account::signup_codes))
        .route("/recover", web::get().to(accounts::recover_form))
        .route("/recover", web::post().to(accounts::recover))
        .route("/auth/oidc/start", web::post().to(oidc::start))
        .route("/auth/oidc/callback", web::get().to(oidc::callback))
        .route("/auth/oidc/username", web::get().to(oidc::username_form))
        .route("/auth/oidc/username", web::post().to(oidc::choose_username))
        .route("/settings", web::get().to(settings::show))
        .route("/settings/display-picture", web::post().to(settings::update_display_picture))
        .route("/settings/password", web::post().to(settings::update_password))
        .route("/settings/sessions/others/logout", web::post().to(settings::log_out_other_sessions))
        .route("/settings/notifications", web::post().to(inbox::notifications))
        .route("/settings/requests", web::post().to(account::set_request_policy))
        .route("/settings/recovery-codes", web::post().to(account::regenerate_codes))
        .route("/settings/export", web::get().to(account::export))
        .route("/settings/delete-account", web::post().to(account::delete_account))
        .route("/settings/oidc/link", web::post().to(oidc::link))
        .route("/settings/oidc/unlink", web::post().to(oidc::unlink))
        .route("/display-pictures/{user_id}", web::get().to(display_pictures::show))
        .route("/users/{username}", web::get().to(users::show))
        .route("/users/{username}/block", web::post().to(account::block))
        .route("/users/{username}/unblock", web::post().to(account::unblock))
        .route("/chats", web::get().to(chats::index))
        .route("/chats/direct", web::post().to(chats::open_direct))
        .route("/chats/group", web::post().to(groups::create))
        .route("/chats/{chat_id}", web::get().to(chats::show))
        .route("/chats/{chat_id}/messages", web::get().to(messages::index))
        .route("/chats/{chat_id}/messages", web::post().guard(multipart()).to(messages::create_with_files))
        .route("/chats/{chat_id}/messages", web::post().to(messages::create))
        .route("/chats/{chat_id}/messages/{seq}/edit", web::get().to(message_actions::edit_form))
        .route("/chats/{chat_id}/messages/{seq}/edit", web::post().to(message_actions::edit))
        .route("/chats/{chat_id}/messages/{seq}/history", web::get().to(message_actions::history))
        .route("/chats/{chat_id}/messages/{seq}/delete", web::get().to(message_actions::delete_form))
        .route("/chats/{chat_id}/messages/{seq}/delete", web::post().to(message_actions::delete))
        .route("/chats/{chat_id}/messages/{seq}/reactions", web::get().to(message_actions::react_form))
        .route("/chats/{chat_id}/messages/{seq}/reactions", web::post().to(message_actions::react))
        .route("/chats/{chat_id}/events", web::get().to(events::stream))
        .route("/chats/{chat_id}/typing", web::post().to(inbox::typing))
        .route("/chats/{chat_id}/mute", web::post().to(inbox::mute))
        .route("/events", web::get().to(events::inbox))
        .route("/chats/{chat_id}/read", web::post().to(messages::read))
        .route("/chats/{chat_id}/members", web::post().to(groups::add_member))
        .route("/chats/{chat_id}/members/{username}/remove", web::post().to(groups::remove_member))
        .route("/chats/{chat_id}/rename", web::post().to(groups::rename))
        .route("/chats/{chat_id}/leave", web::post().to(groups::leave))
        .route("/attachments/{attachment_id}", web::get().to(attachments::show))
        .route("/attachments/{attachment_id}/thumbnail", web::get().to(attachments::thumbnail))
        .route("/search", web::get().to(search::index))
        .route("/friends", web::get().to(friends::index))
        .route("/friends/{username}/remove", web::post().to(friends::remove))
        .route("/friend-requests", web::post().to(friend_requests::create))
        .route("/friend-requests/{request_id}/accept", web::post().to(friend_requests::accept))
        .route("/friend-requests/{request_id}/reject", web::post().to(friend_requests::reject))
        .route("/friend-requests/{request_id}/withdraw", web::post().to(friend_requests::withdraw));
}
