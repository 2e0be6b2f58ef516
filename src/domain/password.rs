use std::fmt;

use super::Invalid;

/// 8–128 characters. Never printed: `Debug` hides it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub fn parse(input: String) -> Result<Self, Invalid> {
        let len = input.chars().count();
        if len < 8 {
            return Err(Invalid("Passwords have at least 8 characters."));
        }
        if len > 128 {
            return Err(Invalid("Passwords have at most 128 characters."));
        }
        Ok(Password(input))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::Password;

    #[test]
    fn passwords_have_eight_to_one_hundred_twenty_eight_characters() {
        assert!(Password::parse("1234567".into()).is_err());
        assert!(Password::parse("12345678".into()).is_ok());
        assert!(Password::parse("é".repeat(128)).is_ok());
        assert!(Password::parse("x".repeat(129)).is_err());
    }

    #[test]
    fn a_password_does_not_show_in_debug_output() {
        let p = Password::parse("hunter2hunter2".into()).map(|p| format!("{p:?}"));
        assert_eq!(p.as_deref(), Ok("Password(***)"));
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::Password;
    use crate::domain::test_strings::{around_limit, hostile_string, huge, CASES};

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// Passwords are taken as typed (spaces, NUL and all: they are only ever hashed),
        /// counted in characters, and never shown.
        #[test]
        fn any_input_of_eight_to_128_characters_is_kept_exactly_and_never_printed(input in hostile_string(160)) {
            let chars = input.chars().count();
            match Password::parse(input.clone()) {
                Ok(p) => {
                    prop_assert!((8..=128).contains(&chars), "{} characters accepted", chars);
                    prop_assert_eq!(p.expose(), input.as_str());
                    prop_assert_eq!(format!("{p:?}"), "Password(***)");
                    prop_assert!(Password::parse(p.expose().to_string()).is_ok(), "canonical values round-trip");
                }
                Err(_) => prop_assert!(!(8..=128).contains(&chars), "{} characters refused: {:?}", chars, input),
            }
        }

        #[test]
        fn lengths_around_the_limits_and_huge_inputs_are_judged_in_characters(
            (short, n_short) in around_limit(8, 2), (long, n_long) in around_limit(128, 2), big in huge()
        ) {
            prop_assert_eq!(Password::parse(short).is_ok(), (8..=128).contains(&n_short));
            prop_assert_eq!(Password::parse(long).is_ok(), (8..=128).contains(&n_long));
            prop_assert!(Password::parse(big).is_err());
        }
    }
}
