use super::Invalid;

/// A group's name: trimmed, 1–80 characters, one line: no control character (which
/// includes `\n`, `\r` and NEL) and neither of Unicode's line and paragraph separators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName(String);

impl GroupName {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let name = input.trim();
        if name.is_empty() {
            return Err(Invalid("Give the group a name."));
        }
        if name.chars().count() > 80 {
            return Err(Invalid("Group names have at most 80 characters."));
        }
        if name.chars().any(breaks_the_line) {
            return Err(Invalid("Group names are one line of text."));
        }
        Ok(GroupName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn breaks_the_line(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    use super::GroupName;

    #[test]
    fn group_names_have_one_to_eighty_characters() {
        assert!(GroupName::parse("  ").is_err());
        assert!(GroupName::parse("group-1").is_ok());
        assert!(GroupName::parse(&"ü".repeat(80)).is_ok());
        assert!(GroupName::parse(&"ü".repeat(81)).is_err());
        assert!(GroupName::parse("a\nb").is_err());
        assert!(GroupName::parse("a\u{2028}b").is_err());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::GroupName;
    use crate::domain::test_strings::{around_limit, hostile_char, hostile_string, huge, padding, CASES};

    fn is_one_line(c: char) -> bool {
        !c.is_control() && c != '\u{2028}' && c != '\u{2029}'
    }

    /// SPEC 1: 1–80 characters after trimming, on one line.
    fn is_acceptable(input: &str) -> bool {
        let name = input.trim();
        (1..=80).contains(&name.chars().count()) && name.chars().all(is_one_line)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_input_is_accepted_exactly_when_the_rule_says_and_then_kept_trimmed(input in hostile_string(100)) {
            let parsed = GroupName::parse(&input);
            prop_assert_eq!(parsed.is_ok(), is_acceptable(&input), "{:?}", input);
            if let Ok(name) = parsed {
                prop_assert_eq!(name.as_str(), input.trim());
                prop_assert!(name.as_str().chars().all(is_one_line));
                prop_assert_eq!(GroupName::parse(name.as_str()), Ok(name.clone()), "canonical values round-trip");
            }
        }

        #[test]
        fn every_one_line_name_of_one_to_eighty_characters_is_accepted(
            // Mapped rather than filtered: a filter rejects too often at high case counts.
            chars in prop::collection::vec(hostile_char().prop_map(|c| if is_one_line(c) { c } else { '~' }), 1..=80),
            before in padding(), after in padding(),
        ) {
            let name: String = chars.into_iter().collect();
            prop_assume!(!name.trim().is_empty());
            let parsed = GroupName::parse(&format!("{before}{name}{after}")).map(|n| n.as_str().to_string());
            prop_assert_eq!(parsed, Ok(name.trim().to_string()));
        }

        #[test]
        fn lengths_around_the_limit_and_huge_inputs_are_judged_in_characters(
            (near, n) in around_limit(80, 3), big in huge()
        ) {
            prop_assert_eq!(GroupName::parse(&near).is_ok(), n <= 80);
            prop_assert!(GroupName::parse(&big).is_err());
        }
    }
}
