//! The `attachments` and `attachment_chunks` tables: files sent with messages, kept in
//! chunks of at most `CHUNK_BYTES` so that neither an upload nor a download ever holds a
//! whole file. An upload is one transaction (`Upload`): chunks as they arrive, the
//! attachment row after its chunks, the message last (the foreign keys are checked at
//! commit); dropping it half-way rolls everything back. Reads take a `Membership`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Uuid as SqlUuid};

use super::chats::Membership;
use super::ids::AttachmentId;
use super::{text_column, ChatId, MessageId, UserId};
use crate::db::schema::{attachment_chunks, attachments, users};

/// The most bytes one chunk row holds (the table's check says the same).
pub const CHUNK_BYTES: usize = 256 * 1024;

text_column!(
    /// An image (re-encoded, shown inline) or any other file (only ever a download).
    Kind {
        Image = "image",
        File = "file",
    }
);

/// What a message shows of one of its files.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct AttachmentView {
    pub attachment_id: AttachmentId,
    pub message_id: MessageId,
    pub name: String,
    pub size: i64,
    pub kind: Kind,
    pub thumb_width: Option<i32>,
    pub thumb_height: Option<i32>,
}

/// One file with what serving it needs (not its bytes: `chunk` reads those).
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct Attachment {
    pub attachment_id: AttachmentId,
    pub message_id: MessageId,
    pub chat_id: ChatId,
    pub uploader: UserId,
    pub name: String,
    pub size: i64,
    pub kind: Kind,
    pub content_type: String,
    pub sha256: String,
    pub thumb_type: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The chat a file belongs to, to look up the reader's membership (no content).
pub fn chat_of(conn: &mut PgConnection, id: AttachmentId) -> QueryResult<Option<ChatId>> {
    attachments::table.filter(attachments::attachment_id.eq(id)).select(attachments::chat_id).first(conn).optional()
}

/// A file of the reader's chat (issue 17's export reads files with this and `chunk`).
pub fn find(conn: &mut PgConnection, membership: &Membership, id: AttachmentId) -> QueryResult<Option<Attachment>> {
    attachments::table
        .filter(attachments::attachment_id.eq(id))
        .filter(attachments::chat_id.eq(membership.chat_id()))
        .select((
            attachments::attachment_id,
            attachments::message_id,
            attachments::chat_id,
            attachments::uploader,
            attachments::name,
            attachments::size,
            attachments::kind,
            attachments::content_type,
            attachments::sha256,
            attachments::thumb_type,
            attachments::created_at,
        ))
        .first(conn)
        .optional()
}

/// The `n`th chunk (from 0) of a file of the reader's chat; `None` past the last. The
/// chunk's own `chat_id` is its file's (a composite key, 000033), so no join is needed.
pub fn chunk(conn: &mut PgConnection, membership: &Membership, id: AttachmentId, n: i32) -> QueryResult<Option<Vec<u8>>> {
    attachment_chunks::table
        .filter(attachment_chunks::chat_id.eq(membership.chat_id()))
        .filter(attachment_chunks::attachment_id.eq(id))
        .filter(attachment_chunks::n.eq(n))
        .select(attachment_chunks::bytes)
        .first(conn)
        .optional()
}

/// An image's preview (a few hundred KiB at most): its type, bytes and the full
/// image's SHA-256 (the preview is made from it, so it versions both).
pub fn thumbnail(conn: &mut PgConnection, membership: &Membership, id: AttachmentId) -> QueryResult<Option<(String, Vec<u8>, String)>> {
    let found: Option<(Option<String>, Option<Vec<u8>>, String)> = attachments::table
        .filter(attachments::attachment_id.eq(id))
        .filter(attachments::chat_id.eq(membership.chat_id()))
        .select((attachments::thumb_type, attachments::thumbnail, attachments::sha256))
        .first(conn)
        .optional()?;
    Ok(found.and_then(|(t, b, sha)| Some((t?, b?, sha))))
}

/// The files of these messages of the reader's chat, in each message's order.
pub fn for_messages(conn: &mut PgConnection, membership: &Membership, ids: &[MessageId]) -> QueryResult<Vec<AttachmentView>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    attachments::table
        .filter(attachments::chat_id.eq(membership.chat_id()))
        .filter(attachments::message_id.eq_any(ids))
        .order((attachments::message_id, attachments::position))
        .select((
            attachments::attachment_id,
            attachments::message_id,
            attachments::name,
            attachments::size,
            attachments::kind,
            attachments::thumb_width,
            attachments::thumb_height,
        ))
        .load(conn)
}

/// The files the reader sent in this chat, oldest first (the export: "my own
/// attachments", SPEC §10; another's files are theirs to export).
pub fn sent_by_reader(conn: &mut PgConnection, membership: &Membership) -> QueryResult<Vec<AttachmentView>> {
    attachments::table
        .filter(attachments::chat_id.eq(membership.chat_id()))
        .filter(attachments::uploader.eq(membership.viewer()))
        .order((attachments::created_at, attachments::attachment_id))
        .select((
            attachments::attachment_id,
            attachments::message_id,
            attachments::name,
            attachments::size,
            attachments::kind,
            attachments::thumb_width,
            attachments::thumb_height,
        ))
        .load(conn)
}

/// Deletes a message's files (issue 14's delete calls this in its transaction; deleting
/// the message row does the same by cascade). Returns how many files went.
pub fn erase_for_message(conn: &mut PgConnection, chat_id: ChatId, message_id: MessageId) -> QueryResult<usize> {
    diesel::delete(attachments::table.filter(attachments::chat_id.eq(chat_id)).filter(attachments::message_id.eq(message_id))).execute(conn)
}

/// Bytes a person has stored in files.
pub fn used_bytes(conn: &mut PgConnection, uploader: UserId) -> QueryResult<i64> {
    #[derive(QueryableByName)]
    struct Used {
        #[diesel(sql_type = BigInt)]
        used: i64,
    }
    let used: Used = crate::db::prepared("SELECT COALESCE(sum(size), 0)::bigint AS used FROM attachments WHERE uploader = $1")
        .bind::<SqlUuid, _>(uploader)
        .get_result(conn)?;
    Ok(used.used)
}

/// Locks the uploader's row until the transaction ends: two uploads of one person check
/// the quota one after the other (`FOR NO KEY UPDATE` does not block foreign keys).
pub fn lock_uploader(conn: &mut PgConnection, uploader: UserId) -> QueryResult<()> {
    users::table.find(uploader).select(users::user_id).for_no_key_update().first::<UserId>(conn).map(|_| ())
}

/// A file's row, written after its chunks.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = attachments)]
pub struct NewAttachment {
    pub attachment_id: AttachmentId,
    pub message_id: MessageId,
    pub chat_id: ChatId,
    pub uploader: UserId,
    pub position: i16,
    pub name: String,
    pub size: i64,
    pub kind: Kind,
    pub content_type: String,
    pub sha256: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub thumbnail: Option<Vec<u8>>,
    pub thumb_type: Option<String>,
    pub thumb_width: Option<i32>,
    pub thumb_height: Option<i32>,
}

/// A chunk of a file of `chat_id` (written before the file's row: the key that says the
/// file is of this chat is checked at commit).
pub fn insert_chunk(conn: &mut PgConnection, chat_id: ChatId, id: AttachmentId, n: i32, bytes: &[u8]) -> QueryResult<()> {
    diesel::insert_into(attachment_chunks::table)
        .values((
            attachment_chunks::attachment_id.eq(id),
            attachment_chunks::chat_id.eq(chat_id),
            attachment_chunks::n.eq(n),
            attachment_chunks::bytes.eq(bytes),
        ))
        .execute(conn)
        .map(|_| ())
}

pub fn insert(conn: &mut PgConnection, new: &NewAttachment) -> QueryResult<()> {
    diesel::insert_into(attachments::table).values(new).execute(conn).map(|_| ())
}

/// Rows of either table (the tests' "nothing stored").
pub fn count_all(conn: &mut PgConnection) -> QueryResult<(i64, i64)> {
    Ok((attachments::table.count().get_result(conn)?, attachment_chunks::table.count().get_result(conn)?))
}
