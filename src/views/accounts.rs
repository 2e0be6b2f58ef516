//! Signup, login, settings and profile pages.

use crate::models::friends::Friendship;
use crate::models::UserId;
use askama::Template;
use chrono::{DateTime, Utc};

use super::form::Field;
use super::format;
use super::friends::{Notice, RefusedRequest};
use super::Layout;

#[derive(Template)]
#[template(path = "auth/signup.html")]
pub struct SignupPage {
    pub layout: Layout,
    pub username: Field,
    /// Password fields are never echoed back; only their errors are.
    pub password_error: Option<String>,
    pub password_confirm_error: Option<String>,
    /// An error about the whole form (throttled, ...).
    pub form_error: Option<String>,
}

#[derive(Template)]
#[template(path = "auth/login.html")]
pub struct LoginPage {
    pub layout: Layout,
    pub username: Field,
    pub form_error: Option<String>,
    /// The provider's name when sign-in with OpenID Connect is configured (the button).
    pub oidc_name: Option<String>,
}

/// The first sign-in through a provider: choose a username.
#[derive(Template)]
#[template(path = "auth/oidc_username.html")]
pub struct OidcUsernamePage {
    pub layout: Layout,
    pub provider: String,
    pub username: Field,
    pub form_error: Option<String>,
}

/// The provider section of Settings (when one is configured).
#[derive(Debug, Clone)]
pub struct OidcSection {
    pub name: String,
    pub linked: bool,
    /// A refused unlink: the reason next to the password field.
    pub unlink_error: Option<String>,
}

/// One row of the "active sessions" list in settings.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub user_agent: String,
    pub created_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub is_current: bool,
}

#[derive(Template)]
#[template(path = "settings/show.html")]
pub struct SettingsPage {
    pub layout: Layout,
    pub user_id: UserId,
    /// Cache-busting version of the picture URL (changes after an upload).
    pub picture_version: String,
    pub has_picture: bool,
    pub picture_error: Option<String>,
    pub current_password_error: Option<String>,
    pub new_password_error: Option<String>,
    pub new_password_confirm_error: Option<String>,
    /// Accounts made through a provider have no password until they set one.
    pub has_password: bool,
    pub oidc: Option<OidcSection>,
    /// A confirmation shown at the top ("Password changed.", ...).
    pub notice: Option<String>,
    /// Browser notifications (SPEC §6).
    pub notifications: crate::models::inbox::NotifyPrefs,
    pub notifications_error: Option<String>,
    pub sessions: Vec<SessionRow>,
    /// Account safety (SPEC §10): see `SafetySection`.
    pub safety: SafetySection,
}

/// The account-safety parts of Settings: blocked people, who may send requests,
/// recovery codes, export, deleting the account; each form's error next to its field.
#[derive(Debug, Clone, Default)]
pub struct SafetySection {
    pub blocked: Vec<BlockedRow>,
    /// `everyone`, `shared-groups` or `nobody`.
    pub request_policy: &'static str,
    pub policy_error: Option<String>,
    pub codes_left: i64,
    pub codes_password_error: Option<String>,
    pub delete_password_error: Option<String>,
    /// The typed confirmation, kept when refused.
    pub delete_confirm: String,
    pub delete_confirm_error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct BlockedRow {
    pub username: String,
}

/// Ten recovery codes, shown once (after signup, or regenerated in Settings).
#[derive(Template)]
#[template(path = "settings/recovery_codes.html")]
pub struct RecoveryCodesPage {
    pub layout: Layout,
    pub username: String,
    pub codes: Vec<String>,
    /// Shown right after signup (the first codes); else regenerated in Settings.
    pub at_signup: bool,
}

impl RecoveryCodesPage {
    /// The codes as a text file, for the download link (a `data:` URL: the codes never
    /// travel in an HTTP URL).
    pub fn download_href(&self) -> String {
        let mut text = format!("Chaat recovery codes for {}\r\nEach code works once.\r\n\r\n", self.username);
        for code in &self.codes {
            text.push_str(code);
            text.push_str("\r\n");
        }
        let mut href = String::from("data:text/plain;charset=utf-8,");
        for b in text.bytes() {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                href.push(b as char);
            } else {
                href.push_str(&format!("%{b:02X}"));
            }
        }
        href
    }
}

/// `GET/POST /recover`: a new password with a recovery code.
#[derive(Template)]
#[template(path = "auth/recover.html")]
pub struct RecoverPage {
    pub layout: Layout,
    pub username: Field,
    /// Always `None`: a code's failure is the form's one message (the field macro wants one).
    pub code_error: Option<String>,
    pub new_password_error: Option<String>,
    pub new_password_confirm_error: Option<String>,
    /// Every failure of the code itself gets this one message.
    pub form_error: Option<String>,
}

/// A profile. htmx gets the `friendship` block alone after a friendship action.
#[derive(Template)]
#[template(path = "users/profile.html", blocks = ["friendship"])]
pub struct ProfilePage {
    pub layout: Layout,
    pub user_id: UserId,
    pub username: String,
    pub join_date: DateTime<Utc>,
    /// The viewer's own profile.
    pub myself: bool,
    /// Where the viewer stands with the profile's owner (`None` on one's own profile).
    pub friendship: Friendship,
    /// What a friendship action did, or why not (htmx answers only).
    pub notice: Option<Notice>,
    /// A refused friend request, shown again at its form (422).
    pub refused: Option<RefusedRequest>,
    /// Rendered for htmx: adds the `<hx-partial>` that refreshes the nav's request count.
    pub htmx: bool,
    /// The viewer blocked this person (SPEC §10): the page offers Unblock, nothing else.
    pub blocked: bool,
}

impl ProfilePage {
    /// The greeting to show in the request form (the refused input, else empty).
    pub fn kept_greeting(&self) -> &str {
        self.refused.as_ref().map_or("", |r| r.greeting.as_str())
    }
    pub fn greeting_error(&self) -> Option<&str> {
        self.refused.as_ref().and_then(|r| r.greeting_error.as_deref())
    }
    pub fn request_error(&self) -> Option<&str> {
        self.refused.as_ref().and_then(|r| r.error.as_deref())
    }
    pub fn joined(&self) -> String {
        format::date(&self.join_date)
    }
    pub fn joined_iso(&self) -> String {
        format::iso(&self.join_date)
    }
}

impl SessionRow {
    pub fn created(&self) -> String {
        format::date_time(&self.created_at)
    }
    pub fn last_seen(&self) -> String {
        format::date_time(&self.last_seen_at)
    }
    pub fn last_seen_iso(&self) -> String {
        format::iso(&self.last_seen_at)
    }
    pub fn created_iso(&self) -> String {
        format::iso(&self.created_at)
    }
    /// "Firefox on Linux": a readable summary of the user agent for the sessions list.
    pub fn device(&self) -> String {
        format::device(&self.user_agent)
    }
}
