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

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::Greeting;
    use crate::domain::test_strings::{around_limit, hostile_string, huge, padding, CASES};

    /// SPEC 1: at most 200 characters (as PostgreSQL's `char_length` counts them), after
    /// trimming; NUL cannot be stored.
    fn is_acceptable(input: &str) -> bool {
        let text = input.trim();
        text.chars().count() <= 200 && !text.contains('\0')
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_input_is_accepted_exactly_when_the_rule_says_and_then_kept_trimmed(input in hostile_string(240)) {
            let parsed = Greeting::parse(&input);
            prop_assert_eq!(parsed.is_ok(), is_acceptable(&input), "{:?}", input);
            if let Ok(greeting) = parsed {
                let text = greeting.as_str();
                prop_assert_eq!(text, input.trim());
                prop_assert!(text.chars().count() <= Greeting::MAX_CHARS && !text.contains('\0'));
                prop_assert_eq!(Greeting::parse(text), Ok(greeting.clone()), "canonical values round-trip");
            }
        }

        #[test]
        fn every_greeting_without_nul_of_at_most_200_characters_is_accepted(
            body in hostile_string(200).prop_map(|s| s.replace('\0', "")), before in padding(), after in padding()
        ) {
            let parsed = Greeting::parse(&format!("{before}{body}{after}"));
            prop_assert_eq!(parsed.map(|g| g.as_str().to_string()), Ok(body.trim().to_string()));
        }

        #[test]
        fn lengths_around_the_limit_and_huge_inputs_are_judged_in_characters(
            (near, n) in around_limit(Greeting::MAX_CHARS, 3), big in huge()
        ) {
            prop_assert_eq!(Greeting::parse(&near).is_ok(), n <= Greeting::MAX_CHARS);
            prop_assert_eq!(Greeting::parse(&big).is_ok(), is_acceptable(&big));
        }
    }
}
