//! The chat page's reads in one or two statements (issue 19, `pages`): the history with
//! its decorations in one statement, the head of the chat with the list beside it in
//! another. Each is compared with the reads it replaced, which the other paths (polling,
//! the live stream) still use, on a chat where every decoration occurs.

use chaat::models::chats::{self, Membership};
use chaat::models::messages::{self, Page};
use chaat::models::{attachments as files, Seq};
use reqwest::StatusCode;
use uuid::Uuid;

use crate::attachments::{png_with_text_chunk, send_files};
use crate::helpers::{has, select, user_id, Actor, TestApp};

async fn post_ok(who: &Actor, path: &str, form: &[(&str, &str)]) {
    let resp = who.post(path, form).await;
    assert!(resp.status().is_redirection() || resp.status().is_success(), "{path}: {}", resp.status());
}

/// A group whose history holds every decoration: mentions (of members and of no one),
/// reactions by several people in an order of their own, a reply to a message later
/// deleted and one to a message still there, an edited message, a deleted one that had
/// reactions and a mention, a photo and a file, a message of files alone.
async fn decorated_group(app: &TestApp) -> (Actor, Actor, Actor, Uuid) {
    let alice = app.signed_up("alice").await;
    let bob = app.signed_up("bob").await;
    let carol = app.signed_up("carol").await;
    alice.befriend(&bob).await;
    alice.befriend(&carol).await;
    let chat = alice.create_group("crew", &["bob", "carol"]).await;
    let msgs = format!("/chats/{chat}/messages");
    let at = |seq: i64, action: &str| format!("/chats/{chat}/messages/{seq}/{action}");
    // Seq 1 is the group's first line ("alice created the group").
    alice.send(chat, "hello @bob and @Carol, not @dave").await; // 2
    bob.send(chat, "to be deleted, @alice").await; // 3
    post_ok(&carol, &msgs, &[("text", "answering the deleted one"), ("client_id", &Uuid::new_v4().to_string()), ("reply_to", "3")]).await; // 4
    post_ok(&bob, &msgs, &[("text", "answering the first"), ("client_id", &Uuid::new_v4().to_string()), ("reply_to", "2")]).await; // 5
    let png = png_with_text_chunk(40, 30);
    let sent = send_files(&alice, chat, "with files", &[("shot.png", &png), ("notes.txt", b"plain text")]).await;
    assert!(sent.status().is_redirection(), "{}", sent.status()); // 6
    let sent = send_files(&carol, chat, "", &[("only.txt", b"a file alone")]).await;
    assert!(sent.status().is_redirection(), "{}", sent.status()); // 7
    alice.send(chat, "typo hree").await; // 8
    post_ok(&alice, &at(8, "edit"), &[("text", "typo here, @bob")]).await;
    for (who, seq, emoji) in [(&carol, 2, "👍"), (&bob, 2, "🎉"), (&alice, 2, "👍"), (&bob, 3, "👍"), (&alice, 6, "❤️"), (&bob, 5, "😂")]
    {
        post_ok(who, &at(seq, "reactions"), &[("emoji", emoji)]).await;
    }
    post_ok(&bob, &at(3, "delete"), &[]).await;
    (alice, bob, carol, chat)
}

fn membership(app: &TestApp, who: &str, chat: Uuid) -> Membership {
    chats::find_for_participant(&mut app.conn(), user_id(app, who).into(), chat.into()).unwrap().expect("a participant")
}

#[actix_web::test]
async fn the_one_statement_history_decorates_as_the_separate_reads_do() {
    let app = TestApp::spawn().await;
    let (_alice, _bob, _carol, chat) = decorated_group(&app).await;
    let me = membership(&app, "carol", chat);
    let mut conn = app.conn();

    let page = messages::page_before(&mut conn, &me, Seq::END, 51).unwrap();
    // The reads the page used before: the messages decorated by their own queries, then
    // the files of the page.
    let separate = messages::after(&mut conn, &me, Seq::ZERO, 200).unwrap();
    let ids: Vec<_> = separate.iter().map(|m| m.message_id).collect();
    let separate = Page { messages: separate, files: files::for_messages(&mut conn, &me, &ids).unwrap() };
    assert_eq!(page, separate);

    // And the comparison compared something: every decoration is there.
    let by_seq = |s: i64| page.messages.iter().find(|m| m.seq.get() == s).unwrap();
    assert_eq!(page.messages.len(), 8);
    let first = by_seq(2);
    assert_eq!(first.mentions, ["bob", "carol"]);
    let reactions: Vec<(&str, Vec<&str>)> =
        first.reactions.iter().map(|r| (r.emoji.as_str(), r.people.iter().map(|(_, n)| n.as_str()).collect())).collect();
    assert_eq!(reactions, [("👍", vec!["carol", "alice"]), ("🎉", vec!["bob"])]);
    let deleted = by_seq(3);
    assert!(deleted.deleted && deleted.text.is_empty() && deleted.reactions.is_empty() && deleted.mentions.is_empty());
    let quote = by_seq(4).quote.as_ref().unwrap();
    assert!(quote.deleted && quote.excerpt.is_empty());
    let quote = by_seq(5).quote.as_ref().unwrap();
    assert!(!quote.deleted && quote.sender_name == "alice" && quote.excerpt.starts_with("hello @bob"));
    assert!(by_seq(8).edited && by_seq(8).mentions == ["bob"]);
    let names: Vec<&str> = page.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["shot.png", "notes.txt", "only.txt"]);
    assert_eq!((page.files[0].thumb_width, page.files[1].thumb_width), (Some(40), None));
    assert!(page.files.iter().take(2).all(|f| f.message_id == by_seq(6).message_id));

    // A page that ends before the chat does: the same messages as the separate reads.
    let older = messages::page_before(&mut conn, &me, Seq::new(5).unwrap(), 2).unwrap();
    let seqs: Vec<i64> = older.messages.iter().map(|m| m.seq.get()).collect();
    assert_eq!(seqs, [3, 4]);
    assert_eq!(older.messages[..], separate.messages[2..4]);
}

#[actix_web::test]
async fn the_head_from_the_list_is_the_chat_as_looked_up_and_opening_reads_it() {
    let app = TestApp::spawn().await;
    let (alice, bob, _carol, chat) = decorated_group(&app).await;
    let dm = bob.open_direct("alice").await;
    alice.send(dm, "psst @bob").await;
    let (bob_id, mut conn) = (user_id(&app, "bob"), app.conn());

    // The head is the chat as `find_for_participant` sees it, with the list beside it.
    let (opened, list, counts) = chats::open_with_list(&mut conn, bob_id.into(), chat.into(), false).unwrap().unwrap();
    let looked_up = membership(&app, "bob", chat);
    assert_eq!(format!("{:?}", opened.membership), format!("{looked_up:?}"));
    assert!(!opened.read_moved && opened.blocked.is_empty() && opened.muted_until.is_none());
    let (same_list, same_counts) = chats::list_for_user(&mut conn, bob_id.into()).unwrap();
    assert_eq!(format!("{list:?} {counts:?}"), format!("{same_list:?} {same_counts:?}"));
    assert_eq!(list.len(), 2);
    assert!(counts.unread_messages > 0 && list.iter().all(|r| r.unread > 0));

    // Opening reads the chat: the list and the badges say what a re-read says.
    let (opened, list, counts) = chats::open_with_list(&mut conn, bob_id.into(), chat.into(), true).unwrap().unwrap();
    assert!(opened.read_moved && opened.membership.chat().last_read_seq == opened.membership.chat().last_seq);
    let (reread, reread_counts) = chats::list_for_user(&mut conn, bob_id.into()).unwrap();
    assert_eq!(format!("{list:?} {counts:?}"), format!("{reread:?} {reread_counts:?}"));
    assert_eq!(counts.unread_messages, 1, "the direct chat's message only");
    // The direct chat's head: can send while friends, the other person named.
    let (opened, _, _) = chats::open_with_list(&mut conn, bob_id.into(), dm.into(), false).unwrap().unwrap();
    assert!(opened.membership.chat().can_send && opened.membership.chat().other_name.as_deref() == Some("alice"));
    // Nobody else gets a head.
    let dave = app.signed_up("dave").await;
    assert!(chats::open_with_list(&mut conn, user_id(&app, "dave").into(), chat.into(), true).unwrap().is_none());
    let (status, _) = dave.get_page(&format!("/chats/{chat}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The /chats page's list and friends in one statement: as the two reads it replaced.
    let alice_id = user_id(&app, "alice").into();
    let (list, counts, friends) = chats::list_with_friends(&mut conn, alice_id).unwrap();
    let (alone, alone_counts) = chats::list_for_user(&mut conn, alice_id).unwrap();
    assert_eq!(format!("{list:?} {counts:?}"), format!("{alone:?} {alone_counts:?}"));
    assert_eq!(friends, chaat::models::friends::list_of(&mut conn, alice_id).unwrap());
    let names: Vec<&str> = friends.iter().map(|f| f.username.as_str()).collect();
    assert_eq!((list.len(), names), (2, vec!["bob", "carol"]));
    let (list, _, friends) = chats::list_with_friends(&mut conn, user_id(&app, "dave").into()).unwrap();
    assert!(list.is_empty() && friends.is_empty());

    // The page itself: the list beside it with no unread for this chat, the badge in the title.
    let (status, body) = bob.get_page(&format!("/chats/{dm}")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(has(&body, &format!("#chat-{dm} a[aria-current=\"page\"]")));
    assert!(!has(&body, &format!("#chat-{dm} .badge")), "opened: read");
    assert!(select(&body, "title").iter().all(|t| !t.contains('(')), "nothing unread is left: {:?}", select(&body, "title"));
}
