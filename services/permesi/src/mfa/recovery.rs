//! Recovery codes: ten per user, 80 random bits each, shown once, stored as SHA-256.

use sha2::{Digest, Sha256};

/// Codes per set.
pub const COUNT: usize = 10;
const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";

/// A fresh set, formatted `xxxx-xxxx-xxxx-xxxx` (no `l`, `o`, `0`, `1`).
pub fn generate() -> Vec<String> {
    (0..COUNT)
        .map(|_| {
            let mut bytes = [0u8; 16];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
            let chars: Vec<char> = bytes
                .iter()
                .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
                .collect();
            chars
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join("-")
        })
        .collect()
}

/// SHA-256 of a presented code, ignoring case, spaces and dashes; `None` when it cannot be
/// a code.
pub fn hash(presented: &str) -> Option<[u8; 32]> {
    let normal: String = presented
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (normal.len() == 16 && normal.bytes().all(|b| ALPHABET.contains(&b)))
        .then(|| Sha256::digest(normal.as_bytes()).into())
}

/// The stored form of a set.
pub fn hashes(codes: &[String]) -> Vec<[u8; 32]> {
    codes.iter().filter_map(|c| hash(c)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_codes_that_hash_whatever_the_typing() {
        let codes = generate();
        assert_eq!(codes.len(), COUNT);
        assert_eq!(hashes(&codes).len(), COUNT);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), COUNT);
        let code = &codes[0];
        assert_eq!(code.len(), 19);
        assert_eq!(hash(code), hash(&code.to_uppercase().replace('-', " ")));
        assert_eq!(hash("not-a-code"), None);
        assert_eq!(hash("llll-llll-llll-llll"), None);
    }
}
