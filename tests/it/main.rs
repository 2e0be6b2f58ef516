//! The one integration-test binary: the real app on 127.0.0.1:0, a real PostgreSQL
//! (a throwaway cluster for this run, or DATABASE_URL), a database per test.

// A test that meets the unexpected should stop right there, with the value in the
// message: unwrap and expect are how tests fail, unlike the app, which must answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod account_safety;
mod accounts;
mod actions_more;
mod attachments;
mod attachments_more;
mod authz;
mod batch;
mod batch_outcomes;
mod binary;
mod browser;
mod chat_keys;
mod chats;
mod cluster;
mod cluster_balancer;
mod cluster_proxies;
mod csrf_multipart;
mod deps;
mod events;
mod faults;
mod form_fuzz;
mod friends;
mod groups;
mod hardening;
mod history;
mod hostile;
mod http_doc;
mod inbox;
mod instances;
mod load;
mod message_actions;
mod oidc;
mod overload;
mod page_decorations;
mod picture_limits;
mod pictures;
mod routing;
mod safety;
mod search;
mod search_more;
mod search_speed;
mod security;
mod session_cache;
mod stream_burst;
mod stream_limits;
mod throttling;
mod wire;
