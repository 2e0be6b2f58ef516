//! Display pictures: upload, re-encoding, default avatars, caching.

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;

use crate::helpers::{assert_redirect, count, user_id, Client, TestApp};

fn png_with_text_chunk(width: u32, height: u32) -> Vec<u8> {
    let img = image::DynamicImage::new_rgb8(width, height);
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    // Add a tEXt chunk (metadata) right after IHDR: it must not survive re-encoding.
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

async fn upload(client: &Client, bytes: Vec<u8>, file_name: &str) -> reqwest::Response {
    let token = client.csrf_token().await;
    let form = Form::new()
        .text("csrf_token", token)
        .part("picture", Part::bytes(bytes).file_name(file_name.to_string()).mime_str("image/png").unwrap());
    client.http.post(client.url("/settings/display-picture")).multipart(form).send().await.unwrap()
}

#[actix_web::test]
async fn an_uploaded_picture_is_reencoded_square_without_metadata() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let original = png_with_text_chunk(900, 600);
    assert!(original.windows(8).any(|w| w == b"tEXtComm"));
    assert_redirect(&upload(&alice, original, "me.png").await, "/settings?done=picture");

    let user_id = user_id(&app, "alice");
    let resp = alice.get(&format!("/display-pictures/{user_id}")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let etag = resp.headers().get("etag").unwrap().to_str().unwrap().to_string();
    assert!(resp.headers().get("cache-control").is_some());
    let bytes = resp.bytes().await.unwrap();
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (512, 512));
    assert!(!bytes.windows(6).any(|w| w == b"secret"), "metadata stripped");
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM users WHERE display_picture LIKE '/display-pictures/%'"), 1);

    let cached = alice.http.get(alice.url(&format!("/display-pictures/{user_id}"))).header("If-None-Match", &etag).send().await.unwrap();
    assert_eq!(cached.status(), StatusCode::NOT_MODIFIED);
}

#[actix_web::test]
async fn people_without_a_picture_get_a_generated_one() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    app.signed_up("bob").await;
    let resp = alice.get(&format!("/display-pictures/{}", user_id(&app, "bob"))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers().get("content-type").unwrap(), "image/svg+xml");
    assert!(resp.headers().get("etag").is_some());
    assert!(resp.text().await.unwrap().contains(">B<"));
    assert_eq!(alice.get("/display-pictures/not-a-uuid").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(alice.get(&format!("/display-pictures/{}", uuid::Uuid::now_v7())).await.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn a_file_that_is_not_a_picture_is_refused_next_to_the_field() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let resp = upload(&alice, b"#!/bin/sh\necho not an image\n".to_vec(), "x.png").await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(resp.text().await.unwrap().contains("field-error"));
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM display_pictures"), 0);
}

#[actix_web::test]
async fn an_oversized_upload_is_refused() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let resp = upload(&alice, vec![0u8; 6 * 1024 * 1024], "big.png").await;
    assert!(resp.status().is_client_error(), "{}", resp.status());
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM display_pictures"), 0);
}

#[actix_web::test]
async fn an_upload_without_the_csrf_token_is_refused() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let form = Form::new().part("picture", Part::bytes(png_with_text_chunk(10, 10)).file_name("a.png"));
    let resp = alice.http.post(alice.url("/settings/display-picture")).multipart(form).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(count(&mut app.conn(), "SELECT count(*) AS n FROM display_pictures"), 0);
}
