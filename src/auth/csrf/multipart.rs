//! The first part of a multipart body, as the CSRF check reads it before the handler
//! accepts the body. It must be the field `csrf_token` (a field, not a file), whole
//! within `FIRST_PART_LIMIT` bytes counted from the body's first byte, which must be the
//! boundary line (no preamble: browsers send none). Anything else is refused as soon as
//! it shows, so a refused body is never read further than needed to see that.

/// The opening boundary line, the part's headers, the token and the delimiter after it
/// must all fit in this many bytes (a real one takes about 150).
pub const FIRST_PART_LIMIT: usize = 4 * 1024;

#[derive(Debug, PartialEq, Eq)]
pub enum FirstPart {
    /// The value of the first part, a field named `csrf_token`.
    Token(String),
    /// The body cannot carry the token first: why, for the log.
    Refused(&'static str),
    /// What was read so far may yet become a valid first part.
    NeedMore,
}

/// The boundary of a `multipart/…` content type (its `boundary` parameter, 1–70 characters).
pub fn boundary(content_type: &str) -> Option<String> {
    let params = parameters(&content_type[content_type.find(';')?..])?;
    let mut found = params.into_iter().filter(|(k, _)| k == "boundary").map(|(_, v)| v);
    let boundary = found.next()?;
    let valid = (1..=70).contains(&boundary.len()) && !boundary.contains(['\r', '\n']);
    (valid && found.next().is_none()).then_some(boundary)
}

/// Judges the bytes read so far of a body with this `boundary`.
pub fn first_part(read: &[u8], boundary: &str) -> FirstPart {
    let window = &read[..read.len().min(FIRST_PART_LIMIT)];
    let need_more = if read.len() >= FIRST_PART_LIMIT { FirstPart::Refused("first part too large") } else { FirstPart::NeedMore };
    let opening = format!("--{boundary}\r\n");
    let Some(rest) = window.strip_prefix(opening.as_bytes()) else {
        return if opening.as_bytes().starts_with(window) { need_more } else { FirstPart::Refused("body does not open with its boundary") };
    };
    if rest.starts_with(b"\r\n") {
        return FirstPart::Refused("first part without headers");
    }
    let Some(end_of_headers) = find(rest, b"\r\n\r\n") else {
        return need_more;
    };
    if let Err(why) = is_the_token_field(&rest[..end_of_headers]) {
        return FirstPart::Refused(why);
    }
    let value = &rest[end_of_headers + 4..];
    let Some(end) = find(value, format!("\r\n--{boundary}").as_bytes()) else {
        return need_more;
    };
    match std::str::from_utf8(&value[..end]) {
        Ok(token) => FirstPart::Token(token.to_owned()),
        Err(_) => FirstPart::Refused("first part is not UTF-8"),
    }
}

/// The part's headers name the field `csrf_token` in one `Content-Disposition: form-data`.
fn is_the_token_field(headers: &[u8]) -> Result<(), &'static str> {
    let headers = std::str::from_utf8(headers).map_err(|_| "first part's headers are not UTF-8")?;
    let mut disposition = None;
    for line in headers.split("\r\n") {
        let (name, value) = line.split_once(':').ok_or("malformed header in the first part")?;
        if name.is_empty() || name.contains([' ', '\t']) {
            return Err("malformed header in the first part");
        }
        if name.eq_ignore_ascii_case("content-disposition") && disposition.replace(value.trim()).is_some() {
            return Err("two Content-Disposition headers in the first part");
        }
    }
    let disposition = disposition.ok_or("first part without Content-Disposition")?;
    let (kind, params) = disposition.split_at(disposition.find(';').unwrap_or(disposition.len()));
    if !kind.trim().eq_ignore_ascii_case("form-data") {
        return Err("first part is not form-data");
    }
    let params = parameters(params).ok_or("malformed Content-Disposition in the first part")?;
    if params.iter().any(|(k, _)| k.starts_with("filename")) {
        return Err("first part is a file");
    }
    let mut names = params.iter().filter(|(k, _)| k == "name").map(|(_, v)| v.as_str());
    match (names.next(), names.next()) {
        (Some(super::FIELD), None) => Ok(()),
        _ => Err("first part is not the CSRF token"),
    }
}

/// `; key=value; key="quoted \" value"` as (lower-case key, value) pairs; None if malformed.
fn parameters(mut rest: &str) -> Option<Vec<(String, String)>> {
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Some(params);
        }
        rest = rest.strip_prefix(';')?.trim_start();
        if rest.is_empty() {
            return Some(params);
        }
        let (key, after) = rest.split_once('=')?;
        let key = key.trim();
        if key.is_empty() || key.contains([' ', '\t', '"', ';']) {
            return None;
        }
        let after = after.trim_start();
        let value = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let end = loop {
                match chars.next()? {
                    (_, '\\') => value.push(chars.next()?.1),
                    (i, '"') => break i,
                    (_, c) => value.push(c),
                }
            };
            rest = &quoted[end + 1..];
            value
        } else {
            let end = after.find(';').unwrap_or(after.len());
            rest = &after[end..];
            after[..end].trim().to_owned()
        };
        params.push((key.to_ascii_lowercase(), value));
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: &str = "XyZ";

    fn body(parts: &[(&str, &str)]) -> Vec<u8> {
        let mut out = String::new();
        for (headers, value) in parts {
            out.push_str(&format!("--{B}\r\n{headers}\r\n\r\n{value}\r\n"));
        }
        out.push_str(&format!("--{B}--\r\n"));
        out.into_bytes()
    }

    const TOKEN: &str = "Content-Disposition: form-data; name=\"csrf_token\"";
    const PICTURE: &str = "Content-Disposition: form-data; name=\"picture\"; filename=\"a.png\"\r\nContent-Type: image/png";

    #[test]
    fn the_boundary_is_read_from_the_content_type() {
        assert_eq!(boundary("multipart/form-data; boundary=XyZ").as_deref(), Some("XyZ"));
        assert_eq!(boundary("multipart/form-data;boundary=\"a b;c\"; charset=utf-8").as_deref(), Some("a b;c"));
        assert_eq!(boundary("multipart/form-data; BOUNDARY=x").as_deref(), Some("x"));
        assert_eq!(boundary("multipart/form-data"), None);
        assert_eq!(boundary("multipart/form-data; boundary="), None);
        assert_eq!(boundary("multipart/form-data; boundary=a; boundary=b"), None);
        assert_eq!(boundary(&format!("multipart/form-data; boundary={}", "x".repeat(71))), None);
    }

    #[test]
    fn a_token_first_is_found_and_the_rest_is_not_needed() {
        let full = body(&[(TOKEN, "abc123"), (PICTURE, "\u{89}PNG...")]);
        assert_eq!(first_part(&full, B), FirstPart::Token("abc123".into()));
        // Everything up to the delimiter after the token is enough.
        let end = find(&full, b"abc123\r\n--XyZ").unwrap() + "abc123\r\n--XyZ".len();
        assert_eq!(first_part(&full[..end], B), FirstPart::Token("abc123".into()));
        assert_eq!(first_part(&full[..end - 1], B), FirstPart::NeedMore);
        for cut in 0..end - 1 {
            assert_eq!(first_part(&full[..cut], B), FirstPart::NeedMore, "cut at {cut}");
        }
    }

    #[test]
    fn header_names_and_quoting_may_vary() {
        for headers in [
            "content-disposition: form-data; name=csrf_token",
            "CONTENT-DISPOSITION:Form-Data;name=\"csrf_token\"",
            "Content-Type: text/plain; charset=utf-8\r\nContent-Disposition: form-data; name=\"csrf\\_token\"",
        ] {
            assert_eq!(first_part(&body(&[(headers, "t")]), B), FirstPart::Token("t".into()), "{headers}");
        }
    }

    #[test]
    fn anything_but_the_token_first_is_refused_as_soon_as_it_shows() {
        let refused = |b: &[u8]| matches!(first_part(b, B), FirstPart::Refused(_));
        assert!(refused(&body(&[(PICTURE, "x"), (TOKEN, "t")])), "token second");
        assert!(refused(&body(&[("Content-Disposition: form-data; name=\"text\"", "t")])), "another name");
        assert!(refused(&body(&[("Content-Disposition: form-data; name=\"csrf_token\"; filename=\"t\"", "t")])), "a file");
        assert!(refused(&body(&[("Content-Disposition: form-data; name=csrf_token; name=x", "t")])), "two names");
        assert!(refused(&body(&[("Content-Disposition: attachment; name=csrf_token", "t")])), "not form-data");
        assert!(refused(&body(&[(&format!("{TOKEN}\r\n{TOKEN}"), "t")])), "two dispositions");
        assert!(refused(&body(&[("X-Other: 1", "t")])), "no disposition");
        assert!(refused(&body(&[(&format!(" folded\r\n{TOKEN}"), "t")])), "a folded line");
        assert!(refused(format!("preamble\r\n--{B}\r\n{TOKEN}\r\n\r\nt\r\n--{B}--").as_bytes()), "a preamble");
        assert!(refused(format!("--{B}\r\n\r\nt\r\n--{B}--").as_bytes()), "no headers");
        let mut not_utf8 = format!("--{B}\r\n{TOKEN}\r\n\r\n").into_bytes();
        not_utf8.extend_from_slice(b"\xff\r\n--XyZ--");
        assert!(refused(&not_utf8), "a token that is not UTF-8");
        // Refused before the value is read: the name settles it.
        assert!(refused(format!("--{B}\r\nContent-Disposition: form-data; name=\"picture\"\r\n\r\n").as_bytes()));
        assert!(refused(b"--XyZ--"), "an empty body");
        assert!(refused(b"nonsense"));
    }

    #[test]
    fn a_first_part_longer_than_the_limit_is_refused() {
        let long = "t".repeat(FIRST_PART_LIMIT);
        let full = body(&[(TOKEN, &long)]);
        assert_eq!(first_part(&full[..FIRST_PART_LIMIT - 1], B), FirstPart::NeedMore);
        assert!(matches!(first_part(&full[..FIRST_PART_LIMIT], B), FirstPart::Refused(_)));
        assert!(matches!(first_part(&full, B), FirstPart::Refused(_)));
        let headers = format!("{TOKEN}\r\nX-Filler: {}", "f".repeat(FIRST_PART_LIMIT));
        assert!(matches!(first_part(&body(&[(&headers, "t")]), B), FirstPart::Refused(_)));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::{first_part, FirstPart};
    use crate::domain::test_strings::CASES;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_bytes_are_judged_without_panicking(read in prop::collection::vec(any::<u8>(), 0..600), boundary in "[ -~]{1,70}") {
            let _ = first_part(&read, &boundary);
            let _ = super::boundary(&String::from_utf8_lossy(&read));
        }

        /// However the body arrives in pieces, each prefix either needs more or gives the
        /// token; none is refused and the answer never changes once given.
        #[test]
        fn a_token_first_is_found_whatever_follows(token in "[A-Za-z0-9]{0,64}", rest in prop::collection::vec(any::<u8>(), 0..200)) {
            let mut body = format!("--b0undary\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{token}\r\n--b0undary").into_bytes();
            let complete = body.len();
            body.extend_from_slice(&rest);
            for cut in 0..=body.len() {
                let expected = if cut < complete { FirstPart::NeedMore } else { FirstPart::Token(token.clone()) };
                prop_assert_eq!(first_part(&body[..cut], "b0undary"), expected);
            }
        }
    }
}
