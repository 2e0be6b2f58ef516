//! The `recovery_codes` table: digests of one-time codes (`auth::recovery`).

use diesel::prelude::*;

use super::UserId;
use crate::db::schema::recovery_codes;

/// Replaces every code of the person with a new generation (the old ones stop working).
pub fn replace(conn: &mut PgConnection, user_id: UserId, digests: &[Vec<u8>]) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id))).execute(conn)?;
        let rows: Vec<_> = digests.iter().map(|d| (recovery_codes::user_id.eq(user_id), recovery_codes::code_hash.eq(d))).collect();
        diesel::insert_into(recovery_codes::table).values(rows).execute(conn).map(|_| ())
    })
}

/// Uses a code: deletes it if it is one of the person's, in one statement (of two
/// concurrent uses of one code, one deletes it, the other finds nothing).
pub fn use_code(conn: &mut PgConnection, user_id: UserId, digest: &[u8]) -> QueryResult<bool> {
    diesel::delete(recovery_codes::table.find((user_id, digest))).execute(conn).map(|n| n == 1)
}

/// How many unused codes the person has.
pub fn left(conn: &mut PgConnection, user_id: UserId) -> QueryResult<i64> {
    recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)).count().get_result(conn)
}

/// Recovery: uses the code and, only if it was one of the person's unused codes, sets
/// the new password and ends every session, all in one transaction. `false`: nothing
/// changed (a wrong or used code).
pub fn recover(conn: &mut PgConnection, user_id: UserId, digest: &[u8], salt: &str, pwd_hash: &str) -> QueryResult<bool> {
    conn.transaction(|conn| {
        if !use_code(conn, user_id, digest)? {
            return Ok(false);
        }
        diesel::update(crate::db::schema::users::table.find(user_id))
            .set((crate::db::schema::users::dynamic_salt.eq(salt), crate::db::schema::users::pwd_hash.eq(pwd_hash)))
            .execute(conn)?;
        diesel::delete(crate::db::schema::sessions::table.filter(crate::db::schema::sessions::user_id.eq(user_id))).execute(conn)?;
        Ok(true)
    })
}
