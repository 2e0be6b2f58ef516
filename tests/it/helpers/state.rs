//! Reading what the test's database holds, for assertions. Values are bound as
//! parameters (`$1`), never formatted into the SQL.

use diesel::sql_types::{BigInt, Text};
use diesel::{PgConnection, RunQueryDsl};
use uuid::Uuid;

use super::TestApp;

/// The row of a scalar query: one bigint column named `n`.
#[derive(diesel::QueryableByName)]
pub struct Scalar {
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// Runs a scalar query (a column `n`) without parameters.
pub fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<Scalar>(conn).unwrap().n
}

/// Runs a scalar query (a column `n`) with `id` as `$1`.
pub fn count_with(conn: &mut PgConnection, sql: &str, id: Uuid) -> i64 {
    diesel::sql_query(sql).bind::<diesel::sql_types::Uuid, _>(id).get_result::<Scalar>(conn).unwrap().n
}

pub fn user_id(app: &TestApp, username: &str) -> Uuid {
    #[derive(diesel::QueryableByName)]
    struct U {
        #[diesel(sql_type = diesel::sql_types::Uuid)]
        user_id: Uuid,
    }
    diesel::sql_query("SELECT user_id FROM users WHERE username = $1")
        .bind::<Text, _>(username)
        .get_result::<U>(&mut app.conn())
        .unwrap()
        .user_id
}
