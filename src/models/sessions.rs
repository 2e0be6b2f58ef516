//! The `sessions` table: server-side session state, keyed by the SHA-256 of the cookie key.

use crate::models::UserId;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::sessions;

#[derive(Debug, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession<'a> {
    pub key_hash: &'a [u8],
    pub user_id: Option<UserId>,
    pub data: serde_json::Value,
    pub user_agent: Option<&'a str>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub struct LoadedSession {
    pub data: serde_json::Value,
    pub last_seen_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A user's session as listed in settings.
#[derive(Debug, Queryable)]
pub struct ActiveSession {
    pub sid: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
}

pub fn find_live(conn: &mut PgConnection, key_hash: &[u8]) -> QueryResult<Option<LoadedSession>> {
    sessions::table
        .filter(sessions::key_hash.eq(key_hash))
        .filter(sessions::expires_at.gt(diesel::dsl::now))
        .select(LoadedSession::as_select())
        .first(conn)
        .optional()
}

pub fn insert(conn: &mut PgConnection, new: &NewSession<'_>) -> QueryResult<()> {
    diesel::insert_into(sessions::table).values(new).execute(conn).map(|_| ())
}

/// Replaces the state of a live session; returns whether it still existed.
pub fn update(conn: &mut PgConnection, new: &NewSession<'_>) -> QueryResult<bool> {
    let n = diesel::update(sessions::table)
        .filter(sessions::key_hash.eq(new.key_hash))
        .filter(sessions::expires_at.gt(diesel::dsl::now))
        .set((
            sessions::user_id.eq(new.user_id),
            sessions::data.eq(&new.data),
            sessions::user_agent.eq(new.user_agent),
            sessions::expires_at.eq(new.expires_at),
            sessions::last_seen_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

pub fn touch(conn: &mut PgConnection, key_hash: &[u8]) -> QueryResult<()> {
    diesel::update(sessions::table.find(key_hash)).set(sessions::last_seen_at.eq(diesel::dsl::now)).execute(conn).map(|_| ())
}

pub fn set_expiry(conn: &mut PgConnection, key_hash: &[u8], expires_at: DateTime<Utc>) -> QueryResult<()> {
    diesel::update(sessions::table.find(key_hash)).set(sessions::expires_at.eq(expires_at)).execute(conn).map(|_| ())
}

pub fn delete(conn: &mut PgConnection, key_hash: &[u8]) -> QueryResult<()> {
    diesel::delete(sessions::table.find(key_hash)).execute(conn).map(|_| ())
}

/// Ends every session of `user_id` except the one whose `sid` is `keep_sid`.
pub fn delete_others(conn: &mut PgConnection, user_id: UserId, keep_sid: &str) -> QueryResult<usize> {
    crate::db::prepared("DELETE FROM sessions WHERE user_id = $1 AND (data->>'sid') IS DISTINCT FROM $2")
        .bind::<diesel::sql_types::Uuid, _>(user_id)
        .bind::<diesel::sql_types::Text, _>(keep_sid)
        .execute(conn)
}

pub fn list_live_for_user(conn: &mut PgConnection, user_id: UserId) -> QueryResult<Vec<ActiveSession>> {
    use diesel::dsl::sql;
    use diesel::sql_types::{Nullable, Text};
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::expires_at.gt(diesel::dsl::now))
        .order(sessions::last_seen_at.desc())
        .select((sql::<Nullable<Text>>("data->>'sid'"), sessions::user_agent, sessions::created_at, sessions::last_seen_at))
        .load(conn)
}

/// Of the sessions `(user_id, sid)` that hold event streams, the ones that no longer
/// exist or have expired (the live sweep: one statement for all of an instance's streams,
/// through the `user_id` index).
pub fn gone(conn: &mut PgConnection, held: &[(UserId, String)]) -> QueryResult<Vec<(UserId, String)>> {
    use diesel::sql_types::{Array, Text, Uuid};
    #[derive(QueryableByName)]
    struct Gone {
        #[diesel(sql_type = Uuid)]
        user_id: UserId,
        #[diesel(sql_type = Text)]
        sid: String,
    }
    let (users, sids): (Vec<UserId>, Vec<String>) = held.iter().cloned().unzip();
    let rows: Vec<Gone> = crate::db::prepared(
        "SELECT h.user_id, h.sid FROM unnest($1::uuid[], $2::text[]) AS h(user_id, sid) \
          WHERE NOT EXISTS (SELECT 1 FROM sessions s \
                             WHERE s.user_id = h.user_id AND s.data->>'sid' = h.sid AND s.expires_at > now())",
    )
    .bind::<Array<Uuid>, _>(users)
    .bind::<Array<Text>, _>(sids)
    .load(conn)?;
    Ok(rows.into_iter().map(|g| (g.user_id, g.sid)).collect())
}

pub fn purge_expired(conn: &mut PgConnection) -> QueryResult<usize> {
    diesel::delete(sessions::table.filter(sessions::expires_at.le(diesel::dsl::now))).execute(conn)
}
