//! The page layer: one function per page that several handlers render (the chat page,
//! the chat list, the friends page, a profile, the settings). Each takes the current
//! person, the pool and the state of the page's forms, loads what it shows through
//! `models` in one blocking round, and returns the view. Handlers choose the status and
//! the block to render; routes never import each other, and rules live in `models`.

pub mod chat;
pub mod chat_list;
pub mod friends;
pub mod friendship;
pub mod oidc;
pub mod profile;
pub mod search;
pub mod settings;
