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
