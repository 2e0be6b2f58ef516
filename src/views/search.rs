//! `/search`: the page (people, groups, then messages), its htmx fragment, and the
//! snippets with their matches marked.
//!
//! A snippet is a list of pieces, each rendered escaped by Askama (`<mark>` around the
//! marked ones): no user text is ever `|safe`. Which words to mark is decided here from
//! the database's fold of each word (`models::search::fold`, the index's own function),
//! so `ПРИВЕТ` is marked for `привет` and `café` for `cafe`. Marking is for the eye only:
//! which messages are found is decided by the index alone.

use std::collections::HashMap;

use askama::Template;
use chrono::{DateTime, Utc};

use super::{format, Layout};
use crate::domain::search_query::{is_unspaced, is_word_char, Highlights};
use crate::models::friends::{Friendship, Person};
use crate::models::search::GroupHit;
use crate::models::{ChatId, MessageId, Seq};

#[derive(Template)]
#[template(path = "search/index.html", blocks = ["results"])]
pub struct SearchPage {
    pub layout: Layout,
    /// The search as typed, trimmed.
    pub q: String,
    /// Why the search was refused (422).
    pub error: Option<String>,
    /// `chat=`: the one chat searched.
    pub within: Option<ChatRef>,
    pub people: Vec<Person>,
    pub groups: Vec<GroupHit>,
    /// `None` when nothing was searched for.
    pub results: Option<Vec<ResultRow>>,
    /// The query held nothing to look for (only punctuation or exclusions).
    pub nothing_to_look_for: bool,
    /// The URL of the next (older) page.
    pub next: Option<String>,
    /// Whether this is a later page (`before=`).
    pub later_page: bool,
}

#[derive(Debug, Clone)]
pub struct ChatRef {
    pub chat_id: ChatId,
    pub title: String,
}

#[derive(Debug, Clone)]
pub struct ResultRow {
    pub message_id: MessageId,
    pub chat_id: ChatId,
    pub seq: Seq,
    pub chat_title: String,
    pub is_group: bool,
    pub sender_name: String,
    pub sent_time: DateTime<Utc>,
    pub snippet: Vec<Piece>,
}

impl SearchPage {
    pub fn iso(&self, t: &DateTime<Utc>) -> String {
        format::iso(t)
    }

    pub fn date_time(&self, t: &DateTime<Utc>) -> String {
        format::date_time(t)
    }

    /// The same search in every chat.
    pub fn all_chats_url(&self) -> String {
        search_url(&self.q, None, None)
    }

    pub fn friendship_note(&self, p: &Person) -> &'static str {
        match p.friendship {
            Friendship::Friends { .. } => "Friend",
            Friendship::RequestSent { .. } => "You sent a friend request",
            Friendship::RequestReceived { .. } => "Sent you a friend request",
            Friendship::None => "",
        }
    }
}

/// `/search?q=…` with `chat=` and `before=` when given (query-string encoded).
pub fn search_url(q: &str, chat: Option<ChatId>, before: Option<&str>) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("q", q);
    if let Some(chat) = chat {
        query.append_pair("chat", &chat.to_string());
    }
    if let Some(before) = before {
        query.append_pair("before", before);
    }
    format!("/search?{}", query.finish())
}

/// A stretch of a snippet, marked (a match) or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub text: String,
    pub marked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Word,
    Unspaced,
    Other,
}

fn class(c: char) -> Class {
    if is_unspaced(c) {
        Class::Unspaced
    } else if is_word_char(c) {
        Class::Word
    } else {
        Class::Other
    }
}

/// A text cut into words, runs of scripts without spaces, and what lies between.
fn segments(text: &str) -> Vec<(Class, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut current = None;
    for (i, c) in text.char_indices() {
        let k = class(c);
        if current.is_some_and(|cur| cur != k) {
            out.push((current.unwrap_or(Class::Other), &text[start..i]));
            start = i;
        }
        current = Some(k);
    }
    if let Some(k) = current {
        out.push((k, &text[start..]));
    }
    out
}

/// The words of a text that a snippet may mark: what the database is asked to fold.
pub fn words_of(text: &str) -> impl Iterator<Item = &str> {
    segments(text).into_iter().filter(|(k, _)| *k != Class::Other).map(|(_, s)| s)
}

/// Characters shown of a long message, and how many of them before the first match.
const SNIPPET_CHARS: usize = 200;
const LEAD_CHARS: usize = 60;

/// The snippet of `text`: all of it when short, else about 200 characters around the
/// first match, with `…` where it was cut. `folded` maps a word to its fold.
pub fn snippet(text: &str, folded: &HashMap<String, String>, h: &Highlights) -> Vec<Piece> {
    let mut chars: Vec<(char, bool)> = Vec::with_capacity(text.len());
    for (k, seg) in segments(text) {
        let fold = folded.get(seg).map_or(seg, String::as_str);
        match k {
            Class::Other => chars.extend(seg.chars().map(|c| (c, false))),
            Class::Word => {
                let marked = h.word_starts.iter().any(|w| fold.starts_with(w.as_str()));
                chars.extend(seg.chars().map(|c| (c, marked)));
            }
            Class::Unspaced => {
                let original: Vec<char> = seg.chars().collect();
                let fc: Vec<char> = fold.chars().collect();
                let mut flags = vec![false; original.len()];
                for sub in &h.substrings {
                    let sc: Vec<char> = sub.chars().collect();
                    if sc.is_empty() || sc.len() > fc.len() {
                        continue;
                    }
                    for at in 0..=fc.len() - sc.len() {
                        if fc[at..at + sc.len()] == sc[..] {
                            if fc.len() == original.len() {
                                flags[at..at + sc.len()].iter_mut().for_each(|f| *f = true);
                            } else {
                                flags.iter_mut().for_each(|f| *f = true);
                            }
                        }
                    }
                }
                chars.extend(original.into_iter().zip(flags));
            }
        }
    }
    window(chars)
}

fn window(chars: Vec<(char, bool)>) -> Vec<Piece> {
    let len = chars.len();
    let (mut start, mut end) = (0, len);
    if len > SNIPPET_CHARS {
        let first = chars.iter().position(|&(_, m)| m).unwrap_or(0);
        start = first.saturating_sub(LEAD_CHARS).min(len - SNIPPET_CHARS);
        end = start + SNIPPET_CHARS;
        // Cut at a space when one is near, not inside a word.
        if start > 0 {
            if let Some(s) = chars[start..first.max(start)].iter().take(15).position(|&(c, _)| c.is_whitespace()) {
                start += s + 1;
            }
        }
        if end < len {
            if let Some(back) = chars[start..end].iter().rev().take(15).position(|&(c, _)| c.is_whitespace()) {
                end -= back + 1;
            }
        }
    }
    let mut pieces: Vec<Piece> = Vec::new();
    for &(c, marked) in &chars[start..end] {
        match pieces.last_mut() {
            Some(last) if last.marked == marked => last.text.push(c),
            _ => pieces.push(Piece { text: c.to_string(), marked }),
        }
    }
    if start > 0 {
        pieces.insert(0, Piece { text: "…".into(), marked: false });
    }
    if end < len {
        pieces.push(Piece { text: "…".into(), marked: false });
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(words: &[&str], subs: &[&str]) -> Highlights {
        Highlights { word_starts: words.iter().map(|s| s.to_string()).collect(), substrings: subs.iter().map(|s| s.to_string()).collect() }
    }

    fn render(pieces: &[Piece]) -> String {
        pieces.iter().map(|p| if p.marked { format!("[{}]", p.text) } else { p.text.clone() }).collect()
    }

    fn folds(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn word_starts_are_marked_by_their_fold() {
        let f = folds(&[("Hello", "hello"), ("shell", "shell"), ("Café", "cafe"), ("ПРИВЕТ", "привет")]);
        assert_eq!(render(&snippet("Hello shell, Café! ПРИВЕТ", &f, &h(&["hel", "cafe", "прив"], &[]))), "[Hello] shell, [Café]! [ПРИВЕТ]");
    }

    #[test]
    fn substrings_of_unspaced_runs_are_marked() {
        assert_eq!(render(&snippet("我在東京都住", &HashMap::new(), &h(&[], &["東京"]))), "我在[東京]都住");
        assert_eq!(words_of("我在東京tower, ok").collect::<Vec<_>>(), vec!["我在東京", "tower", "ok"]);
    }

    #[test]
    fn a_long_text_is_cut_around_the_first_match() {
        let text = format!("{} needle {}", "word ".repeat(100), "tail ".repeat(100));
        let s = render(&snippet(&text, &HashMap::new(), &h(&["needle"], &[])));
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(s.contains("[needle]"));
        assert!(s.chars().count() <= SNIPPET_CHARS + 4, "{}", s.chars().count());
    }

    #[test]
    fn markup_stays_text() {
        // Escaping is Askama's: a piece is plain text.
        let pieces = snippet("<script>alert(1)</script>", &HashMap::new(), &h(&["alert"], &[]));
        assert_eq!(render(&pieces), "<script>[alert](1)</script>");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::test_strings::{hostile_string, CASES};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn a_snippet_is_a_piece_of_the_text(text in hostile_string(400), word in hostile_string(4)) {
            let hl = Highlights { word_starts: vec![word.clone()], substrings: vec![word] };
            let pieces = snippet(&text, &HashMap::new(), &hl);
            let joined: String = pieces.iter().map(|p| p.text.as_str()).collect();
            let inner = joined.trim_start_matches('…').trim_end_matches('…');
            prop_assert!(text.contains(inner) || text.chars().count() > SNIPPET_CHARS, "{:?}", joined);
        }
    }
}
