//! Argon2id password hashing with the per-user `dynamic_salt` (SPEC 1).
//! Both functions are CPU-heavy: call them on the blocking pool.

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;

use super::tokens;
use crate::domain::Password;

/// A fresh per-user salt (16 random bytes, hex).
pub fn new_salt() -> String {
    tokens::random_hex(16)
}

/// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) for `password` under `salt`.
pub fn hash(password: &Password, salt: &str) -> anyhow::Result<String> {
    let hash = Argon2::default()
        .hash_password_with_salt(password.expose().as_bytes(), salt.as_bytes())
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the stored PHC string.
pub fn verify(password: &str, pwd_hash: &str) -> bool {
    Argon2::default().verify_password(password.as_bytes(), pwd_hash).is_ok()
}

/// Whether `password` matches a stored hash; an account without a password (made
/// through an OpenID provider) matches nothing, after as much work as a wrong password.
pub fn verify_stored(password: &str, pwd_hash: Option<&str>) -> bool {
    match pwd_hash {
        Some(hash) => verify(password, hash),
        None => {
            verify_dummy(password);
            false
        }
    }
}

/// Verifies against a fixed hash so that an unknown username costs as much time as a
/// wrong password: the response time does not reveal which usernames exist.
pub fn verify_dummy(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| {
        Argon2::default().hash_password_with_salt(b"not-a-real-password", new_salt().as_bytes()).map(|h| h.to_string()).unwrap_or_default()
    });
    let _ = verify(password, dummy);
}
