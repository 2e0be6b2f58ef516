use super::Invalid;

/// A message: trimmed, 1–4000 characters. Every line break is stored as `\n`, whatever
/// was sent (`\r\n` from browser forms, a lone `\r`), so a break counts as one character
/// and a stored text parses to itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    pub const MAX_CHARS: usize = 4000;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        // CRLF first: "\r\r\n" must become two breaks, and no '\r' may survive (one
        // left over would turn into a second break the next time the text is parsed).
        let text = input.replace("\r\n", "\n").replace('\r', "\n");
        let text = text.trim();
        if text.is_empty() {
            return Err(Invalid("Write a message first."));
        }
        if text.chars().count() > Self::MAX_CHARS {
            return Err(Invalid("Messages have at most 4000 characters."));
        }
        if text.contains('\0') {
            return Err(Invalid("The message contains a character that is not allowed."));
        }
        Ok(MessageText(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::MessageText;

    #[test]
    fn a_message_is_trimmed() {
        assert_eq!(MessageText::parse("  hi \n").map(|m| m.into_string()), Ok("hi".into()));
    }

    #[test]
    fn an_empty_or_blank_message_is_refused() {
        assert!(MessageText::parse("").is_err());
        assert!(MessageText::parse(" \n\t ").is_err());
    }

    #[test]
    fn every_line_break_becomes_one_newline() {
        assert_eq!(MessageText::parse("a\r\nb\rc\r\r\nd").map(|m| m.into_string()), Ok("a\nb\nc\n\nd".into()));
    }

    #[test]
    fn messages_have_at_most_four_thousand_characters() {
        assert!(MessageText::parse(&"😀".repeat(4000)).is_ok());
        assert!(MessageText::parse(&"a".repeat(4001)).is_err());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::MessageText;
    use crate::domain::test_strings::{around_limit, hostile_string, huge, padding, CASES};

    /// SPEC 1: 1–4000 characters after trimming (a line break is one), no NUL.
    fn is_acceptable(input: &str) -> bool {
        let text = input.replace("\r\n", "\n").replace('\r', "\n");
        let text = text.trim();
        (1..=4000).contains(&text.chars().count()) && !text.contains('\0')
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_input_is_accepted_exactly_when_the_rule_says_and_is_then_canonical(input in hostile_string(300)) {
            let parsed = MessageText::parse(&input);
            prop_assert_eq!(parsed.is_ok(), is_acceptable(&input), "{:?}", input);
            if let Ok(message) = parsed {
                let text = message.as_str();
                prop_assert!((1..=MessageText::MAX_CHARS).contains(&text.chars().count()));
                prop_assert_eq!(text, text.trim(), "trimmed");
                prop_assert!(!text.contains('\0') && !text.contains('\r'), "{:?}", text);
                prop_assert_eq!(MessageText::parse(text), Ok(message.clone()), "canonical values round-trip");
            }
        }

        /// What a browser sends: lines joined by CRLF, perhaps padded. Each break counts
        /// as one character, so 4000 characters with their breaks always fit.
        #[test]
        fn browser_text_with_crlf_breaks_is_accepted_with_newlines(
            lines in prop::collection::vec("[a-zé😀<&%+ ]{0,60}", 1..80), before in padding(), after in padding()
        ) {
            let typed = lines.join("\n");
            prop_assume!(!typed.trim().is_empty() && typed.trim().chars().count() <= MessageText::MAX_CHARS);
            let sent = format!("{before}{}{after}", lines.join("\r\n"));
            let parsed = MessageText::parse(&sent).map(MessageText::into_string);
            prop_assert_eq!(parsed, Ok(typed.trim().to_string()));
        }

        #[test]
        fn lengths_around_the_limit_and_huge_inputs_are_judged_in_characters(
            (near, n) in around_limit(MessageText::MAX_CHARS, 3), big in huge()
        ) {
            prop_assert_eq!(MessageText::parse(&near).is_ok(), n <= MessageText::MAX_CHARS);
            prop_assert_eq!(MessageText::parse(&big).is_ok(), is_acceptable(&big));
        }
    }
}
