//! Authentication and request security: passwords, the PostgreSQL session store, the
//! `CurrentUser` extractor, CSRF, the browser's signed cookies and throttling.

pub mod browser;
pub mod client_addr;
pub mod csrf;
pub mod current_user;
pub mod local_limit;
pub mod oidc;
pub mod origin;
pub mod password;
pub mod recovery;
pub mod session_cache;
pub mod session_store;
pub mod throttle;
pub mod tokens;
pub mod upload_deadline;

pub use current_user::{CurrentUser, TypedSession};
