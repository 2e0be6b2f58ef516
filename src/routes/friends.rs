//! `/friends`: friends, pending requests both ways, the user search; unfriending. Also how
//! every friendship action answers (`friend_requests` uses `finish` and `refuse`): a plain
//! POST gets a 303 back to where its form was, htmx gets that place's block re-rendered.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::auth::CurrentUser;
use crate::db::{self, DbPool};
use crate::domain::{Username, UsernamePrefix};
use crate::error::{default_message, AppError};
use crate::models::friends::{self, Unfriended};
use crate::models::{friend_requests, users};
use crate::views::friends::{FriendsPage, Notice, RefusedRequest};
use crate::views::{self, see_other, Layout};

#[derive(Deserialize)]
pub struct Search {
    #[serde(default)]
    q: String,
}

/// The page; for htmx (the search field) only the search results.
pub async fn index(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    req: HttpRequest,
    search: web::Query<Search>,
) -> Result<HttpResponse, AppError> {
    let htmx = views::is_htmx(&req);
    let page = page(&user, &pool, search.into_inner().q, !htmx).await?;
    let mut resp = if htmx { views::ok(&page.as_search_results())? } else { views::ok(&page)? };
    // The same URL answers with a page or a fragment: caches must keep them apart.
    resp.headers_mut().insert(header::VARY, header::HeaderValue::from_static("HX-Request"));
    Ok(resp)
}

/// Loads the page; without `lists` only the search (for the htmx search fragment).
async fn page(user: &CurrentUser, pool: &DbPool, q: String, lists: bool) -> Result<FriendsPage, AppError> {
    let me = user.user_id;
    let q = q.trim().to_string();
    let prefix = UsernamePrefix::parse(&q);
    let (counts, results, lists) = db::run(pool, move |conn| {
        let results = prefix.map(|p| friends::search(conn, me, &p)).transpose()?;
        let lists = if lists {
            Some((friend_requests::incoming(conn, me)?, friend_requests::outgoing(conn, me)?, friends::list(conn, me)?))
        } else {
            None
        };
        // Fragments without the navigation do not need its counts.
        let counts = if lists.is_some() { users::nav_counts(conn, me)? } else { users::NavCounts::default() };
        Ok::<_, diesel::result::Error>((counts, results, lists))
    })
    .await?;
    let (incoming, outgoing, friends) = lists.unwrap_or_default();
    Ok(FriendsPage {
        layout: Layout::for_user(user, counts, "Friends", "friends"),
        q,
        results,
        incoming,
        outgoing,
        friends,
        notice: None,
        refused: None,
        htmx: false,
    })
}

#[derive(Deserialize)]
pub struct Action {
    #[serde(default)]
    return_to: String,
    #[serde(default)]
    q: String,
}

impl Action {
    pub(super) fn origin(&self) -> Origin {
        Origin::of(&self.return_to, &self.q)
    }
}

/// Unfriends `{username}`: 404 for no such user, 409 when not friends.
pub async fn remove(
    user: CurrentUser,
    pool: web::Data<DbPool>,
    req: HttpRequest,
    name: web::Path<String>,
    form: web::Form<Action>,
) -> Result<HttpResponse, AppError> {
    let origin = form.origin();
    let name = Username::parse(&name).map_err(|_| AppError::NotFound)?;
    let (me, them) = (user.user_id, name.clone());
    let result = match db::run(&pool, move |conn| friends::remove(conn, me, &them)).await? {
        Unfriended::Removed => Ok(format!("{name} is no longer your friend.")),
        Unfriended::NotFriends => Err(AppError::Conflict(format!("You are not friends with {name}."))),
        Unfriended::NoSuchUser => Err(AppError::NotFound),
    };
    finish(&user, &pool, &req, origin, result).await
}

/// Where a friendship form was: its answer goes back there. Built only from a username or
/// a search, so a crafted `return_to` can never redirect anywhere else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Origin {
    /// `/friends`, showing the search for `q` (may be empty).
    Friends { q: String },
    /// `/users/{username}`.
    Profile(Username),
}

impl Origin {
    /// `return_to` is `/users/{username}` from a profile; anything else means /friends.
    pub(super) fn of(return_to: &str, q: &str) -> Self {
        match return_to.strip_prefix("/users/").map(Username::parse) {
            Some(Ok(name)) => Origin::Profile(name),
            _ => Origin::Friends { q: q.trim().chars().take(64).collect() },
        }
    }

    pub(super) fn location(&self) -> String {
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
/// 404/409: a plain POST gets a 303 back (or the error page), htmx the fresh block with a
/// notice and the same status.
pub(super) async fn finish(
    user: &CurrentUser,
    pool: &DbPool,
    req: &HttpRequest,
    origin: Origin,
    result: Result<String, AppError>,
) -> Result<HttpResponse, AppError> {
    let (status, notice) = match (result, views::is_htmx(req)) {
        (Ok(_), false) => return Ok(see_other(&origin.location())),
        (Err(e), false) => return Err(e),
        (Ok(done), true) => (StatusCode::OK, Notice::done(done)),
        (Err(AppError::NotFound), true) => (StatusCode::NOT_FOUND, Notice::error(default_message(StatusCode::NOT_FOUND))),
        (Err(AppError::Conflict(why)), true) => (StatusCode::CONFLICT, Notice::error(why)),
        (Err(e), true) => return Err(e),
    };
    show(user, pool, req, &origin, status, Some(notice), None).await
}

/// A refused friend request (422): where its form was, with the input and the reason.
pub(super) async fn refuse(
    user: &CurrentUser,
    pool: &DbPool,
    req: &HttpRequest,
    origin: &Origin,
    refused: RefusedRequest,
) -> Result<HttpResponse, AppError> {
    show(user, pool, req, origin, StatusCode::UNPROCESSABLE_ENTITY, None, Some(refused)).await
}

/// Renders where the form was, as it is now: the page, or for htmx the block its forms
/// target (`lists` on /friends, `friendship` on a profile).
async fn show(
    user: &CurrentUser,
    pool: &DbPool,
    req: &HttpRequest,
    origin: &Origin,
    status: StatusCode,
    notice: Option<Notice>,
    refused: Option<RefusedRequest>,
) -> Result<HttpResponse, AppError> {
    let htmx = views::is_htmx(req);
    match origin {
        Origin::Profile(name) => {
            let mut page = super::users::profile(user, pool, name.clone()).await?;
            (page.notice, page.refused, page.htmx) = (notice, refused, htmx);
            if htmx {
                views::render(status, &page.as_friendship())
            } else {
                views::render(status, &page)
            }
        }
        Origin::Friends { q } => {
            let mut page = page(user, pool, q.clone(), true).await?;
            (page.notice, page.refused, page.htmx) = (notice, refused, htmx);
            if htmx {
                views::render(status, &page.as_lists())
            } else {
                views::render(status, &page)
            }
        }
    }
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
