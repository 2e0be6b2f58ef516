//! Search gaps the audit of issue 16 found (SPEC §9): every rule of the query language in
//! every script the issue names (Arabic with its diacritics too), an edit made through
//! the app, the fields of a result and the order of a page's parts, newest first across
//! chats, and the header's search box on every page kind with its htmx attributes.

use reqwest::StatusCode;
use uuid::Uuid;

use crate::helpers::{alice_and_bob, select, select_attr, Actor, TestApp};

fn path(q: &str) -> String {
    format!("/search?q={}", url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>())
}

/// The texts of the messages a result page shows, in page order (markup removed).
fn texts(html: &str) -> Vec<String> {
    let doc = scraper::Html::parse_document(html);
    let sel = scraper::Selector::parse("#search-messages .search-snippet").unwrap();
    doc.select(&sel).map(|e| e.text().collect::<String>()).collect()
}

async fn found_sorted(who: &Actor, q: &str) -> Vec<String> {
    let (status, html) = who.get_page(&path(q)).await;
    assert_eq!(status, StatusCode::OK, "{q:?}: {html}");
    let mut t = texts(&html);
    t.sort();
    t
}

async fn send_all(who: &Actor, chat: Uuid, texts: &[&str]) {
    for t in texts {
        assert_eq!(who.send(chat, t).await.status(), StatusCode::SEE_OTHER, "{t}");
    }
}

/// (rule, query, what alice finds) for one script's messages (`A:` alice's, `B:` bob's).
type Case = (&'static str, &'static str, &'static [&'static str]);

#[actix_web::test]
async fn every_rule_matches_in_latin_cyrillic_greek_arabic_and_cjk() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    // Each script has words of its own, so no query finds another script's message.
    let alices = [
        "Crème brûlée tonight",
        "Bruleeworks open",
        "Привет, добрый мир",
        "вечерний город",
        "Καλή μέρα φίλε",
        "Θαλασσινός άνεμος",
        "مَرْحَبًا يا صَدِيقِي",
        "صديقة جديدة",
        "我们在東京见面",
    ];
    let bobs = ["brûlée for dessert", "Добрый вечер, друзья", "μέρα καλή θάλασσα", "صباح الخير يا صديقي", "東京塔很高"];
    send_all(&alice, chat, &alices).await;
    send_all(&bob, chat, &bobs).await;

    let cases: &[(&str, &[Case])] = &[
        (
            "Latin",
            &[
                ("whole word", "DESSERT", &["brûlée for dessert"]),
                ("accents", "creme", &["Crème brûlée tonight"]),
                ("prefix", "brul", &["Bruleeworks open", "Crème brûlée tonight", "brûlée for dessert"]),
                ("phrase", "\"crème brûlée\"", &["Crème brûlée tonight"]),
                ("exclusion", "brulee -creme", &["Bruleeworks open", "brûlée for dessert"]),
                ("from:", "from:BOB brulee", &["brûlée for dessert"]),
            ],
        ),
        (
            "Cyrillic",
            &[
                ("whole word", "ДОБРЫЙ", &["Добрый вечер, друзья", "Привет, добрый мир"]),
                ("prefix", "веч", &["Добрый вечер, друзья", "вечерний город"]),
                ("not inside a word", "ечер", &[]),
                ("phrase", "\"добрый вечер\"", &["Добрый вечер, друзья"]),
                ("exclusion", "добрый -мир", &["Добрый вечер, друзья"]),
                ("from:", "from:alice добрый", &["Привет, добрый мир"]),
            ],
        ),
        (
            "Greek",
            &[
                ("whole word, accents", "ΚΑΛΗ", &["Καλή μέρα φίλε", "μέρα καλή θάλασσα"]),
                ("prefix, final sigma", "θαλασσ", &["Θαλασσινός άνεμος", "μέρα καλή θάλασσα"]),
                ("phrase", "\"καλη μερα\"", &["Καλή μέρα φίλε"]),
                ("exclusion", "μέρα -φίλε", &["μέρα καλή θάλασσα"]),
                ("from:", "from:bob μερα", &["μέρα καλή θάλασσα"]),
            ],
        ),
        (
            "Arabic",
            &[
                ("whole word without the diacritics", "مرحبا", &["مَرْحَبًا يا صَدِيقِي"]),
                ("whole word with them", "مَرْحَبًا", &["مَرْحَبًا يا صَدِيقِي"]),
                ("prefix", "صديق", &["صباح الخير يا صديقي", "صديقة جديدة", "مَرْحَبًا يا صَدِيقِي"]),
                ("phrase", "\"يا صديقي\"", &["صباح الخير يا صديقي", "مَرْحَبًا يا صَدِيقِي"]),
                ("exclusion", "صديقي -صباح", &["مَرْحَبًا يا صَدِيقِي"]),
                ("from:", "from:bob صديقي", &["صباح الخير يا صديقي"]),
            ],
        ),
        (
            "CJK",
            &[
                ("a word", "東京", &["我们在東京见面", "東京塔很高"]),
                ("a longer run's start", "東京塔", &["東京塔很高"]),
                ("phrase", "\"在東京\"", &["我们在東京见面"]),
                ("exclusion", "東京 -很高", &["我们在東京见面"]),
                ("from:", "from:bob 東京", &["東京塔很高"]),
            ],
        ),
    ];
    let mut failures = Vec::new();
    for (script, rows) in cases {
        for (rule, q, want) in rows.iter() {
            let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            want.sort();
            let got = found_sorted(&alice, q).await;
            if got != want {
                failures.push(format!("{script} {rule} {q:?}: got {got:?}, want {want:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The word is marked as written, with its diacritics.
    let (_, html) = alice.get_page(&path("مرحبا")).await;
    assert_eq!(select(&html, "#search-messages mark"), vec!["<mark>مَرْحَبًا</mark>"]);
}

#[actix_web::test]
async fn an_edit_through_the_app_is_searched_by_its_new_text_only() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    send_all(&alice, chat, &["kumquat jam"]).await;
    assert_eq!(found_sorted(&bob, "kumquat").await, vec!["kumquat jam"]);
    let edited = alice.post(&format!("/chats/{chat}/messages/1/edit"), &[("text", "persimmon jam")]).await;
    assert_eq!(edited.status(), StatusCode::SEE_OTHER);
    assert!(found_sorted(&bob, "kumquat").await.is_empty(), "the earlier text is not searched");
    assert_eq!(found_sorted(&bob, "persim").await, vec!["persimmon jam"]);
    assert_eq!(found_sorted(&bob, "jam").await, vec!["persimmon jam"], "once, not once per version");
}

#[actix_web::test]
async fn results_name_their_chat_and_time_newest_first_across_chats_below_people_and_groups() {
    let app = TestApp::spawn().await;
    let (alice, bob, direct) = alice_and_bob(&app.address).await;
    let _walrus = app.signed_up("walrusfan").await;
    let group = alice.create_group("Walrus watchers", &[&bob]).await;
    send_all(&alice, direct, &["walrus one"]).await;
    send_all(&bob, group, &["walrus two"]).await;
    send_all(&alice, direct, &["walrus three"]).await;

    let (status, html) = alice.get_page(&path("walrus")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(texts(&html), vec!["walrus three", "walrus two", "walrus one"], "newest first, whatever the chat");
    let chats: Vec<String> = select(&html, "#search-messages .search-result .search-result-chat");
    assert_eq!(chats.len(), 3);
    assert!(chats[1].contains(">Walrus watchers<"), "{chats:?}");
    assert!(chats[0].contains(">bob<") && chats[2].contains(">bob<"), "a direct chat is named by the other person: {chats:?}");
    let chat_ids: Vec<String> =
        (1..=3).map(|n| select_attr(&html, &format!("#search-messages .search-result:nth-child({n})"), "data-chat").unwrap()).collect();
    assert_eq!(chat_ids, vec![direct.to_string(), group.to_string(), direct.to_string()]);
    // Each result has its time, machine-readable, today.
    let times = select(&html, "#search-messages .search-result time[datetime]");
    assert_eq!(times.len(), 3, "{times:?}");
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    for n in 1..=3 {
        let dt = select_attr(&html, &format!("#search-messages .search-result:nth-child({n}) time"), "datetime").unwrap();
        assert!(dt.starts_with(&today) && chrono::DateTime::parse_from_rfc3339(&dt).is_ok(), "{dt}");
    }
    // People, then groups, then messages, in the document's order.
    let at = |id: &str| html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("#{id} on the page"));
    assert!(at("search-people") < at("search-groups") && at("search-groups") < at("search-messages"), "people and groups above messages");
}

#[actix_web::test]
async fn every_logged_in_page_kind_has_the_get_search_box_that_htmx_debounces_and_shares() {
    let app = TestApp::spawn().await;
    let (alice, bob, chat) = alice_and_bob(&app.address).await;
    send_all(&alice, chat, &["hello"]).await;
    let group = alice.create_group("Box club", &[&bob]).await;
    let pages = [
        "/chats".to_string(),
        format!("/chats/{chat}"),
        format!("/chats/{group}"),
        format!("/chats/{chat}?at=1"),
        format!("/chats/{chat}/messages/1/edit"),
        "/friends".into(),
        "/friends?q=b".into(),
        "/settings".into(),
        "/users/bob".into(),
        "/search".into(),
        "/search?q=hello".into(),
    ];
    for page in &pages {
        let (status, html) = alice.get_page(page).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let form = "header form[role=search][method=get][action=\"/search\"]";
        assert_eq!(select(&html, &format!("{form} input#site-search-q[name=q]")).len(), 1, "{page}: the box in a GET form");
        assert_eq!(select(&html, &format!("{form} label[for=site-search-q]")).len(), 1, "{page}: labelled");
        let trigger = select_attr(&html, "#site-search-q", "hx-trigger").unwrap_or_default();
        assert!(trigger.contains("input") && trigger.contains("delay:"), "{page}: debounced as one types: {trigger:?}");
        assert_eq!(select_attr(&html, "#site-search-q", "hx-get").as_deref(), Some("/search"), "{page}");
        assert_eq!(select_attr(&html, "#site-search-q", "hx-push-url").as_deref(), Some("true"), "{page}: a shareable URL");
    }
    // Logged out, there is no box (nothing to search).
    let (_, login) = app.client().get_page("/login").await;
    assert!(select(&login, "#site-search-q").is_empty());
}

/// Migration 000039 made the fold and the document cheaper (issue 19, `rowcost`) without
/// recomputing any stored vector: that is right only if both give what 000032's fold and
/// 000023's document gave, for every text. Every code point up to U+11170 in runs of
/// seven (each mark, each unspaced script's edges, next to their neighbours), plus
/// mixed texts, folded and indexed by the old functions (000039's down) and the new.
#[actix_web::test]
async fn the_cheaper_fold_and_document_of_000039_give_what_the_old_ones_gave() {
    use diesel::connection::SimpleConnection;
    let db = crate::helpers::TestDb::new();
    let mut conn = db.conn();
    let corpus = "CREATE TABLE corpus AS \
          SELECT string_agg(chr(c), '' ORDER BY c) || ' x' AS t FROM generate_series(32, 70000) c \
           WHERE c NOT BETWEEN 55296 AND 57343 GROUP BY c / 7 \
          UNION ALL SELECT unnest(ARRAY['Ὀδυσσεύς ΣΟΦΟΣ σοφος', 'مَرْحَبًا بالعالم ـــ', 'x<y and y>z', '東京都に行きます', \
                                        'Ünïcödé ß Æ', 'a東b c', '東', 'LDM0-0. message 0 of pair 0 from the load test']);";
    let old = "CREATE TABLE old AS SELECT t, search_fold(t) AS f, search_document(t) AS d FROM corpus;";
    let down = include_str!("../../migrations/2026-12-07-000039_search_document_cheaper/down.sql");
    let up = include_str!("../../migrations/2026-12-07-000039_search_document_cheaper/up.sql");
    for sql in [corpus, down, old, up] {
        conn.batch_execute(sql).unwrap();
    }
    assert!(crate::helpers::count(&mut conn, "SELECT count(*) AS n FROM old") > 9_000);
    let differ = crate::helpers::count(
        &mut conn,
        "SELECT count(*) AS n FROM old WHERE search_fold(t) IS DISTINCT FROM f OR search_document(t) IS DISTINCT FROM d",
    );
    assert_eq!(differ, 0, "texts folded or indexed otherwise than before 000039");
}
