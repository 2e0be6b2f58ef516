//! The `oidc_identities` table: which Chaat account a provider account (issuer, subject)
//! signs in to. A provider account is never matched to an account by its name or
//! e-mail: only a link made here counts.

use diesel::prelude::*;

use super::UserId;
use crate::db::schema::{oidc_identities, users};

/// The account linked to (`issuer`, `subject`), with its username.
pub fn find_user(conn: &mut PgConnection, issuer: &str, subject: &str) -> QueryResult<Option<(UserId, String)>> {
    oidc_identities::table
        .inner_join(users::table)
        .filter(oidc_identities::issuer.eq(issuer).and(oidc_identities::subject.eq(subject)))
        .select((users::user_id, users::username))
        .first(conn)
        .optional()
}

/// Whether `user_id` has a link at `issuer`.
pub fn is_linked(conn: &mut PgConnection, user_id: UserId, issuer: &str) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        oidc_identities::table.filter(oidc_identities::user_id.eq(user_id).and(oidc_identities::issuer.eq(issuer))),
    ))
    .get_result(conn)
}

/// What creating an account through a provider did.
#[derive(Debug, PartialEq, Eq)]
pub enum CreateOutcome {
    Created(UserId),
    UsernameTaken,
    /// The provider account got an account meanwhile (a second tab): sign in to it.
    AlreadyLinked(UserId, String),
}

/// Creates an account without a password, named `username`, linked to (`issuer`,
/// `subject`), in one transaction.
pub fn create_user(conn: &mut PgConnection, username: &str, salt: &str, issuer: &str, subject: &str) -> QueryResult<CreateOutcome> {
    conn.transaction(|conn| {
        let user_id = UserId::new_v7();
        // A held name (000022's trigger) fails in a savepoint: the same answer as taken.
        let inserted = match conn.transaction(|conn| {
            diesel::insert_into(users::table)
                .values((users::user_id.eq(user_id), users::username.eq(username), users::dynamic_salt.eq(salt)))
                .on_conflict_do_nothing()
                .execute(conn)
        }) {
            Err(e) if super::violates(&e, "users_username_key") => 0,
            other => other?,
        };
        if inserted == 0 {
            return Ok(CreateOutcome::UsernameTaken);
        }
        let linked = diesel::insert_into(oidc_identities::table)
            .values((oidc_identities::issuer.eq(issuer), oidc_identities::subject.eq(subject), oidc_identities::user_id.eq(user_id)))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if linked == 0 {
            // Undo the account made in this transaction; the link that won stays.
            diesel::delete(users::table.find(user_id)).execute(conn)?;
            return Ok(match find_user(conn, issuer, subject)? {
                Some((id, name)) => CreateOutcome::AlreadyLinked(id, name),
                None => CreateOutcome::UsernameTaken,
            });
        }
        Ok(CreateOutcome::Created(user_id))
    })
}

/// What linking a provider account to a logged-in person did.
#[derive(Debug, PartialEq, Eq)]
pub enum LinkOutcome {
    Linked,
    /// It was already linked to this person: nothing changed.
    AlreadyMine,
    /// It is linked to another account (409).
    SomeoneElses,
    /// This person is linked to another account of the same provider (409).
    HaveAnother,
}

pub fn link(conn: &mut PgConnection, user_id: UserId, issuer: &str, subject: &str) -> QueryResult<LinkOutcome> {
    conn.transaction(|conn| {
        if let Some((owner, _)) = find_user(conn, issuer, subject)? {
            return Ok(if owner == user_id { LinkOutcome::AlreadyMine } else { LinkOutcome::SomeoneElses });
        }
        let inserted = diesel::insert_into(oidc_identities::table)
            .values((oidc_identities::issuer.eq(issuer), oidc_identities::subject.eq(subject), oidc_identities::user_id.eq(user_id)))
            .on_conflict_do_nothing()
            .execute(conn)?;
        if inserted == 1 {
            return Ok(LinkOutcome::Linked);
        }
        // A conflict on (user_id, issuer), or the pair taken meanwhile.
        Ok(match find_user(conn, issuer, subject)? {
            Some((owner, _)) if owner == user_id => LinkOutcome::AlreadyMine,
            Some(_) => LinkOutcome::SomeoneElses,
            None => LinkOutcome::HaveAnother,
        })
    })
}

/// Removes the person's link at `issuer`; whether there was one.
pub fn unlink(conn: &mut PgConnection, user_id: UserId, issuer: &str) -> QueryResult<bool> {
    let deleted =
        diesel::delete(oidc_identities::table.filter(oidc_identities::user_id.eq(user_id).and(oidc_identities::issuer.eq(issuer))))
            .execute(conn)?;
    Ok(deleted > 0)
}
