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
        // Scopes, as for the chats' URLs below: one regex instead of one per route.
        .service(
            web::scope("/users/{username}")
                .route("", web::get().to(users::show))
                .route("/block", web::post().to(account::block))
                .route("/unblock", web::post().to(account::unblock)),
        )
        .route("/chats", web::get().to(chats::index))
        .route("/chats/direct", web::post().to(chats::open_direct))
        .route("/chats/group", web::post().to(groups::create))
        // The chat's URLs in one scope, and a message's in one within it: actix compiles
        // a regex for each route with a `{segment}`, in each worker (~25 KiB apiece, most
        // of a worker's heap at idle, issue 19); a scope's routes without one of their own
        // are matched as plain strings. Matching is unchanged: a method no route takes
        // falls to the app's 404 as before (a scope with no default service of its own
        // uses the app's), and nothing registered after this scope matched these paths.
        .service(
            web::scope("/chats/{chat_id}")
                .route("", web::get().to(chats::show))
                .route("/messages", web::get().to(messages::index))
                .route("/messages", web::post().guard(multipart()).to(messages::create_with_files))
                .route("/messages", web::post().to(messages::create))
                .service(
                    web::scope("/messages/{seq}")
                        .route("/edit", web::get().to(message_actions::edit_form))
                        .route("/edit", web::post().to(message_actions::edit))
                        .route("/history", web::get().to(message_actions::history))
                        .route("/delete", web::get().to(message_actions::delete_form))
                        .route("/delete", web::post().to(message_actions::delete))
                        .route("/reactions", web::get().to(message_actions::react_form))
                        .route("/reactions", web::post().to(message_actions::react)),
                )
                .route("/events", web::get().to(events::stream))
                .route("/typing", web::post().to(inbox::typing))
                .route("/mute", web::post().to(inbox::mute))
                .route("/read", web::post().to(messages::read))
                .route("/members", web::post().to(groups::add_member))
                .route("/members/{username}/remove", web::post().to(groups::remove_member))
                .route("/rename", web::post().to(groups::rename))
                .route("/leave", web::post().to(groups::leave)),
        )
        .route("/events", web::get().to(events::inbox))
        .service(
            web::scope("/attachments/{attachment_id}")
                .route("", web::get().to(attachments::show))
                .route("/thumbnail", web::get().to(attachments::thumbnail)),
        )
        .route("/search", web::get().to(search::index))
        .route("/friends", web::get().to(friends::index))
        .route("/friends/{username}/remove", web::post().to(friends::remove))
        .route("/friend-requests", web::post().to(friend_requests::create))
        .service(
            web::scope("/friend-requests/{request_id}")
                .route("/accept", web::post().to(friend_requests::accept))
                .route("/reject", web::post().to(friend_requests::reject))
                .route("/withdraw", web::post().to(friend_requests::withdraw)),
        );
}
