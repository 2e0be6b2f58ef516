//! History without JavaScript: `GET /chats/{id}/messages?before=` without `HX-Request`
//! is the chat page showing that page of history, with links to older and newer pages,
//! so every message can be read with JavaScript off (issue 12, contract bug 1).

use reqwest::StatusCode;

use crate::helpers::{alice_and_bob, select_attr, seqs_in, TestApp};

/// The messages a page shows and where its "older" and "newer" links lead.
async fn read_page(alice: &crate::helpers::Actor, path: &str) -> (Vec<i64>, Option<String>, Option<String>) {
    let (status, html) = alice.get_page(path).await;
    assert_eq!(status, StatusCode::OK, "{path}");
    let older = select_attr(&html, "#load-older a", "href");
    let newer = select_attr(&html, "a.newer-messages", "href");
    (seqs_in(&html), older, newer)
}

#[actix_web::test]
async fn without_javascript_history_is_walked_back_to_the_first_message_each_once() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    for n in 1..=120 {
        let sender = if n % 3 == 0 { &bob } else { &alice };
        assert_eq!(sender.send(chat, &format!("message {n}")).await.status(), StatusCode::SEE_OTHER);
    }

    // The page of `?before=72` is the 50 before seq 72, not the latest again.
    let (shown, older, newer) = read_page(&alice, &format!("/chats/{chat}/messages?before=72")).await;
    assert_eq!(shown, (22..=71).collect::<Vec<_>>());
    assert_eq!(older.as_deref(), Some(format!("/chats/{chat}/messages?before=22").as_str()));
    assert_eq!(newer.as_deref(), Some(format!("/chats/{chat}").as_str()), "the next 50 reach the end: the chat itself");

    // From the chat itself back to the first message by the "older" links alone.
    let mut seen = Vec::new();
    let mut path = format!("/chats/{chat}");
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 10, "the walk must end");
        let (shown, older, _) = read_page(&alice, &path).await;
        seen.splice(0..0, shown);
        match older {
            Some(next) => path = next,
            None => break,
        }
    }
    assert_eq!(seen, (1..=120).collect::<Vec<_>>(), "every message exactly once, in order");
    assert_eq!(pages, 3, "50 + 50 + 20");

    // And forward again by the "newer" links, back to the live chat.
    let (first_page, _, newer) = read_page(&alice, &format!("/chats/{chat}/messages?before=21")).await;
    assert_eq!(first_page, (1..=20).collect::<Vec<_>>());
    let (middle, _, newer) = read_page(&alice, &newer.expect("a newer page")).await;
    assert_eq!(middle, (21..=70).collect::<Vec<_>>());
    assert_eq!(newer.as_deref(), Some(format!("/chats/{chat}").as_str()), "then the latest: the chat itself");

    // Outsiders still get 404; htmx still gets the fragment (no page around it).
    let carol = app.signed_up("carol").await;
    assert_eq!(carol.get(&format!("/chats/{chat}/messages?before=72")).await.status(), StatusCode::NOT_FOUND);
    let fragment = alice.get_htmx(&format!("/chats/{chat}/messages?before=72")).await.text().await.unwrap();
    assert!(!fragment.contains("<html"), "htmx gets a fragment");
    assert_eq!(seqs_in(&fragment), (22..=71).collect::<Vec<_>>());
}
