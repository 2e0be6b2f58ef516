//! Attachment gaps the audit of issue 15 found (SPEC §8): decode bombs sent as files,
//! the CSRF token first on a message send, 413 before the whole body is sent, exactly
//! ten files, WebP and GIF (animated too) end to end, 304 for a picture and its
//! preview, and 404 after a deletion through the app.

use std::io::Cursor;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

use crate::attachments::{attachment_links, body, header, post_body, send_files, stored, BOUNDARY, MIB};
use crate::helpers::process::Chaat;
use crate::helpers::{alice_and_bob, assert_redirect, Actor, Client, TestApp, TestDb, PASSWORD};
use crate::picture_limits::{black_png, bomb};

/// A PNG whose header says `width` × `height` (a 1×1 picture with its IHDR rewritten).
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut png = Vec::new();
    image::DynamicImage::new_rgb8(1, 1).write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
    // Signature (8), length (4), "IHDR" (4), width, height: the CRC covers type and data.
    png[16..20].copy_from_slice(&width.to_be_bytes());
    png[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    png
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

/// The PNG bombs of picture_limits (7999 × 7999, under 1 MB, 192–256 MB decoded) and a
/// header declaring 100,000 × 100,000, sent as files while alice logs in again and
/// again: every send is answered 303 with the file kept as a plain download (no
/// preview), no login waits behind them, and the server's peak memory stays bounded.
#[actix_web::test]
async fn image_bombs_sent_as_files_are_kept_as_downloads_without_memory_or_starvation() {
    let bombs: Vec<(&str, Vec<u8>)> = vec![
        ("rgba.png", bomb(png::ColorType::Rgba).to_vec()),
        ("rgb.png", bomb(png::ColorType::Rgb).to_vec()),
        ("huge.png", png_declaring(100_000, 100_000)),
    ];
    let db = TestDb::new();
    let server = Chaat::serve(&db.url, &[]);
    let (alice, bob, chat) = alice_and_bob(&server.base).await;
    // Warm the picture path with an ordinary picture, so what follows measures the bombs.
    let small = black_png(600, 400, png::ColorType::Rgb, png::BitDepth::Eight);
    assert_redirect(&send_files(&alice, chat, "", &[("small.png", &small)]).await, &format!("/chats/{chat}"));
    assert_redirect(&Client::new(&server.base).login("bob", PASSWORD).await, "/chats");
    let rss_before = server.status_field("VmRSS");
    server.reset_peak_memory();

    let token = alice.csrf_token().await;
    let sends = futures_util::future::join_all(
        bombs.iter().map(|(name, bytes)| post_body(&alice, chat, body(&token, "", Uuid::new_v4(), &[(name, bytes)]), false)),
    );
    let logins = async {
        let mut took = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let status = Client::new(&server.base).login("bob", PASSWORD).await.status();
            took.push((status, started.elapsed()));
        }
        took
    };
    let (answers, logins) = futures_util::join!(sends, logins);
    for (resp, (name, _)) in answers.iter().zip(&bombs) {
        assert_eq!(resp.status(), StatusCode::SEE_OTHER, "{name}: sent, not a 5xx");
    }
    assert!(
        logins.iter().all(|(s, took)| *s == StatusCode::SEE_OTHER && *took < Duration::from_secs(4)),
        "logins are served meanwhile: {logins:?}"
    );
    let grew = server.status_field("VmHWM").saturating_sub(rss_before);
    assert!(grew < 64 * 1024, "peak memory grew by {grew} KiB while the bombs were handled");

    let links = attachment_links(&bob, chat).await;
    assert_eq!(links.len(), 4, "the small picture and the three bombs");
    for link in &links[1..] {
        let resp = bob.get(link).await;
        assert_eq!(resp.status(), StatusCode::OK, "{link}");
        // Sent at once, they landed in any order: each is told by its name.
        let disposition = header(&resp, "content-disposition").to_string();
        let (name, bytes) = bombs.iter().find(|(n, _)| disposition.contains(n)).expect("one of the bombs");
        assert_eq!(header(&resp, "content-type"), "application/octet-stream", "{name}: a download, not decoded");
        assert!(header(&resp, "content-disposition").starts_with("attachment;"), "{name}");
        assert_eq!(resp.bytes().await.unwrap().len(), bytes.len(), "{name}: kept as sent");
        assert_eq!(bob.get(&format!("{link}/thumbnail")).await.status(), StatusCode::NOT_FOUND, "{name}: no preview");
    }
}

/// A multipart body whose parts are `parts` (name, file name if a file, bytes), in order.
fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, file, bytes) in parts {
        let file = file.map(|f| format!("; filename=\"{f}\"")).unwrap_or_default();
        out.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"{file}\r\n\r\n").as_bytes());
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    out
}

#[actix_web::test]
async fn a_send_with_files_needs_the_csrf_token_first_and_stores_nothing_without_it() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    let token = alice.csrf_token().await;
    let before = stored(&app);
    let id = Uuid::new_v4().to_string();
    let file: &[u8] = b"some file";
    let bodies = [
        ("no token", multipart(&[("text", None, b"hi"), ("client_id", None, id.as_bytes()), ("files", Some("a.txt"), file)])),
        (
            "the token after the files",
            multipart(&[
                ("text", None, b"hi"),
                ("client_id", None, id.as_bytes()),
                ("files", Some("a.txt"), file),
                ("csrf_token", None, token.as_bytes()),
            ]),
        ),
        (
            "a wrong token first",
            multipart(&[("csrf_token", None, b"not-the-token"), ("text", None, b"hi"), ("files", Some("a.txt"), file)]),
        ),
    ];
    for (what, body) in bodies {
        let resp = post_body(&alice, chat, body, false).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN, "{what}");
        assert_eq!(stored(&app), before, "{what}: nothing stored");
    }
    // The same body with the token first goes in.
    let ok = multipart(&[
        ("csrf_token", None, token.as_bytes()),
        ("text", None, b"hi"),
        ("client_id", None, id.as_bytes()),
        ("files", Some("a.txt"), file),
    ]);
    assert_redirect(&post_body(&alice, chat, ok, false).await, &format!("/chats/{chat}"));
    assert_eq!(stored(&app).1, before.1 + 1);
}

/// Sends a multipart send whose one file is `file_len` zero bytes, on a raw connection,
/// declaring its length or chunked, in 256 KiB pieces, while reading the answer: returns
/// the answer's status line, how much had been written when it arrived, and the total.
async fn answer_while_sending(app: &TestApp, who: &Actor, chat: Uuid, file_len: usize, chunked: bool) -> (String, usize, usize) {
    let token = who.csrf_token().await;
    // The body around the file: `body` with an empty file, split where its bytes go.
    let empty = body(&token, "", Uuid::new_v4(), &[("big.bin", b"")]);
    let tail = format!("\r\n--{BOUNDARY}--\r\n");
    let prefix = empty[..empty.len() - tail.len()].to_vec();
    let total = prefix.len() + file_len + tail.len();
    let length = if chunked { "Transfer-Encoding: chunked".to_string() } else { format!("Content-Length: {total}") };
    let head = format!(
        "POST /chats/{chat}/messages HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nCookie: {}\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n{length}\r\n\r\n",
        app.port,
        who.cookie_header(),
    );
    let socket = tokio::net::TcpStream::connect(format!("127.0.0.1:{}", app.port)).await.unwrap();
    let (mut read, mut write) = socket.into_split();
    let written = Arc::new(AtomicUsize::new(0));
    let counter = written.clone();
    let writer = tokio::spawn(async move {
        write.write_all(head.as_bytes()).await?;
        let zeros = vec![0u8; 256 * 1024];
        let mut pieces: Vec<&[u8]> = vec![&prefix];
        let mut left = file_len;
        while left > 0 {
            let n = left.min(zeros.len());
            pieces.push(&zeros[..n]);
            left -= n;
        }
        pieces.push(tail.as_bytes());
        for piece in pieces {
            if chunked {
                write.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).await?;
            }
            write.write_all(piece).await?;
            if chunked {
                write.write_all(b"\r\n").await?;
            }
            counter.fetch_add(piece.len(), Ordering::SeqCst);
        }
        if chunked {
            write.write_all(b"0\r\n\r\n").await?;
        }
        write.flush().await
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + Duration::from_secs(60);
    while !answer.windows(2).any(|w| w == b"\r\n") {
        let n = tokio::time::timeout_at(deadline.into(), read.read(&mut buf)).await.expect("an answer within 60 s").unwrap();
        assert!(n > 0, "the connection closed without an answer");
        answer.extend_from_slice(&buf[..n]);
    }
    let at = written.load(Ordering::SeqCst);
    writer.abort();
    let line = String::from_utf8_lossy(&answer).lines().next().unwrap().to_string();
    (line, at, total)
}

#[actix_web::test]
async fn an_over_limit_upload_is_refused_before_its_body_is_all_sent() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    let before = stored(&app);
    // A declared 60 MiB body: refused from its length, before most of it is written.
    let (status, at, total) = answer_while_sending(&app, &alice, chat, 60 * MIB, false).await;
    assert!(status.contains(" 413 "), "{status}");
    assert!(at < total / 2, "answered after {at} of {total} bytes");
    // A chunked body (no declared length, as no browser sends a file) with a 30 MiB
    // file: refused while streaming, nothing stored. Its answer comes only once the
    // whole body was sent: actix-http reads a dropped chunked body to its end to keep
    // the connection (the upload deadline bounds how long).
    let (status, _, _) = answer_while_sending(&app, &alice, chat, 30 * MIB, true).await;
    assert!(status.contains(" 413 "), "{status}");
    // (The upload's transaction may still be rolling back as the socket closes.)
    let started = Instant::now();
    while stored(&app) != before {
        assert!(started.elapsed() < Duration::from_secs(30), "nothing stored: {:?}", stored(&app));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[actix_web::test]
async fn exactly_ten_files_go_in() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    let names: Vec<String> = (1..=10).map(|i| format!("f{i}.txt")).collect();
    let files: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), n.as_bytes())).collect();
    assert_redirect(&send_files(&alice, chat, "ten", &files).await, &format!("/chats/{chat}"));
    assert_eq!(stored(&app).1, 10);
    let links = attachment_links(&bob, chat).await;
    assert_eq!(links.len(), 10);
    for (link, name) in links.iter().zip(&names) {
        assert_eq!(&bob.get(link).await.bytes().await.unwrap()[..], name.as_bytes());
    }
}

fn webp(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(width, height, |x, y| image::Rgba([(x % 256) as u8, (y % 256) as u8, 90, 255]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgba8(img).write_to(&mut Cursor::new(&mut out), image::ImageFormat::WebP).unwrap();
    out
}

/// A GIF of `frames` frames (red, then green, …) with a comment extension holding a
/// secret right after the screen descriptor (and its colour table, if any).
fn gif(width: u16, height: u16, frames: usize) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = image::codecs::gif::GifEncoder::new(&mut out);
        encoder.set_repeat(image::codecs::gif::Repeat::Infinite).unwrap();
        let colours = [[220u8, 30, 30, 255], [30, 200, 60, 255], [40, 40, 220, 255]];
        let frames = (0..frames).map(|i| {
            let img = image::RgbaImage::from_pixel(u32::from(width), u32::from(height), image::Rgba(colours[i % 3]));
            image::Frame::from_parts(img, 0, 0, image::Delay::from_numer_denom_ms(100, 1))
        });
        encoder.encode_frames(frames).unwrap();
    }
    let flags = out[10];
    let table = if flags & 0x80 != 0 { 3 << ((flags & 7) + 1) } else { 0 };
    let at = 13 + table;
    let secret = b"secret-gif-comment";
    let mut comment = vec![0x21, 0xFE, secret.len() as u8];
    comment.extend_from_slice(secret);
    comment.push(0);
    out.splice(at..at, comment);
    out
}

#[actix_web::test]
async fn webp_and_gif_animated_too_become_clean_pictures_with_previews_and_revalidate() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    let (still, moving) = (gif(300, 200, 1), gif(1000, 500, 3));
    assert!(still.windows(6).any(|w| w == b"secret") && image::load_from_memory(&moving).is_ok());
    let files = [("photo.webp", webp(1200, 900)), ("still.gif", still), ("moving.gif", moving)];
    let parts: Vec<(&str, &[u8])> = files.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    assert_redirect(&send_files(&alice, chat, "", &parts).await, &format!("/chats/{chat}"));

    let (_, page) = bob.get_page(&format!("/chats/{chat}")).await;
    let shown: Vec<(String, String, String)> = {
        let doc = scraper::Html::parse_document(&page);
        let sel = scraper::Selector::parse(".attachment-image img").unwrap();
        doc.select(&sel)
            .map(|i| {
                let a = |n: &str| i.value().attr(n).unwrap().to_string();
                (a("alt"), a("width"), a("height"))
            })
            .collect()
    };
    let want: Vec<(String, String, String)> = [("photo.webp", "320", "240"), ("still.gif", "300", "200"), ("moving.gif", "320", "160")]
        .iter()
        .map(|(a, w, h)| (a.to_string(), w.to_string(), h.to_string()))
        .collect();
    assert_eq!(shown, want, "every one a picture, in its shape");

    let links = attachment_links(&bob, chat).await;
    for (link, (name, (w, h))) in links.iter().zip([("photo.webp", (1200, 900)), ("still.gif", (300, 200)), ("moving.gif", (1000, 500))]) {
        let full = bob.get(link).await;
        assert_eq!(full.status(), StatusCode::OK, "{name}");
        let kind = header(&full, "content-type").to_string();
        assert!(kind == "image/png" || kind == "image/jpeg", "{name}: re-encoded, {kind}");
        let etag = header(&full, "etag").to_string();
        let bytes = full.bytes().await.unwrap();
        assert!(!bytes.windows(6).any(|w| w == b"secret"), "{name}: no comment left");
        let img = image::load_from_memory(&bytes).unwrap();
        assert_eq!((img.width(), img.height()), (w, h), "{name}");
        if name == "moving.gif" {
            let p = img.to_rgba8().get_pixel(10, 10).0;
            assert!(p[0] > 150 && p[1] < 100, "the first (red) frame: {p:?}");
        }
        let again = bob.http.get(bob.url(link)).header("If-None-Match", &etag).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{name}: the picture revalidates");
        assert!(again.bytes().await.unwrap().is_empty());

        let thumb_path = format!("{link}/thumbnail");
        let thumb = bob.get(&thumb_path).await;
        assert_eq!(thumb.status(), StatusCode::OK, "{name}: a preview");
        assert!(header(&thumb, "content-type").starts_with("image/"));
        let thumb_etag = header(&thumb, "etag").to_string();
        let t = image::load_from_memory(&thumb.bytes().await.unwrap()).unwrap();
        assert!(t.width() <= 800 && t.height() <= 800 && t.width() * h == t.height() * w, "{name}: {}×{}", t.width(), t.height());
        let again = bob.http.get(bob.url(&thumb_path)).header("If-None-Match", &thumb_etag).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "{name}: the preview revalidates");
        assert!(again.bytes().await.unwrap().is_empty());
    }
}

#[actix_web::test]
async fn a_message_deleted_through_the_app_takes_its_files_and_their_previews() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    let png = black_png(64, 48, png::ColorType::Rgb, png::BitDepth::Eight);
    assert_redirect(&send_files(&alice, chat, "look", &[("p.png", &png), ("n.txt", b"notes")]).await, &format!("/chats/{chat}"));
    let links = attachment_links(&bob, chat).await;
    let paths: Vec<String> = links.iter().flat_map(|l| [l.clone(), format!("{l}/thumbnail")]).collect();
    assert_eq!(bob.get(&paths[1]).await.status(), StatusCode::OK, "a preview before");
    assert_eq!(alice.post(&format!("/chats/{chat}/messages/1/delete"), &[]).await.status(), StatusCode::SEE_OTHER);
    for path in &paths {
        for who in [&alice, &bob] {
            assert_eq!(who.get(path).await.status(), StatusCode::NOT_FOUND, "{} after the deletion: {path}", who.name);
        }
    }
    let (_, attachments, chunks) = stored(&app);
    assert_eq!((attachments, chunks), (0, 0));
}
