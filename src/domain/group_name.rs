use super::Invalid;

/// A group's name: trimmed, 1–80 characters, one line.
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
        if name.chars().any(char::is_control) {
            return Err(Invalid("Group names are one line of text."));
        }
        Ok(GroupName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
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
    }
}
