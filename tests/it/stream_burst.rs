//! The stream-open burst (issue 19): many tabs opening their streams at once against a
//! small pool wait their turn in the pool's stream lane (`db::run_stream`) and share one
//! inbox read per person; none is refused with a 503 because the pool was only busy,
//! and every one gets its first event (the badges).

use std::time::Duration;

use chaat::config::Settings;
use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::helpers::sse::EventStream;
use crate::helpers::{alice_and_bob, test_settings, Actor, TestApp};

const WAIT: Duration = Duration::from_secs(30);
/// Streams each of three people opens at once.
const PER_PERSON: usize = 40;

#[actix_web::test]
async fn a_burst_of_streams_against_a_small_pool_is_never_refused_and_each_gets_its_badges() {
    // Two connections, and a page's wait short enough that the burst outlasts it many
    // times over: before the stream lane, most of these streams were refused (503) or
    // ended at once (their inbox read timed out).
    let settings = Settings { db_pool_size: 2, db_wait_ms: 200, streams_per_person: 1000, streams_per_addr: 1000, ..test_settings() };
    let app = TestApp::spawn_with(settings).await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    let carol = app.signed_up("carol").await;
    assert_eq!(alice.send(chat, "hello").await.status(), StatusCode::SEE_OTHER);
    let chat_events = format!("/chats/{chat}/events");
    let opens: Vec<(&Actor, &str)> =
        (0..PER_PERSON).flat_map(|_| [(&alice, chat_events.as_str()), (&bob, chat_events.as_str()), (&carol, "/events")]).collect();

    let answers = join_all(opens.iter().map(|(who, path)| EventStream::request(who, path, None))).await;
    let refused: Vec<StatusCode> = answers.iter().map(|r| r.status()).filter(|s| *s != StatusCode::OK).collect();
    assert!(refused.is_empty(), "{} of {} streams refused: {refused:?}", refused.len(), opens.len());

    let firsts = join_all(answers.into_iter().map(|resp| async move {
        let mut stream = EventStream::from_response(resp);
        stream.next_named(WAIT).await.map(|e| (e.event, e.data, stream))
    }))
    .await;
    let mut unread = vec![];
    for (i, first) in firsts.into_iter().enumerate() {
        let (name, data, _stream) = first.unwrap_or_else(|| panic!("stream {i} ({}) got no first event", opens[i].1));
        assert_eq!(name.as_deref(), Some("badges"), "stream {i}: badges first");
        unread.push((opens[i].0.name.clone(), data.contains("data-unread=\"1\"")));
    }
    // Each person's shared reading is theirs: bob has alice's message unread, alice and
    // carol nothing.
    for (who, has_one) in unread {
        assert_eq!(has_one, who == "bob", "{who}'s badges");
    }
}
