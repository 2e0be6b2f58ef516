use std::fmt;

use super::Invalid;

/// 3–32 characters of `a-z 0-9 _ . -`, stored lower-case (input is lower-cased first,
/// so `Alice` and `alice` are the same account). Only ASCII letters are lower-cased:
/// Unicode case mapping would turn the Kelvin sign `K` (U+212A) into `k` and accept a
/// character the person cannot see is not a `k`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub fn parse(input: &str) -> Result<Self, Invalid> {
        let name = input.trim().to_ascii_lowercase();
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
        for bad in ["a b c", "ali<ce", "élan", "bob\0x", "x/../y", "ab😀", "\u{212a}elvin"] {
            assert!(Username::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::Username;
    use crate::domain::test_strings::{around_limit, hostile_char, hostile_string, huge, padding, CASES};

    /// The rule of SPEC 1 written out independently: after trimming, 3–32 characters of
    /// `a-z A-Z 0-9 _ . -` (ASCII, so bytes and characters are the same count).
    fn is_well_formed(input: &str) -> bool {
        let name = input.trim();
        (3..=32).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        #[test]
        fn any_input_is_accepted_exactly_when_the_rule_says_and_then_stored_lower_case(input in hostile_string(40)) {
            let parsed = Username::parse(&input);
            prop_assert_eq!(parsed.is_ok(), is_well_formed(&input), "{:?} -> {:?}", input, parsed);
            if let Ok(name) = parsed {
                prop_assert_eq!(name.as_str(), input.trim().to_ascii_lowercase());
                prop_assert!(!name.as_str().bytes().any(|b| b.is_ascii_uppercase()));
                prop_assert_eq!(Username::parse(name.as_str()), Ok(name.clone()), "canonical values round-trip");
            }
        }

        #[test]
        fn every_well_formed_name_is_accepted_whatever_its_case_and_padding(
            name in "[a-zA-Z0-9_.-]{3,32}", before in padding(), after in padding()
        ) {
            let parsed = Username::parse(&format!("{before}{name}{after}")).map(|u| u.to_string());
            prop_assert_eq!(parsed, Ok(name.to_ascii_lowercase()));
        }

        /// One character outside the alphabet, anywhere inside an otherwise good name,
        /// is refused, even one that Unicode lower-cases into the alphabet.
        #[test]
        fn one_foreign_character_inside_a_name_refuses_it(
            start in "[a-z0-9]{1,15}",
            foreign in hostile_char().prop_filter("outside the alphabet", |c| !c.is_ascii_alphanumeric() && !"_.-".contains(*c)),
            end in "[a-z0-9]{1,15}",
        ) {
            let input = format!("{start}{foreign}{end}");
            prop_assert!(Username::parse(&input).is_err(), "{:?} was accepted", input);
        }

        #[test]
        fn lengths_around_the_limits_and_huge_inputs_follow_the_rule(
            (short, _) in around_limit(3, 2), (long, _) in around_limit(32, 2), big in huge()
        ) {
            for input in [short, long, big] {
                prop_assert_eq!(Username::parse(&input).is_ok(), is_well_formed(&input), "{:?}", input);
            }
        }
    }
}
