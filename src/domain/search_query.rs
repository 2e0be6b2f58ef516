//! What people type into the message search (SPEC §9), parsed: words (all must match;
//! each a whole word or the start of one), `"a phrase"`, `-word` / `-"a phrase"`
//! (excluded), `from:username`. Nothing is ever a syntax error: an unbalanced quote, a
//! lone `-`, punctuation are read literally (punctuation matches nothing by itself).
//!
//! Case and accents are folded by SQL (`search_fold`, migration 000008), the same
//! function the index uses, so this module never folds: `SearchQuery::texts` are sent
//! to the database to be folded, and `SearchQuery::tsquery` builds the text-search
//! query from what comes back, every lexeme quoted.

use super::Invalid;

/// Scripts written without spaces between words (Thai, Lao, Myanmar, Khmer, Hiragana,
/// Katakana, Han): a word of them is matched as a substring, through the pairs of
/// characters that `search_document` (migration 000008) indexes. The migration's
/// regular expressions list the same ranges (a test keeps them equal).
pub const UNSPACED: &[(char, char)] = &[
    ('\u{0e00}', '\u{0eff}'),
    ('\u{1000}', '\u{109f}'),
    ('\u{1780}', '\u{17ff}'),
    ('\u{3040}', '\u{30ff}'),
    ('\u{31f0}', '\u{31ff}'),
    ('\u{3400}', '\u{4dbf}'),
    ('\u{4e00}', '\u{9fff}'),
    ('\u{f900}', '\u{faff}'),
    ('\u{ff66}', '\u{ff9f}'),
    ('\u{20000}', '\u{3134f}'),
];

/// Whether `c` belongs to a script written without spaces.
pub fn is_unspaced(c: char) -> bool {
    UNSPACED.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

/// One part of a query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// Excluded (`-word`): no message containing it is found.
    pub negated: bool,
    /// A `"quoted phrase"`: its words in this order, the last one whole.
    pub phrase: bool,
    /// The word or the phrase's words as typed (control characters made spaces).
    pub text: String,
}

/// A parsed search: 1–200 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    typed: String,
    plain: String,
    terms: Vec<Term>,
    from: Vec<String>,
}

impl SearchQuery {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let typed = input.trim();
        let len = typed.chars().count();
        if len == 0 {
            return Err(Invalid("Type something to search for."));
        }
        if len > Self::MAX_CHARS {
            return Err(Invalid("A search has at most 200 characters."));
        }
        // A control character (NUL included, which PostgreSQL text cannot hold) separates
        // words like a space.
        let cleaned: Vec<char> = typed.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        let (terms, from) = tokens(&cleaned);
        Ok(SearchQuery { typed: typed.to_string(), plain: cleaned.into_iter().collect(), terms, from })
    }

    /// The search as typed, trimmed (kept in the search field).
    pub fn as_str(&self) -> &str {
        &self.typed
    }

    /// The search with control characters made spaces: what may be sent to the
    /// database as text (which cannot hold NUL).
    pub fn plain(&self) -> &str {
        &self.plain
    }

    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// The usernames of `from:` (as typed): a message from any of them.
    pub fn from(&self) -> &[String] {
        &self.from
    }

    /// The texts of the terms, in order, for the database to fold.
    pub fn texts(&self) -> Vec<String> {
        self.terms.iter().map(|t| t.text.clone()).collect()
    }

    /// The text-search query for `to_tsquery('simple', …)`, built from the folded texts
    /// of the terms (`folded[i]` is `search_fold(terms[i].text)`); `None` when nothing
    /// is left to look for (only punctuation, only exclusions: a query of exclusions
    /// alone would read the whole index).
    pub fn tsquery(&self, folded: &[String]) -> Option<String> {
        let mut parts = Vec::new();
        let mut positive = false;
        for (term, folded) in self.terms.iter().zip(folded) {
            let Some(part) = term_query(folded, term.phrase) else { continue };
            if term.negated {
                parts.push(format!("!{part}"));
            } else {
                positive = true;
                parts.push(part);
            }
        }
        positive.then(|| parts.join(" & "))
    }

    /// What to mark in the texts found, from the folded texts: the starts of words, and
    /// substrings in scripts without spaces.
    pub fn highlights(&self, folded: &[String]) -> Highlights {
        let mut h = Highlights::default();
        for (term, folded) in self.terms.iter().zip(folded) {
            if term.negated {
                continue;
            }
            for chunk in chunks(folded) {
                match chunk {
                    Chunk::Unspaced(s) => h.substrings.push(s),
                    Chunk::Spaced(s) => {
                        h.word_starts.extend(s.split(|c: char| !is_word_char(c)).filter(|w| !w.is_empty()).map(str::to_string))
                    }
                }
            }
        }
        h.word_starts.sort();
        h.word_starts.dedup();
        h.substrings.sort();
        h.substrings.dedup();
        h
    }
}

/// What the snippets mark (folded, like the words they are compared with).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Highlights {
    pub word_starts: Vec<String>,
    pub substrings: Vec<String>,
}

/// A character that belongs to a word for marking matches: letters, digits and
/// combining marks.
pub fn is_word_char(c: char) -> bool {
    c.is_alphanumeric()
        || matches!(c, '\u{300}'..='\u{36f}' | '\u{1ab0}'..='\u{1aff}' | '\u{1dc0}'..='\u{1dff}' | '\u{20d0}'..='\u{20ff}' | '\u{fe20}'..='\u{fe2f}')
}

fn tokens(chars: &[char]) -> (Vec<Term>, Vec<String>) {
    let mut terms = Vec::new();
    let mut from = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let negated = chars[i] == '-' && chars.get(i + 1).is_some_and(|c| !c.is_whitespace());
        if negated {
            i += 1;
        }
        if chars[i] == '"' {
            if let Some(len) = chars[i + 1..].iter().position(|&c| c == '"') {
                let text: String = chars[i + 1..i + 1 + len].iter().collect();
                i += len + 2;
                if !text.trim().is_empty() {
                    terms.push(Term { negated, phrase: true, text: text.trim().to_string() });
                }
                continue;
            }
        }
        let start = i;
        while i < chars.len() && !chars[i].is_whitespace() {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        match word.get(..5) {
            Some(key) if !negated && key.eq_ignore_ascii_case("from:") && word.len() > 5 => from.push(word[5..].to_string()),
            _ => terms.push(Term { negated, phrase: false, text: word }),
        }
    }
    (terms, from)
}

enum Chunk {
    /// Words of scripts written with spaces (several, in a phrase).
    Spaced(String),
    /// A run of a script written without spaces.
    Unspaced(String),
}

/// A folded term cut where a script without spaces begins or ends; pieces without a
/// letter or digit are left out (they would match nothing).
fn chunks(folded: &str) -> Vec<Chunk> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut unspaced = false;
    let mut flush = |current: &mut String, unspaced: bool| {
        let piece = std::mem::take(current);
        if unspaced {
            out.push(Chunk::Unspaced(piece));
        } else if piece.chars().any(char::is_alphanumeric) {
            out.push(Chunk::Spaced(piece.split_whitespace().collect::<Vec<_>>().join(" ")));
        }
    };
    for c in folded.chars() {
        let u = is_unspaced(c);
        if u != unspaced && !current.is_empty() {
            flush(&mut current, unspaced);
        }
        unspaced = u;
        current.push(c);
    }
    if !current.is_empty() {
        flush(&mut current, unspaced);
    }
    out
}

/// A lexeme for to_tsquery, quoted: `'` and `\` doubled inside single quotes, so no
/// text can be read as an operator.
fn quote(lexeme: &str) -> String {
    let mut q = String::with_capacity(lexeme.len() + 2);
    q.push('\'');
    for c in lexeme.chars() {
        match c {
            '\'' => q.push_str("''"),
            '\\' => q.push_str("\\\\"),
            c => q.push(c),
        }
    }
    q.push('\'');
    q
}

/// One term: its spaced words as prefixes (`'hel':*`; in a phrase one quoted string,
/// which to_tsquery reads as words in sequence), each unspaced run as the phrase of its
/// pairs of characters (`'東京' <-> '京都'`; one character: a prefix). `None` when
/// nothing in it can match.
fn term_query(folded: &str, phrase: bool) -> Option<String> {
    let parts: Vec<String> = chunks(folded)
        .into_iter()
        .map(|chunk| match chunk {
            Chunk::Spaced(words) if phrase => quote(&words),
            Chunk::Spaced(words) => format!("{}:*", quote(&words)),
            Chunk::Unspaced(run) => {
                let cs: Vec<char> = run.chars().collect();
                if cs.len() == 1 {
                    return format!("{}:*", quote(&run));
                }
                let pairs: Vec<String> = cs.windows(2).map(|w| quote(&w.iter().collect::<String>())).collect();
                if pairs.len() == 1 {
                    pairs.into_iter().collect()
                } else {
                    format!("({})", pairs.join(" <-> "))
                }
            }
        })
        .collect();
    match parts.len() {
        0 => None,
        1 => parts.into_iter().next(),
        _ => Some(format!("({})", parts.join(" & "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> SearchQuery {
        SearchQuery::parse(s).unwrap()
    }

    fn word(text: &str) -> Term {
        Term { negated: false, phrase: false, text: text.into() }
    }

    /// The tsquery with folding left out (the texts are taken as already folded).
    fn ts(s: &str) -> Option<String> {
        let q = parse(s);
        q.tsquery(&q.texts())
    }

    #[test]
    fn words_phrases_exclusions_and_from() {
        let q = parse(r#"  hel "good morning" -spam -"bad news" FROM:Alice  "#);
        assert_eq!(q.as_str(), r#"hel "good morning" -spam -"bad news" FROM:Alice"#);
        assert_eq!(
            q.terms(),
            &[
                word("hel"),
                Term { negated: false, phrase: true, text: "good morning".into() },
                Term { negated: true, phrase: false, text: "spam".into() },
                Term { negated: true, phrase: true, text: "bad news".into() },
            ]
        );
        assert_eq!(q.from(), &["Alice".to_string()]);
        assert_eq!(ts(r#"hel "good morning" -spam -"bad news""#).unwrap(), "'hel':* & 'good morning' & !'spam':* & !'bad news'");
    }

    #[test]
    fn malformed_input_is_read_literally() {
        assert_eq!(parse(r#"say "hi"#).terms(), &[word("say"), word("\"hi")]);
        assert_eq!(parse("a - b").terms(), &[word("a"), word("-"), word("b")]);
        assert_eq!(parse("from:").terms(), &[word("from:")]);
        assert_eq!(parse("-from:bob").terms(), &[Term { negated: true, phrase: false, text: "from:bob".into() }]);
        assert_eq!(parse(r#""""#).terms(), &[]);
        assert_eq!(ts("- !! ..."), None, "punctuation alone looks for nothing");
        assert_eq!(ts("-spam"), None, "exclusions alone look for nothing");
        assert_eq!(ts("it's"), Some("'it''s':*".into()));
        assert_eq!(ts(r"a\b' & !x"), Some(r"'a\\b''':* & '!x':*".into()), "operators are text");
    }

    #[test]
    fn control_characters_separate_words() {
        assert_eq!(parse("a\0b\u{1}c").terms(), &[word("a"), word("b"), word("c")]);
        assert_eq!(ts("\0"), None);
        assert_eq!(parse(" a\0b ").plain(), "a b");
    }

    #[test]
    fn length_is_one_to_two_hundred_characters_after_trimming() {
        assert!(SearchQuery::parse("  ").is_err());
        assert!(SearchQuery::parse(&"é".repeat(200)).is_ok());
        assert!(SearchQuery::parse(&format!(" {} ", "é".repeat(200))).is_ok());
        assert!(SearchQuery::parse(&"é".repeat(201)).is_err());
    }

    #[test]
    fn unspaced_scripts_are_matched_by_pairs_of_characters() {
        assert_eq!(ts("東京都"), Some("('東京' <-> '京都')".into()));
        assert_eq!(ts("東京"), Some("'東京'".into()));
        assert_eq!(ts("東"), Some("'東':*".into()));
        assert_eq!(ts("東京tower"), Some("('東京' & 'tower':*)".into()));
        assert_eq!(ts(r#""big 東京 tower""#), Some("('big' & '東京' & 'tower')".into()));
        assert_eq!(ts("สวัสดี"), Some("('สว' <-> 'วั' <-> 'ัส' <-> 'สด' <-> 'ดี')".into()));
    }

    #[test]
    fn highlights_are_word_starts_and_substrings() {
        let q = parse(r#"Hel "good-morning" -spam 東京"#);
        let h = q.highlights(&["hel".into(), "good-morning".into(), "spam".into(), "東京".into()]);
        assert_eq!(h.word_starts, vec!["good".to_string(), "hel".into(), "morning".into()]);
        assert_eq!(h.substrings, vec!["東京".to_string()]);
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::SearchQuery;
    use crate::domain::test_strings::{hostile_string, huge, CASES};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_input_parses_or_is_refused_and_never_panics(input in hostile_string(220)) {
            let len = input.trim().chars().count();
            match SearchQuery::parse(&input) {
                Ok(q) => {
                    prop_assert!((1..=200).contains(&len));
                    prop_assert!(!q.plain().contains('\0'));
                    let texts = q.texts();
                    for t in &texts {
                        prop_assert!(!t.chars().any(char::is_control), "{:?}", t);
                    }
                    // Folding may change anything; the builder must not care.
                    let _ = q.tsquery(&texts);
                    let shouted: Vec<String> = texts.iter().map(|t| t.to_uppercase()).collect();
                    let _ = q.tsquery(&shouted);
                    let _ = q.highlights(&shouted);
                    if let Some(tsq) = q.tsquery(&texts) {
                        prop_assert!(balanced_quotes(&tsq), "{}", tsq);
                    }
                }
                Err(_) => prop_assert!(len == 0 || len > 200),
            }
        }

        #[test]
        fn huge_inputs_are_refused(big in huge()) {
            prop_assume!(big.trim().chars().count() > 200);
            prop_assert!(SearchQuery::parse(&big).is_err());
        }
    }

    /// Every lexeme is closed: outside quotes only operators and parentheses remain.
    fn balanced_quotes(tsq: &str) -> bool {
        let mut inside = false;
        let mut chars = tsq.chars().peekable();
        while let Some(c) = chars.next() {
            match (inside, c) {
                (true, '\\') if chars.next().is_none() => return false,
                (true, '\\') => {}
                (true, '\'') if chars.peek() == Some(&'\'') => {
                    chars.next();
                }
                (_, '\'') => inside = !inside,
                (false, c) if !(c.is_whitespace() || "&!()<->:*".contains(c)) => return false,
                _ => {}
            }
        }
        !inside
    }
}
