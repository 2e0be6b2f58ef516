//! How long a chat is muted (`POST /chats/{id}/mute`, field `for`): exactly one of the
//! five words of SPEC §6, nothing else.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};

use super::Invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MuteFor {
    Hour,
    EightHours,
    Week,
    Always,
    /// Unmute.
    Off,
}

impl MuteFor {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        match raw {
            "1h" => Ok(MuteFor::Hour),
            "8h" => Ok(MuteFor::EightHours),
            "1w" => Ok(MuteFor::Week),
            "always" => Ok(MuteFor::Always),
            "off" => Ok(MuteFor::Off),
            _ => Err(Invalid("Choose how long to mute: 1 hour, 8 hours, 1 week, always, or unmute.")),
        }
    }

    /// Until when the chat is muted, from `now`; `None` is not muted. "Always" is the
    /// far future (`always()`), a value both Rust and PostgreSQL hold.
    pub fn until(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            MuteFor::Hour => Some(now + TimeDelta::hours(1)),
            MuteFor::EightHours => Some(now + TimeDelta::hours(8)),
            MuteFor::Week => Some(now + TimeDelta::weeks(1)),
            MuteFor::Always => Some(always()),
            MuteFor::Off => None,
        }
    }
}

/// What "muted always" is stored as: the first instant of the year 9999.
pub fn always() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(9999, 1, 1, 0, 0, 0).single().unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Whether a mute that lasts until `until` is "always" (shown without an end).
pub fn is_always(until: DateTime<Utc>) -> bool {
    until >= always()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_five_words_are_accepted() {
        for (word, muted) in [("1h", true), ("8h", true), ("1w", true), ("always", true), ("off", false)] {
            assert_eq!(MuteFor::parse(word).unwrap().until(Utc::now()).is_some(), muted, "{word}");
        }
        for bad in ["", "1H", "2h", " 1h", "forever", "always ", "0", "on"] {
            assert!(MuteFor::parse(bad).is_err(), "{bad:?}");
        }
        let now = Utc::now();
        assert_eq!(MuteFor::Hour.until(now), Some(now + TimeDelta::hours(1)));
        assert!(is_always(MuteFor::Always.until(now).unwrap()) && !is_always(MuteFor::Week.until(now).unwrap()));
    }
}
