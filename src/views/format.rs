//! Small formatting helpers used by the templates.

use std::fmt;

use chrono::{DateTime, Datelike, Timelike, Utc};

/// Machine-readable timestamp for `<time datetime>`.
pub fn iso(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `iso`, written where it is displayed: a page shows two times per message, and a
/// `String` each (or chrono's `format`, which parses its pattern on every write) was
/// measurable in the chat page's render.
#[derive(Debug, Clone, Copy)]
pub struct IsoSeconds(pub DateTime<Utc>);

impl fmt::Display for IsoSeconds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(f, "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", t.year(), t.month(), t.day(), t.hour(), t.minute(), t.second())
    }
}

/// `clock`, written where it is displayed (as `IsoSeconds`).
#[derive(Debug, Clone, Copy)]
pub struct Clock(pub DateTime<Utc>);

impl fmt::Display for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.0.hour(), self.0.minute())
    }
}

/// Human date, e.g. "24 Nov 2026".
pub fn date(t: &DateTime<Utc>) -> String {
    t.format("%-d %b %Y").to_string()
}

/// Human date and time, e.g. "24 Nov 2026, 14:05".
pub fn date_time(t: &DateTime<Utc>) -> String {
    t.format("%-d %b %Y, %H:%M").to_string()
}

/// Clock time of a message, e.g. "14:05" (UTC; the page shows the ISO time as a tooltip).
pub fn clock(t: &DateTime<Utc>) -> String {
    t.format("%H:%M").to_string()
}

/// A short "Browser on OS" label for a User-Agent header, e.g. "Firefox on Linux".
/// A best-effort guess for people to recognise their devices, never used for decisions.
pub fn device(user_agent: &str) -> String {
    let ua = user_agent;
    // Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
    let browser = if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("OPR/") {
        "Opera"
    } else if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("Chromium/") {
        "Chromium"
    } else if ua.contains("Chrome/") || ua.contains("CriOS/") {
        "Chrome"
    } else if ua.contains("Safari/") {
        "Safari"
    } else {
        ""
    };
    // Android and iOS first: their UAs also mention "Linux" and "Mac OS X".
    let os = if ua.contains("Android") {
        "Android"
    } else if ua.contains("iPhone") || ua.contains("iPad") {
        "iOS"
    } else if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("Mac OS X") {
        "macOS"
    } else if ua.contains("CrOS") {
        "ChromeOS"
    } else if ua.contains("Linux") {
        "Linux"
    } else {
        ""
    };
    match (browser, os) {
        ("", "") => "Unknown device".to_string(),
        (b, "") => b.to_string(),
        ("", o) => format!("Browser on {o}"),
        (b, o) => format!("{b} on {o}"),
    }
}

/// A day separator: "Today", "Yesterday", or "24 Nov 2026".
pub fn day(t: &DateTime<Utc>, now: DateTime<Utc>) -> String {
    let (d, today) = (t.date_naive(), now.date_naive());
    if d == today {
        "Today".into()
    } else if today.pred_opt() == Some(d) {
        "Yesterday".into()
    } else {
        date(t)
    }
}

/// Compact time for lists: the clock today, else the date.
pub fn short_when(t: &DateTime<Utc>, now: DateTime<Utc>) -> String {
    if t.date_naive() == now.date_naive() {
        clock(t)
    } else {
        t.format("%-d %b").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_displayed_times_are_iso_and_clock() {
        for at in ["2026-12-07T09:05:03.75Z", "1999-01-31T23:59:59Z", "2026-02-28T00:00:00.999999Z"] {
            let t = DateTime::parse_from_rfc3339(at).unwrap().with_timezone(&Utc);
            assert_eq!(IsoSeconds(t).to_string(), iso(&t), "{at}");
            assert_eq!(Clock(t).to_string(), clock(&t), "{at}");
        }
        let t = DateTime::parse_from_rfc3339("2026-12-07T09:05:03.75Z").unwrap().with_timezone(&Utc);
        assert_eq!(IsoSeconds(t).to_string(), "2026-12-07T09:05:03Z");
        assert_eq!(Clock(t).to_string(), "09:05");
    }

    #[test]
    fn device_names_common_browsers() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0", "Edge on Windows"),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1", "Safari on iOS"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15", "Safari on macOS"),
            ("curl/8.5.0", "Unknown device"),
            ("", "Unknown device"),
        ];
        for (ua, want) in cases {
            assert_eq!(device(ua), want, "user agent {ua:?}");
        }
    }
}
