//! Reading what the test's database holds, for assertions.

use diesel::sql_types::BigInt;
use diesel::{PgConnection, RunQueryDsl};

#[derive(diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Runs a scalar query (a column `n`) without parameters.
pub fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql).get_result::<N>(conn).unwrap().n
}
