//! Search kept by the database (issue 16): the stored search column of migration 000023
//! is written in the message's own transaction (a message is found the moment its send
//! is answered, an edited text is found by its new words only), and prefixes of
//! usernames are served by an index.

use diesel::prelude::*;
use diesel::sql_types::{Text, Uuid as SqlUuid};
use reqwest::StatusCode;
use scraper::{Html, Selector};

use crate::helpers::{alice_and_bob, count, Actor, TestApp};

/// The texts of the messages `who` finds for `q`.
async fn found(who: &Actor, q: &str) -> Vec<String> {
    let path = format!("/search?q={}", url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>());
    let (status, html) = who.get_page(&path).await;
    assert_eq!(status, StatusCode::OK, "{q:?}: {html}");
    let sel = Selector::parse("#search-messages .search-snippet").unwrap();
    Html::parse_document(&html).select(&sel).map(|e| e.text().collect::<String>()).collect()
}

#[actix_web::test]
async fn a_message_is_found_right_after_its_send_is_answered() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    // Each search is the very next request after the send's 303, by the other person
    // too: nothing (no job, no refresh) stands between the commit and the index.
    for (i, word) in ["kumquat", "Привет", "東京都", "ευχαριστώ", "مرحبا"].iter().enumerate() {
        let text = format!("{word} number{i}");
        let sent = alice.send(chat, &text).await;
        assert_eq!(sent.status(), StatusCode::SEE_OTHER, "{text}");
        assert_eq!(found(&bob, &format!("number{i}")).await, vec![text.clone()], "bob, at once");
        assert_eq!(found(&alice, word).await, vec![text], "alice, at once");
    }
}

#[actix_web::test]
async fn the_search_column_follows_the_text_in_the_same_transaction() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    assert_eq!(alice.send(chat, "the old wording").await.status(), StatusCode::SEE_OTHER);
    let mut conn = app.conn();
    // The column is the database's (generated, stored): nobody can write it, and a
    // changed text (as an edit changes it) changes it in the same statement.
    let written = diesel::sql_query("UPDATE messages SET search_vector = to_tsvector('simple', 'forged')").execute(&mut conn);
    assert!(written.is_err(), "a generated column cannot be written");
    conn.transaction::<_, diesel::result::Error, _>(|conn| {
        diesel::sql_query("UPDATE messages SET text = 'the new phrasing' WHERE chat_id = $1 AND text = 'the old wording'")
            .bind::<SqlUuid, _>(chat)
            .execute(conn)?;
        let n = count(conn, "SELECT count(*) AS n FROM messages WHERE search_vector @@ to_tsquery('simple', 'phrasing')");
        assert_eq!(n, 1, "inside the transaction, before its commit");
        Ok(())
    })
    .unwrap();
    assert_eq!(found(&alice, "phrasing").await, vec!["the new phrasing".to_string()]);
    assert!(found(&alice, "wording").await.is_empty(), "the old words are gone");
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) AS n FROM pg_indexes WHERE indexname = 'messages_search_idx' AND indexdef LIKE '%gin (search_vector)%'"
        ),
        1
    );
}

#[actix_web::test]
async fn a_username_prefix_is_found_through_an_index() {
    let app = TestApp::spawn().await;
    let mut conn = app.conn();
    diesel::sql_query(
        "INSERT INTO users (user_id, username, dynamic_salt, pwd_hash) \
         SELECT gen_random_uuid(), 'user' || n, 'x', 'x' FROM generate_series(1, 5000) AS n",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query("ANALYZE users").execute(&mut conn).unwrap();
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }
    // The unique key's index serves a prefix only under a byte-order collation (the
    // private cluster's); the `text_pattern_ops` index does under any. Without the
    // first (in a transaction rolled back), the second must do it.
    let mut plan = String::new();
    let outcome = conn.transaction::<(), diesel::result::Error, _>(|conn| {
        diesel::sql_query("ALTER TABLE users DROP CONSTRAINT users_username_key").execute(conn)?;
        plan = diesel::sql_query("EXPLAIN SELECT user_id FROM users WHERE username LIKE 'user12%'")
            .load::<Line>(conn)?
            .into_iter()
            .map(|l| l.line + "\n")
            .collect();
        Err(diesel::result::Error::RollbackTransaction)
    });
    assert!(matches!(outcome, Err(diesel::result::Error::RollbackTransaction)), "{outcome:?}");
    assert!(plan.contains("users_username_pattern_idx") && !plan.contains("Seq Scan"), "{plan}");
    assert_eq!(count(&mut conn, "SELECT count(*) AS n FROM pg_constraint WHERE conname = 'users_username_key'"), 1, "rolled back");
}

#[actix_web::test]
async fn one_sender_is_searched_by_an_index_never_a_scan_of_all_messages() {
    let app = TestApp::spawn().await;
    let (_alice, _bob, chat) = alice_and_bob(&app.address).await;
    let (alice, bob) = (crate::helpers::user_id(&app, "alice"), crate::helpers::user_id(&app, "bob"));
    let mut conn = app.conn();
    // 20,000 messages, half of them alice's, a tenth of hers with a common word (and
    // words enough for the planner to estimate a prefix: it needs 100 or more most
    // common ones).
    diesel::sql_query(
        "INSERT INTO messages (message_id, chat_id, seq, sender, text) \
         SELECT gen_random_uuid(), $1, 1000 + n, CASE WHEN n % 2 = 0 THEN $2 ELSE $3 END, \
                CASE WHEN n % 20 = 0 THEN 'common ' ELSE '' END || 'words number ' || n || ' of w' || n % 300 || ' x' || n % 97 \
           FROM generate_series(1, 20000) AS n",
    )
    .bind::<SqlUuid, _>(chat)
    .bind::<SqlUuid, _>(alice)
    .bind::<SqlUuid, _>(bob)
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query("VACUUM ANALYZE messages").execute(&mut conn).unwrap();

    use chaat::models::search::{messages, Wanted};
    let wanted = Wanted::Text { tsquery: "'common':*".into(), from: vec![alice.into()] };
    let hits = messages(&mut conn, bob.into(), None, &wanted, None, 21).unwrap();
    assert_eq!(hits.len(), 21);
    assert!(hits.iter().all(|h| h.sender == alice.into()));
    #[derive(QueryableByName)]
    struct Name {
        #[diesel(sql_type = Text)]
        name: String,
    }
    let name = diesel::sql_query("SELECT name FROM pg_prepared_statements WHERE statement LIKE '%m.search_vector @@%'")
        .get_result::<Name>(&mut conn)
        .unwrap()
        .name;
    #[derive(QueryableByName)]
    struct Line {
        #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
        line: String,
    }
    diesel::sql_query("SET plan_cache_mode = force_custom_plan").execute(&mut conn).unwrap();
    // The name and ids are ours, not input: formatting them in is safe here.
    let sql = format!(
        "EXPLAIN EXECUTE {name}('{bob}', '''common'':*', NULL, NULL, '{{{alice}}}', '{{{alice}}}', '{{{alice}}}', '{{{alice}}}', '{{{alice}}}', NULL, NULL, 21)"
    );
    let plan: String = diesel::sql_query(sql).load::<Line>(&mut conn).unwrap().into_iter().map(|l| l.line + "\n").collect();
    // The sender is an equality in the custom plan (models/search.rs), so at scale the
    // planner may walk `messages_sender_idx` newest first (BENCHMARKS.md); at this size
    // it reads the word's matches through GIN. Never the whole table.
    assert!(plan.contains("sender = '"), "one sender is an equality: {plan}");
    assert!(!plan.contains("Seq Scan on messages"), "{plan}");
}
