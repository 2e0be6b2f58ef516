//! The `users` table.

use super::UserId;
use crate::db::schema::users;
use crate::domain::Username;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct User {
    pub user_id: UserId,
    pub username: String,
    pub join_date: DateTime<Utc>,
    pub display_picture: Option<String>,
}

/// What login needs: the stored hash (`None`: an account made through an OpenID
/// provider that has not set a password).
#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct Credentials {
    pub user_id: UserId,
    pub username: String,
    pub pwd_hash: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub user_id: UserId,
    pub username: &'a str,
    pub dynamic_salt: &'a str,
    pub pwd_hash: &'a str,
}

#[derive(Debug, PartialEq, Eq)]
pub enum SignupOutcome {
    Created(UserId),
    UsernameTaken,
}

impl NewUser<'_> {
    /// Inserts the user; a taken name is an outcome, decided by the unique constraint.
    pub fn insert(&self, conn: &mut PgConnection) -> QueryResult<SignupOutcome> {
        // A name held after an account's deletion is refused by a trigger (000022),
        // which ON CONFLICT does not catch: the same constraint's name, the same answer.
        let inserted = match conn.transaction(|conn| diesel::insert_into(users::table).values(self).on_conflict_do_nothing().execute(conn))
        {
            Err(e) if super::violates(&e, "users_username_key") => 0,
            other => other?,
        };
        Ok(if inserted == 1 { SignupOutcome::Created(self.user_id) } else { SignupOutcome::UsernameTaken })
    }
}

/// Whether the person has a password (accounts made through a provider may not).
pub fn has_password(conn: &mut PgConnection, user_id: UserId) -> QueryResult<bool> {
    users::table.find(user_id).select(users::pwd_hash.is_not_null()).first(conn)
}

pub fn find_by_username(conn: &mut PgConnection, name: &Username) -> QueryResult<Option<User>> {
    users::table.filter(users::username.eq(name.as_str())).select(User::as_select()).first(conn).optional()
}

pub fn find(conn: &mut PgConnection, user_id: UserId) -> QueryResult<Option<User>> {
    users::table.find(user_id).select(User::as_select()).first(conn).optional()
}

pub fn credentials(conn: &mut PgConnection, name: &Username) -> QueryResult<Option<Credentials>> {
    users::table.filter(users::username.eq(name.as_str())).select(Credentials::as_select()).first(conn).optional()
}

pub fn credentials_by_id(conn: &mut PgConnection, user_id: UserId) -> QueryResult<Credentials> {
    users::table.find(user_id).select(Credentials::as_select()).first(conn)
}

/// Sets a new password and ends every other session of the person (the one with
/// `keep_sid` stays), in one transaction.
pub fn change_password(conn: &mut PgConnection, user_id: UserId, salt: &str, pwd_hash: &str, keep_sid: &str) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::update(users::table.find(user_id)).set((users::dynamic_salt.eq(salt), users::pwd_hash.eq(pwd_hash))).execute(conn)?;
        super::sessions::delete_others(conn, user_id, keep_sid).map(|_| ())
    })
}

/// The navigation's badges.
#[derive(Debug, Clone, Copy, Default, QueryableByName)]
pub struct NavCounts {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub pending_requests: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub unread_messages: i64,
}

/// The badges of the navigation, in one round trip (the `nav_counts` function of
/// migration 000007, which the chat page's head query calls too).
pub fn nav_counts(conn: &mut PgConnection, user_id: UserId) -> QueryResult<NavCounts> {
    crate::db::prepared("SELECT pending_requests, unread_messages FROM nav_counts($1)")
        .bind::<diesel::sql_types::Uuid, _>(user_id)
        .get_result(conn)
}
