//! `@username` in a message's text: which names it mentions (the send records those
//! that are members of the group) and how a rendered text splits around them.

/// A character that may be part of a username (`Username`'s alphabet; `@Bob` reads as
/// `bob`).
fn in_name(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')
}

fn is_name(s: &str) -> bool {
    (3..=32).contains(&s.len())
}

/// A run `@xyz` at byte `at` (the `@`) is a mention when nothing of a name stands just
/// before it (so `ann@example.org` mentions nobody). Returns the run (without `@`).
fn runs(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut prev: Option<char> = None;
    text.char_indices().filter_map(move |(i, c)| {
        let before = prev.replace(c);
        if c != '@' || before.is_some_and(in_name) {
            return None;
        }
        let rest = &text[i + 1..];
        let end = rest.find(|ch: char| !in_name(ch)).unwrap_or(rest.len());
        (end > 0).then(|| (i, &rest[..end]))
    })
}

/// The run and, when it ends in `.` or `-` (the end of a sentence), the run without
/// them: the names it may stand for, longest first.
fn candidates(run: &str) -> impl Iterator<Item = &str> {
    let short = run.trim_end_matches(['.', '-']);
    std::iter::once(run).chain((short != run).then_some(short)).filter(|s| is_name(s))
}

/// Every username the text may mention, lower-cased, each once.
pub fn mentioned(text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (_, run) in runs(text) {
        for name in candidates(run) {
            let name = name.to_ascii_lowercase();
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

/// A piece of a rendered text.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    /// `@name` (as written) of a mentioned member: `username` is their name.
    Mention {
        written: &'a str,
        username: String,
    },
}

/// Splits `text` around the mentions of the people in `members` (lower-case usernames):
/// any other `@word` stays text.
pub fn pieces<'a>(text: &'a str, members: &[String]) -> Vec<Piece<'a>> {
    let mut out = Vec::new();
    let mut from = 0;
    for (at, run) in runs(text) {
        let Some(name) = candidates(run).find(|n| members.iter().any(|m| m.eq_ignore_ascii_case(n))) else { continue };
        if at > from {
            out.push(Piece::Text(&text[from..at]));
        }
        let end = at + 1 + name.len();
        out.push(Piece::Mention { written: &text[at..end], username: name.to_ascii_lowercase() });
        from = end;
    }
    if from < text.len() {
        out.push(Piece::Text(&text[from..]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mentions_are_names_after_an_at_sign_that_starts_a_word() {
        assert_eq!(mentioned("hi @Bob and @carol."), vec!["bob", "carol.", "carol"]);
        assert_eq!(mentioned("mail ann@example.org or @x"), Vec::<String>::new());
        assert_eq!(mentioned("@bob @bob"), vec!["bob"]);
    }

    #[test]
    fn pieces_link_only_members() {
        let members = vec!["bob".to_string()];
        assert_eq!(
            pieces("hi @Bob, @eve!", &members),
            vec![Piece::Text("hi "), Piece::Mention { written: "@Bob", username: "bob".into() }, Piece::Text(", @eve!")]
        );
        assert_eq!(pieces("@bob.", &members), vec![Piece::Mention { written: "@bob", username: "bob".into() }, Piece::Text(".")]);
        assert_eq!(pieces("", &members), vec![]);
    }
}
