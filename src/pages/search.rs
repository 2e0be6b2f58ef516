//! The search page (SPEC §9): people and groups whose names match, then messages of my
//! chats, newest first, 20 a page.

use std::collections::HashMap;

use actix_web::http::StatusCode;

use crate::auth::CurrentUser;
use crate::db::{self, DbPool, Standby};
use crate::domain::{SearchQuery, Username, UsernamePrefix};
use crate::error::AppError;
use crate::models::chats::{self, Membership};
use crate::models::friends::{self, Person};
use crate::models::search::{self, Cursor, GroupHit, Hit, Wanted, PAGE_SIZE};
use crate::models::users::{self, NavCounts};
use crate::models::{ChatId, UserId};
use crate::views::search::{search_url, snippet, words_of, ChatRef, ResultRow, SearchPage};
use crate::views::Layout;

/// What was asked: `q` as sent, `chat=` parsed (an id that is not a UUID is a 404 in
/// the handler), `before=` as sent (a cursor that does not decode starts at the newest).
pub struct Asked {
    pub q: String,
    pub chat: Option<ChatId>,
    pub before: Option<String>,
}

/// Everything found for a valid query.
#[derive(Default)]
struct Found {
    hits: Vec<Hit>,
    next: Option<Cursor>,
    /// Fold of each word of the texts found, for marking.
    folds: HashMap<String, String>,
    highlights: crate::domain::search_query::Highlights,
    people: Vec<Person>,
    groups: Vec<GroupHit>,
    nothing_to_look_for: bool,
}

/// The page and its status: 422 for a search that is too long (the box keeps it).
/// `fragment`: only what htmx swaps in (no badges are loaded).
pub async fn search_page(
    user: &CurrentUser,
    pool: &DbPool,
    standby: &Standby,
    asked: Asked,
    fragment: bool,
) -> Result<(StatusCode, SearchPage), AppError> {
    let me = user.user_id;
    let typed = asked.q.trim().to_string();
    let parsed = if typed.is_empty() { Ok(None) } else { SearchQuery::parse(&typed).map(Some) };
    let cursor = asked.before.as_deref().and_then(Cursor::decode);
    let (chat, query) = (asked.chat, parsed.clone());
    // Who may read what, and the badges, from the primary; the search itself from the
    // standby once it has replayed every chat searched up to the primary's rev now.
    let searching = matches!(query, Ok(Some(_)));
    let authorize = move |conn: &mut diesel::PgConnection| {
        let within = match chat {
            Some(chat_id) => Some(chats::find_for_participant(conn, me, chat_id)?.ok_or(AppError::NotFound)?),
            None => None,
        };
        let counts = if fragment { NavCounts::default() } else { users::nav_counts(conn, me)? };
        let need = match (&within, searching) {
            (_, false) => Vec::new(),
            (Some(m), true) => vec![(m.chat_id(), m.chat().last_rev)],
            (None, true) => chats::revs_for_participant(conn, me)?,
        };
        Ok::<_, AppError>(((counts, within), need))
    };
    let ((counts, within), found) = match query {
        Ok(Some(query)) => {
            let read = move |conn: &mut diesel::PgConnection, (_, within): &(NavCounts, Option<Membership>)| {
                find(conn, me, within.as_ref(), &query, cursor)
            };
            let (allowed, found) = standby.read(pool, authorize, read).await?;
            (allowed, Some(found))
        }
        _ => (db::run(pool, move |conn| authorize(conn).map(|(allowed, _)| allowed)).await?, None),
    };
    let within = within.map(|m| ChatRef { chat_id: m.chat_id(), title: m.chat().title().to_string() });
    let mut layout =
        Layout::for_user(user, counts, if typed.is_empty() { "Search".to_string() } else { format!("Search: {typed}") }, "search");
    layout.search = typed.clone();
    let mut page = SearchPage {
        layout,
        q: typed.clone(),
        error: None,
        within,
        people: Vec::new(),
        groups: Vec::new(),
        results: None,
        nothing_to_look_for: false,
        next: None,
        later_page: cursor.is_some(),
    };
    let found = match (parsed, found) {
        (Err(invalid), _) => {
            page.error = Some(invalid.to_string());
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, page));
        }
        (Ok(_), None) => return Ok((StatusCode::OK, page)),
        (Ok(_), Some(found)) => found,
    };
    let chat_id = page.within.as_ref().map(|c| c.chat_id);
    page.next = found.next.map(|c| search_url(&typed, chat_id, Some(&c.encode())));
    page.people = found.people;
    page.groups = found.groups;
    page.nothing_to_look_for = found.nothing_to_look_for;
    page.results = Some(
        found
            .hits
            .into_iter()
            .map(|hit| ResultRow {
                snippet: snippet(&hit.text, &found.folds, &found.highlights),
                chat_title: hit.chat_title().to_string(),
                message_id: hit.message_id,
                chat_id: hit.chat_id,
                seq: hit.seq,
                is_group: hit.is_group,
                sender_name: hit.sender_name,
                sent_time: hit.sent_time,
            })
            .collect(),
    );
    Ok((StatusCode::OK, page))
}

fn find(
    conn: &mut diesel::PgConnection,
    me: UserId,
    within: Option<&Membership>,
    query: &SearchQuery,
    cursor: Option<Cursor>,
) -> Result<Found, AppError> {
    let folded = search::fold(conn, &query.texts())?;
    let mut from = Vec::new();
    for name in query.from() {
        // A name that cannot be a username is no one, like an unknown one.
        if let Ok(name) = Username::parse(name) {
            if let Some(person) = users::find_by_username(conn, &name)? {
                from.push(person.user_id);
            }
        }
    }
    let no_such_sender = !query.from().is_empty() && from.is_empty();
    let wanted = match query.tsquery(&folded) {
        Some(tsquery) => Some(Wanted::Text { tsquery, from }),
        None if !from.is_empty() => Some(Wanted::From(from)),
        None => None,
    };
    let mut found = Found { nothing_to_look_for: wanted.is_none() && !no_such_sender, ..Found::default() };
    if let (Some(wanted), false) = (&wanted, no_such_sender) {
        found.hits = search::messages(conn, me, within, wanted, cursor, PAGE_SIZE + 1)?;
        if found.hits.len() as i64 > PAGE_SIZE {
            found.hits.truncate(PAGE_SIZE as usize);
            found.next = found.hits.last().map(Hit::cursor);
        }
    }
    let mut words: Vec<String> = found.hits.iter().flat_map(|h| words_of(&h.text)).map(str::to_string).collect();
    words.sort();
    words.dedup();
    let folds = search::fold(conn, &words)?;
    found.folds = words.into_iter().zip(folds).collect();
    found.highlights = query.highlights(&folded);
    // People and groups head the first page of a search of all chats.
    if cursor.is_none() && within.is_none() {
        if let Some(prefix) = UsernamePrefix::parse(query.as_str()) {
            found.people = friends::search(conn, me, &prefix)?;
        }
        found.groups = search::groups_named(conn, me, query.plain())?;
    }
    Ok(found)
}
