//! The people most tests start with.

use uuid::Uuid;

use super::Actor;

/// alice and bob, signed up on the app at `base`, friends, with their direct chat.
pub async fn alice_and_bob(base: &str) -> (Actor, Actor, Uuid) {
    let alice = Actor::sign_up(base, "alice").await;
    let bob = Actor::sign_up(base, "bob").await;
    alice.befriend(&bob).await;
    let chat = alice.open_direct(&bob).await;
    (alice, bob, chat)
}
