//! Attachments (issue 15, SPEC §8): files sent with messages, streamed into PostgreSQL,
//! served safely to the chat's participants only.

use std::io::Cursor;
use std::time::{Duration, Instant};

use reqwest::{Response, StatusCode};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use crate::helpers::process::Chaat;
use crate::helpers::sse::EventStream;
use crate::helpers::{alice_and_bob, assert_redirect, count, select_attr, test_settings, Actor, Client, TestApp, TestDb};

pub(crate) const BOUNDARY: &str = "chaatTestBoundary7MA4YWxkTrZu0gW";
pub(crate) const MIB: usize = 1024 * 1024;

/// A multipart body as a browser sends it: the token first, then `text`, `client_id`
/// and each file as a `files` part. File names are written raw (a hostile one stays so).
pub(crate) fn body(token: &str, text: &str, client_id: Uuid, files: &[(&str, &[u8])]) -> Vec<u8> {
    body_with(token, text, client_id, files, |name| format!("filename=\"{name}\""))
}

/// `body` with the file name parameter(s) written by `name_param`.
pub(crate) fn body_with(token: &str, text: &str, client_id: Uuid, files: &[(&str, &[u8])], name_param: impl Fn(&str) -> String) -> Vec<u8> {
    let mut out = Vec::new();
    let field = |out: &mut Vec<u8>, name: &str, value: &str| {
        out.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes());
    };
    field(&mut out, "csrf_token", token);
    field(&mut out, "text", text);
    field(&mut out, "client_id", &client_id.to_string());
    for (name, bytes) in files {
        out.extend_from_slice(
            format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; {}\r\nContent-Type: application/octet-stream\r\n\r\n",
                name_param(name)
            )
            .as_bytes(),
        );
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

pub(crate) async fn post_body(client: &Client, chat: Uuid, body: Vec<u8>, htmx: bool) -> Response {
    let mut req = client
        .http
        .post(client.url(&format!("/chats/{chat}/messages")))
        .header("Content-Type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .body(body);
    if htmx {
        req = req.header("HX-Request", "true");
    }
    req.send().await.unwrap()
}

pub(crate) async fn send_files(client: &Client, chat: Uuid, text: &str, files: &[(&str, &[u8])]) -> Response {
    let token = client.csrf_token().await;
    post_body(client, chat, body(&token, text, Uuid::new_v4(), files), false).await
}

/// Rows of the three tables a send with files writes.
pub(crate) fn stored(app: &TestApp) -> (i64, i64, i64) {
    let mut conn = app.conn();
    (
        count(&mut conn, "SELECT count(*) AS n FROM messages"),
        count(&mut conn, "SELECT count(*) AS n FROM attachments"),
        count(&mut conn, "SELECT count(*) AS n FROM attachment_chunks"),
    )
}

/// The `/attachments/{id}` links of a chat page, in order.
pub(crate) async fn attachment_links(actor: &Actor, chat: Uuid) -> Vec<String> {
    let (status, page) = actor.get_page(&format!("/chats/{chat}")).await;
    assert_eq!(status, StatusCode::OK);
    let doc = scraper::Html::parse_document(&page);
    let sel = scraper::Selector::parse(".attachment a").unwrap();
    doc.select(&sel).filter_map(|a| a.value().attr("href").map(str::to_string)).collect()
}

pub(crate) fn png_with_text_chunk(width: u32, height: u32) -> Vec<u8> {
    let img = image::DynamicImage::new_rgb8(width, height);
    let mut out = Vec::new();
    img.write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    let ihdr_end = 8 + 4 + 4 + 13 + 4;
    let data = b"Comment\0secret-location-data";
    let mut chunk = Vec::new();
    chunk.extend_from_slice(&(data.len() as u32).to_be_bytes());
    chunk.extend_from_slice(b"tEXt");
    chunk.extend_from_slice(data);
    let crc = crc32(&chunk[4..]);
    chunk.extend_from_slice(&crc.to_be_bytes());
    out.splice(ihdr_end..ihdr_end, chunk);
    out
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

/// A JPEG whose EXIF (APP1) holds a GPS IFD with a latitude, as phones write.
fn jpeg_with_gps(width: u32, height: u32) -> Vec<u8> {
    let img = image::DynamicImage::new_rgb8(width, height);
    let mut jpeg = Vec::new();
    img.write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
    // TIFF, little-endian: IFD0 at 8 with one entry (GPSInfo → 26), the GPS IFD at 26
    // with one entry (GPSLatitude, 3 rationals at 44).
    let mut tiff: Vec<u8> = b"II*\0".to_vec();
    tiff.extend_from_slice(&8u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&0x8825u16.to_le_bytes());
    tiff.extend_from_slice(&4u16.to_le_bytes());
    tiff.extend_from_slice(&1u32.to_le_bytes());
    tiff.extend_from_slice(&26u32.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    tiff.extend_from_slice(&1u16.to_le_bytes());
    tiff.extend_from_slice(&2u16.to_le_bytes());
    tiff.extend_from_slice(&5u16.to_le_bytes());
    tiff.extend_from_slice(&3u32.to_le_bytes());
    tiff.extend_from_slice(&44u32.to_le_bytes());
    tiff.extend_from_slice(&0u32.to_le_bytes());
    for (n, d) in [(48u32, 1u32), (51, 1), (2966, 100)] {
        tiff.extend_from_slice(&n.to_le_bytes());
        tiff.extend_from_slice(&d.to_le_bytes());
    }
    let mut app1 = b"Exif\0\0".to_vec();
    app1.extend_from_slice(&tiff);
    let mut segment = vec![0xFF, 0xE1];
    segment.extend_from_slice(&((app1.len() + 2) as u16).to_be_bytes());
    segment.extend_from_slice(&app1);
    jpeg.splice(2..2, segment);
    jpeg
}

fn gps_tag(bytes: &[u8]) -> bool {
    bytes.windows(6).any(|w| w == b"Exif\0\0") || bytes.windows(2).any(|w| w == 0x8825u16.to_le_bytes())
}

fn texts(html: &str, css: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    doc.select(&scraper::Selector::parse(css).unwrap()).map(|e| e.text().collect()).collect()
}

pub(crate) fn header<'a>(resp: &'a Response, name: &str) -> &'a str {
    resp.headers().get(name).unwrap_or_else(|| panic!("header {name}")).to_str().unwrap()
}

#[actix_web::test]
async fn photos_lose_their_metadata_and_show_as_previews_with_their_shape() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    let jpeg = jpeg_with_gps(1600, 1200);
    let png = png_with_text_chunk(300, 900);
    assert!(gps_tag(&jpeg) && png.windows(8).any(|w| w == b"tEXtComm"));
    // No text: files alone make a message.
    let resp = send_files(&alice, chat, "", &[("holiday.jpg", &jpeg), ("scan.png", &png)]).await;
    assert_redirect(&resp, &format!("/chats/{chat}"));
    assert_eq!(stored(&app).1, 2);

    let (_, page) = bob.get_page(&format!("/chats/{chat}")).await;
    let doc = scraper::Html::parse_document(&page);
    let imgs: Vec<_> = doc.select(&scraper::Selector::parse(".attachment-image img").unwrap()).collect();
    assert_eq!(imgs.len(), 2);
    let attrs: Vec<(&str, &str, &str)> = imgs
        .iter()
        .map(|i| (i.value().attr("alt").unwrap(), i.value().attr("width").unwrap(), i.value().attr("height").unwrap()))
        .collect();
    assert_eq!(attrs, [("holiday.jpg", "320", "240"), ("scan.png", "106", "320")], "shown in their shape, alt from the name");

    let links = attachment_links(&bob, chat).await;
    for (link, (w, h)) in links.iter().zip([(1600, 1200), (300, 900)]) {
        let full = bob.get(link).await;
        assert_eq!(full.status(), StatusCode::OK);
        assert!(header(&full, "content-type").starts_with("image/"), "served as the re-encoded image");
        assert_eq!(header(&full, "x-content-type-options"), "nosniff");
        assert_eq!(header(&full, "content-security-policy"), "sandbox");
        assert!(header(&full, "cache-control").contains("private"));
        let bytes = full.bytes().await.unwrap();
        assert!(!gps_tag(&bytes), "no EXIF, no GPS");
        assert!(!bytes.windows(6).any(|win| win == b"secret") && !bytes.windows(4).any(|win| win == b"tEXt"), "no text chunk");
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (w, h));

        let thumb = bob.get(&format!("{link}/thumbnail")).await;
        assert_eq!(thumb.status(), StatusCode::OK);
        assert_eq!(header(&thumb, "content-security-policy"), "sandbox");
        let thumb = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
        assert!(thumb.width() <= 800 && thumb.height() <= 800);
        let (tw, th) = (i64::from(thumb.width()), i64::from(thumb.height()));
        assert!((tw * i64::from(h) - th * i64::from(w)).abs() <= i64::from(w.max(h)), "same shape, to the pixel");
    }
    // The chat list says what came.
    let (_, list) = bob.get_page("/chats").await;
    assert!(list.contains("Photo"), "the preview of a message of photos");
}

#[actix_web::test]
async fn html_and_svg_files_come_back_only_as_downloads_with_every_header() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    let html = b"<!doctype html><script>alert(document.cookie)</script>".to_vec();
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();
    let resp = send_files(&alice, chat, "see these", &[("page.html", &html), ("logo.png", &svg)]).await;
    assert_redirect(&resp, &format!("/chats/{chat}"));
    let links = attachment_links(&bob, chat).await;
    assert_eq!(links.len(), 2);
    for (link, (name, bytes)) in links.iter().zip([("page.html", &html), ("logo.png", &svg)]) {
        let resp = bob.get(link).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(header(&resp, "content-type"), "application/octet-stream");
        assert_eq!(header(&resp, "content-disposition"), format!("attachment; filename=\"{name}\"; filename*=UTF-8''{name}"));
        assert_eq!(header(&resp, "x-content-type-options"), "nosniff");
        assert_eq!(header(&resp, "content-security-policy"), "sandbox");
        assert!(header(&resp, "cache-control").starts_with("private"));
        let etag = header(&resp, "etag").to_string();
        assert_eq!(&resp.bytes().await.unwrap()[..], &bytes[..], "kept as sent");
        // Revalidation: 304 without a body.
        let again = bob.http.get(bob.url(link)).header("If-None-Match", &etag).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert!(again.bytes().await.unwrap().is_empty());
        // No preview for a file that is not a picture.
        assert_eq!(bob.get(&format!("{link}/thumbnail")).await.status(), StatusCode::NOT_FOUND);
    }
    let (_, page) = bob.get_page(&format!("/chats/{chat}")).await;
    assert_eq!(texts(&page, ".attachment-file .attachment-name"), ["page.html", "logo.png"]);
}

#[actix_web::test]
async fn a_hostile_file_name_is_sanitised_in_headers_and_escaped_in_pages() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    // As RFC 5987 `filename*`, percent-encoded: the CR/LF and the override arrive decoded.
    let name = "..%2F..%2Fetc%2F%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E%0D%0ASet-Cookie%3A%20a%3Db%3B%E2%80%AEfdp.exe%20%C3%9Cn%C3%AF.txt";
    let token = alice.csrf_token().await;
    let upload = body_with(&token, "", Uuid::new_v4(), &[(name, b"hello")], |n| format!("filename=\"x.txt\"; filename*=UTF-8''{n}"));
    let resp = post_body(&alice, chat, upload, false).await;
    assert_redirect(&resp, &format!("/chats/{chat}"));
    let (_, page) = bob.get_page(&format!("/chats/{chat}")).await;
    assert!(!page.contains("<img src=x"), "escaped in the page");
    let shown = texts(&page, ".attachment-name");
    assert_eq!(shown, ["<img src=x onerror=alert(1)>Set-Cookie: a=b;fdp.exe Ünï.txt"], "no path, no line break, no override");
    let link = attachment_links(&bob, chat).await.remove(0);
    let resp = bob.get(&link).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers().get("set-cookie").is_none());
    let disposition = header(&resp, "content-disposition");
    assert!(
        disposition.starts_with("attachment; filename=\"<img src=x onerror=alert(1)>Set-Cookie: a=b;fdp.exe _n_.txt\"; filename*=UTF-8''")
    );
    assert!(disposition.ends_with("%C3%9Cn%C3%AF.txt"), "{disposition}");
    // The chat list says which file it was, escaped.
    let (_, list) = bob.get_page("/chats").await;
    assert!(list.contains("File: &lt;img src=x") || list.contains("File: &#60;img src=x"), "escaped preview");
}

#[actix_web::test]
async fn outsiders_former_members_and_deleted_messages_get_404_and_anonymous_visitors_log_in() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    alice.befriend(&bob).await;
    alice.befriend(&carol).await;
    let group = alice.create_group("trip", &["bob"]).await;
    let png = png_with_text_chunk(40, 30);
    assert_redirect(&send_files(&alice, group, "", &[("p.png", &png), ("notes.txt", b"notes")]).await, &format!("/chats/{group}"));
    let links = attachment_links(&bob, group).await;
    assert_eq!(links.len(), 2);
    let paths: Vec<String> = links.iter().flat_map(|l| [l.clone(), format!("{l}/thumbnail")]).collect();
    assert_eq!(bob.get(&paths[0]).await.status(), StatusCode::OK);
    for path in &paths {
        assert_eq!(carol.get(path).await.status(), StatusCode::NOT_FOUND, "carol is not in the group: {path}");
        assert_redirect(&app.client().get(path).await, "/login");
    }
    assert_eq!(bob.get(&format!("/attachments/{}", Uuid::now_v7())).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(bob.get("/attachments/not-an-id").await.status(), StatusCode::NOT_FOUND);
    // A former member.
    assert_redirect(&alice.remove_member(group, "bob").await, &format!("/chats/{group}"));
    for path in &paths {
        assert_eq!(bob.get(path).await.status(), StatusCode::NOT_FOUND, "bob was removed: {path}");
    }
    // A deleted message takes its files (issue 14 deletes through the same cascade).
    diesel::RunQueryDsl::execute(diesel::sql_query("DELETE FROM messages WHERE text = ''"), &mut app.conn()).unwrap();
    assert_eq!(stored(&app).1, 0);
    assert_eq!(stored(&app).2, 0);
    for path in &paths {
        assert_eq!(alice.get(path).await.status(), StatusCode::NOT_FOUND, "deleted: {path}");
    }
}

#[actix_web::test]
async fn every_limit_answers_413_while_streaming_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    let before = stored(&app);

    let small = vec![7u8; 10];
    let eleven: Vec<(&str, &[u8])> = (0..11).map(|_| ("a.bin", small.as_slice())).collect();
    let resp = send_files(&alice, chat, "eleven", &eleven).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let page = resp.text().await.unwrap();
    assert!(page.contains("At most 10 files"), "a clear message");
    assert!(page.contains("eleven"), "the text is kept");
    assert_eq!(stored(&app), before);

    let big = vec![1u8; 25 * MIB + 1];
    let resp = send_files(&alice, chat, "", &[("big.bin", &big)]).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(resp.text().await.unwrap().contains("at most 25 MiB; big.bin is larger"));
    assert_eq!(stored(&app), before);

    // 24 + 24 + 2.5 MiB: each within its limit, together past 50 MiB (the body itself
    // is under the declared-size bound, so this is counted while streaming).
    let (a, b, c) = (vec![2u8; 24 * MIB], vec![3u8; 24 * MIB], vec![4u8; 5 * MIB / 2]);
    let resp = send_files(&alice, chat, "", &[("a.bin", &a), ("b.bin", &b), ("c.bin", &c)]).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(resp.text().await.unwrap().contains("at most 50 MiB together"));
    assert_eq!(stored(&app), before);

    // An htmx (XHR) send gets the composer with the error.
    let token = alice.csrf_token().await;
    let resp = post_body(&alice, chat, body(&token, "kept", Uuid::new_v4(), &eleven), true).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let form = resp.text().await.unwrap();
    assert_eq!(select_attr(&form, "form.composer", "id").as_deref(), Some("composer"));
    assert!(form.contains("kept"));

    // Text past its limit with a file: 422, nothing stored.
    let long = "x".repeat(4001);
    let resp = send_files(&alice, chat, &long, &[("a.txt", b"a")]).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Neither text nor a file: 422.
    let resp = send_files(&alice, chat, "  ", &[]).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(stored(&app), before);
    // The database refuses an empty message without files, whoever writes it.
    let refused = diesel::RunQueryDsl::execute(
        diesel::sql_query(
            "INSERT INTO messages (message_id, chat_id, seq, sender, text) \
             SELECT gen_random_uuid(), chat_id, 999, created_by, '' FROM chats LIMIT 1",
        ),
        &mut app.conn(),
    );
    assert!(refused.is_err(), "messages_text_or_files");
}

#[actix_web::test]
async fn an_untouched_file_input_is_ignored_and_a_repeated_send_stores_once() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    // A browser's form without JavaScript: an empty part with an empty file name.
    let resp = send_files(&alice, chat, "just text", &[("", b"")]).await;
    assert_redirect(&resp, &format!("/chats/{chat}"));
    assert_eq!(stored(&app), (1, 0, 0));
    // The same form twice (a double click): one message, one file.
    let token = alice.csrf_token().await;
    let client_id = Uuid::new_v4();
    for _ in 0..2 {
        let resp = post_body(&alice, chat, body(&token, "twice", client_id, &[("t.txt", b"once")]), false).await;
        assert_redirect(&resp, &format!("/chats/{chat}"));
    }
    assert_eq!(stored(&app), (2, 1, 1));
}

#[actix_web::test]
async fn a_message_with_files_arrives_live_with_them() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    let mut stream = EventStream::open(&bob, &format!("/chats/{chat}/events"), None).await;
    let png = png_with_text_chunk(64, 48);
    assert_redirect(&send_files(&alice, chat, "", &[("cat.png", &png), ("cv.pdf", b"%PDF-1.4")]).await, &format!("/chats/{chat}"));
    let event = stream.next(Duration::from_secs(20)).await.expect("the message arrives");
    assert!(event.data.contains("attachment-image") && event.data.contains("alt=\"cat.png\""), "{}", event.data);
    assert!(event.data.contains("width=\"64\" height=\"48\""));
    assert!(event.data.contains("cv.pdf"));
}

#[actix_web::test]
async fn the_quota_refuses_with_413_and_stores_nothing_more() {
    let app = TestApp::spawn_with(chaat::config::Settings { upload_quota_mb: 1, ..test_settings() }).await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    let file = vec![5u8; 600 * 1024];
    assert_redirect(&send_files(&alice, chat, "", &[("one.bin", &file)]).await, &format!("/chats/{chat}"));
    let after_first = stored(&app);
    let resp = send_files(&alice, chat, "second", &[("two.bin", &file)]).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(resp.text().await.unwrap().contains("past your 1 MiB for files"));
    assert_eq!(stored(&app), after_first);
}

/// Whether a transaction of this database holds rows of `attachment_chunks` it has not
/// committed (its insert's lock on the table).
fn uncommitted_chunks(app: &TestApp) -> i64 {
    count(
        &mut app.conn(),
        "SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation \
          WHERE c.relname = 'attachment_chunks' AND l.mode = 'RowExclusiveLock' AND l.pid <> pg_backend_pid() \
            AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
}

#[actix_web::test]
async fn a_connection_dropped_mid_upload_leaves_no_rows() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    let before = stored(&app);
    let token = alice.csrf_token().await;
    let whole = body(&token, "", Uuid::new_v4(), &[("half.bin", &vec![9u8; 8 * MIB])]);
    let mut socket = tokio::net::TcpStream::connect(format!("127.0.0.1:{}", app.port)).await.unwrap();
    let head = format!(
        "POST /chats/{chat}/messages HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nCookie: {}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {}\r\n\r\n",
        app.port,
        alice.cookie_header(),
        whole.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(&whole[..3 * MIB]).await.unwrap();
    // Wait until chunks were written in the upload's transaction, then hang up.
    let started = Instant::now();
    while uncommitted_chunks(&app) == 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "the upload began writing chunks");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(socket);
    let started = Instant::now();
    while uncommitted_chunks(&app) > 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "the upload's transaction ended");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stored(&app), before, "rolled back: no message, no attachment, no chunk");
}

#[actix_web::test]
async fn two_instances_serve_the_same_file() {
    let db = std::sync::Arc::new(TestDb::new());
    let a = TestApp::spawn_on(db.clone(), test_settings()).await;
    let b = TestApp::spawn_on(db, test_settings()).await;
    let (alice, bob, chat) = alice_and_bob(&a.address).await;
    let file: Vec<u8> = (0..3 * MIB + 17).map(|i| (i * 31 % 251) as u8).collect();
    assert_redirect(&send_files(&alice, chat, "", &[("data.bin", &file)]).await, &format!("/chats/{chat}"));
    let bob_on_b = bob.moved_to(&b.address);
    let link = attachment_links(&bob_on_b, chat).await.remove(0);
    let from_b = bob_on_b.get(&link).await;
    assert_eq!(from_b.status(), StatusCode::OK);
    assert_eq!(header(&from_b, "content-length"), file.len().to_string());
    let etag_b = header(&from_b, "etag").to_string();
    assert_eq!(&from_b.bytes().await.unwrap()[..], &file[..]);
    let from_a = bob.get(&link).await;
    assert_eq!(header(&from_a, "etag"), etag_b, "the same version everywhere");
    assert_eq!(&from_a.bytes().await.unwrap()[..], &file[..]);
}

/// A 25 MiB file in and out of a real `chaat serve`: its memory grows by much less than
/// the file (chunks are streamed both ways).
#[actix_web::test]
async fn a_25_mib_file_goes_in_and_out_without_the_server_holding_it() {
    let db = TestDb::new();
    let chaat = Chaat::serve(&db.url, &[]);
    let (alice, bob, chat) = alice_and_bob(&chaat.base).await;
    // Warm up the paths (pool connections, buffers) with a small file first.
    assert_redirect(&send_files(&alice, chat, "", &[("warm.bin", &vec![1u8; MIB])]).await, &format!("/chats/{chat}"));
    let warm = attachment_links(&bob, chat).await.remove(0);
    assert_eq!(bob.get(&warm).await.bytes().await.unwrap().len(), MIB);
    let file: Vec<u8> = (0..25 * MIB).map(|i| (i * 7 % 253) as u8).collect();
    let token = alice.csrf_token().await;
    let upload = body(&token, "", Uuid::new_v4(), &[("big.bin", &file)]);
    let rss_before = chaat.status_field("VmRSS");
    chaat.reset_peak_memory();
    assert_redirect(&post_body(&alice, chat, upload, false).await, &format!("/chats/{chat}"));
    let link = attachment_links(&bob, chat).await.pop().unwrap();
    let resp = bob.get(&link).await;
    let mut received = 0usize;
    let mut body = resp.bytes_stream();
    while let Some(piece) = futures_util::StreamExt::next(&mut body).await {
        received += piece.unwrap().len();
    }
    assert_eq!(received, file.len());
    let peak = chaat.status_field("VmHWM");
    let growth_kib = peak.saturating_sub(rss_before);
    assert!(growth_kib < 16 * 1024, "peak RSS grew by {growth_kib} KiB while 25 MiB went in and out");
}

/// The load generator's `files` scenario (BENCHMARKS.md) runs against the app, small.
#[actix_web::test]
async fn the_files_benchmark_scenario_runs() {
    let photo = chaat_load::files::png(32, 24, 1);
    assert_eq!(image::load_from_memory(&photo).map(|i| (i.width(), i.height())).ok(), Some((32, 24)));
    let app = TestApp::spawn().await;
    let target = chaat_load::Target::new(&app.address).unwrap();
    let opts = chaat_load::files::FilesOptions { big_bytes: MIB, photos: 5, concurrency: 2, server_pid: None };
    let report = chaat_load::files::run(&target, &opts).await.unwrap();
    assert!(report.ok, "{}", report.text);
}

/// Sends with files by one person into one chat at once: each upload's transaction
/// inserts its rows (which reference the chat) before the send locks the chat, and
/// the uploader's row is locked for the quota; neither may deadlock the other (seen
/// in `make bench`'s photos: a 500 "deadlock detected").
#[actix_web::test]
async fn concurrent_sends_with_files_into_one_chat_all_land() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    let token = alice.csrf_token().await;
    let file = vec![7u8; 64 * 1024];
    for round in 0..4 {
        let sends = (0..8).map(|i| {
            let body = body(&token, &format!("round {round} file {i}"), Uuid::new_v4(), &[("f.bin", &file)]);
            post_body(&alice, chat, body, true)
        });
        for resp in futures_util::future::join_all(sends).await {
            assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap());
        }
    }
    assert_eq!(stored(&app).0, 32);
    let mut conn = app.conn();
    assert_eq!(count(&mut conn, "SELECT max(seq) AS n FROM messages"), 32, "seq stays gap-free");
}
