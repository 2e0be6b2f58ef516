//! `/settings`: display picture, password, active sessions. The handlers fill in the
//! errors of the form they took.

use crate::auth::oidc::OidcState;
use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::error::AppError;
use crate::models::{account, blocks, display_pictures, inbox, oidc_identities, recovery_codes, sessions, users};
use crate::views::accounts::{BlockedRow, OidcSection, SafetySection, SessionRow, SettingsPage};
use crate::views::Layout;

/// `oidc`: the provider section is shown when one is configured.
pub async fn settings_page(user: &CurrentUser, pool: &DbPool, oidc: &OidcState) -> Result<SettingsPage, AppError> {
    let me = user.user_id;
    let issuer = oidc.0.as_ref().map(|o| o.issuer().to_string());
    let ((counts, version, listed, has_password, linked, safety), notifications) = db::run(pool, move |conn| {
        let linked = match &issuer {
            Some(issuer) => oidc_identities::is_linked(conn, me, issuer)?,
            None => false,
        };
        let notifications = inbox::prefs(conn, me)?;
        Ok::<_, AppError>((
            (
                users::nav_counts(conn, me)?,
                display_pictures::updated_at(conn, me)?,
                sessions::list_live_for_user(conn, me)?,
                users::has_password(conn, me)?,
                linked,
                SafetySection {
                    blocked: blocks::list(conn, me)?.into_iter().map(|b| BlockedRow { username: b.username }).collect(),
                    request_policy: account::request_policy(conn, me)?.as_str(),
                    codes_left: recovery_codes::left(conn, me)?,
                    ..SafetySection::default()
                },
            ),
            notifications,
        ))
    })
    .await?;
    Ok(SettingsPage {
        layout: Layout::for_user(user, counts, "Settings", "settings"),
        user_id: me,
        picture_version: version.map(|v| v.timestamp_micros().to_string()).unwrap_or_else(|| "0".into()),
        has_picture: version.is_some(),
        picture_error: None,
        current_password_error: None,
        new_password_error: None,
        new_password_confirm_error: None,
        has_password,
        oidc: oidc.name().map(|name| OidcSection { name, linked, unlink_error: None }),
        notice: None,
        notifications,
        notifications_error: None,
        sessions: listed
            .into_iter()
            .map(|s| SessionRow {
                is_current: s.sid.as_deref() == Some(user.sid.as_str()),
                user_agent: s.user_agent.unwrap_or_else(|| "Unknown browser".into()),
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
            })
            .collect(),
        safety,
    })
}
