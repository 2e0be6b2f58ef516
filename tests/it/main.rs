//! The one integration-test binary: the real app on 127.0.0.1:0, a real PostgreSQL
//! (a throwaway cluster for this run, or DATABASE_URL), a database per test.

mod helpers;

mod accounts;
mod cluster;
mod friends;
mod pictures;
mod security;
