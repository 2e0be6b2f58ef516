//! `files`: attachments (issue 15). One person sends a big file (25 MiB by default) and
//! the other downloads it, then `photos` small photos (320×240 PNGs) go up as messages
//! of their own, `concurrency` at a time, and every preview and full picture comes back
//! down. Throughput each way, and the app's peak resident memory (VmHWM, reset before
//! each phase through /proc/PID/clear_refs) with `--server-pid`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures_util::StreamExt;
use serde_json::json;
use uuid::Uuid;

use crate::person::Person;
use crate::setup;
use crate::{Report, Target};

#[derive(Debug, Clone)]
pub struct FilesOptions {
    pub big_bytes: usize,
    pub photos: usize,
    pub concurrency: usize,
    pub server_pid: Option<u32>,
}

const BOUNDARY: &str = "chaatLoadBoundary9f3Kq";

/// A multipart send: the token first, then the text, a client id and one file.
fn multipart(token: &str, name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + 1024);
    for (field, value) in [("csrf_token", token), ("text", ""), ("client_id", &Uuid::new_v4().to_string())] {
        out.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"\r\n\r\n{value}\r\n").as_bytes());
    }
    out.extend_from_slice(
        format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n")
            .as_bytes(),
    );
    out.extend_from_slice(bytes);
    out.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    out
}

async fn upload(person: &Person, chat: Uuid, name: &str, bytes: &[u8]) -> anyhow::Result<()> {
    let body = multipart(&person.csrf_token(), name, bytes);
    let resp = person
        .http
        .post(person.url(&format!("/chats/{chat}/messages")))
        .header("Content-Type", format!("multipart/form-data; boundary={BOUNDARY}"))
        .header("HX-Request", "true")
        .timeout(Duration::from_secs(600))
        .body(body)
        .send()
        .await?;
    let status = resp.status();
    let _ = resp.bytes().await?;
    if status != reqwest::StatusCode::OK {
        bail!("upload of {name} answered {status}");
    }
    Ok(())
}

/// Downloads a URL to the end, counting bytes (never holding the body).
async fn download(person: &Person, path: &str) -> anyhow::Result<usize> {
    let resp = person.http.get(person.url(path)).timeout(Duration::from_secs(600)).send().await?;
    if resp.status() != reqwest::StatusCode::OK {
        bail!("GET {path} answered {}", resp.status());
    }
    let mut body = resp.bytes_stream();
    let mut n = 0;
    while let Some(piece) = body.next().await {
        n += piece?.len();
    }
    Ok(n)
}

/// How many messages the chat page shows (its latest; SPEC, `GET /chats/{chat_id}`).
const CHAT_PAGE_MESSAGES: usize = 50;

/// The `/attachments/{id}` links of the chat page, in order.
async fn links(person: &Person, chat: Uuid) -> anyhow::Result<Vec<String>> {
    let page = person.page(&format!("/chats/{chat}")).await?;
    Ok(page.match_indices("href=\"/attachments/").filter_map(|(i, _)| page[i + 6..].split('"').next().map(str::to_string)).collect())
}

/// A PNG of `width`×`height` noise, deflated with stored blocks (no compressor needed;
/// the server decodes and re-encodes it like any photo).
pub fn png(width: u32, height: u32, seed: u32) -> Vec<u8> {
    let mut raw = Vec::with_capacity((width * height * 3 + height) as usize);
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    for _ in 0..height {
        raw.extend_from_slice(&[0]); // each row: filter "none"
        for _ in 0..width * 3 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            raw.push((x >> 24) as u8);
        }
    }
    let mut z = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = raw.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        z.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        z.extend_from_slice(&len.to_le_bytes());
        z.extend_from_slice(&(!len).to_le_bytes());
        z.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &raw {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    z.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    for (kind, data) in [(b"IHDR", ihdr.as_slice()), (b"IDAT", z.as_slice()), (b"IEND", &[][..])] {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc_input = kind.to_vec();
        crc_input.extend_from_slice(data);
        out.extend_from_slice(&crc_input);
        out.extend_from_slice(&crc32(&crc_input).to_be_bytes());
    }
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

/// Peak resident memory since the last reset, in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with("VmHWM:"))?.split_whitespace().nth(1)?.parse().ok()
}

fn reset_peak(pid: u32) {
    let _ = std::fs::write(format!("/proc/{pid}/clear_refs"), "5");
}

fn mib_per_sec(bytes: usize, d: Duration) -> f64 {
    (bytes as f64 / 1_048_576.0 / d.as_secs_f64().max(1e-9) * 10.0).round() / 10.0
}

pub async fn run(target: &Target, opts: &FilesOptions) -> anyhow::Result<Report> {
    let pair = setup::pairs(target, 1).await?.into_iter().next().context("one pair")?;
    let (sender, reader, chat) = (Arc::new(pair.a), Arc::new(pair.b), pair.chat);
    sender.page(&format!("/chats/{chat}")).await?;
    let rss = |pid: Option<u32>| pid.and_then(crate::rss_kib).map(|k| k / 1024);
    let rss_before = rss(opts.server_pid);

    // A big file, up and down.
    let big: Vec<u8> = (0..opts.big_bytes).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    if let Some(pid) = opts.server_pid {
        reset_peak(pid);
    }
    let t0 = Instant::now();
    upload(&sender, chat, "big.bin", &big).await?;
    let big_up = t0.elapsed();
    drop(big);
    let link = links(&reader, chat).await?.pop().context("the big file's link")?;
    let t0 = Instant::now();
    let got = download(&reader, &link).await?;
    let big_down = t0.elapsed();
    if got != opts.big_bytes {
        bail!("downloaded {got} of {} bytes", opts.big_bytes);
    }
    let big_peak = opts.server_pid.and_then(peak_kib).map(|k| k / 1024);

    // Small photos, several at a time.
    let photos: Arc<Vec<Vec<u8>>> = Arc::new((0..opts.photos).map(|i| png(320, 240, i as u32 + 1)).collect());
    let photo_bytes: usize = photos.iter().map(Vec::len).sum();
    if let Some(pid) = opts.server_pid {
        reset_peak(pid);
    }
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..opts.concurrency {
        let (sender, photos, n) = (sender.clone(), photos.clone(), opts.concurrency);
        tasks.push(tokio::spawn(async move {
            for i in (w..photos.len()).step_by(n) {
                upload(&sender, chat, &format!("photo-{i}.png"), &photos[i]).await?;
            }
            Ok::<_, anyhow::Error>(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let photos_up = t0.elapsed();
    // The chat page lists the newest messages only: with more photos than it shows, the
    // big file and the first photos are on older pages; the rate is the same for those.
    let all = links(&reader, chat).await?;
    let photo_links: Vec<String> = all.into_iter().filter(|l| *l != link).collect();
    let t0 = Instant::now();
    let mut down_bytes = 0;
    for link in &photo_links {
        down_bytes += download(&reader, &format!("{link}/thumbnail")).await?;
        down_bytes += download(&reader, link).await?;
    }
    let photos_down = t0.elapsed();
    let photos_peak = opts.server_pid.and_then(peak_kib).map(|k| k / 1024);
    let ok = photo_links.len() == opts.photos.min(CHAT_PAGE_MESSAGES);

    let big_mib = opts.big_bytes as f64 / 1_048_576.0;
    let json = json!({
        "scenario": "files",
        "big_mib": big_mib, "big_up_s": big_up.as_secs_f64(), "big_up_mib_s": mib_per_sec(opts.big_bytes, big_up),
        "big_down_s": big_down.as_secs_f64(), "big_down_mib_s": mib_per_sec(opts.big_bytes, big_down),
        "photos": opts.photos, "photo_kib_each": photo_bytes / opts.photos.max(1) / 1024, "concurrency": opts.concurrency,
        "photos_up_per_s": (opts.photos as f64 / photos_up.as_secs_f64().max(1e-9) * 10.0).round() / 10.0,
        "photos_down_mib_s": mib_per_sec(down_bytes, photos_down),
        "server_rss_mib": { "before": rss_before, "peak_big": big_peak, "peak_photos": photos_peak },
        "photos_listed": photo_links.len(), "ok": ok,
    });
    let text = format!(
        "files: {big_mib:.0} MiB up in {:.2} s ({} MiB/s), down in {:.2} s ({} MiB/s)\n  {} photos of {} KiB, {} at a time: {:.1} photos/s up; previews + full pictures down at {} MiB/s\n  server RSS: before {:?} MiB, peak during the big file {:?} MiB, during the photos {:?} MiB",
        big_up.as_secs_f64(),
        mib_per_sec(opts.big_bytes, big_up),
        big_down.as_secs_f64(),
        mib_per_sec(opts.big_bytes, big_down),
        opts.photos,
        photo_bytes / opts.photos.max(1) / 1024,
        opts.concurrency,
        opts.photos as f64 / photos_up.as_secs_f64().max(1e-9),
        mib_per_sec(down_bytes, photos_down),
        rss_before,
        big_peak,
        photos_peak,
    );
    Ok(Report { text, json, ok })
}
