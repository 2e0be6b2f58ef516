//! How every friendship action (send, accept, reject, withdraw a request; unfriend)
//! answers: a plain POST gets a 303 back to where its form was, htmx that place's block
//! re-rendered with a notice, and a refused request its form again with the input kept.

use actix_web::http::StatusCode;
use serde::Deserialize;

use super::friends::{friends_page, Parts};
use super::profile::profile_page;
use crate::auth::CurrentUser;
use crate::db::DbPool;
use crate::domain::Username;
use crate::error::{default_message, AppError};
use crate::views::friends::{FriendshipAnswer, FriendshipView, Notice, RefusedRequest};

/// The fields every friendship form carries to say where it was.
#[derive(Debug, Deserialize)]
pub struct ReturnTo {
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    q: String,
}

impl ReturnTo {
    pub fn origin(&self) -> Origin {
        Origin::of(&self.return_to, &self.q)
    }
}

/// Where a friendship form was: its answer goes back there. Built only from a username or
/// a search, so a crafted `return_to` can never redirect anywhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// `/friends`, showing the search for `q` (may be empty).
    Friends { q: String },
    /// `/users/{username}`.
    Profile(Username),
}

impl Origin {
    /// `return_to` is `/users/{username}` from a profile; anything else means /friends.
    pub fn of(return_to: &str, q: &str) -> Self {
        match return_to.strip_prefix("/users/").map(Username::parse) {
            Some(Ok(name)) => Origin::Profile(name),
            _ => Origin::Friends { q: q.trim().chars().take(64).collect() },
        }
    }

    pub fn location(&self) -> String {
        match self {
            Origin::Profile(name) => format!("/users/{name}"),
            Origin::Friends { q } if q.is_empty() => "/friends".into(),
            Origin::Friends { q } => {
                format!("/friends?q={}", url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>())
            }
        }
    }
}

/// Answers a friendship action that succeeded (`Ok(what happened)`) or was refused with
/// 404/409: a plain POST goes back where its form was (or gets the error page), htmx
/// gets that place as it is now, with a notice and the same status.
pub async fn answer(
    user: &CurrentUser,
    pool: &DbPool,
    htmx: bool,
    origin: &Origin,
    result: Result<String, AppError>,
) -> Result<FriendshipAnswer, AppError> {
    let (status, notice) = match (result, htmx) {
        (Ok(_), false) => return Ok(FriendshipAnswer::Redirect(origin.location())),
        (Err(e), false) => return Err(e),
        (Ok(done), true) => (StatusCode::OK, Notice::done(done)),
        (Err(AppError::NotFound), true) => (StatusCode::NOT_FOUND, Notice::error(default_message(StatusCode::NOT_FOUND))),
        (Err(AppError::Conflict(why)), true) => (StatusCode::CONFLICT, Notice::error(why)),
        (Err(e), true) => return Err(e),
    };
    let view = where_it_was(user, pool, origin, Some(notice), None).await?;
    Ok(FriendshipAnswer::Page { status, view: Box::new(view), htmx })
}

/// A refused friend request (422): where its form was, with the input and the reason.
pub async fn refuse(
    user: &CurrentUser,
    pool: &DbPool,
    htmx: bool,
    origin: &Origin,
    refused: RefusedRequest,
) -> Result<FriendshipAnswer, AppError> {
    let view = where_it_was(user, pool, origin, None, Some(refused)).await?;
    Ok(FriendshipAnswer::Page { status: StatusCode::UNPROCESSABLE_ENTITY, view: Box::new(view), htmx })
}

async fn where_it_was(
    user: &CurrentUser,
    pool: &DbPool,
    origin: &Origin,
    notice: Option<Notice>,
    refused: Option<RefusedRequest>,
) -> Result<FriendshipView, AppError> {
    Ok(match origin {
        Origin::Profile(name) => {
            let mut page = profile_page(user, pool, name.clone()).await?;
            (page.notice, page.refused) = (notice, refused);
            FriendshipView::Profile(page)
        }
        Origin::Friends { q } => {
            let mut page = friends_page(user, pool, q.clone(), Parts::All).await?;
            (page.notice, page.refused) = (notice, refused);
            FriendshipView::Friends(page)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::Origin;
    use crate::domain::Username;

    #[test]
    fn forms_return_to_a_profile_or_to_friends_and_nowhere_else() {
        let bob = Username::parse("bob").map_err(|_| ()).map(Origin::Profile);
        assert_eq!(Ok(Origin::of("/users/bob", "")), bob);
        assert_eq!(Origin::of("/users/bob", "").location(), "/users/bob");
        for hostile in ["", "/friends", "//evil.example", "https://evil.example/", "/users/../logout", "/users/bob/x", "/chats"] {
            assert_eq!(Origin::of(hostile, "").location(), "/friends", "{hostile:?}");
        }
    }

    #[test]
    fn a_search_is_kept_in_the_location_encoded() {
        assert_eq!(Origin::of("/friends", " al ").location(), "/friends?q=al");
        assert_eq!(Origin::of("", "a&b=c d").location(), "/friends?q=a%26b%3Dc+d");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::Origin;
    use crate::domain::test_strings::{hostile_string, CASES};
    use crate::domain::Username;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(CASES))]

        /// Whatever a form puts in `return_to` and `q`, a plain POST goes back to this
        /// site's friends page or a profile, in one clean header value: no open redirect.
        #[test]
        fn a_friendship_form_returns_only_to_the_friends_page_or_a_profile(
            return_to in prop_oneof![hostile_string(40), hostile_string(30).prop_map(|s| format!("/users/{s}"))],
            q in hostile_string(80),
        ) {
            let location = Origin::of(&return_to, &q).location();
            prop_assert!(location == "/friends" || location.starts_with("/friends?q=") || location.starts_with("/users/"), "{:?}", location);
            prop_assert!(location.bytes().all(|b| b.is_ascii_graphic()), "{:?}", location);
            if let Some(name) = location.strip_prefix("/users/") {
                prop_assert_eq!(Username::parse(name).map(|u| u.to_string()), Ok(name.to_string()));
            }
        }
    }
}
