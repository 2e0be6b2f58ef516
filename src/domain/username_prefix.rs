/// What people type into the user search: the start of a username. Usernames are stored
/// lower-case, so the prefix is lower-cased too (the search is case-insensitive). `None`
/// when there is nothing to search for: blank, longer than any username can be, or with
/// a control character (no username has one, and PostgreSQL text cannot hold NUL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsernamePrefix(String);

impl UsernamePrefix {
    pub fn parse(input: &str) -> Option<Self> {
        let prefix = input.trim().to_lowercase();
        let len = prefix.chars().count();
        ((1..=32).contains(&len) && !prefix.chars().any(char::is_control)).then_some(UsernamePrefix(prefix))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::UsernamePrefix;

    #[test]
    fn a_prefix_is_trimmed_and_lower_cased() {
        assert_eq!(UsernamePrefix::parse("  AlI ").map(|p| p.as_str().to_string()), Some("ali".into()));
    }

    #[test]
    fn a_blank_or_overlong_prefix_searches_nothing() {
        assert_eq!(UsernamePrefix::parse(""), None);
        assert_eq!(UsernamePrefix::parse("   "), None);
        assert!(UsernamePrefix::parse(&"a".repeat(32)).is_some());
        assert_eq!(UsernamePrefix::parse(&"a".repeat(33)), None);
        assert_eq!(UsernamePrefix::parse("al\0"), None);
    }

    #[test]
    fn any_characters_may_be_searched_for() {
        // LIKE metacharacters are escaped where the query is built, not refused here.
        assert_eq!(UsernamePrefix::parse("a_%\\").map(|p| p.as_str().to_string()), Some("a_%\\".into()));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::UsernamePrefix;
    use crate::domain::test_strings::{hostile_string, huge, padding, CASES};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_input_gives_a_short_trimmed_lower_case_prefix_or_nothing(input in hostile_string(40)) {
            let wanted = input.trim().to_lowercase();
            let ok = (1..=32).contains(&wanted.chars().count()) && !wanted.chars().any(char::is_control);
            let parsed = UsernamePrefix::parse(&input);
            prop_assert_eq!(parsed.is_some(), ok, "{:?}", input);
            if let Some(prefix) = parsed {
                let p = prefix.as_str();
                prop_assert_eq!(p, wanted.as_str());
                prop_assert_eq!(p, p.trim());
                prop_assert_eq!(UsernamePrefix::parse(p), Some(prefix.clone()), "canonical values round-trip");
            }
        }

        #[test]
        fn the_start_of_any_well_formed_username_is_searched_for(
            start in "[a-zA-Z0-9_.-]{1,32}", before in padding(), after in padding()
        ) {
            let parsed = UsernamePrefix::parse(&format!("{before}{start}{after}")).map(|p| p.as_str().to_string());
            prop_assert_eq!(parsed, Some(start.to_ascii_lowercase()));
        }

        #[test]
        fn huge_inputs_search_nothing(big in huge()) {
            prop_assert_eq!(UsernamePrefix::parse(&big), None);
        }
    }
}
