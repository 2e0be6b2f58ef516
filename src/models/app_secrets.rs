//! The `app_secrets` table: secrets all instances share.

use diesel::prelude::*;

use crate::db::schema::app_secrets;

/// The secret called `name`, created with `fresh` by whichever instance asks first.
pub fn get_or_create(conn: &mut PgConnection, name: &str, fresh: &[u8]) -> QueryResult<Vec<u8>> {
    diesel::insert_into(app_secrets::table)
        .values((app_secrets::name.eq(name), app_secrets::value.eq(fresh)))
        .on_conflict_do_nothing()
        .execute(conn)?;
    app_secrets::table.find(name).select(app_secrets::value).first(conn)
}
