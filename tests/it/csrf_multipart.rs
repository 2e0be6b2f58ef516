//! The CSRF token of a multipart form is its first part, a field named `csrf_token`, read
//! by the middleware before the handler sees the body; a token in a URL is refused.

use std::time::{Duration, Instant};

use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{assert_redirect, count, user_id, Client, TestApp};

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    image::DynamicImage::new_rgb8(width, height).write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

fn picture() -> Part {
    Part::bytes(png(40, 30)).file_name("me.png").mime_str("image/png").unwrap()
}

async fn post(client: &Client, path: &str, form: Form) -> reqwest::Response {
    client.http.post(client.url(path)).multipart(form).send().await.unwrap()
}

fn pictures_stored(app: &TestApp) -> i64 {
    count(&mut app.conn(), "SELECT count(*) AS n FROM display_pictures")
}

#[actix_web::test]
async fn a_picture_with_the_token_as_the_first_part_is_stored() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let token = alice.csrf_token().await;
    let form = Form::new().text("csrf_token", token).part("picture", picture());
    assert_redirect(&post(&alice, "/settings/display-picture", form).await, "/settings?done=picture");
    assert_eq!(pictures_stored(&app), 1);
    // The handler got the whole body back: the picture after the token, intact.
    let resp = alice.get(&format!("/display-pictures/{}", user_id(&app, "alice"))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let stored = image::load_from_memory(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!((stored.width(), stored.height()), (30, 30), "cropped to a square");
}

#[actix_web::test]
async fn a_token_in_the_url_is_refused_even_beside_a_good_one() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let token = alice.csrf_token().await;
    let in_url = format!("/settings/display-picture?csrf_token={token}");

    let only_in_url = post(&alice, &in_url, Form::new().part("picture", picture())).await;
    assert_eq!(only_in_url.status(), StatusCode::FORBIDDEN, "the token only in the query string");
    let both = post(&alice, &in_url, Form::new().text("csrf_token", token.clone()).part("picture", picture())).await;
    assert_eq!(both.status(), StatusCode::FORBIDDEN, "in the URL and as the first part");
    assert_eq!(pictures_stored(&app), 0);

    // Not only uploads: a urlencoded form with the token in its URL is refused as well.
    let url = alice.url(&format!("/settings/sessions/others/logout?csrf_token={token}"));
    let plain = alice.http.post(url).form(&[("csrf_token", token.as_str())]).send().await.unwrap();
    assert_eq!(plain.status(), StatusCode::FORBIDDEN, "a plain form with the token in its URL too");
}

#[actix_web::test]
async fn a_multipart_form_without_the_right_token_first_is_refused_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let token = alice.csrf_token().await;
    let bob = app.signed_up("bob").await;
    let bobs = bob.csrf_token().await;
    let cases = [
        ("no token part", Form::new().part("picture", picture())),
        ("a wrong token", Form::new().text("csrf_token", "0".repeat(64)).part("picture", picture())),
        ("another session's token", Form::new().text("csrf_token", bobs).part("picture", picture())),
        ("the token as a later part", Form::new().part("picture", picture()).text("csrf_token", token.clone())),
        ("another field first", Form::new().text("note", "hi").text("csrf_token", token.clone()).part("picture", picture())),
        ("the token as a file", Form::new().part("csrf_token", Part::text(token.clone()).file_name("t.txt")).part("picture", picture())),
        ("a first part over 4 KiB", Form::new().text("csrf_token", format!("{token}{}", " ".repeat(4096))).part("picture", picture())),
    ];
    for (what, form) in cases {
        assert_eq!(post(&alice, "/settings/display-picture", form).await.status(), StatusCode::FORBIDDEN, "{what}");
    }
    // The htmx header does not stand in for the first part of a multipart form.
    let form = Form::new().part("picture", picture());
    let header_only = alice.http.post(alice.url("/settings/display-picture")).header("X-CSRF-Token", &token).multipart(form).send().await;
    assert_eq!(header_only.unwrap().status(), StatusCode::FORBIDDEN, "the token only in the header");
    assert_eq!(pictures_stored(&app), 0);
    // The same session still uploads with the token first.
    let form = Form::new().text("csrf_token", token).part("picture", picture());
    assert_redirect(&post(&alice, "/settings/display-picture", form).await, "/settings?done=picture");
}

/// The first part trickled a byte every 500 ms: the server stops waiting for it after the
/// form timeout (10 s), answers 408 and closes.
#[actix_web::test]
async fn a_first_part_that_never_ends_is_cut_off() {
    let app = TestApp::spawn().await;
    let alice = app.signed_up("alice").await;
    let addr = format!("127.0.0.1:{}", app.port);
    let head = format!(
        "POST /settings/display-picture HTTP/1.1\r\nHost: {addr}\r\nCookie: {cookie}\r\n\
         Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: 1000\r\n\r\n\
         --XX\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n",
        cookie = alice.cookie_header()
    );
    let mut conn = TcpStream::connect(&addr).await.unwrap();
    conn.write_all(head.as_bytes()).await.unwrap();
    let (mut reader, mut writer) = conn.into_split();
    let since = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        assert!(since.elapsed() < Duration::from_secs(20), "still open after 20 s: {:?}", String::from_utf8_lossy(&answer));
        tokio::select! {
            read = reader.read(&mut buf) => match read {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            },
            _ = tokio::time::sleep(Duration::from_millis(500)) => {
                if writer.write_all(b"a").await.is_err() {
                    break;
                }
            }
        }
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(since.elapsed() >= Duration::from_secs(9), "cut after the form timeout, not before: {:?}", since.elapsed());
    assert_eq!(pictures_stored(&app), 0);
}
