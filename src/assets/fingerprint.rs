//! The content-hashed name of an asset. The build script names the embedded files with
//! it (`#[path]`-included there) and the crate's unit tests pin the rule, so both agree.
//! Only `sha2` and `hex` here: they are dependencies of both.

use sha2::{Digest, Sha256};

/// Hex digits of the SHA-256 kept in a name: 48 bits tell the versions of a file apart.
pub const HASH_CHARS: usize = 12;

/// The SHA-256 of `bytes`, 64 lowercase hex digits.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `app.css` holding `bytes` is served as `app.<12 hex digits of its SHA-256>.css`: the
/// hash goes before the last extension, so the type still reads from the name.
pub fn fingerprinted(name: &str, bytes: &[u8]) -> String {
    let hash = sha256_hex(bytes);
    let short = &hash[..HASH_CHARS];
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}.{short}.{ext}"),
        _ => format!("{name}.{short}"),
    }
}
