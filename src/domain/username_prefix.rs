/// What people type into the user search: the start of a username. Usernames are stored
/// lower-case, so the prefix is lower-cased too (the search is case-insensitive). `None`
/// when there is nothing to search for: blank, or longer than any username can be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsernamePrefix(String);

impl UsernamePrefix {
    pub fn parse(input: &str) -> Option<Self> {
        let prefix = input.trim().to_lowercase();
        let len = prefix.chars().count();
        (1..=32).contains(&len).then_some(UsernamePrefix(prefix))
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
    }

    #[test]
    fn any_characters_may_be_searched_for() {
        // LIKE metacharacters are escaped where the query is built, not refused here.
        assert_eq!(UsernamePrefix::parse("a_%\\").map(|p| p.as_str().to_string()), Some("a_%\\".into()));
    }
}
