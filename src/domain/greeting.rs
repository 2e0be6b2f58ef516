use super::Invalid;

/// The short note sent with a friend request: 0–200 characters (not bytes: an emoji is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting(String);

impl Greeting {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let text = input.trim();
        if text.chars().count() > Self::MAX_CHARS {
            return Err(Invalid("Greetings have at most 200 characters."));
        }
        if text.contains('\0') {
            return Err(Invalid("The greeting contains a character that is not allowed."));
        }
        Ok(Greeting(text.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Greeting;

    #[test]
    fn a_greeting_may_be_empty() {
        assert_eq!(Greeting::parse("   ").map(|g| g.as_str().to_string()), Ok(String::new()));
    }

    #[test]
    fn greetings_count_characters_not_bytes() {
        assert!(Greeting::parse(&"😀".repeat(200)).is_ok());
        assert!(Greeting::parse(&"😀".repeat(201)).is_err());
    }
}
