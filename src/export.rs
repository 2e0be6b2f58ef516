//! `GET /settings/export` (SPEC §10): my data as a ZIP, streamed while it is written.
//!
//! A blocking task holds one pooled connection and one read-only snapshot (so the
//! archive is of one moment), reads a chat's messages in keyset pages of `PAGE` by seq
//! and writes them through the `zip` crate's streaming writer (no seeking: sizes and
//! CRCs follow each entry) into a bounded channel of `CHUNK`-sized pieces that the
//! response sends as they come. Memory stays bounded by a page, a chunk and the
//! channel, whatever the history's size; a slow download slows the reading.
//!
//! The archive: `profile.json` (+ `picture.*`), `friends.json`, `requests.json`,
//! `blocked.json`, `chats/{chat_id}.json` (the chat and all its messages, everyone's,
//! as I read them in the app) and `index.html`, which shows all of it offline with
//! every text escaped as the app escapes it. Never a password hash, a session, a
//! recovery code or anything of a chat I am not in: everything is read through my id
//! and my memberships.

use std::io::{self, Write};
use std::sync::Arc;

use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use diesel::PgConnection;
use serde_json::json;
use tokio::sync::{mpsc, Semaphore};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::db::{self, DbPool, Standby};
use crate::error::AppError;
use crate::models::chats::{self, Membership};
use crate::models::messages::{self, MessageView};
use crate::models::{account, attachments, blocks, display_pictures, export, friends, participants, users, Seq, UserId};

/// Messages read per query.
const PAGE: i64 = 500;
/// Bytes per piece sent to the client.
const CHUNK: usize = 64 * 1024;
/// Pieces waiting to be sent at most.
const QUEUED: usize = 4;

/// Exports running at once on an instance: each holds a pooled connection (and a
/// blocking thread) for its whole download, so a few slow downloads must not take the
/// pool from everyone else. One more gets 503 with `Retry-After`.
pub const AT_ONCE: usize = 2;

/// The instance's export slots (app data, one per instance).
#[derive(Clone)]
pub struct Slots(Arc<Semaphore>);

impl Default for Slots {
    fn default() -> Self {
        Slots(Arc::new(Semaphore::new(AT_ONCE)))
    }
}

/// The streamed answer; the archive is written on a blocking thread meanwhile.
/// From the standby when it has replayed every chat of mine up to the primary's rev
/// (`db::standby`), else from the primary.
pub fn response(slots: &Slots, pool: DbPool, standby: Arc<Standby>, me: UserId, username: String) -> Result<HttpResponse, AppError> {
    let Ok(permit) = slots.0.clone().try_acquire_owned() else {
        return Err(AppError::Unavailable(format!("{AT_ONCE} exports are already running")));
    };
    let (tx, rx) = mpsc::channel::<Result<Bytes, io::Error>>(QUEUED);
    let filename = format!("chaat-export-{username}.zip");
    tokio::task::spawn_blocking(move || {
        let _running = permit;
        let sink = Chunks { tx: tx.clone(), buf: Vec::with_capacity(CHUNK) };
        let written = if standby.configured() {
            match db::run_here(&pool, |conn| chats::revs_for_participant(conn, me).map_err(AppError::from)) {
                Ok(need) => standby.read_here(&need, |conn| write_archive(conn, me, &username, sink.clone())),
                Err(e) => Some(Err(e)),
            }
        } else {
            None
        };
        let written = written.unwrap_or_else(|| {
            db::run_here(&pool, |conn| {
                conn.build_transaction().read_only().repeatable_read().run(|conn| write_archive(conn, me, &username, sink))
            })
        });
        if let Err(e) = written {
            // Headers are gone: the client sees a broken download, never a bad ZIP.
            tracing::warn!(error = %e, "export failed");
            let _ = tx.blocking_send(Err(io::Error::other("export failed")));
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|piece| (piece, rx)) });
    Ok(HttpResponse::Ok()
        .content_type("application/zip")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{filename}\"")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .streaming(body))
}

/// A `Write` that sends what it gets in `CHUNK`s, waiting while the channel is full.
/// A clone writes to the same channel (with a buffer of its own): the standby's attempt
/// takes one, and only a read that began writes anything.
#[derive(Clone)]
struct Chunks {
    tx: mpsc::Sender<Result<Bytes, io::Error>>,
    buf: Vec<u8>,
}

impl Chunks {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let piece = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        // The client went away: stop writing.
        self.tx.blocking_send(Ok(piece)).map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "download closed"))
    }
}

impl Write for Chunks {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

fn zip_error(e: zip::result::ZipError) -> AppError {
    AppError::internal(e)
}

fn io_error(e: io::Error) -> AppError {
    AppError::internal(e)
}

fn write_archive(conn: &mut PgConnection, me: UserId, username: &str, sink: Chunks) -> Result<(), AppError> {
    let mut zip = ZipWriter::new_stream(sink);
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    let mut html = Html::default();

    let user = users::find(conn, me)?.ok_or(AppError::NotFound)?;
    let policy = account::request_policy(conn, me)?;
    let profile = json!({
        "user_id": me.to_string(),
        "username": user.username,
        "join_date": user.join_date,
        "requests_from": policy.as_str(),
    });
    write_json(&mut zip, options, "profile.json", &profile)?;
    html.line(&format!("<h1>Chaat export of {}</h1>", escape(username)));
    html.line(&format!("<p>Joined {}.</p>", escape(&user.join_date.to_rfc3339())));
    if let Some(picture) = display_pictures::find(conn, me)? {
        let ext = match picture.content_type.as_str() {
            "image/png" => "png",
            "image/jpeg" => "jpg",
            _ => "webp",
        };
        let name = format!("picture.{ext}");
        zip.start_file(&name, SimpleFileOptions::default().compression_method(CompressionMethod::Stored)).map_err(zip_error)?;
        zip.write_all(&picture.bytes).map_err(io_error)?;
        html.line(&format!("<p><img src=\"{name}\" alt=\"My display picture\" width=\"96\" height=\"96\"></p>"));
    }

    let friends = friends::list(conn, me)?;
    let friends_json: Vec<_> = friends.iter().map(|f| json!({"username": f.username, "since": f.since})).collect();
    write_json(&mut zip, options, "friends.json", &friends_json.into())?;
    html.line("<h2>Friends</h2><ul>");
    for f in &friends {
        html.line(&format!("<li>{} (since {})</li>", escape(&f.username), escape(&f.since.to_rfc3339())));
    }
    html.line("</ul>");

    let requests = export::requests(conn, me)?;
    let requests_json: Vec<_> = requests
        .iter()
        .map(|r| {
            json!({
                "direction": if r.sent { "sent" } else { "received" },
                "other": r.other.as_deref().unwrap_or(messages::DELETED_ACCOUNT),
                "greeting": r.greeting,
                "status": r.status.as_str(),
                "sent_date": r.sent_date,
                "responded_at": r.responded_at,
            })
        })
        .collect();
    write_json(&mut zip, options, "requests.json", &requests_json.into())?;
    html.line("<h2>Friend requests</h2><ul>");
    for r in &requests {
        let other = escape(r.other.as_deref().unwrap_or(messages::DELETED_ACCOUNT));
        let way = if r.sent { format!("To {other}") } else { format!("From {other}") };
        html.line(&format!("<li>{way}: “{}” ({})</li>", escape(&r.greeting), r.status.as_str()));
    }
    html.line("</ul>");

    let blocked = blocks::list(conn, me)?;
    let blocked_json: Vec<_> = blocked.iter().map(|b| json!({"username": b.username, "since": b.since})).collect();
    write_json(&mut zip, options, "blocked.json", &blocked_json.into())?;

    let memberships = chats::all_for_participant(conn, me)?;
    html.line("<h2>My files</h2><ul>");
    for membership in &memberships {
        write_my_files(conn, &mut zip, membership, &mut html)?;
    }
    html.line("</ul>");
    html.line("<h2>Chats</h2>");
    for membership in &memberships {
        write_chat(conn, &mut zip, options, membership)?;
    }
    // index.html last: a second pass over the messages, so that neither file is held
    // in memory whole.
    zip.start_file("index.html", options).map_err(zip_error)?;
    zip.write_all(HTML_HEAD.as_bytes()).map_err(io_error)?;
    zip.write_all(html.0.as_bytes()).map_err(io_error)?;
    for membership in &memberships {
        let chat = membership.chat();
        let title = escape(chat.title());
        let id = membership.chat_id();
        writeln!(zip, "<section><h3 id=\"chat-{id}\">{title}</h3><p><a href=\"chats/{id}.json\">chats/{id}.json</a></p><ol>")
            .map_err(io_error)?;
        each_page(conn, membership, |page| {
            for m in page {
                writeln!(
                    zip,
                    "<li><b>{}</b> <time datetime=\"{}\">{}</time><br>{}</li>",
                    escape(&m.sender_name),
                    m.sent_time.to_rfc3339(),
                    m.sent_time.format("%Y-%m-%d %H:%M UTC"),
                    if m.deleted { "<i>Message deleted</i>".to_string() } else { escape(&m.text) }
                )
                .map_err(io_error)?;
            }
            Ok(())
        })?;
        zip.write_all(b"</ol></section>\n").map_err(io_error)?;
    }
    zip.write_all(b"</main></body></html>\n").map_err(io_error)?;
    let mut sink = zip.finish().map_err(zip_error)?.into_inner();
    sink.flush().map_err(io_error)
}

/// The files I sent in one chat, as `files/{attachment_id}/{name}`, each copied chunk
/// by chunk (one chunk in memory at a time) and stored as sent (photos are compressed
/// already).
fn write_my_files<W: Write>(
    conn: &mut PgConnection,
    zip: &mut ZipWriter<zip::write::StreamWriter<W>>,
    membership: &Membership,
    html: &mut Html,
) -> Result<(), AppError> {
    for file in attachments::sent_by_reader(conn, membership)? {
        // The stored name is sanitised already; a path separator or a leading dot still
        // must not make an entry that unpacks outside its folder.
        let name: String = file.name.chars().map(|c| if c == '/' || c == '\\' { '_' } else { c }).collect();
        let name = name.trim_start_matches('.');
        let name = if name.is_empty() { "file" } else { name };
        let path = format!("files/{}/{}", file.attachment_id, name);
        zip.start_file(&path, SimpleFileOptions::default().compression_method(CompressionMethod::Stored)).map_err(zip_error)?;
        let mut n = 0;
        while let Some(bytes) = attachments::chunk(conn, membership, file.attachment_id, n)? {
            zip.write_all(&bytes).map_err(io_error)?;
            n += 1;
        }
        html.line(&format!(
            "<li><a href=\"{}\">{}</a> ({} bytes, in {})</li>",
            escape(&path),
            escape(name),
            file.size,
            escape(membership.chat().title())
        ));
    }
    Ok(())
}

/// One chat's file: its head, then its messages page by page.
fn write_chat<W: Write>(
    conn: &mut PgConnection,
    zip: &mut ZipWriter<zip::write::StreamWriter<W>>,
    options: SimpleFileOptions,
    membership: &Membership,
) -> Result<(), AppError> {
    let chat = membership.chat();
    let members: Vec<_> = participants::members(conn, membership)?
        .into_iter()
        .map(|m| json!({"username": m.username, "role": m.role.as_str(), "joined_at": m.joined_at}))
        .collect();
    let head = json!({
        "chat_id": membership.chat_id().to_string(),
        "is_group": chat.is_group,
        "title": chat.title(),
        "members": members,
    });
    zip.start_file(format!("chats/{}.json", membership.chat_id()), options).map_err(zip_error)?;
    // The head's closing brace is replaced by the messages' array, written as it comes.
    let head = serde_json::to_string(&head).map_err(AppError::internal)?;
    zip.write_all(&head.as_bytes()[..head.len() - 1]).map_err(io_error)?;
    zip.write_all(b",\"messages\":[").map_err(io_error)?;
    let mut first = true;
    each_page(conn, membership, |page| {
        for m in page {
            if !first {
                zip.write_all(b",").map_err(io_error)?;
            }
            first = false;
            let message = json!({
                "seq": m.seq.get(),
                "sender": m.sender_name,
                "sent_time": m.sent_time,
                "kind": m.kind.as_str(),
                "text": m.text,
                // Message actions (SPEC §7): the current text only, as the page shows it.
                "edited": m.edited,
                "deleted": m.deleted,
                "reply_to": m.reply_to.map(|s| s.get()),
                "reactions": m.reactions.iter().map(|r| json!({
                    "emoji": r.emoji,
                    "people": r.people.iter().map(|(_, name)| name).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            });
            serde_json::to_writer(&mut *zip, &message).map_err(AppError::internal)?;
        }
        Ok(())
    })?;
    zip.write_all(b"]}").map_err(io_error)
}

/// Calls `each` with the chat's messages, oldest first, `PAGE` at a time.
fn each_page(
    conn: &mut PgConnection,
    membership: &Membership,
    mut each: impl FnMut(&[MessageView]) -> Result<(), AppError>,
) -> Result<(), AppError> {
    let mut after = Seq::ZERO;
    loop {
        let page = messages::after(conn, membership, after, PAGE)?;
        let Some(last) = page.last() else { return Ok(()) };
        after = last.seq;
        each(&page)?;
        if (page.len() as i64) < PAGE {
            return Ok(());
        }
    }
}

fn write_json<W: Write>(
    zip: &mut ZipWriter<zip::write::StreamWriter<W>>,
    options: SimpleFileOptions,
    name: &str,
    value: &serde_json::Value,
) -> Result<(), AppError> {
    zip.start_file(name, options).map_err(zip_error)?;
    serde_json::to_writer_pretty(&mut *zip, value).map_err(AppError::internal)
}

/// The head of index.html: no script, styles inline (it is opened from a folder).
const HTML_HEAD: &str = "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Chaat export</title>\
<style>body{font-family:system-ui,sans-serif;max-width:48rem;margin:0 auto;padding:1rem;line-height:1.5}\
ol{padding-left:1.5rem}li{margin:.5rem 0;overflow-wrap:anywhere;white-space:pre-wrap}time{color:#555;font-size:.875em}</style>\
</head><body><main>\n";

/// The page's parts before the chats (small: profile, friends, requests).
#[derive(Default)]
struct Html(String);

impl Html {
    fn line(&mut self, s: &str) {
        self.0.push_str(s);
        self.0.push('\n');
    }
}

/// Escapes text for HTML as the app's templates do (Askama's HTML escaper).
pub fn escape(s: &str) -> String {
    askama::filters::escape(s, askama::filters::Html).map(|e| e.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn text_is_escaped_as_in_the_app() {
        assert_eq!(escape("<script>alert('x')</script> & \"y\""), "&#60;script&#62;alert(&#39;x&#39;)&#60;/script&#62; &#38; &#34;y&#34;");
    }
}
