//! The one integration-test binary: the real app on 127.0.0.1:0, a real PostgreSQL
//! (a throwaway cluster for this run, or DATABASE_URL), a database per test.

mod helpers;
mod process;
mod sse;

mod accounts;
mod authz;
mod binary;
mod browser;
mod chats;
mod cluster;
mod events;
mod faults;
mod form_fuzz;
mod friends;
mod groups;
mod hostile;
mod instances;
mod load;
mod overload;
mod pictures;
mod security;
