//! Test support, in one place: one PostgreSQL cluster per test process and a fresh
//! database per test (`db`), the app on a random port (`app`) or as a `chaat serve`
//! child process (`process`), a cookie-keeping, non-redirecting HTTP client with CSRF
//! handling (`client`), an SSE reader (`sse`), and readers of the database (`state`)
//! for assertions.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

mod app;
mod assertions;
mod client;
mod db;
pub mod process;
pub mod sse;
mod state;

pub use app::{patient_settings, production_waits, test_settings, TestApp, PASSWORD};
pub use assertions::assert_redirect;
pub use client::Client;
pub use db::TestDb;
pub use state::count;
