//! The first sign-in through a provider: the username form, with a suggestion.

use crate::auth::oidc::Identity;
use crate::db::{self, DbPool};
use crate::domain::Username;
use crate::error::AppError;
use crate::models::users;
use crate::views::accounts::OidcUsernamePage;
use crate::views::form::Field;
use crate::views::Layout;

/// The form as first shown: the provider's `preferred_username` filled in when it is a
/// valid username nobody has (only a suggestion: it is never matched to an account).
pub async fn first_username_page(
    pool: &DbPool,
    provider: &str,
    csrf_token: String,
    identity: &Identity,
) -> Result<OidcUsernamePage, AppError> {
    let candidate = identity.preferred_username.as_deref().and_then(|name| Username::parse(name).ok());
    let suggestion = match candidate {
        Some(name) => {
            let free = {
                let name = name.clone();
                db::run(pool, move |conn| users::find_by_username(conn, &name).map_err(AppError::from)).await?.is_none()
            };
            if free {
                name.as_str().to_string()
            } else {
                String::new()
            }
        }
        None => String::new(),
    };
    Ok(username_page(provider, csrf_token, Field::new(suggestion)))
}

pub fn username_page(provider: &str, csrf_token: String, username: Field) -> OidcUsernamePage {
    OidcUsernamePage {
        layout: Layout { section: "signup", ..Layout::anonymous("Choose your username", csrf_token) },
        provider: provider.to_string(),
        username,
        form_error: None,
    }
}
