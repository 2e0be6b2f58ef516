//! A page of history read as the chat page reads it (`messages::page_before`, then
//! `find` for one message): the senders' names, a deleted account's messages, the
//! reactions in the order they were made, the mentions and the files, all from the one
//! decorations statement (`models::decorations`, issue 19 `plans`), which replaced a
//! join of `users` per message and two statements.

use chaat::domain::{Emoji, GroupName, MessageText};
use chaat::models::chats::{self, Membership};
use chaat::models::groups::{self, Created};
use chaat::models::message_batch::{self, Outgoing};
use chaat::models::messages::{self, MessageKind, MessageView, SendOutcome};
use chaat::models::{account, reactions, ChatId, MessageId, Seq, UserId};
use diesel::{Connection, PgConnection};

use crate::attachments::send_files;
use crate::batch::{pair, user};
use crate::batch_outcomes::function_settings;
use crate::helpers::{test_settings, TestApp};

fn send(conn: &mut PgConnection, chat: ChatId, sender: UserId, text: &str) -> Seq {
    send_reply(conn, chat, sender, text, None)
}

fn send_reply(conn: &mut PgConnection, chat: ChatId, sender: UserId, text: &str, reply_to: Option<Seq>) -> Seq {
    let out = message_batch::send_all(
        conn,
        &[Outgoing {
            chat_id: chat,
            message_id: MessageId::new_v7(),
            sender,
            text: MessageText::parse(text).unwrap(),
            client_id: None,
            reply_to,
        }],
    )
    .unwrap();
    match &out[0] {
        Ok(SendOutcome::Sent(m)) => m.seq,
        other => panic!("expected sent, got {other:?}"),
    }
}

fn react(conn: &mut PgConnection, who: &Membership, seq: Seq, emoji: &str) {
    reactions::toggle(conn, who, seq, &Emoji::parse(emoji).unwrap()).unwrap().unwrap();
}

/// (sender's name, text, [(emoji, [who])], mentions) of a message.
type Shown = (String, String, Vec<(String, Vec<String>)>, Vec<String>);

/// Each text of the page (not the group's system lines) as shown.
fn shown(page: &[MessageView]) -> Vec<Shown> {
    page.iter()
        .filter(|m| m.kind == MessageKind::Text)
        .map(|m| {
            let reactions = m.reactions.iter().map(|r| (r.emoji.clone(), r.people.iter().map(|(_, n)| n.clone()).collect())).collect();
            (m.sender_name.clone(), m.text.clone(), reactions, m.mentions.clone())
        })
        .collect()
}

#[actix_web::test]
async fn a_page_names_its_senders_and_lists_reactions_and_mentions_in_order() {
    let app = TestApp::spawn_with(test_settings()).await;
    let url = app.db.url.clone();
    let (alice, _bob, _) = pair(&app.address, "alice", "bob").await;
    let (a, b) = (user(&url, "alice"), user(&url, "bob"));
    let mut conn = PgConnection::establish(&url).unwrap();
    // A group: mentions are recorded in groups only.
    let owner = groups::Actor { user_id: a, username: "alice" };
    let chat = match groups::create(&mut conn, owner, &GroupName::parse("crew").unwrap(), &["bob".to_string()]).unwrap() {
        Created::Group(change) => change.chat_id,
        other => panic!("expected a group, got {other:?}"),
    };
    let first = send(&mut conn, chat, a, "hi @bob");
    let second = send(&mut conn, chat, b, "hello @alice and @bob");
    send(&mut conn, chat, a, "third");
    let as_alice = chats::find_for_participant(&mut conn, a, chat).unwrap().unwrap();
    let as_bob = chats::find_for_participant(&mut conn, b, chat).unwrap().unwrap();
    // 👍 by bob, then 🎉 by alice, then 👍 by alice: the emoji in the order first
    // chosen, each with its people in the order they chose it.
    react(&mut conn, &as_bob, first, "👍");
    react(&mut conn, &as_alice, first, "🎉");
    react(&mut conn, &as_alice, first, "👍");
    react(&mut conn, &as_alice, second, "😂");

    let thumbs = || ("👍".to_string(), vec!["bob".to_string(), "alice".to_string()]);
    let party = || ("🎉".to_string(), vec!["alice".to_string()]);
    let expected = vec![
        ("alice".to_string(), "hi @bob".to_string(), vec![thumbs(), party()], vec!["bob".to_string()]),
        (
            "bob".to_string(),
            "hello @alice and @bob".to_string(),
            vec![("😂".to_string(), vec!["alice".to_string()])],
            vec!["alice".to_string(), "bob".to_string()],
        ),
        ("alice".to_string(), "third".to_string(), vec![], vec![]),
    ];
    let page = messages::page_before(&mut conn, &as_bob, Seq::END, 51).unwrap();
    assert_eq!(shown(&page), expected);
    let one = messages::find(&mut conn, &as_bob, first).unwrap().unwrap();
    assert_eq!(shown(&[one]), expected[..1]);

    // Files come with the page in the same statement, by message and in their order.
    let sent = send_files(&alice, chat.as_uuid(), "two files", &[("b.txt", &b"bb"[..]), ("a.txt", &b"a"[..])]).await;
    assert!(sent.status().is_redirection(), "{}", sent.status());
    let with_files = messages::page_before_with_files(&mut conn, &as_bob, Seq::END, 51).unwrap();
    let last = with_files.messages.last().unwrap();
    assert_eq!(last.text, "two files");
    assert_eq!(shown(&with_files.messages[..with_files.messages.len() - 1]), expected);
    let files: Vec<(MessageId, &str)> = with_files.files.iter().map(|f| (f.message_id, f.name.as_str())).collect();
    assert_eq!(files, [(last.message_id, "b.txt"), (last.message_id, "a.txt")]);
    assert!(messages::page_before_with_files(&mut conn, &as_bob, last.seq, 51).unwrap().files.is_empty());

    // Alice deletes her account: her messages stay, named "Deleted account", and her
    // reactions and the mention of her go with her row.
    account::delete(&mut conn, a, "alice").unwrap();
    let page = messages::page_before(&mut conn, &as_bob, Seq::END, 51).unwrap();
    let gone = messages::DELETED_ACCOUNT.to_string();
    assert_eq!(
        shown(&page),
        vec![
            (gone.clone(), "hi @bob".to_string(), vec![("👍".to_string(), vec!["bob".to_string()])], vec!["bob".to_string()]),
            ("bob".to_string(), "hello @alice and @bob".to_string(), vec![], vec!["bob".to_string()]),
            (gone.clone(), "third".to_string(), vec![], vec![]),
            (gone, "two files".to_string(), vec![], vec![]),
        ]
    );
}

/// Migration 000043: the quotes of replies are read through `reply_quotes()`, whose plan
/// is generic and kept for the connection (as a statement of the app it was planned on
/// every call). More reads than PostgreSQL's five custom plans, each with its quote;
/// then the quoted person deletes her account and the quote names "Deleted account".
#[actix_web::test]
async fn replies_on_a_page_quote_their_originals_read_with_a_kept_plan() {
    let app = TestApp::spawn_with(test_settings()).await;
    let url = app.db.url.clone();
    let (_alice, _bob, chat) = pair(&app.address, "alice", "bob").await;
    let chat = ChatId::from(chat);
    let (a, b) = (user(&url, "alice"), user(&url, "bob"));
    let mut conn = PgConnection::establish(&url).unwrap();
    assert_eq!(function_settings(&mut conn, "reply_quotes"), "plan_cache_mode=force_generic_plan");

    let as_bob = chats::find_for_participant(&mut conn, b, chat).unwrap().unwrap();
    let long = "x".repeat(messages::QUOTE_CHARS + 40);
    for round in 0..7 {
        let said = if round == 3 { long.clone() } else { format!("question {round}") };
        let asked = send(&mut conn, chat, a, &said);
        let answer = send_reply(&mut conn, chat, b, "answer", Some(asked));
        let page = messages::page_before(&mut conn, &as_bob, Seq::END, 51).unwrap();
        let last = page.last().unwrap();
        assert_eq!(last.seq, answer);
        let quote = last.quote.as_ref().expect("a reply shows its quote");
        let excerpt: String = said.chars().take(messages::QUOTE_CHARS).collect();
        assert_eq!(
            (quote.seq, quote.sender_name.as_str(), quote.excerpt.as_str(), quote.deleted),
            (asked, "alice", excerpt.as_str(), false)
        );
    }
    account::delete(&mut conn, a, "alice").unwrap();
    let page = messages::page_before(&mut conn, &as_bob, Seq::END, 51).unwrap();
    let quote = page.last().unwrap().quote.as_ref().unwrap();
    assert_eq!((quote.sender_name.as_str(), quote.excerpt.as_str()), (messages::DELETED_ACCOUNT, "question 6"));
}

/// A send repeated with its `client_id` is answered with the first copy, named after its
/// sender (`NewMessage::repeated` reads the row without a join and looks the name up).
#[actix_web::test]
async fn a_repeated_send_answers_the_first_copy_with_its_sender_s_name() {
    let app = TestApp::spawn_with(test_settings()).await;
    let url = app.db.url.clone();
    let (_alice, _bob, chat) = pair(&app.address, "alice", "bob").await;
    let a = user(&url, "alice");
    let mut conn = PgConnection::establish(&url).unwrap();
    let client_id = uuid::Uuid::new_v4();
    let message = messages::NewMessage {
        chat_id: ChatId::from(chat),
        sender: a,
        text: "only once",
        client_id: Some(client_id),
        kind: MessageKind::Text,
        reply_to: None,
    };
    let first = match message.send(&mut conn).unwrap() {
        SendOutcome::Sent(m) => m,
        other => panic!("expected sent, got {other:?}"),
    };
    let again = match message.send(&mut conn).unwrap() {
        SendOutcome::Repeated(m) => m,
        other => panic!("expected repeated, got {other:?}"),
    };
    assert_eq!(
        (again.message_id, again.seq, again.text.as_str(), again.sender_name.as_str()),
        (first.message_id, first.seq, "only once", "alice")
    );
    assert!(messages::NewMessage { client_id: Some(uuid::Uuid::new_v4()), ..message }.repeated(&mut conn).unwrap().is_none());
}
