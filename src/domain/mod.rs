//! Domain newtypes: each can only hold a valid value (parse, don't validate). No diesel
//! or actix here. Each `parse` error is the sentence shown next to the form field.

pub mod emoji;
mod file_name;
mod greeting;
mod group_name;
pub mod mentions;
mod message_text;
pub mod mute;
mod password;
pub mod search_query;
mod username;
mod username_prefix;

#[cfg(test)]
pub(crate) mod test_strings;

pub use emoji::Emoji;
pub use file_name::FileName;
pub use greeting::Greeting;
pub use group_name::GroupName;
pub use message_text::MessageText;
pub use mute::MuteFor;
pub use password::Password;
pub use search_query::SearchQuery;
pub use username::Username;
pub use username_prefix::UsernamePrefix;

/// Why an input was refused, worded for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub &'static str);
