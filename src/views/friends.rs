//! `/friends`: search, incoming and outgoing requests, friends; and the confirmations and
//! refusals that friendship actions show (on /friends and on profiles).

use actix_web::http::StatusCode;
use actix_web::HttpResponse;
use askama::Template;
use chrono::{DateTime, Utc};

use super::{format, Layout};
use crate::models::friend_requests::PendingRequest;
use crate::models::friends::{Friend, Friendship, Person};

/// A line at the top of the swapped block after an htmx action: what happened, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub text: String,
    pub is_error: bool,
}

impl Notice {
    pub fn done(text: impl Into<String>) -> Self {
        Notice { text: text.into(), is_error: false }
    }
    pub fn error(text: impl Into<String>) -> Self {
        Notice { text: text.into(), is_error: true }
    }
}

/// A friend request that was refused (422), shown again at its form with the input kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefusedRequest {
    /// The receiver as typed, lower-cased (usernames are): picks the search row.
    pub to: String,
    /// The greeting exactly as typed.
    pub greeting: String,
    /// Why the greeting was refused (shown next to the greeting field).
    pub greeting_error: Option<String>,
    /// Why the request was refused otherwise (no such user, already friends, ...).
    pub error: Option<String>,
}

/// The whole page. htmx gets one block: `search_results` (a search), or `lists` (after an
/// action; it carries `<hx-partial>`s for the notice, the search results and the nav).
#[derive(Template)]
#[template(path = "friends/index.html", blocks = ["search_results", "lists"])]
pub struct FriendsPage {
    pub layout: Layout,
    /// The search as typed (kept in the search field).
    pub q: String,
    /// `None` when nothing was searched for.
    pub results: Option<Vec<Person>>,
    pub incoming: Vec<PendingRequest>,
    pub outgoing: Vec<PendingRequest>,
    pub friends: Vec<Friend>,
    pub notice: Option<Notice>,
    pub refused: Option<RefusedRequest>,
    /// Rendered for htmx: adds the `<hx-partial>`s that refresh the rest of the page.
    pub htmx: bool,
}

impl FriendsPage {
    fn refused_for(&self, username: &str) -> Option<&RefusedRequest> {
        self.refused.as_ref().filter(|r| r.to == username)
    }

    /// The greeting to show in `username`'s request form (the refused input, else empty).
    pub fn kept_greeting(&self, username: &str) -> &str {
        self.refused_for(username).map_or("", |r| r.greeting.as_str())
    }

    pub fn greeting_error(&self, username: &str) -> Option<&str> {
        self.refused_for(username).and_then(|r| r.greeting_error.as_deref())
    }

    pub fn request_error(&self, username: &str) -> Option<&str> {
        self.refused_for(username).and_then(|r| r.error.as_deref())
    }

    /// A refusal about someone the search results do not show (no such user, or a stale
    /// page): shown above the results instead.
    pub fn unplaced_refusal(&self) -> Option<&str> {
        let refused = self.refused.as_ref()?;
        let shown = self.results.as_ref().is_some_and(|people| people.iter().any(|p| p.username == refused.to));
        if shown {
            None
        } else {
            refused.error.as_deref().or(refused.greeting_error.as_deref())
        }
    }

    pub fn iso(&self, t: &DateTime<Utc>) -> String {
        format::iso(t)
    }

    pub fn date(&self, t: &DateTime<Utc>) -> String {
        format::date(t)
    }

    pub fn date_time(&self, t: &DateTime<Utc>) -> String {
        format::date_time(t)
    }
}

/// Where a friendship action's form was, as it is now (`pages::friendship`).
pub enum FriendshipView {
    Profile(super::accounts::ProfilePage),
    Friends(FriendsPage),
}

impl FriendshipView {
    /// The whole page, or for htmx the block its forms target (`friendship` on a
    /// profile, `lists` on /friends, each carrying its `<hx-partial>`s).
    pub fn render(mut self, status: StatusCode, htmx: bool) -> askama::Result<HttpResponse> {
        match &mut self {
            FriendshipView::Profile(page) => page.htmx = htmx,
            FriendshipView::Friends(page) => page.htmx = htmx,
        }
        match (self, htmx) {
            (FriendshipView::Profile(page), true) => super::render(status, &page.as_friendship()),
            (FriendshipView::Profile(page), false) => super::render(status, &page),
            (FriendshipView::Friends(page), true) => super::render(status, &page.as_lists()),
            (FriendshipView::Friends(page), false) => super::render(status, &page),
        }
    }
}

/// How a friendship action answers (`pages::friendship`).
pub enum FriendshipAnswer {
    /// A plain form: 303 back where it was.
    Redirect(String),
    Page {
        status: StatusCode,
        view: Box<FriendshipView>,
        htmx: bool,
    },
}

impl FriendshipAnswer {
    pub fn into_response(self) -> askama::Result<HttpResponse> {
        match self {
            FriendshipAnswer::Redirect(location) => Ok(super::see_other(&location)),
            FriendshipAnswer::Page { status, view, htmx } => view.render(status, htmx),
        }
    }
}
