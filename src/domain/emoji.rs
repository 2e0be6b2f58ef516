//! A reaction: exactly one emoji, i.e. one extended grapheme cluster (a flag, a family,
//! a skin tone, a keycap are one each) that is an emoji.

use unicode_segmentation::UnicodeSegmentation;

use super::Invalid;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emoji(String);

/// Whether `c` starts an emoji: the pictographic blocks, the older symbols that are
/// emoji, and regional indicators (flags, inside the first block). A keycap is a digit, `#` or `*` followed by
/// U+20E3, handled by `parse`.
fn pictographic(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2300..=0x23FF | 0x2B00..=0x2BFF | 0x2190..=0x21FF
        | 0xA9 | 0xAE | 0x203C | 0x2049 | 0x2122 | 0x2139 | 0x24C2 | 0x25AA..=0x25FE
        | 0x2934 | 0x2935 | 0x3030 | 0x303D | 0x3297 | 0x3299)
}

impl Emoji {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let e = input.trim();
        let mut clusters = e.graphemes(true);
        let (Some(one), None) = (clusters.next(), clusters.next()) else {
            return Err(Invalid("Choose one emoji."));
        };
        let first = one.chars().next().unwrap_or(' ');
        let keycap = one.ends_with('\u{20E3}') && (first.is_ascii_digit() || first == '#' || first == '*');
        if !(pictographic(first) || keycap) || one.len() > 64 {
            return Err(Invalid("Choose one emoji."));
        }
        Ok(Emoji(one.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The quick row offered under every message.
pub const QUICK: [&str; 6] = ["👍", "❤️", "😂", "😮", "😢", "🎉"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_emoji_grapheme_only() {
        for ok in ["👍", "❤️", "👍🏽", "🇫🇷", "👨‍👩‍👧", "1️⃣", " 🎉 "] {
            assert!(Emoji::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "👍👍", "ab", "<b>", "1", "é", "👍 x"] {
            assert!(Emoji::parse(bad).is_err(), "{bad}");
        }
        for quick in QUICK {
            assert!(Emoji::parse(quick).is_ok());
        }
    }
}
