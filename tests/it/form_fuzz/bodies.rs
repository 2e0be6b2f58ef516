//! Generators of hostile form requests: random bytes, broken %-escapes, repeated and
//! unknown fields, huge fields, odd content types. The CSRF token is placed when the
//! request is sent (anonymous cases get a fresh session, so a fresh token).

use proptest::prelude::*;
use proptest::sample::Index;
use uuid::Uuid;

use crate::helpers::PASSWORD;

/// What the generated values never contain, so that finding it in the database means the
/// app decoded something lossily (as a parser does with bytes that are not UTF-8).
pub const REPLACEMENT: char = '\u{fffd}';

#[derive(Debug, Clone)]
pub enum Body {
    /// Anything at all; the token travels in the header.
    Bytes(Vec<u8>),
    /// `pair&pair…` with the token pair inserted at `token_at` (or only in the header).
    Pairs { pairs: Vec<Vec<u8>>, separator: &'static str, token_at: Option<Index> },
}

#[derive(Debug, Clone)]
pub struct Case {
    pub body: Body,
    pub content_type: Option<&'static str>,
    pub htmx: bool,
}

impl Case {
    /// The bytes to send, the token placed as the case says; and whether the token must
    /// also go in the `X-CSRF-Token` header (for bodies that carry none).
    pub fn render(&self, token: &str) -> (Vec<u8>, bool) {
        match &self.body {
            Body::Bytes(bytes) => (bytes.clone(), true),
            Body::Pairs { pairs, separator, token_at } => {
                let mut pairs = pairs.clone();
                if let Some(at) = token_at {
                    pairs.insert(at.index(pairs.len() + 1), format!("csrf_token={token}").into_bytes());
                }
                let in_header = token_at.is_none() || self.htmx;
                (pairs.join(separator.as_bytes()), in_header)
            }
        }
    }
}

impl std::fmt::Display for Case {
    /// What a failure message shows: the headers and the start of the body (it may be
    /// hundreds of kilobytes), with `TOKEN` where the token goes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (body, _) = self.render("TOKEN");
        let shown = String::from_utf8_lossy(&body[..body.len().min(400)]).into_owned();
        write!(f, "content-type {:?}, htmx {}, {} bytes: {shown:?}", self.content_type, self.htmx, body.len())
    }
}

/// Requests for a form whose fields are `fields`.
pub fn case(fields: &'static [&'static str]) -> impl Strategy<Value = Case> {
    let body = prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..600)
            .prop_filter("no encoded U+FFFD", |b| !b.windows(3).any(|w| w == "\u{fffd}".as_bytes()))
            .prop_map(Body::Bytes),
        6 => pairs(fields),
    ];
    let content_type = prop_oneof![
        12 => Just(Some("application/x-www-form-urlencoded")),
        1 => Just(Some("application/x-www-form-urlencoded; charset=ISO-8859-1")),
        1 => Just(Some("application/x-www-form-urlencoded; charset=nonsense")),
        1 => Just(Some("text/plain")),
        1 => Just(Some("multipart/form-data; boundary=x")),
        1 => Just(None),
    ];
    (body, content_type, any::<bool>()).prop_map(|(body, content_type, htmx)| Case { body, content_type, htmx })
}

fn pairs(fields: &'static [&'static str]) -> impl Strategy<Value = Body> {
    // Either every field of the form (in any order, sometimes with more pairs) or any few.
    let extra = prop_oneof![3 => Just(vec![]), 1 => prop::collection::vec(pair(fields), 1..3)];
    let complete = (Just(fields.to_vec()).prop_shuffle(), extra).prop_flat_map(move |(names, extra)| {
        let values: Vec<_> = names.iter().map(|name| value(name)).collect();
        (Just(names), values, Just(extra))
    });
    let complete = complete.prop_map(|(names, values, extra)| {
        let mut pairs: Vec<Vec<u8>> = names.iter().zip(values).map(|(n, v)| [n.as_bytes(), b"=", &v].concat()).collect();
        pairs.extend(extra);
        pairs
    });
    let any_pairs = prop::collection::vec(pair(fields), 0..8);
    let separator = prop_oneof![8 => Just("&"), 1 => Just("&&"), 1 => Just(";")];
    let token_at = prop::option::weighted(0.85, any::<Index>());
    (prop_oneof![3 => complete, 2 => any_pairs], separator, token_at).prop_map(|(pairs, separator, token_at)| Body::Pairs {
        pairs,
        separator,
        token_at,
    })
}

/// `key=value`, `key`, `=value` or `key==value`, the key one of the form's or not.
fn pair(fields: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    let key = prop_oneof![
        6 => prop::sample::select(fields).prop_map(|f| f.as_bytes().to_vec()),
        1 => prop::sample::select(&["colour", "", "text[]", "%00", "na%6De", "csrf_token", "+"][..]).prop_map(|k| k.as_bytes().to_vec()),
        1 => text(12).prop_map(encode),
    ];
    let shape = prop::sample::select(&["=", "", "==", "=&="][..]);
    (key, shape, raw_value()).prop_map(|(k, shape, v)| match shape {
        "" => k,
        _ => [k.as_slice(), shape.as_bytes(), &v].concat(),
    })
}

/// A value for `field`: sometimes one the app accepts, so the success paths are driven too.
fn value(field: &'static str) -> BoxedStrategy<Vec<u8>> {
    let plausible: &'static [&'static str] = match field {
        "username" | "to" | "members" => &["bob", "carol", "BOB ", "alice", "nobody", "dave"],
        "password" | "password_confirm" | "new_password" | "new_password_confirm" => &[PASSWORD, "short", "another good password"],
        "current_password" => &["not the password", ""],
        "text" => &["hello", "  hi there  ", "line one\r\nline two", "a\rb", "<script>alert(1)</script>"],
        "name" => &["team", "  the team  ", "🎉 party", "x"],
        "greeting" => &["hi!", "", "  let us chat  "],
        "seq" => &["1", "0", "-1", "9223372036854775807", "9223372036854775808", "1e3", ""],
        "client_id" => &["", "not-a-uuid", "00000000-0000-0000-0000-000000000000"],
        "return_to" => &["/users/bob", "https://elsewhere.example/", "//elsewhere", "/users/../../x"],
        _ => &[""],
    };
    // A fresh id mostly, for client_id: a repeated one stores nothing new.
    let fresh_id_weight = if field == "client_id" { 6 } else { 1 };
    let fresh_id = any::<u128>().prop_map(|n| Uuid::from_u128(n).to_string().into_bytes());
    prop_oneof![
        5 => prop::sample::select(plausible).prop_map(encode),
        fresh_id_weight => fresh_id,
        3 => raw_value(),
    ]
    .boxed()
}

/// Text, encoded as a browser would; raw pieces with broken escapes; or something huge.
fn raw_value() -> impl Strategy<Value = Vec<u8>> {
    let pieces: &'static [&'static str] = &[
        "%",
        "%G1",
        "%4",
        "%00",
        "%0A",
        "%0D",
        "%0D%0A",
        "%FF",
        "%ED%A0%80",
        "%C3",
        "%C3%A9",
        "%C0%AF",
        "+",
        "%2B",
        "%26",
        "%3D",
        "=",
        "a",
        "%25",
        "%u0041",
        "%%",
        "é",
        "\u{0}",
        "\r\n",
        " ",
        "%E2%80%A8",
    ];
    prop_oneof![
        4 => text(300).prop_map(encode),
        3 => prop::collection::vec(prop::sample::select(pieces), 0..20).prop_map(|p| p.concat().into_bytes()),
        1 => (prop::sample::select(&["a", "%F0%9F%98%80", "+", "%0D%0A"][..]), 1_000..25_000usize)
            .prop_map(|(unit, n)| unit.repeat(n).into_bytes()),
    ]
}

/// Characters that break naive parsers (controls, NUL, every kind of line break and
/// space, zero-width and bidi marks, combining marks, astral characters), or any at all.
fn text(max: usize) -> impl Strategy<Value = String> {
    let spicy: &'static [char] = &[
        '\0',
        '\u{1}',
        '\t',
        '\n',
        '\r',
        '\u{b}',
        '\u{1b}',
        '\u{7f}',
        '\u{85}',
        ' ',
        '\u{a0}',
        '\u{2028}',
        '\u{3000}',
        '\u{feff}',
        '\u{200b}',
        '\u{202e}',
        '\u{301}',
        '\u{212a}',
        '\u{1f600}',
        '\u{10ffff}',
        '%',
        '&',
        '=',
        '+',
        '<',
        '\'',
        '"',
        '\\',
        'a',
        'B',
        '7',
        '_',
        '.',
        '-',
    ];
    let c = prop_oneof![3 => prop::sample::select(spicy), 1 => any::<char>().prop_filter("not U+FFFD", |c| *c != REPLACEMENT)];
    prop::collection::vec(c, 0..=max).prop_map(|cs| cs.into_iter().collect())
}

fn encode(text: impl AsRef<str>) -> Vec<u8> {
    url::form_urlencoded::byte_serialize(text.as_ref().as_bytes()).collect::<String>().into_bytes()
}
