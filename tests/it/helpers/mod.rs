//! Test support, in one place: one PostgreSQL cluster per test process and a fresh
//! database per test (`db`), the app on a random port (`app`) or as a `chaat serve`
//! child process (`process`), a cookie-keeping, non-redirecting HTTP client with CSRF
//! handling (`client`), actors, the named people who use the app (`actor`, `fixtures`),
//! an SSE reader (`sse`), and readers of pages (`html`) and of the database (`state`)
//! for assertions.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

mod actor;
mod app;
mod assertions;
mod client;
mod db;
mod fixtures;
mod html;
pub mod process;
pub mod sse;
mod state;

pub use actor::{group_fields, Actor, PASSWORD};
pub use app::{patient_settings, production_waits, test_settings, TestApp};
pub use assertions::{assert_redirect, chat_redirected_to};
pub use client::Client;
pub use db::TestDb;
pub use fixtures::alice_and_bob;
pub use html::{has, select, select_attr, seqs_in};
pub use state::{count, count_with, user_id, Scalar};
