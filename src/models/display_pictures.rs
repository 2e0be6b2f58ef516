//! The `display_pictures` table: re-encoded pictures, one per user.

use crate::models::UserId;
use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::db::schema::{display_pictures, users};

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = display_pictures)]
pub struct DisplayPicture {
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub updated_at: DateTime<Utc>,
}

pub fn find(conn: &mut PgConnection, user_id: UserId) -> QueryResult<Option<DisplayPicture>> {
    display_pictures::table.find(user_id).select(DisplayPicture::as_select()).first(conn).optional()
}

/// Only the version stamp (for ETags and cache-busting URLs), without the bytes.
pub fn updated_at(conn: &mut PgConnection, user_id: UserId) -> QueryResult<Option<DateTime<Utc>>> {
    display_pictures::table.find(user_id).select(display_pictures::updated_at).first(conn).optional()
}

/// Stores the picture and points the user's `display_picture` at it, in one transaction.
pub fn replace(conn: &mut PgConnection, user_id: UserId, content_type: &str, bytes: &[u8]) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::insert_into(display_pictures::table)
            .values((
                display_pictures::user_id.eq(user_id),
                display_pictures::content_type.eq(content_type),
                display_pictures::bytes.eq(bytes),
            ))
            .on_conflict(display_pictures::user_id)
            .do_update()
            .set((
                display_pictures::content_type.eq(content_type),
                display_pictures::bytes.eq(bytes),
                display_pictures::updated_at.eq(diesel::dsl::now),
            ))
            .execute(conn)?;
        diesel::update(users::table.find(user_id)).set(users::display_picture.eq(format!("/display-pictures/{user_id}"))).execute(conn)?;
        Ok(())
    })
}
