//! The `users` table.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::users;
use crate::domain::Username;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub user_id: Uuid,
    pub username: String,
    pub join_date: DateTime<Utc>,
    pub display_picture: Option<String>,
}

/// What login needs: the stored hash.
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct Credentials {
    pub user_id: Uuid,
    pub username: String,
    pub pwd_hash: String,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub user_id: Uuid,
    pub username: &'a str,
    pub dynamic_salt: &'a str,
    pub pwd_hash: &'a str,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SignupOutcome {
    Created(Uuid),
    UsernameTaken,
}

impl NewUser<'_> {
    /// Inserts the user; a taken name is an outcome, decided by the unique constraint.
    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<SignupOutcome> {
        let inserted = diesel::insert_into(users::table).values(self).on_conflict_do_nothing().execute(conn)?;
        Ok(if inserted == 1 { SignupOutcome::Created(self.user_id) } else { SignupOutcome::UsernameTaken })
    }
}

pub fn find_by_username(conn: &mut PgConnection, name: &Username) -> QueryResult<Option<User>> {
    users::table.filter(users::username.eq(name.as_str())).select(User::as_select()).first(conn).optional()
}

pub fn find(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<Option<User>> {
    users::table.find(user_id).select(User::as_select()).first(conn).optional()
}

pub fn credentials(conn: &mut PgConnection, name: &Username) -> QueryResult<Option<Credentials>> {
    users::table.filter(users::username.eq(name.as_str())).select(Credentials::as_select()).first(conn).optional()
}

pub fn credentials_by_id(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<Credentials> {
    users::table.find(user_id).select(Credentials::as_select()).first(conn)
}

pub fn set_password(conn: &mut PgConnection, user_id: Uuid, salt: &str, pwd_hash: &str) -> QueryResult<()> {
    diesel::update(users::table.find(user_id)).set((users::dynamic_salt.eq(salt), users::pwd_hash.eq(pwd_hash))).execute(conn).map(|_| ())
}

#[derive(Debug, Clone, Copy, Default, QueryableByName)]
pub struct NavCounts {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub pending_requests: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub unread_messages: i64,
}

/// The badge columns of the navigation for user `$1`, as a select list: incoming pending
/// friend requests and unread messages over all my chats. Shared by `nav_counts` and
/// the pages that fold the badges into their own query.
pub const NAV_COUNTS_COLUMNS: &str = "\
    (SELECT count(*) FROM friend_requests \
      WHERE to_user = $1 AND status = 'pending') AS pending_requests, \
    (SELECT COALESCE(sum(nc.last_seq - np.last_read_seq), 0)::bigint \
       FROM chat_participants np JOIN chats nc ON nc.chat_id = np.chat_id \
      WHERE np.user_id = $1) AS unread_messages";

/// The badges of the navigation, in one round trip.
pub fn nav_counts(conn: &mut PgConnection, user_id: Uuid) -> QueryResult<NavCounts> {
    crate::db::prepared(format!("SELECT {NAV_COUNTS_COLUMNS}")).bind::<diesel::sql_types::Uuid, _>(user_id).get_result(conn)
}
