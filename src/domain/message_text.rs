use super::Invalid;

/// A message: trimmed, 1–4000 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageText(String);

impl MessageText {
    pub const MAX_CHARS: usize = 4000;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        // Normalise line endings so that a browser's CRLF counts as one character.
        let text = input.replace("\r\n", "\n");
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
    fn messages_have_at_most_four_thousand_characters() {
        assert!(MessageText::parse(&"😀".repeat(4000)).is_ok());
        assert!(MessageText::parse(&"a".repeat(4001)).is_err());
    }
}
