//! Embedded migrations, run at start by every instance.

use diesel::pg::PgConnection;
use diesel::{Connection, RunQueryDsl};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Arbitrary constant: the advisory lock that serialises migrations of instances that
/// start at the same time (diesel_migrations takes no lock itself).
const MIGRATION_LOCK: i64 = 0x000C_4AA7_0001;

pub fn run_pending(url: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::establish(url)?;
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(&mut conn)?;
    let result = conn.run_pending_migrations(MIGRATIONS).map(|_| ()).map_err(|e| anyhow::anyhow!(e));
    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(&mut conn)?;
    result
}

/// Reverts every migration (used by the test that checks the down migrations).
pub fn revert_all(conn: &mut PgConnection) -> anyhow::Result<()> {
    conn.revert_all_migrations(MIGRATIONS).map(|_| ()).map_err(|e| anyhow::anyhow!(e))
}
