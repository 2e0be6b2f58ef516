//! What an export (SPEC §10, `GET /settings/export`) reads beyond the pages' own
//! queries: every request I sent or received, with the other person.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Bool, Nullable, Text, Timestamptz, Uuid as SqlUuid};

use super::friend_requests::Status;
use super::UserId;

/// A friend request, either way.
#[derive(Debug, Clone, QueryableByName)]
pub struct RequestRow {
    /// I sent it (else I received it).
    #[diesel(sql_type = Bool)]
    pub sent: bool,
    /// The other person (`None`: their account was deleted).
    #[diesel(sql_type = Nullable<Text>)]
    pub other: Option<String>,
    #[diesel(sql_type = Text)]
    pub greeting: String,
    #[diesel(sql_type = Text)]
    pub status: Status,
    #[diesel(sql_type = Timestamptz)]
    pub sent_date: DateTime<Utc>,
    #[diesel(sql_type = Nullable<Timestamptz>)]
    pub responded_at: Option<DateTime<Utc>>,
}

/// Every request from or to `me`, oldest first.
pub fn requests(conn: &mut PgConnection, me: UserId) -> QueryResult<Vec<RequestRow>> {
    crate::db::prepared(
        "SELECT r.from_user = $1 AS sent, u.username AS other, r.greeting, r.status, r.sent_date, r.responded_at \
           FROM friend_requests r \
           LEFT JOIN users u ON u.user_id = CASE WHEN r.from_user = $1 THEN r.to_user ELSE r.from_user END \
          WHERE r.from_user = $1 OR r.to_user = $1 \
          ORDER BY r.sent_date, r.request_id",
    )
    .bind::<SqlUuid, _>(me)
    .load(conn)
}
