//! Message search (SPEC §9, issue 16): the query language, folding of case and accents
//! in several scripts, substrings of scripts without spaces, scope (only chats I am in
//! now), paging, snippets, hostile input, and that the index does the work.

use diesel::prelude::*;
use diesel::sql_types::{Text, Uuid as SqlUuid};
use reqwest::StatusCode;
use scraper::{Html, Selector};
use uuid::Uuid;

use crate::helpers::{alice_and_bob, has, select, select_attr, user_id, Actor, TestApp};

fn path(q: &str) -> String {
    format!("/search?q={}", url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>())
}

/// The texts of the messages a result page shows, in order (markup removed).
fn texts(html: &str) -> Vec<String> {
    let doc = Html::parse_document(html);
    let sel = Selector::parse("#search-messages .search-snippet").unwrap();
    doc.select(&sel).map(|e| e.text().collect::<String>()).collect()
}

/// What `who` finds for `q` (the page must answer 200).
async fn found(who: &Actor, q: &str) -> Vec<String> {
    let (status, html) = who.get_page(&path(q)).await;
    assert_eq!(status, StatusCode::OK, "{q:?}: {html}");
    texts(&html)
}

/// `found`, sorted (several messages sent in one second have no reliable order to test).
async fn found_sorted(who: &Actor, q: &str) -> Vec<String> {
    let mut f = found(who, q).await;
    f.sort();
    f
}

fn strings(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

async fn send_all(who: &Actor, chat: Uuid, texts: &[&str]) {
    for t in texts {
        assert_eq!(who.send(chat, t).await.status(), StatusCode::SEE_OTHER, "{t}");
    }
}

#[actix_web::test]
async fn words_match_whole_or_as_prefixes_and_all_of_them_must() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    send_all(&alice, chat, &["hello world", "shell game", "help me", "world peace"]).await;
    send_all(&bob, chat, &["good morning sunshine", "morning, good people", "e-mail me at bob@example.com"]).await;

    assert_eq!(found_sorted(&alice, "hel").await, strings(&["hello world", "help me"]), "a prefix, never the inside of a word");
    assert_eq!(found_sorted(&alice, "hel wor").await, strings(&["hello world"]), "every word");
    assert_eq!(found_sorted(&bob, "WORLD").await, strings(&["hello world", "world peace"]));
    assert_eq!(found_sorted(&alice, "\"good morning\"").await, strings(&["good morning sunshine"]), "a phrase: in that order");
    assert_eq!(found_sorted(&alice, "morning good").await, strings(&["good morning sunshine", "morning, good people"]));
    assert_eq!(found_sorted(&alice, "morning -sunshine").await, strings(&["morning, good people"]), "an exclusion");
    assert_eq!(found_sorted(&alice, "morning -\"good morning\"").await, strings(&["morning, good people"]), "an excluded phrase");
    assert_eq!(found_sorted(&alice, "e-mail").await, strings(&["e-mail me at bob@example.com"]));
    assert_eq!(found_sorted(&alice, "from:BOB good").await, strings(&["good morning sunshine", "morning, good people"]));
    assert_eq!(found_sorted(&alice, "from:alice good").await, Vec::<String>::new());
    assert_eq!(found_sorted(&alice, "from:alice").await, strings(&["hello world", "shell game", "help me", "world peace"]), "from: alone");
    assert_eq!(found_sorted(&alice, "from:nobody hello").await, Vec::<String>::new(), "an unknown name finds nothing");
    assert_eq!(found_sorted(&alice, "from:<b> hello").await, Vec::<String>::new(), "nor does one that cannot be a name");
    // Malformed: read literally.
    assert_eq!(found_sorted(&alice, "\"hello").await, strings(&["hello world"]), "an unbalanced quote");
    assert_eq!(found_sorted(&alice, "- hello").await, strings(&["hello world"]), "a lone minus");
    assert_eq!(found_sorted(&alice, "hello & !world | (").await, strings(&["hello world"]), "operators are text");
    let (status, html) = alice.get_page(&path("-hello")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(select(&html, "#search-empty").concat().contains("nothing to look for"), "exclusions alone look for nothing");
}

#[actix_web::test]
async fn case_and_accents_are_folded_in_every_script() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    send_all(&alice, chat, &["привет мир", "Καλημέρα κόσμε", "ΟΔΟΣ ΕΡΜΟΥ", "un café au lait", "مرحبا بالعالم", "Straße İstanbul"]).await;

    assert_eq!(found(&alice, "ПРИВЕТ").await, vec!["привет мир"]);
    assert_eq!(found(&alice, "прив").await, vec!["привет мир"]);
    assert_eq!(found(&alice, "ΚΑΛΗΜΕΡΑ").await, vec!["Καλημέρα κόσμε"]);
    assert_eq!(found(&alice, "καλημερα").await, vec!["Καλημέρα κόσμε"]);
    assert_eq!(found(&alice, "οδός").await, vec!["ΟΔΟΣ ΕΡΜΟΥ"], "tonos and final sigma");
    assert_eq!(found(&alice, "cafe").await, vec!["un café au lait"]);
    assert_eq!(found(&alice, "CAFÉ").await, vec!["un café au lait"]);
    assert_eq!(found(&alice, "مرحبا").await, vec!["مرحبا بالعالم"]);
    assert_eq!(found(&alice, "strasse").await, vec!["Straße İstanbul"]);
    assert_eq!(found(&alice, "istanbul").await, vec!["Straße İstanbul"]);

    // The match is marked in the text as written.
    let (_, html) = alice.get_page(&path("ΚΑΛΗΜΕΡΑ")).await;
    assert_eq!(select(&html, "#search-messages mark"), vec!["<mark>Καλημέρα</mark>"]);
    let (_, html) = alice.get_page(&path("cafe")).await;
    assert_eq!(select(&html, "#search-messages mark"), vec!["<mark>café</mark>"]);
}

#[actix_web::test]
async fn scripts_without_spaces_are_found_by_substrings_of_two_characters() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    send_all(&alice, chat, &["我们在東京都见面", "タワーに行きます", "สวัสดีครับ", "東京towerで"]).await;

    assert_eq!(found_sorted(&alice, "東京").await, strings(&["我们在東京都见面", "東京towerで"]));
    assert_eq!(found(&alice, "京都").await, vec!["我们在東京都见面"], "inside a run");
    assert_eq!(found(&alice, "在東京").await, vec!["我们在東京都见面"]);
    assert_eq!(found(&alice, "東见").await, Vec::<String>::new(), "the characters must be adjacent");
    assert_eq!(found(&alice, "ワー").await, vec!["タワーに行きます"]);
    assert_eq!(found(&alice, "วัสดี").await, vec!["สวัสดีครับ"]);
    assert_eq!(found(&alice, "tower").await, vec!["東京towerで"], "a Latin word next to Han");
    let (_, html) = alice.get_page(&path("京都")).await;
    assert_eq!(select(&html, "#search-messages mark"), vec!["<mark>京都</mark>"]);
}

#[actix_web::test]
async fn only_chats_i_am_in_now_are_searched_and_never_system_lines() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    let carol = app.signed_up("carol").await;
    let dave = app.signed_up("dave").await;
    carol.befriend(&dave).await;
    let theirs = carol.open_direct(&dave).await;
    send_all(&carol, theirs, &["xylophone secret"]).await;
    send_all(&alice, chat, &["xylophone mine"]).await;
    assert_eq!(found(&alice, "xylophone").await, vec!["xylophone mine"], "never another's chat");
    assert_eq!(found(&carol, "xylophone").await, vec!["xylophone secret"]);

    alice.befriend(&carol).await;
    let group = alice.create_group("Zebra club", &[&bob, &carol]).await;
    send_all(&bob, group, &["zebra stripes"]).await;
    assert_eq!(found(&carol, "zebra").await, vec!["zebra stripes"]);
    assert_eq!(found(&carol, "created").await, Vec::<String>::new(), "system lines are never found");
    assert_eq!(found(&carol, "added").await, Vec::<String>::new());
    assert_eq!(alice.remove_member(group, &carol).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(found(&carol, "zebra").await, Vec::<String>::new(), "a removed member no longer finds the group");
    assert_eq!(bob.leave(group).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(found(&bob, "zebra").await, Vec::<String>::new(), "nor does one who left");
    assert_eq!(found(&alice, "zebra").await, vec!["zebra stripes"]);

    // chat=: one of mine narrows the search; another's is a 404 like any unknown chat.
    assert_eq!(found(&alice, "xylophone").await.len(), 1);
    let (status, html) = alice.get_page(&format!("{}&chat={group}", path("xylophone"))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(texts(&html).is_empty());
    let (status, html) = alice.get_page(&format!("{}&chat={chat}", path("xylophone"))).await;
    assert_eq!((status, texts(&html)), (StatusCode::OK, vec!["xylophone mine".to_string()]));
    assert_eq!(alice.get(&format!("{}&chat={theirs}", path("xylophone"))).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(alice.get(&format!("{}&chat={}", path("xylophone"), Uuid::new_v4())).await.status(), StatusCode::NOT_FOUND);
    assert_eq!(alice.get(&format!("{}&chat=not-a-uuid", path("xylophone"))).await.status(), StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn results_come_newest_first_twenty_a_page_each_once_and_link_to_the_message() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    for n in 1..=25 {
        assert_eq!(alice.send(chat, &format!("needle {n}")).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(bob.send(chat, &format!("hay {n}")).await.status(), StatusCode::SEE_OTHER);
    }
    let (status, first) = alice.get_page(&path("needle")).await;
    assert_eq!(status, StatusCode::OK);
    let first_texts = texts(&first);
    assert_eq!(first_texts.len(), 20);
    assert_eq!(first_texts[0], "needle 25", "newest first");
    let next = select_attr(&first, "#search-next", "href").expect("a link to older results");
    let (status, second) = alice.get_page(&next).await;
    assert_eq!(status, StatusCode::OK);
    let second_texts = texts(&second);
    assert_eq!(second_texts.len(), 5);
    assert!(select_attr(&second, "#search-next", "href").is_none(), "the last page");
    let mut all: Vec<String> = first_texts.into_iter().chain(second_texts).collect();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 25, "every match exactly once");

    // A cursor that is not one of ours starts from the newest.
    for bad in ["x", "", "00", &"f".repeat(31), &"g".repeat(32), "%00", "0a-b"] {
        let (status, html) = alice.get_page(&format!("{}&before={bad}", path("needle"))).await;
        assert_eq!(status, StatusCode::OK, "{bad}");
        assert!(texts(&html).len() <= 20, "{bad}");
    }

    // The result links to the message's permalink, which shows the history around it.
    let (_, html) = alice.get_page(&path("\"needle 3\"")).await;
    let href = select_attr(&html, ".search-result-link", "href").unwrap();
    assert!(href.starts_with(&format!("/chats/{chat}?at=5#msg-")), "{href}");
    let (status, page) = alice.get_page(href.split('#').next().unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(crate::helpers::seqs_in(&page).contains(&5));
    let (status, page) = alice.get_page(&format!("/chats/{chat}?at=1")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(crate::helpers::seqs_in(&page).first(), Some(&1));
    assert_eq!(alice.get(&format!("/chats/{chat}?at=-1")).await.status(), StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn snippets_escape_the_text_and_mark_the_matches() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    send_all(&bob, chat, &["<script>alert('pwned')</script> <b>bold</b> & more", "if x<y and y>z"]).await;
    let long = format!("{} needle {}", "filler ".repeat(100), "tail ".repeat(100));
    send_all(&bob, chat, &[long.as_str()]).await;

    let (status, html) = alice.get_page(&path("alert")).await;
    assert_eq!(status, StatusCode::OK);
    // The markup is text: the only element in the snippet is the mark.
    assert_eq!(texts(&html), vec!["<script>alert('pwned')</script> <b>bold</b> & more"]);
    assert!(!has(&html, ".search-snippet script, .search-snippet b"));
    assert_eq!(select(&html, ".search-snippet mark"), vec!["<mark>alert</mark>"]);
    assert!(!html.contains("<script>alert") && !html.contains("<b>bold"));
    assert_eq!(found(&alice, "bold").await.len(), 1);
    assert_eq!(texts(&alice.get_page(&path("and")).await.1), vec!["if x<y and y>z"], "no text is taken for a tag");
    assert_eq!(select(&html, ".search-result-sender").concat(), "<span class=\"search-result-sender\">bob</span>");

    let (_, html) = alice.get_page(&path("needle")).await;
    let snippet = &texts(&html)[0];
    assert!(snippet.starts_with('…') && snippet.ends_with('…') && snippet.contains("needle"), "{snippet}");
    assert!(snippet.chars().count() < 220);
}

#[actix_web::test]
async fn hostile_queries_never_fail_the_page() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    send_all(&alice, chat, &["hello it's me, O'Brien \\ back'slash"]).await;
    let mut queries: Vec<String> = [
        "'",
        "''",
        "\\",
        "\\'",
        "'\\",
        "!",
        "!!x",
        "&",
        "|",
        "(",
        ")",
        ":*",
        "'a':*",
        "a <-> b",
        "<->",
        "<2>",
        "-",
        "--",
        "---x",
        "\"",
        "\"\"",
        "\"\"\"",
        "\" \"",
        "-\"",
        "-\"\"",
        "from:",
        "from:'",
        "from:%",
        "FROM:ALICE",
        "from:alice from:bob",
        "%",
        "_",
        "%_%",
        "\u{0}",
        "a\u{0}b",
        "\u{1}\u{2}",
        "\u{7f}",
        "\u{200b}",
        "\u{202e}abc",
        "’",
        "ʼn",
        "ŉ",
        "∖",
        "‘hello’",
        "©",
        "½",
        "ﬀ",
        "İ",
        "ß",
        "ς",
        "😀",
        "\u{10ffff}",
        "\u{fffd}",
        "東",
        "東京",
        "ั",
        "ัส",
        "a\u{301}",
        "<script>",
        "&amp;",
        "%00",
        "%ZZ",
        "hello:*",
        "hello:A",
        "o'brien",
        "it's",
        "back'slash",
        "\\back",
        "'hello'",
        "!hello",
        "hello!",
        "(hello)",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Generated ones: a fixed-seed walk over characters that break parsers.
    let spicy: Vec<char> = "'\"\\!&|():*<->-_%. \u{0}\u{1}\t\u{a0}’ʼŉ∖©½ﬀİßςΣ東京都สวัส😀\u{fffd}\u{301}aZ9".chars().collect();
    let mut seed: u64 = 0x5eed;
    for _ in 0..120 {
        let mut s = String::new();
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let len = 1 + (seed >> 33) as usize % 24;
        for _ in 0..len {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            s.push(spicy[(seed >> 33) as usize % spicy.len()]);
        }
        queries.push(s);
    }
    for q in &queries {
        for target in [path(q), format!("{}&before={}", path(q), "0".repeat(32))] {
            let resp = alice.get(&target).await;
            let status = resp.status();
            assert!(status == StatusCode::OK || status == StatusCode::UNPROCESSABLE_ENTITY, "{q:?}: {status}");
            let resp = alice.get_htmx(&target).await;
            assert!(resp.status() == StatusCode::OK || resp.status() == StatusCode::UNPROCESSABLE_ENTITY, "htmx {q:?}: {}", resp.status());
        }
    }
    assert_eq!(found(&alice, "o'brien").await.len(), 1);
    assert_eq!(found(&alice, "back\\slash").await.len(), 1);
    assert_eq!(found(&alice, "’s").await.len(), 1, "a curly apostrophe folds to a straight one");
}

#[actix_web::test]
async fn a_search_of_one_to_two_hundred_characters_else_422_with_the_box_kept() {
    let app = TestApp::spawn().await;
    let (alice, _bob, _chat) = alice_and_bob(&app.address).await;
    let long = "é".repeat(201);
    let (status, html) = alice.get_page(&path(&long)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(select_attr(&html, "#site-search-q", "value").as_deref(), Some(long.as_str()), "the box keeps the search");
    assert!(!select(&html, "#search-error").is_empty());
    let (status, _) = alice.get_page(&path(&"é".repeat(200))).await;
    assert_eq!(status, StatusCode::OK);
    // Nothing typed: the page explains the search, with the box.
    let (status, html) = alice.get_page("/search").await;
    assert_eq!(status, StatusCode::OK);
    assert!(select_attr(&html, "form[role=search]", "action").as_deref() == Some("/search"));
    assert_eq!(alice.get("/search?q=a&q=b").await.status(), StatusCode::BAD_REQUEST, "a repeated field");

    // Anonymous visitors are sent to log in.
    let anon = app.client();
    let resp = anon.get(&path("hello")).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    assert_eq!(resp.headers()["location"], "/login");
}

#[actix_web::test]
async fn people_and_my_groups_whose_names_match_are_listed_above_and_htmx_gets_the_fragment() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    let _bobby = app.signed_up("bobby").await;
    alice.create_group("Bob’s Birthday Café", &[&bob]).await;
    let carol = app.signed_up("carol").await;
    let dave = app.signed_up("dave").await;
    carol.befriend(&dave).await;
    carol.create_group("bob fans (private)", &[&dave]).await;
    send_all(&alice, chat, &["bob said hi"]).await;

    let (status, html) = alice.get_page(&path("BOB")).await;
    assert_eq!(status, StatusCode::OK);
    let people = select(&html, "#search-people .list-name a");
    assert_eq!(people.len(), 2, "{people:?}");
    assert!(people[0].contains(">bob<") && people[1].contains(">bobby<"), "exact match first: {people:?}");
    let groups = select(&html, "#search-groups a");
    assert_eq!(groups.len(), 1, "only my groups: {groups:?}");
    assert!(groups[0].contains("Bob’s Birthday Café"));
    assert_eq!(texts(&html), vec!["bob said hi"]);
    let (_, html) = alice.get_page(&path("cafe")).await;
    assert_eq!(select(&html, "#search-groups a").len(), 1, "group names are folded too");

    // htmx (the box, as one types): the content only, told apart from the page by Vary.
    let resp = alice.get_htmx(&path("bob")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["vary"], "HX-Request");
    let fragment = resp.text().await.unwrap();
    assert!(!fragment.contains("<html") && fragment.contains("id=\"search-page\""));
    assert_eq!(texts(&fragment), vec!["bob said hi"]);
    // Every logged-in page has the box: labelled, for htmx as one types.
    let (_, page) = alice.get_page("/chats").await;
    assert_eq!(select_attr(&page, "#site-search-q", "hx-get").as_deref(), Some("/search"));
    assert!(!select(&page, "label[for=site-search-q]").is_empty());
}

#[actix_web::test]
async fn the_unspaced_ranges_of_rust_and_of_the_index_are_the_same() {
    let app = TestApp::spawn().await;
    let mut conn = app.conn();
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        n: i32,
    }
    for &(lo, hi) in chaat::domain::search_query::UNSPACED {
        for c in [lo as u32 - 1, lo as u32, lo as u32 + 1, hi as u32 - 1, hi as u32, hi as u32 + 1] {
            let Some(c) = char::from_u32(c) else { continue };
            let three: String = [c, c, c].iter().collect();
            // A run of three gives itself and its pair as lexemes; any other word one.
            let n = diesel::sql_query("SELECT coalesce(cardinality(tsvector_to_array(search_document($1))), 0) AS n")
                .bind::<Text, _>(&three)
                .get_result::<N>(&mut conn)
                .unwrap()
                .n;
            assert_eq!(n == 2, chaat::domain::search_query::is_unspaced(c), "U+{:04X}: {n} lexemes", c as u32);
        }
    }
}

#[actix_web::test]
async fn the_search_is_done_by_the_index_never_a_scan_of_all_messages() {
    let app = TestApp::spawn().await;
    let (alice, _bob, chat) = alice_and_bob(&app.address).await;
    send_all(&alice, chat, &["rare needle"]).await;
    let me = user_id(&app, "alice");
    let mut conn = app.conn();
    // Enough messages, and words, for the planner to choose by cost: it estimates a
    // prefix only from 100 or more most common words (the chat's seq is left alone:
    // these rows are never shown).
    diesel::sql_query(
        "INSERT INTO messages (message_id, chat_id, seq, sender, text) \
         SELECT gen_random_uuid(), $1, 1000 + n, $2, 'common words number ' || n || ' of w' || n % 300 || ' x' || n % 97 \
           FROM generate_series(1, 20000) AS n",
    )
    .bind::<SqlUuid, _>(chat)
    .bind::<SqlUuid, _>(me)
    .execute(&mut conn)
    .unwrap();
    // VACUUM as autovacuum would: it moves the rows just added from the GIN index's
    // pending list (fastupdate) into the index; the planner charges a search for
    // reading a long pending list, and at this size would rather scan the table.
    diesel::sql_query("VACUUM ANALYZE messages").execute(&mut conn).unwrap();

    // The model's own statement, prepared on this connection as the app prepares it
    // (`db::prepared` binds a placeholder again where it recurs: twelve values for six).
    use chaat::models::search::{messages, Wanted};
    let wanted = Wanted::Text { tsquery: "'needle':*".into(), from: vec![] };
    let hits = messages(&mut conn, me.into(), None, &wanted, None, 21).unwrap();
    assert_eq!(hits.len(), 1);
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
    // The model plans each query afresh (plan_cache_mode, see models/search.rs): a
    // rare word through the GIN index; a word in every message by walking the primary
    // key, newest first, until the page is full. Never a scan of all messages.
    diesel::sql_query("SET plan_cache_mode = force_custom_plan").execute(&mut conn).unwrap();
    for (word, index) in [("needle", "messages_search_idx"), ("common", "messages_pkey")] {
        // The name and ids are ours, not input: formatting them in is safe here.
        let sql =
            format!("EXPLAIN EXECUTE {name}('{me}', '''{word}'':*', NULL, NULL, '{{}}', '{{}}', '{{}}', '{{}}', '{{}}', NULL, NULL, 21)");
        let plan: Vec<Line> = diesel::sql_query(sql).load(&mut conn).unwrap();
        let plan: String = plan.into_iter().map(|l| l.line + "\n").collect();
        assert!(plan.contains(index), "{word}: {plan}");
        assert!(!plan.contains("Seq Scan on messages"), "{word}: {plan}");
    }
}
