//! Actors: named, logged-in people of a running app, who do what people do there
//! (make friends, open chats, send messages, run groups) with the same requests their
//! browser would send.
//!
//! Steps that must work for the test to go on (signing up, logging in, `befriend`,
//! `unfriend`, `open_direct`, `create_group`) assert their answer; the others return it,
//! for the tests about that answer.

use std::time::Duration;

use reqwest::{Response, StatusCode};
use uuid::Uuid;

use super::{assert_redirect, chat_redirected_to, select_attr, Client};

/// Everyone's password (people are made over HTTP, so it is a real, hashed one).
pub const PASSWORD: &str = "correct horse battery";

/// A person logged in to a running app. An actor is also their browser: raw requests
/// (`alice.post(..)`, `alice.get_page(..)`) go through `Client`. In a form, an actor
/// stands for their username (`AsRef<str>`), as does any typed-in name (`"BOB"`).
pub struct Actor {
    pub name: String,
    client: Client,
}

impl std::ops::Deref for Actor {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

impl AsRef<str> for Actor {
    fn as_ref(&self) -> &str {
        &self.name
    }
}

impl Actor {
    /// `name` signs up on the app at `base` (password `PASSWORD`) and stays logged in.
    pub async fn sign_up(base: &str, name: &str) -> Actor {
        let client = Client::new(base);
        // Signup leads to the page with the first recovery codes.
        assert_redirect(&client.signup(name, PASSWORD).await, "/signup/recovery-codes");
        Actor { name: name.to_ascii_lowercase(), client }
    }

    /// `name`, who has an account, logs in to the app at `base` from a new browser.
    pub async fn log_in(base: &str, name: &str) -> Actor {
        let client = Client::new(base);
        assert_redirect(&client.login(name, PASSWORD).await, "/chats");
        Actor { name: name.to_ascii_lowercase(), client }
    }

    /// The same person in the same browser (session, CSRF token), talking to another
    /// instance.
    pub fn moved_to(&self, base: &str) -> Actor {
        Actor { name: self.name.clone(), client: self.client.moved_to(base) }
    }

    // ---------- Friends ----------

    /// Makes friends the way people do: `self` sends a request, `other` accepts it.
    pub async fn befriend(&self, other: &Actor) {
        assert_redirect(&self.send_friend_request(other, "").await, "/friends");
        let request = other.request_from(self).await;
        assert_redirect(&other.accept_friend_request(request).await, "/friends");
    }

    pub async fn send_friend_request(&self, to: impl AsRef<str>, greeting: &str) -> Response {
        self.post("/friend-requests", &[("to", to.as_ref()), ("greeting", greeting)]).await
    }

    /// The id of the request `asker` sent `self`, read from the accept button on the
    /// asker's profile; panics unless one is pending.
    pub async fn request_from(&self, asker: impl AsRef<str>) -> Uuid {
        self.pending_request_on_profile(asker.as_ref(), "accept").await
    }

    /// The id of the request `self` sent `receiver`, read from the withdraw button on
    /// their profile; panics unless one is pending.
    pub async fn request_to(&self, receiver: impl AsRef<str>) -> Uuid {
        self.pending_request_on_profile(receiver.as_ref(), "withdraw").await
    }

    async fn pending_request_on_profile(&self, username: &str, verb: &str) -> Uuid {
        let (status, page) = self.get_page(&format!("/users/{username}")).await;
        assert_eq!(status, StatusCode::OK, "{username}'s profile");
        let action = select_attr(&page, &format!("#friendship form[action$='/{verb}']"), "action")
            .unwrap_or_else(|| panic!("{}: no pending request to {verb} on {username}'s profile", self.name));
        action.trim_start_matches("/friend-requests/").trim_end_matches(&format!("/{verb}")).parse().unwrap()
    }

    pub async fn accept_friend_request(&self, request: Uuid) -> Response {
        self.answer_friend_request(request, "accept").await
    }

    pub async fn reject_friend_request(&self, request: Uuid) -> Response {
        self.answer_friend_request(request, "reject").await
    }

    pub async fn withdraw_friend_request(&self, request: Uuid) -> Response {
        self.answer_friend_request(request, "withdraw").await
    }

    /// `verb`: accept, reject or withdraw.
    pub async fn answer_friend_request(&self, request: Uuid, verb: &str) -> Response {
        self.post(&format!("/friend-requests/{request}/{verb}"), &[]).await
    }

    /// Removes a friend (from the /friends page).
    pub async fn unfriend(&self, friend: &Actor) {
        assert_redirect(&self.remove_friend(friend).await, "/friends");
    }

    pub async fn remove_friend(&self, friend: impl AsRef<str>) -> Response {
        self.post(&format!("/friends/{}/remove", friend.as_ref()), &[]).await
    }

    // ---------- Chats ----------

    /// Opens (finds or creates) the direct chat with `friend`; returns its id.
    pub async fn open_direct(&self, friend: impl AsRef<str>) -> Uuid {
        let friend = friend.as_ref();
        let resp = self.post("/chats/direct", &[("username", friend)]).await;
        chat_redirected_to(&resp).unwrap_or_else(|| panic!("{} opens the chat with {friend}: {}", self.name, resp.status()))
    }

    /// Sends a message with the composer's form (a fresh `client_id`).
    pub async fn send(&self, chat: Uuid, text: &str) -> Response {
        self.post(&format!("/chats/{chat}/messages"), &[("text", text), ("client_id", &Uuid::new_v4().to_string())]).await
    }

    /// Sends a message as htmx does, with a given `client_id` (a browser repeats an
    /// unanswered send with the same one): Ok once the whole answer (200 and its body)
    /// arrived, Err (with why) when the request got no answer or a 5xx. For the tests of
    /// instances that die or drain under load.
    pub async fn try_send(&self, chat: Uuid, text: &str, client_id: Uuid) -> Result<(), String> {
        let token = self.csrf_token().await;
        let resp = self
            .http
            .post(self.url(&format!("/chats/{chat}/messages")))
            .header("HX-Request", "true")
            .header("X-CSRF-Token", token)
            .form(&[("text", text), ("client_id", &client_id.to_string())])
            .timeout(Duration::from_secs(20))
            .send()
            .await
            .map_err(|e| format!("no answer: {e}"))?;
        let status = resp.status();
        let body = resp.text().await.map_err(|e| format!("answer cut off: {e}"))?;
        match status {
            StatusCode::OK => Ok(()),
            s if s.is_server_error() => Err(format!("{s}")),
            s => panic!("unexpected {s} for {text}: {body}"),
        }
    }

    /// Says how far `self` has read (what the chat page posts as messages come into view).
    pub async fn mark_read(&self, chat: Uuid, seq: &str) -> Response {
        self.post(&format!("/chats/{chat}/read"), &[("seq", seq)]).await
    }

    // ---------- Groups ----------

    /// Creates a group with the form on /chats; returns its id.
    pub async fn create_group(&self, name: &str, members: &[impl AsRef<str>]) -> Uuid {
        let resp = self.post("/chats/group", &group_fields(name, members)).await;
        chat_redirected_to(&resp).unwrap_or_else(|| panic!("{} creates {name}: {}", self.name, resp.status()))
    }

    pub async fn add_member(&self, chat: Uuid, who: impl AsRef<str>) -> Response {
        self.post(&format!("/chats/{chat}/members"), &[("username", who.as_ref())]).await
    }

    pub async fn remove_member(&self, chat: Uuid, who: impl AsRef<str>) -> Response {
        self.post(&format!("/chats/{chat}/members/{}/remove", who.as_ref()), &[]).await
    }

    pub async fn rename_group(&self, chat: Uuid, name: &str) -> Response {
        self.post(&format!("/chats/{chat}/rename"), &[("name", name)]).await
    }

    pub async fn leave(&self, chat: Uuid) -> Response {
        self.post(&format!("/chats/{chat}/leave"), &[]).await
    }
}

/// The new-group form's fields: the name and one `members` field per person ticked.
pub fn group_fields<'a>(name: &'a str, members: &'a [impl AsRef<str>]) -> Vec<(&'a str, &'a str)> {
    std::iter::once(("name", name)).chain(members.iter().map(|m| ("members", m.as_ref()))).collect()
}
