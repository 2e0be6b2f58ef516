//! The URL table's matching (routes/mod.rs): the chat's, a message's, a person's, an
//! attachment's and a friend request's URLs are grouped in scopes (one compiled regex per
//! scope instead of one per route, issue 19). What must not change with that: every URL
//! still reaches its handler with its path's parts, and a method no route takes, a
//! trailing slash or a path one segment short is still the app's 404.

use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::{alice_and_bob, TestApp};

#[actix_web::test]
async fn scoped_urls_reach_their_handlers_and_anything_else_is_404() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    alice.send(chat, "hello").await;

    // Each handler, with the parts of its path (the chat, then the message's seq).
    for ok in [
        format!("/chats/{chat}"),
        format!("/chats/{chat}/messages"),
        format!("/chats/{chat}/messages/1/edit"),
        format!("/chats/{chat}/messages/1/history"),
        format!("/chats/{chat}/messages/1/delete"),
        format!("/chats/{chat}/messages/1/reactions"),
        format!("/users/{}", bob.name),
    ] {
        assert_eq!(alice.get(&ok).await.status(), StatusCode::OK, "{ok}");
    }
    // Bob may not edit Alice's message (403), and message 2 has no history (404): the
    // handlers got the chat and the seq.
    assert_eq!(bob.get(&format!("/chats/{chat}/messages/1/edit")).await.status(), StatusCode::FORBIDDEN);
    assert_eq!(alice.get(&format!("/chats/{chat}/messages/2/history")).await.status(), StatusCode::NOT_FOUND);
    let sent = alice.post(&format!("/chats/{chat}/read"), &[("seq", "1")]).await;
    assert!(sent.status().is_success() || sent.status().is_redirection(), "{}", sent.status());

    // POST-only URLs asked with GET, a trailing slash, a path one segment short, a
    // segment no route has: the app's 404, as when each route had a regex of its own.
    let request = Uuid::new_v4();
    for missing in [
        format!("/chats/{chat}/"),
        format!("/chats/{chat}/read"),
        format!("/chats/{chat}/typing"),
        format!("/chats/{chat}/leave"),
        format!("/chats/{chat}/messages/1"),
        format!("/chats/{chat}/messages/1/"),
        format!("/chats/{chat}/messages/1/nothing"),
        format!("/chats/{chat}/nothing"),
        format!("/users/{}/block", bob.name),
        format!("/users/{}/", bob.name),
        format!("/friend-requests/{request}"),
        format!("/friend-requests/{request}/accept"),
        format!("/attachments/{request}/nothing"),
        "/chats/direct".to_string(),
    ] {
        assert_eq!(alice.get(&missing).await.status(), StatusCode::NOT_FOUND, "{missing}");
    }
}
