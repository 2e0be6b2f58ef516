//! Recovery codes (SPEC §10): ten one-time codes of 80 random bits each, shown once and
//! stored only as SHA-256 of the person's id and the code. 80 bits make a leaked digest
//! as hard to reverse as the code is to guess, so no slow hash is needed (and a check
//! compares one digest, not ten Argon2 runs).

use rand::RngCore;

use super::tokens;
use crate::models::UserId;

/// How many codes a generation has.
pub const CODES: usize = 10;

/// Crockford's base 32: no I, L, O or U to misread.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A fresh code, as shown: four groups of four, e.g. `k3m9-…`.
pub fn new_code() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let mut code = String::with_capacity(19);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 && i % 4 == 0 {
            code.push('-');
        }
        // 256 is a multiple of 32: every symbol equally likely, 5 bits each.
        code.push(ALPHABET[usize::from(b % 32)] as char);
    }
    code
}

/// A typed code as stored: case, spaces and dashes aside, and the letters Crockford's
/// alphabet leaves out read as the digits they look like. `None`: not a code at all.
pub fn normalize(typed: &str) -> Option<String> {
    let mut code = String::with_capacity(16);
    for c in typed.chars() {
        let c = match c.to_ascii_lowercase() {
            ' ' | '-' => continue,
            'o' => '0',
            'i' | 'l' => '1',
            c if ALPHABET.contains(&(c as u8)) && c.is_ascii() => c,
            _ => return None,
        };
        code.push(c);
    }
    (code.len() == 16).then_some(code)
}

/// What is stored for `code` (normalized) of `user_id`.
pub fn digest(user_id: UserId, code: &str) -> Vec<u8> {
    let mut input = user_id.as_uuid().as_bytes().to_vec();
    input.extend_from_slice(code.as_bytes());
    tokens::sha256(&input).to_vec()
}

/// A new generation: the codes to show and their digests to store.
pub fn generate(user_id: UserId) -> (Vec<String>, Vec<Vec<u8>>) {
    let codes: Vec<String> = (0..CODES).map(|_| new_code()).collect();
    // A fresh code normalizes to itself without its dashes.
    let digests = codes.iter().map(|c| digest(user_id, &c.replace('-', ""))).collect();
    (codes, digests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_code_reads_back_whatever_its_case_and_spacing() {
        let code = new_code();
        assert_eq!(code.len(), 19);
        let n = normalize(&code).unwrap();
        assert_eq!(n, code.replace('-', ""), "what generate() stores");
        assert_eq!(normalize(&code.to_uppercase()), Some(n.clone()));
        assert_eq!(normalize(&format!("  {} ", code.replace('-', " "))), Some(n));
    }

    #[test]
    fn anything_else_is_no_code() {
        assert_eq!(normalize(""), None);
        assert_eq!(normalize("abcd-efgh-jkmn-pqr"), None);
        assert_eq!(normalize("abcd-efgh-jkmn-pqrsu"), None);
        assert_eq!(normalize("abcd-efgh-jkmn-pqré"), None);
        assert_eq!(normalize("OIL0-0000-0000-0000"), Some("0110000000000000".into()));
    }

    #[test]
    fn digests_differ_per_person() {
        let (a, b) = (UserId::new_v7(), UserId::new_v7());
        assert_ne!(digest(a, "0000000000000000"), digest(b, "0000000000000000"));
        let (codes, digests) = generate(a);
        assert_eq!((codes.len(), digests.len()), (CODES, CODES));
    }
}
