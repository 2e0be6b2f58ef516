//! A send with files (SPEC §8): the multipart body of `POST /chats/{id}/messages` read
//! as it arrives. Every file goes into the database in chunks as its bytes come, inside
//! one transaction held by a blocking task (`worker`); the message itself is sent last
//! in that transaction, so the chat row is locked only for the send. Limits (file count,
//! size of each and of all, the person's quota) are counted while streaming: past one
//! the transaction rolls back, the rest of the body is read and dropped, and the answer
//! is 413. A body that stops half-way (a dropped connection) drops the channel, and the
//! worker rolls back: nothing is left. Images are the exception to "never whole in
//! memory": one at a time is held (at most 25 MiB) to be decoded through the picture
//! gate and encoded again without its metadata.

use std::sync::OnceLock;
use std::time::Duration;

use actix_multipart::{Field, Multipart};
use actix_web::http::StatusCode;
use diesel::{Connection, PgConnection};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use crate::db::{self, DbPool};
use crate::domain::{FileName, MessageText};
use crate::error::AppError;
use crate::models::attachments::{self, Kind, NewAttachment, CHUNK_BYTES};
use crate::models::ids::AttachmentId;
use crate::models::messages::{MessageKind, NewMessage, SendOutcome};
use crate::models::{ChatId, MessageId, Seq, UserId};
use crate::pictures::attachment::{self as picture, looks_like_image, SNIFF_BYTES};

/// Files one message may carry.
pub const MAX_FILES: usize = 10;
/// Bytes of one file ...
pub const MAX_FILE_BYTES: u64 = 25 * 1024 * 1024;
/// ... and of all of a message's files together.
pub const MAX_TOTAL_BYTES: u64 = 50 * 1024 * 1024;
/// The largest body: the files, the other fields and the boundaries. A body declaring
/// more is refused before it is read.
pub const MAX_BODY_BYTES: u64 = MAX_TOTAL_BYTES + 1024 * 1024;
/// A field that is not a file (`text`, `client_id`, …) at most.
const FIELD_BYTES: usize = 64 * 1024;
/// How long an upload waits for one of the instance's upload places.
const UPLOAD_WAIT: Duration = Duration::from_secs(5);
/// Chunks in flight between the body and the database.
const CHANNEL: usize = 4;

pub const TOO_MANY_FILES: &str = "At most 10 files can be sent with one message.";
pub const TOO_LARGE_TOTAL: &str = "The files of one message may be at most 50 MiB together.";

/// The fields of the form besides the files, kept to show the form again.
#[derive(Debug, Default)]
pub struct Fields {
    pub text: String,
    pub client_id: Option<Uuid>,
    /// The message answered (SPEC §7), as sent (`routes::messages::parse_reply_to`).
    pub reply_to: Option<String>,
}

pub enum Received {
    /// No file came: the handler sends the text like the urlencoded form.
    NoFiles(Fields),
    /// The files and the message were stored (or the message was refused, and nothing).
    Sent(Fields, Box<SendOutcome>),
    /// Refused with this status and sentence; nothing was stored.
    Refused(Fields, StatusCode, String),
}

/// Reads the whole body, storing its files and then the message.
pub async fn receive(mut body: Multipart, pool: &DbPool, sender: UserId, chat_id: ChatId, quota_bytes: i64) -> Result<Received, AppError> {
    let mut fields = Fields::default();
    let mut upload: Option<Upload> = None;
    let mut files = 0usize;
    let mut total = 0u64;
    let message_id = MessageId::new_v7();
    while let Some(field) = body.next().await {
        let mut field = field.map_err(bad_body)?;
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.content_disposition().and_then(|d| {
            d.get_filename_ext().map(|ext| String::from_utf8_lossy(&ext.value).into_owned()).or_else(|| d.get_filename().map(str::to_owned))
        });
        match (name.as_str(), file_name) {
            ("files", Some(file_name)) => {
                // An untouched file input sends a part without a name and without bytes.
                let (head, ended) = sniff(&mut field).await?;
                if head.is_empty() && file_name.is_empty() {
                    continue;
                }
                files += 1;
                if files > MAX_FILES {
                    // A live field blocks the body's next one: dropped, the body skips it.
                    drop(field);
                    return refused(body, upload, fields, TOO_MANY_FILES.into()).await;
                }
                if upload.is_none() {
                    upload = Some(Upload::start(pool, sender, quota_bytes).await?);
                }
                let Some(up) = upload.as_mut() else { continue };
                let meta = FileMeta {
                    id: AttachmentId::new_v7(),
                    message_id,
                    chat_id,
                    sender,
                    position: (files - 1) as i16,
                    name: FileName::sanitise(&file_name),
                };
                match up.file(&mut field, head, ended, meta, MAX_TOTAL_BYTES - total).await? {
                    Stored::Bytes(n) => total += n,
                    Stored::TooLarge(why) => {
                        drop(field);
                        return refused(body, upload, fields, why).await;
                    }
                    Stored::WorkerGone => {
                        drop(field);
                        drain(&mut body).await;
                        break;
                    }
                }
            }
            (_, Some(_)) => drain_field(&mut field).await?,
            ("text", None) => fields.text = read_field(&mut field).await?,
            ("client_id", None) => {
                let raw = read_field(&mut field).await?;
                fields.client_id =
                    if raw.is_empty() { None } else { Some(raw.trim().parse().map_err(|_| bad_field("a malformed client_id"))?) };
            }
            ("reply_to", None) => {
                let raw = read_field(&mut field).await?;
                fields.reply_to = (!raw.trim().is_empty()).then(|| raw.trim().to_owned());
            }
            _ => drain_field(&mut field).await?,
        }
    }
    let Some(upload) = upload else { return Ok(Received::NoFiles(fields)) };
    let Ok(reply_to) = crate::routes::messages::parse_reply_to(fields.reply_to.as_deref()) else {
        upload.abort().await;
        let why = crate::routes::messages::NO_SUCH_REPLY.to_string();
        return Ok(Received::Refused(fields, StatusCode::UNPROCESSABLE_ENTITY, why));
    };
    // With files, the text may be empty; otherwise it follows the usual rules.
    let text = if fields.text.trim().is_empty() {
        String::new()
    } else {
        match MessageText::parse(&fields.text) {
            Ok(text) => text.into_string(),
            Err(invalid) => {
                upload.abort().await;
                return Ok(Received::Refused(fields, StatusCode::UNPROCESSABLE_ENTITY, invalid.to_string()));
            }
        }
    };
    match upload.finish(Cmd::Send { message_id, chat_id, text, client_id: fields.client_id, reply_to }).await? {
        Ok(outcome) => Ok(Received::Sent(fields, Box::new(outcome))),
        Err(why) => Ok(Received::Refused(fields, StatusCode::PAYLOAD_TOO_LARGE, why)),
    }
}

/// The quota's refusal, in words.
pub fn over_quota(quota_bytes: i64) -> String {
    format!("This would take you past your {} MiB for files. Delete some messages with files to send more.", quota_bytes / (1024 * 1024))
}

/// Ends a refused upload: the transaction rolls back, and the rest of the body is read
/// and dropped so that the browser gets the answer (not a reset connection).
async fn refused(mut body: Multipart, upload: Option<Upload>, fields: Fields, why: String) -> Result<Received, AppError> {
    if let Some(upload) = upload {
        upload.abort().await;
    }
    drain(&mut body).await;
    Ok(Received::Refused(fields, StatusCode::PAYLOAD_TOO_LARGE, why))
}

async fn drain(body: &mut Multipart) {
    while let Some(Ok(mut field)) = body.next().await {
        if drain_field(&mut field).await.is_err() {
            return;
        }
    }
}

async fn drain_field(field: &mut Field) -> Result<(), AppError> {
    while let Some(chunk) = field.next().await {
        chunk.map_err(bad_body)?;
    }
    Ok(())
}

async fn read_field(field: &mut Field) -> Result<String, AppError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(bad_body)?;
        if bytes.len() + chunk.len() > FIELD_BYTES {
            return Err(AppError::BadRequest("a form field is too long"));
        }
        bytes.extend_from_slice(&chunk);
    }
    String::from_utf8(bytes).map_err(|_| bad_field("a field that is not UTF-8"))
}

/// The first bytes of a file part (fewer, or none, if it is shorter), and whether the
/// part ended there (a finished field must not be polled again).
async fn sniff(field: &mut Field) -> Result<(Vec<u8>, bool), AppError> {
    let mut head = Vec::new();
    while head.len() < SNIFF_BYTES {
        match field.next().await {
            Some(chunk) => head.extend_from_slice(&chunk.map_err(bad_body)?),
            None => return Ok((head, true)),
        }
    }
    Ok((head, false))
}

/// The next piece of a field, or `None` once it ended (and for ever after).
async fn next_piece(field: &mut Field, ended: &mut bool) -> Result<Option<actix_web::web::Bytes>, AppError> {
    if *ended {
        return Ok(None);
    }
    match field.next().await {
        Some(chunk) => Ok(Some(chunk.map_err(bad_body)?)),
        None => {
            *ended = true;
            Ok(None)
        }
    }
}

/// A body that is not well-formed multipart, or that broke off (the client went away).
fn bad_body(e: actix_multipart::MultipartError) -> AppError {
    tracing::info!(error = %e, "unreadable upload body");
    AppError::BadRequest("the upload could not be read")
}

fn bad_field(what: &'static str) -> AppError {
    AppError::BadRequest(what)
}

struct FileMeta {
    id: AttachmentId,
    message_id: MessageId,
    chat_id: ChatId,
    sender: UserId,
    position: i16,
    name: FileName,
}

enum Stored {
    Bytes(u64),
    TooLarge(String),
    /// The transaction ended early (the quota, a database error): its result says why.
    WorkerGone,
}

/// What the body hands the transaction.
enum Cmd {
    Chunk {
        chat_id: ChatId,
        id: AttachmentId,
        n: i32,
        bytes: Vec<u8>,
    },
    /// A file's row, after all its chunks.
    Row(Box<NewAttachment>),
    /// The message, last; then commit.
    Send {
        message_id: MessageId,
        chat_id: ChatId,
        text: String,
        client_id: Option<Uuid>,
        reply_to: Option<Seq>,
    },
}

/// Why the transaction rolled back.
enum Stop {
    Db(diesel::result::Error),
    /// The body ended without `Send` (dropped, refused).
    Aborted,
    OverQuota,
    /// The message was refused (or a repeat): nothing of this upload is kept.
    NotSent(Box<SendOutcome>),
}

impl From<diesel::result::Error> for Stop {
    fn from(e: diesel::result::Error) -> Self {
        Stop::Db(e)
    }
}

type WorkerResult = Result<Result<SendOutcome, String>, AppError>;

/// One upload's open transaction: a channel into it and its result.
struct Upload {
    tx: mpsc::Sender<Cmd>,
    done: actix_web::rt::task::JoinHandle<WorkerResult>,
}

/// Uploads running at once per instance: each holds a database connection for as long
/// as its body takes, so they may take at most a quarter of the pool.
fn upload_places(pool: &DbPool) -> std::sync::Arc<Semaphore> {
    static PLACES: OnceLock<std::sync::Arc<Semaphore>> = OnceLock::new();
    PLACES.get_or_init(|| std::sync::Arc::new(Semaphore::new((pool.max_size() as usize / 4).max(1)))).clone()
}

impl Upload {
    async fn start(pool: &DbPool, sender: UserId, quota_bytes: i64) -> Result<Upload, AppError> {
        let place = match tokio::time::timeout(UPLOAD_WAIT, upload_places(pool).acquire_owned()).await {
            Ok(Ok(place)) => place,
            _ => return Err(AppError::Unavailable("every upload place is taken".into())),
        };
        let (tx, rx) = mpsc::channel(CHANNEL);
        let work = db::run(pool, move |conn| Ok::<_, AppError>(worker(conn, rx, sender, quota_bytes, place)));
        let done = actix_web::rt::spawn(async move {
            match work.await? {
                Ok(outcome) => Ok(Ok(outcome)),
                Err(Stop::OverQuota) => Ok(Err(over_quota(quota_bytes))),
                Err(Stop::NotSent(outcome)) => Ok(Ok(*outcome)),
                Err(Stop::Aborted) => Err(AppError::Internal(anyhow::anyhow!("upload aborted"))),
                Err(Stop::Db(e)) => Err(AppError::from(e)),
            }
        });
        Ok(Upload { tx, done })
    }

    /// Streams one file part (its first bytes already read) into the transaction.
    async fn file(&mut self, field: &mut Field, head: Vec<u8>, mut ended: bool, meta: FileMeta, room: u64) -> Result<Stored, AppError> {
        let limit = MAX_FILE_BYTES.min(room);
        let too_large = |name: &FileName| {
            if room < MAX_FILE_BYTES {
                TOO_LARGE_TOTAL.to_string()
            } else {
                format!("Each file may be at most 25 MiB; {} is larger.", name.as_str())
            }
        };
        if looks_like_image(&head) {
            // Held whole for the decoder (at most 25 MiB).
            let mut whole = head;
            while let Some(chunk) = next_piece(field, &mut ended).await? {
                if (whole.len() + chunk.len()) as u64 > limit {
                    return Ok(Stored::TooLarge(too_large(&meta.name)));
                }
                whole.extend_from_slice(&chunk);
            }
            let received = whole.len() as u64;
            let whole = std::sync::Arc::new(whole);
            let input = whole.clone();
            let processed = match crate::cpu::run_picture(move || picture::process(&input)).await? {
                Ok(processed) => processed,
                Err(crate::cpu::Busy) => return Err(AppError::Unavailable("every picture decoder is busy".into())),
            };
            let sent = match processed {
                Ok(p) => {
                    let thumb = p.thumb;
                    self.store(meta, &p.full.bytes, Kind::Image, p.full.content_type, Some((p.full.width, p.full.height)), Some(thumb))
                        .await
                }
                // Not decodable within the bounds: kept as it came, as a download.
                Err(_) => self.store(meta, &whole, Kind::File, "application/octet-stream", None, None).await,
            };
            return Ok(if sent { Stored::Bytes(received) } else { Stored::WorkerGone });
        }
        let mut hasher = Sha256::new();
        let mut buffer = head;
        let (mut n, mut size) = (0i32, 0u64);
        let mut more = true;
        while more {
            match next_piece(field, &mut ended).await? {
                Some(chunk) => buffer.extend_from_slice(&chunk),
                None => more = false,
            }
            if size + buffer.len() as u64 > limit {
                return Ok(Stored::TooLarge(too_large(&meta.name)));
            }
            while buffer.len() >= CHUNK_BYTES || (!more && !buffer.is_empty()) {
                let rest = buffer.split_off(buffer.len().min(CHUNK_BYTES));
                let bytes = std::mem::replace(&mut buffer, rest);
                hasher.update(&bytes);
                size += bytes.len() as u64;
                if self.tx.send(Cmd::Chunk { chat_id: meta.chat_id, id: meta.id, n, bytes }).await.is_err() {
                    return Ok(Stored::WorkerGone);
                }
                n += 1;
            }
        }
        let row = new_row(meta, size as i64, hex::encode(hasher.finalize()), Kind::File, "application/octet-stream", None, None);
        Ok(if self.tx.send(Cmd::Row(Box::new(row))).await.is_ok() { Stored::Bytes(size) } else { Stored::WorkerGone })
    }

    /// Writes bytes held in memory (a re-encoded image) in chunks, then the row.
    async fn store(
        &mut self,
        meta: FileMeta,
        bytes: &[u8],
        kind: Kind,
        content_type: &'static str,
        sides: Option<(u32, u32)>,
        thumb: Option<picture::Encoded>,
    ) -> bool {
        let (chat_id, id) = (meta.chat_id, meta.id);
        for (n, piece) in bytes.chunks(CHUNK_BYTES).enumerate() {
            if self.tx.send(Cmd::Chunk { chat_id, id, n: n as i32, bytes: piece.to_vec() }).await.is_err() {
                return false;
            }
        }
        let sha = hex::encode(Sha256::digest(bytes));
        let row = new_row(meta, bytes.len() as i64, sha, kind, content_type, sides, thumb);
        self.tx.send(Cmd::Row(Box::new(row))).await.is_ok()
    }

    /// Sends the message and commits; the result says what became of it.
    async fn finish(self, send: Cmd) -> WorkerResult {
        let Upload { tx, done } = self;
        // Refused only when the worker already stopped: its result says why.
        let _ = tx.send(send).await;
        drop(tx);
        done.await.map_err(|e| AppError::Internal(anyhow::anyhow!("upload task: {e}")))?
    }

    /// Rolls back and waits until the transaction is over.
    async fn abort(self) {
        let Upload { tx, done } = self;
        drop(tx);
        let _ = done.await;
    }
}

fn new_row(
    meta: FileMeta,
    size: i64,
    sha256: String,
    kind: Kind,
    content_type: &str,
    sides: Option<(u32, u32)>,
    thumb: Option<picture::Encoded>,
) -> NewAttachment {
    let (thumb_type, thumb_width, thumb_height, thumbnail) = match thumb {
        Some(t) => (Some(t.content_type.to_string()), Some(t.width as i32), Some(t.height as i32), Some(t.bytes)),
        None => (None, None, None, None),
    };
    NewAttachment {
        attachment_id: meta.id,
        message_id: meta.message_id,
        chat_id: meta.chat_id,
        uploader: meta.sender,
        position: meta.position,
        name: meta.name.into_string(),
        size,
        kind,
        content_type: content_type.to_string(),
        sha256,
        width: sides.map(|s| s.0 as i32),
        height: sides.map(|s| s.1 as i32),
        thumbnail,
        thumb_type,
        thumb_width,
        thumb_height,
    }
}

/// The transaction, on a blocking thread: chunks and rows as they come, then the send.
/// Every way out but a stored message rolls back.
fn worker(
    conn: &mut PgConnection,
    mut rx: mpsc::Receiver<Cmd>,
    sender: UserId,
    quota_bytes: i64,
    _place: OwnedSemaphorePermit,
) -> Result<SendOutcome, Stop> {
    conn.transaction(|conn| {
        let mut used = attachments::used_bytes(conn, sender)?;
        loop {
            match rx.blocking_recv() {
                None => return Err(Stop::Aborted),
                Some(Cmd::Chunk { chat_id, id, n, bytes }) => attachments::insert_chunk(conn, chat_id, id, n, &bytes)?,
                Some(Cmd::Row(row)) => {
                    used += row.size;
                    if used > quota_bytes {
                        return Err(Stop::OverQuota);
                    }
                    attachments::insert(conn, &row)?;
                }
                Some(Cmd::Send { message_id, chat_id, text, client_id, reply_to }) => {
                    // Two uploads of one person check the quota one after the other.
                    attachments::lock_uploader(conn, sender)?;
                    if attachments::used_bytes(conn, sender)? > quota_bytes {
                        return Err(Stop::OverQuota);
                    }
                    let message = NewMessage { chat_id, sender, text: &text, client_id, kind: MessageKind::Text, reply_to };
                    // A reply to no message of this chat is refused before the send: the
                    // send's own refusal would abort this transaction's savepoint.
                    if let Some(refused) = message.refused_reply(conn)? {
                        return Err(Stop::NotSent(Box::new(refused)));
                    }
                    // In a savepoint: a repeat that lost the race on the unique key is
                    // answered like the first, as the plain send does.
                    return match conn.transaction(|conn| message.send_as(conn, message_id)) {
                        Ok(SendOutcome::Sent(view)) => Ok(SendOutcome::Sent(view)),
                        Ok(other) => Err(Stop::NotSent(Box::new(other))),
                        Err(e) => match message.repeated(conn)? {
                            Some(first) => Err(Stop::NotSent(Box::new(SendOutcome::Repeated(first)))),
                            None => Err(Stop::Db(e)),
                        },
                    };
                }
            }
        }
    })
}
