//! Generators for the property tests of the domain types and the form parsers: strings
//! made of the characters that break naive parsers. Test builds only.

use proptest::prelude::*;

/// Characters chosen for what they break:
/// - NUL (PostgreSQL text cannot hold it) and other C0/C1 controls, DEL;
/// - every kind of whitespace and line break (trimming, "one line" rules): NBSP, NEL,
///   ideographic space, U+2028/U+2029, BOM;
/// - zero-width and bidi marks (ZWSP, ZWJ, RLO, LRI) and combining marks (length limits
///   counted in characters, not bytes);
/// - characters whose case mapping changes length or script: `İ` lower-cases to two
///   characters, the Kelvin sign `K` to ASCII `k`, `Σ` to a final sigma, `ß`, `ﬀ`;
/// - U+FFFD, what a lossy decoder leaves of a lone surrogate or a broken byte;
/// - astral characters (four UTF-8 bytes, two UTF-16 units) and the last code point;
/// - URL-encoding, HTML and SQL metacharacters.
pub const SPICY: &[char] = &[
    '\0',
    '\u{1}',
    '\t',
    '\n',
    '\r',
    '\u{b}',
    '\u{c}',
    '\u{1b}',
    '\u{7f}',
    '\u{85}',
    '\u{9f}',
    ' ',
    '\u{a0}',
    '\u{1680}',
    '\u{2000}',
    '\u{2028}',
    '\u{2029}',
    '\u{3000}',
    '\u{feff}',
    '\u{200b}',
    '\u{200d}',
    '\u{202e}',
    '\u{2066}',
    '\u{301}',
    '\u{20dd}',
    '\u{130}',
    '\u{212a}',
    '\u{3a3}',
    'ß',
    'ﬀ',
    '\u{fffd}',
    '\u{1f600}',
    '\u{10ffff}',
    '%',
    '&',
    '=',
    '+',
    ';',
    '<',
    '>',
    '\'',
    '"',
    '\\',
    '/',
    '_',
    '.',
    '-',
];

/// Mostly characters that matter (above, and the username alphabet), some of any kind.
pub fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => prop::sample::select(SPICY),
        3 => prop::sample::select(&b"abcxyzABCXYZ0189_.-"[..]).prop_map(char::from),
        2 => any::<char>(),
    ]
}

/// Up to `max` hostile characters; sometimes a lossy decoding of raw bytes (broken UTF-8
/// and encoded surrogates become U+FFFD, as a careless form parser would make them).
pub fn hostile_string(max: usize) -> impl Strategy<Value = String> {
    prop_oneof![
        8 => prop::collection::vec(hostile_char(), 0..=max).prop_map(|cs| cs.into_iter().collect::<String>()),
        1 => prop::collection::vec(prop_oneof![any::<u8>(), Just(0xED), Just(0xA0), Just(0x80)], 0..=max)
            .prop_map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
    ]
}

/// Whitespace a browser or a person might add around a value.
pub fn padding() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(&[' ', '\t', '\n', '\r', '\u{a0}', '\u{3000}'][..]), 0..4)
        .prop_map(|cs| cs.into_iter().collect())
}

/// A non-whitespace, non-control character repeated `n` times, `n` within `spread` of
/// `limit`: values on both sides of a length limit.
pub fn around_limit(limit: usize, spread: usize) -> impl Strategy<Value = (String, usize)> {
    let visible = prop::sample::select(&['a', 'é', '\u{1f600}', '\u{10ffff}', 'ﬀ', '<'][..]);
    (visible, limit.saturating_sub(spread)..=limit + spread).prop_map(|(c, n)| (c.to_string().repeat(n), n))
}

/// Something huge: a hostile string repeated to 1,000–20,000 characters (every limit is
/// at most 4000).
pub fn huge() -> impl Strategy<Value = String> {
    (hostile_string(8), 1_000..20_000usize).prop_map(|(unit, len)| unit.chars().cycle().take(len).collect())
}

/// Case counts: enough to find the odd character, small enough for seconds.
pub const CASES: u32 = 512;
