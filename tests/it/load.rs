//! Smoke test of the load generator (`chaat_load`, issue 7): a short `dm` and `pages`
//! run against the real app must lose nothing and meet no error. Speed is not asserted.

#![allow(clippy::expect_used)]

use std::time::Duration;

use chaat_load::dm::DmOptions;
use chaat_load::pages::PagesOptions;
use chaat_load::Target;

use crate::helpers::{test_settings, TestApp};

fn target(app: &TestApp) -> Target {
    let mut t = Target::new(&app.address).expect("127.0.0.1");
    t.signup_concurrency = 4;
    t
}

#[actix_web::test]
async fn a_short_dm_run_loses_no_message() {
    let app = TestApp::spawn_with(test_settings()).await;
    let opts = DmOptions { pairs: 3, duration: Duration::from_secs(3), max_messages: 2_000, grace: Duration::from_secs(5) };
    let report = chaat_load::dm::run(&target(&app), &opts).await.expect("dm set up");
    println!("{}\n{}", report.text, report.json);
    assert_eq!(report.json["lost"], 0, "{}", report.text);
    assert_eq!(report.json["errors"], 0, "{}", report.text);
    assert_eq!(report.json["stream_errors"], 0, "{}", report.text);
    assert!(report.json["acked"].as_u64().unwrap_or(0) > 0, "{}", report.text);
    assert!(report.ok);
}

#[actix_web::test]
async fn a_short_pages_run_has_no_error() {
    let app = TestApp::spawn_with(test_settings()).await;
    // As browsers ask (the default), then as the scenario did before its knob: the bytes
    // counted are those on the wire, compressed or not.
    let browser = Some(chaat_load::pages::BROWSER_ACCEPT_ENCODING.to_string());
    let mut chat_page_bytes = Vec::new();
    for accept_encoding in [browser, None] {
        let opts =
            PagesOptions { pairs: 2, history: 50, concurrency: 8, duration: Duration::from_secs(3), max_requests: 5_000, accept_encoding };
        let report = chaat_load::pages::run(&target(&app), &opts).await.expect("pages set up");
        println!("{}\n{}", report.text, report.json);
        assert_eq!(report.json["errors"], 0, "{}", report.text);
        assert!(report.json["requests"].as_u64().unwrap_or(0) > 0, "{}", report.text);
        assert!(report.ok);
        let coding = if opts.accept_encoding.is_some() { "gzip" } else { "" };
        assert_eq!(report.json["chat_page_coding"], coding, "{}", report.text);
        assert_eq!(report.json["chat_list_coding"], coding, "{}", report.text);
        chat_page_bytes.push(report.json["chat_page_body_bytes"].as_u64().unwrap_or(0));
    }
    assert!(chat_page_bytes[0] > 0 && chat_page_bytes[0] * 5 < chat_page_bytes[1], "{chat_page_bytes:?}");
}

#[test]
fn only_127_0_0_1_is_accepted() {
    for base in ["http://localhost:8080", "http://10.0.0.1:80", "https://127.0.0.1:8443", "http://127.0.0.1"] {
        assert!(Target::new(base).is_err(), "{base}");
    }
    assert_eq!(Target::new("http://127.0.0.1:8080/").expect("loopback").base, "http://127.0.0.1:8080");
}
