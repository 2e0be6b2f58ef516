//! All SQL lives here: one module per table, functions taking `&mut PgConnection`,
//! blind to HTTP. Multi-step changes run in one transaction.
//!
//! **How queries are written (the one rule).**
//! 1. Diesel's query builder by default: it checks columns and types at compile time.
//! 2. Raw SQL only where the builder cannot say it (a join on `CASE`, `ON CONFLICT` on an
//!    expression index, `LEAST`/`GREATEST`, calling the `send_message` function (and
//!    `send_messages`, the batch of 000029 and 000034, and `reply_quotes` of 000043), text
//!    search: `@@`, `to_tsquery`, `search_fold`, the `tsvector` column, the `UNION ALL`
//!    of differently shaped rows in `decorations`). Raw SQL
//!    always goes through `db::prepared` (parsed and planned once per connection), with
//!    every value bound (`$1`…), and is written out whole in the function that runs it:
//!    never assembled from fragments, constants or `format!`, so reading one function
//!    shows its whole statement. BENCHMARKS.md names the measured hot paths among them
//!    (the chat page's head query, the chat list, the badges, message pages, the send).
//! 3. Reads of a chat's content take the reader's `chats::Membership`, which only a
//!    lookup through the person makes: a query cannot be called for a chat nobody
//!    checked the reader is in.
//!
//! Outside this folder, SQL exists only in `migrations/` (the schema, the
//! `send_message`, `send_messages` and `reply_quotes` functions and the search functions of 000008, the
//! trigger of 000028 that notifies every session change), `db/` (session setup,
//! migrations' lock, the private cluster's `CREATE DATABASE`) and `live/` (`LISTEN`,
//! `pg_notify`, the session cache's barrier), which are plumbing, not queries of the
//! app's data.

pub mod account;
pub mod app_secrets;
pub mod attachments;
pub mod auth_throttle;
pub mod blocks;
pub mod chats;
pub mod decorations;
pub mod display_pictures;
pub mod export;
pub mod friend_requests;
pub mod friends;
pub mod groups;
pub mod ids;
pub mod inbox;
pub mod mentions;
pub mod message_actions;
pub mod message_batch;
pub mod messages;
pub mod oidc_identities;
pub mod participants;
pub mod reactions;
pub mod recovery_codes;
pub mod search;
pub mod sessions;
pub mod users;

pub use ids::{ChatId, MessageId, RequestId, Rev, Seq, UserId};

/// Whether the database answers (the health check).
pub fn ping(conn: &mut diesel::PgConnection) -> diesel::QueryResult<()> {
    use diesel::RunQueryDsl;
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Integer>("1")).execute(conn).map(|_| ())
}

/// Whether a diesel error is the violation of the named constraint.
pub fn violates(e: &diesel::result::Error, constraint: &str) -> bool {
    matches!(e, diesel::result::Error::DatabaseError(_, info) if info.constraint_name() == Some(constraint))
}

/// An enum stored as one of a few words in a `text` column (a check constraint in the
/// migration allows exactly these). Reading any other word is an error, never a
/// silent default.
macro_rules! text_column {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $word:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, diesel::AsExpression, diesel::FromSqlRow)]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($word => Ok($name::$variant),)+
                    other => Err(format!("{other:?} is not a {}", stringify!($name))),
                }
            }
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(&'b self, out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg>>::to_sql(self.as_str(), out)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(bytes: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let word = <String as diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg>>::from_sql(bytes)?;
                Ok(word.parse::<$name>()?)
            }
        }
    };
}
pub(crate) use text_column;

#[cfg(test)]
mod tests {
    use super::friend_requests::Status;
    use super::messages::MessageKind;
    use super::participants::Role;

    #[test]
    fn a_stored_word_outside_an_enum_is_an_error_not_a_default() {
        assert_eq!("owner".parse::<Role>(), Ok(Role::Owner));
        assert_eq!("system".parse::<MessageKind>(), Ok(MessageKind::System));
        assert_eq!("withdrawn".parse::<Status>(), Ok(Status::Withdrawn));
        assert!("admin".parse::<Role>().is_err());
        assert!("Pending".parse::<Status>().is_err(), "no silent pending");
        assert!("".parse::<MessageKind>().is_err());
        for status in [Status::Pending, Status::Accepted, Status::Rejected, Status::Withdrawn] {
            assert_eq!(status.as_str().parse::<Status>(), Ok(status));
        }
    }
}
