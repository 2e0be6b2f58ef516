use std::fmt;

use super::Invalid;

/// 3–32 characters of `a-z 0-9 _ . -`, stored lower-case (input is lower-cased first,
/// so `Alice` and `alice` are the same account).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let name = input.trim().to_lowercase();
        let len = name.chars().count();
        if len < 3 {
            return Err(Invalid("Usernames have at least 3 characters."));
        }
        if len > 32 {
            return Err(Invalid("Usernames have at most 32 characters."));
        }
        if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-')) {
            return Err(Invalid("Use only letters a–z, digits 0–9, and _ . -"));
        }
        Ok(Username(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Username;

    #[test]
    fn a_username_is_stored_lower_case() {
        assert_eq!(Username::parse("  ShaHn ").map(|u| u.to_string()), Ok("shahn".into()));
    }

    #[test]
    fn usernames_have_three_to_thirty_two_characters() {
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse(&"a".repeat(32)).is_ok());
        assert!(Username::parse(&"a".repeat(33)).is_err());
    }

    #[test]
    fn only_letters_digits_and_three_marks_are_allowed() {
        assert!(Username::parse("a.b_c-1").is_ok());
        for bad in ["a b c", "ali<ce", "élan", "bob\0x", "x/../y", "ab😀"] {
            assert!(Username::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
