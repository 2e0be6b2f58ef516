/// The name a file is shown and downloaded with: the last path segment of what the
/// browser sent, without control characters (CR/LF included) or slashes, trimmed, at most
/// 255 characters; "file" when nothing is left. Any name becomes one (a file is never
/// refused for its name), so there is no error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    pub const MAX_CHARS: usize = 255;

    pub fn sanitise(raw: &str) -> FileName {
        let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
        let cleaned: String = last.chars().filter(|c| !c.is_control() && !is_invisible_trick(*c)).collect();
        let trimmed = cleaned.trim().trim_start_matches('.').trim();
        let short: String = trimmed.chars().take(Self::MAX_CHARS).collect();
        let short = short.trim().to_string();
        FileName(if short.is_empty() { "file".into() } else { short })
    }

    /// A name read back from the database (written through `sanitise`).
    pub fn from_stored(stored: String) -> FileName {
        FileName(stored)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }

    /// `Content-Disposition` for a download (RFC 6266): an ASCII `filename` fallback
    /// (anything else, quotes and backslashes become `_`) and the exact name as
    /// `filename*=UTF-8''…`, percent-encoded.
    pub fn content_disposition(&self) -> String {
        let ascii: String =
            self.0.chars().map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' }).collect();
        let mut encoded = String::new();
        for b in self.0.bytes() {
            // RFC 5987 attr-char: ALPHA / DIGIT / "!#$&+-.^_`|~"
            if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
                encoded.push(b as char);
            } else {
                encoded.push_str(&format!("%{b:02X}"));
            }
        }
        format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
    }
}

/// Characters that make a name read differently from what it is (right-to-left
/// overrides turning "gpj.exe" into "exe.jpg", zero-width joiners).
fn is_invisible_trick(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::FileName;

    #[test]
    fn a_name_loses_its_path_and_control_characters() {
        assert_eq!(FileName::sanitise("../../etc/passwd").as_str(), "passwd");
        assert_eq!(FileName::sanitise("C:\\Users\\me\\report.pdf").as_str(), "report.pdf");
        assert_eq!(FileName::sanitise("a\r\nSet-Cookie: x.txt").as_str(), "aSet-Cookie: x.txt");
        assert_eq!(FileName::sanitise("evil\u{202E}gpj.exe").as_str(), "evilgpj.exe");
        assert_eq!(FileName::sanitise("  ").as_str(), "file");
        assert_eq!(FileName::sanitise("..").as_str(), "file");
        assert_eq!(FileName::sanitise(".htaccess").as_str(), "htaccess");
        assert_eq!(FileName::sanitise(&"é".repeat(300)).as_str().chars().count(), 255);
    }

    #[test]
    fn the_download_header_has_an_ascii_fallback_and_the_exact_name() {
        let d = FileName::sanitise("naïve \"plan\".pdf").content_disposition();
        assert_eq!(d, "attachment; filename=\"na_ve _plan_.pdf\"; filename*=UTF-8''na%C3%AFve%20%22plan%22.pdf");
    }
}
