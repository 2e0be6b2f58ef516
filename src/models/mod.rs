//! All SQL lives here: one module per table, functions taking `&mut PgConnection`,
//! blind to HTTP. Multi-step changes run in one transaction.

pub mod app_secrets;
pub mod auth_throttle;
pub mod chats;
pub mod display_pictures;
pub mod friend_requests;
pub mod friends;
pub mod groups;
pub mod messages;
pub mod participants;
pub mod sessions;
pub mod users;

/// Whether a diesel error is the violation of the named constraint.
pub fn violates(e: &diesel::result::Error, constraint: &str) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(_, info) if info.constraint_name() == Some(constraint))
}
