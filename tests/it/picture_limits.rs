//! The bounds of picture uploads (issue 21, points 3 and 10): dimensions and decoder
//! memory judged from the header before decoding, decode bombs that neither starve
//! logins nor grow memory, an upload over 5 MiB, and uploads per person.

use std::cell::{Cell, RefCell};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use reqwest::{Response, StatusCode};

use crate::helpers::process::Chaat;
use crate::helpers::{assert_redirect, count, has, select, Actor, Client, TestApp, TestDb, PASSWORD};

const SIZE_MESSAGE: &str = "at most 8192 px a side and 40 megapixels";

/// An all-black PNG, written row by row (the pixels are never held): 64 megapixels
/// compress to a few hundred KB, as in the attack.
pub(crate) fn black_png(width: u32, height: u32, color: png::ColorType, depth: png::BitDepth) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    encoder.set_compression(png::Compression::Balanced);
    encoder.set_filter(png::Filter::NoFilter);
    let mut writer = encoder.write_header().unwrap();
    let mut stream = writer.stream_writer().unwrap();
    let samples = match color {
        png::ColorType::Grayscale | png::ColorType::Indexed => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
    };
    let bytes_per_sample = if depth == png::BitDepth::Sixteen { 2 } else { 1 };
    let row = vec![0u8; width as usize * samples * bytes_per_sample];
    for _ in 0..height {
        std::io::Write::write_all(&mut stream, &row).unwrap();
    }
    stream.finish().unwrap();
    drop(writer);
    out
}

/// The attack's pictures: 7999 × 7999 (just within the old 8000 px bound), RGBA (256 MB
/// decoded) and RGB (192 MB). Made once per test run.
pub(crate) fn bomb(color: png::ColorType) -> &'static [u8] {
    static RGBA: OnceLock<Vec<u8>> = OnceLock::new();
    static RGB: OnceLock<Vec<u8>> = OnceLock::new();
    let cell = if color == png::ColorType::Rgba { &RGBA } else { &RGB };
    cell.get_or_init(|| {
        let bomb = black_png(7999, 7999, color, png::BitDepth::Eight);
        assert!(bomb.len() < 1024 * 1024, "a bomb is small: {} bytes", bomb.len());
        bomb
    })
}

fn picture_part(bytes: Vec<u8>) -> Part {
    Part::bytes(bytes).file_name("picture.png").mime_str("image/png").unwrap()
}

async fn upload(client: &Client, bytes: Vec<u8>) -> Response {
    let form = Form::new().text("csrf_token", client.csrf_token().await).part("picture", picture_part(bytes));
    client.http.post(client.url("/settings/display-picture")).multipart(form).send().await.unwrap()
}

/// The settings page of a refused upload: the message next to the picture field.
async fn picture_error(resp: Response) -> String {
    let page = resp.text().await.unwrap();
    let errors = select(&page, "#picture-error");
    assert_eq!(errors.len(), 1, "the message next to the picture field: {page}");
    assert!(has(&page, "#picture[aria-invalid=true]"), "the field is marked invalid");
    errors[0].clone()
}

fn pictures_stored(app: &TestApp) -> i64 {
    count(&mut app.conn(), "SELECT count(*) AS n FROM display_pictures")
}

#[actix_web::test]
async fn a_small_png_declaring_7999_by_7999_is_refused_from_its_header_quickly_and_not_stored() {
    // Every picture is made first: while the test makes one, its connections sit idle.
    let (rgba, rgb) = (bomb(png::ColorType::Rgba), bomb(png::ColorType::Rgb));
    let too_wide = black_png(8193, 1, png::ColorType::Rgb, png::BitDepth::Eight);
    let too_many_pixels = black_png(6400, 6400, png::ColorType::Grayscale, png::BitDepth::Eight);
    let widest = black_png(8192, 1000, png::ColorType::Rgb, png::BitDepth::Eight);
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    for (color, bomb) in [("RGBA", rgba), ("RGB", rgb)] {
        let started = Instant::now();
        let resp = upload(&alice, bomb.to_vec()).await;
        let took = started.elapsed();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{color}");
        assert!(picture_error(resp).await.contains(SIZE_MESSAGE), "{color}");
        // Decoding it took 1.4 s (and 256 MB); reading its header takes milliseconds (the
        // bound leaves room for a busy machine).
        assert!(took < Duration::from_secs(3), "{color} answered after {took:?}: it was decoded");
    }
    // Each bound on its own: a side over 8192, and 40 megapixels with both sides within.
    for (what, bytes) in [("8193 px wide", too_wide), ("41 megapixels", too_many_pixels)] {
        let resp = upload(&alice, bytes).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{what}");
        assert!(picture_error(resp).await.contains(SIZE_MESSAGE), "{what}");
    }
    assert_eq!(pictures_stored(&app), 0);

    // At the bounds a picture is taken: 8192 px wide, cropped to 512 × 512.
    assert_redirect(&upload(&alice, widest).await, "/settings?done=picture");
    assert_eq!(pictures_stored(&app), 1);
}

#[actix_web::test]
async fn a_picture_whose_decoding_needs_more_than_the_memory_bound_is_refused() {
    // 17.6 megapixels, well within the dimensions, but 16-bit RGBA: 141 MB decoded,
    // more than the 128 MiB a decoder may hold.
    let deep = black_png(4200, 4200, png::ColorType::Rgba, png::BitDepth::Sixteen);
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let started = Instant::now();
    let resp = upload(&alice, deep).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(started.elapsed() < Duration::from_secs(3), "refused from its header");
    assert!(picture_error(resp).await.contains("too large to process"));
    assert_eq!(pictures_stored(&app), 0);
}

/// Issue 21.3: ten such uploads in parallel made other people's logins answer 503 and
/// took the server to 653 MB. The real binary, to read its memory from /proc.
#[actix_web::test]
async fn decode_bombs_uploaded_in_parallel_neither_starve_logins_nor_grow_memory() {
    let (rgba, rgb) = (bomb(png::ColorType::Rgba), bomb(png::ColorType::Rgb));
    let small = black_png(600, 400, png::ColorType::Rgb, png::BitDepth::Eight);
    let db = TestDb::new();
    let server = Chaat::serve(&db.url, &[]);
    const BOMBERS: usize = 6;
    let mut bombers = Vec::new();
    for i in 0..BOMBERS {
        let bomber = Actor::sign_up(&server.base, &format!("bomber{i}")).await;
        bomber.csrf_token().await;
        bombers.push(bomber);
    }
    Actor::sign_up(&server.base, "alice").await;
    // Warm: a login and an ordinary picture, so that what follows measures the bombs.
    assert_redirect(&Client::new(&server.base).login("alice", PASSWORD).await, "/chats");
    assert_redirect(&upload(&bombers[0], small).await, "/settings?done=picture");
    let rss_before = server.status_field("VmRSS");

    let done = Cell::new(false);
    let peak = Cell::new(rss_before);
    let sampler = async {
        while !done.get() {
            peak.set(peak.get().max(server.status_field("VmRSS")));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let bombs = async {
        let uploads = bombers.iter().enumerate().map(|(i, b)| upload(b, if i % 2 == 0 { rgba } else { rgb }.to_vec()));
        let answers: Vec<StatusCode> = futures_util::future::join_all(uploads).await.iter().map(Response::status).collect();
        answers
    };
    // Meanwhile alice logs in again and again (a new browser each time), while the
    // bombs are in flight and a few times after: at most 30 logins.
    let logins = RefCell::new(Vec::new());
    let bombs_done = Cell::new(false);
    let log_in = async {
        for i in 0..30 {
            if bombs_done.get() && i >= 6 {
                break;
            }
            let started = Instant::now();
            let status = Client::new(&server.base).login("alice", PASSWORD).await.status();
            logins.borrow_mut().push((status, started.elapsed()));
        }
    };
    let bombing = async {
        let answers = bombs.await;
        bombs_done.set(true);
        answers
    };
    let measured = async {
        let both = futures_util::join!(bombing, log_in);
        done.set(true);
        both
    };
    let ((answers, ()), ()) = futures_util::join!(measured, sampler);

    let logins = logins.into_inner();
    assert!(
        logins.iter().all(|(status, took)| *status == StatusCode::SEE_OTHER && *took < Duration::from_secs(4)),
        "every login answers 303 without waiting behind the bombs: {logins:?}"
    );
    // Refused from its header (422), or by the picture queue when it was full (503).
    let refused = [StatusCode::UNPROCESSABLE_ENTITY, StatusCode::SERVICE_UNAVAILABLE];
    assert!(answers.iter().all(|s| refused.contains(s)), "every bomb refused: {answers:?}");
    let grew = peak.get().saturating_sub(rss_before);
    assert!(grew < 64 * 1024, "memory grew by {grew} KiB ({rss_before} KiB before, {} KiB at the peak)", peak.get());
    assert_eq!(count(&mut db.conn(), "SELECT count(*) AS n FROM display_pictures"), 1, "only the ordinary picture");
}

/// A zlib stream of `1 + 258 * matches` zero bytes in fixed-Huffman deflate: a zero,
/// then copies of 258 bytes from one back (13 bits each, so 1 MB inflates to 160 MB).
fn zlib_of_zeros(matches: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u64,
        count: u32,
    }
    impl Bits {
        /// Deflate packs bits from the least significant; Huffman codes are pushed here
        /// bit-reversed, since they go most significant bit first.
        fn push(&mut self, value: u64, n: u32) {
            self.acc |= value << self.count;
            self.count += n;
            while self.count >= 8 {
                self.out.push(self.acc as u8);
                self.acc >>= 8;
                self.count -= 8;
            }
        }
    }
    let mut bits = Bits { out: vec![0x78, 0x01], acc: 0, count: 0 };
    bits.push(0b011, 3); // the last block, fixed codes
    bits.push(u64::from(0x30u8.reverse_bits()), 8); // the literal 0
    for _ in 0..matches {
        bits.push(u64::from(0xC5u8.reverse_bits()), 8); // length 258 (code 285)
        bits.push(0, 5); // distance 1 (code 0)
    }
    bits.push(0, 7); // end of block
    if bits.count > 0 {
        bits.out.push(bits.acc as u8);
    }
    // Adler-32 of zeros: a stays 1, b counts the bytes.
    let length = 1 + 258 * matches as u64;
    bits.out.extend_from_slice(&((((length % 65521) as u32) << 16) | 1).to_be_bytes());
    bits.out
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

/// A 10 × 10 PNG whose ICC profile (iCCP, read with the header) inflates to 256 MiB.
fn icc_bomb() -> Vec<u8> {
    let mut png = black_png(10, 10, png::ColorType::Rgb, png::BitDepth::Eight);
    let mut chunk = b"iCCP".to_vec();
    chunk.extend_from_slice(b"bomb\0\0");
    chunk.extend_from_slice(&zlib_of_zeros((256 << 20) / 258));
    let mut framed = ((chunk.len() - 4) as u32).to_be_bytes().to_vec();
    framed.extend_from_slice(&chunk);
    framed.extend_from_slice(&crc32(&chunk).to_be_bytes());
    let after_ihdr = 8 + 4 + 4 + 13 + 4;
    png.splice(after_ihdr..after_ihdr, framed);
    png
}

/// Found while bounding decoder memory: the PNG decoder inflated an ICC profile up to the
/// whole decode limit (128 MiB) while reading the header, before the pixel check, and
/// then dropped it. Its own buffers now get 8 MiB; the picture is still taken.
#[actix_web::test]
async fn an_icc_profile_that_inflates_to_256_mib_is_read_in_bounded_memory() {
    let bomb = icc_bomb();
    assert!(bomb.len() < 2 * 1024 * 1024, "{} bytes", bomb.len());
    let small = black_png(60, 40, png::ColorType::Rgb, png::BitDepth::Eight);
    let db = TestDb::new();
    let server = Chaat::serve(&db.url, &[]);
    let alice = Actor::sign_up(&server.base, "alice").await;
    assert_redirect(&upload(&alice, small).await, "/settings?done=picture");
    let rss_before = server.status_field("VmRSS");
    server.reset_peak_memory();

    assert_redirect(&upload(&alice, bomb).await, "/settings?done=picture");
    let grew = server.status_field("VmHWM").saturating_sub(rss_before);
    assert!(grew < 32 * 1024, "memory grew by {grew} KiB while reading the header");
}

/// Issue 21.10: over 5 MiB was a bare 400 "could not be understood".
#[actix_web::test]
async fn an_upload_over_5_mib_gets_413_with_the_message_next_to_the_field_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let over = vec![0u8; 5 * 1024 * 1024 + 100 * 1024];
    let resp = upload(&alice, over).await;
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(picture_error(resp).await.contains("at most 5 MB"));
    assert_eq!(pictures_stored(&app), 0);

    // Just under the limit the file is read, and judged as a picture (this one is not).
    let under = vec![0u8; 5 * 1024 * 1024 - 1024];
    let resp = upload(&alice, under).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(pictures_stored(&app), 0);
    // And the session goes on: a page, then a picture that fits.
    assert_eq!(alice.get("/settings").await.status(), StatusCode::OK);
    assert_redirect(&upload(&alice, black_png(40, 30, png::ColorType::Rgb, png::BitDepth::Eight)).await, "/settings?done=picture");
}

#[actix_web::test]
async fn uploads_past_the_per_person_limit_get_429_with_retry_after_and_change_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let picture = |side| black_png(side, side, png::ColorType::Rgb, png::BitDepth::Eight);
    for side in 10..16 {
        assert_redirect(&upload(&alice, picture(side)).await, "/settings?done=picture");
    }
    let last_stored = "SELECT (extract(epoch FROM max(updated_at)) * 1000000)::bigint AS n FROM display_pictures";
    let before = count(&mut app.conn(), last_stored);

    let resp = upload(&alice, picture(20)).await;
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry_after: u64 = resp.headers().get("retry-after").expect("Retry-After").to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "Retry-After: {retry_after}");
    let message = picture_error(resp).await;
    assert!(message.contains(&format!("try again in {retry_after} seconds")), "{message}");
    assert_eq!(count(&mut app.conn(), last_stored), before, "the refused picture was not stored");

    // A limit per person: bob uploads as usual.
    assert_redirect(&upload(&bob, picture(10)).await, "/settings?done=picture");
}
