//! The work function: `SHA-256(challenge_wire_bytes || nonce as 8 big-endian bytes)` and its
//! leading-zero-bit count.

use sha2::{Digest, Sha256};

use crate::Difficulty;

/// A SHA-256 state that has absorbed the challenge bytes; clone it per nonce so the prefix is
/// hashed once.
#[derive(Clone, Debug)]
pub struct WorkHasher {
    prefix: Sha256,
}

impl WorkHasher {
    /// Absorb the challenge's wire bytes.
    pub fn new(challenge_bytes: &[u8]) -> Self {
        let mut prefix = Sha256::new();
        prefix.update(challenge_bytes);
        Self { prefix }
    }

    /// The work hash for `nonce`.
    pub fn hash(&self, nonce: u64) -> [u8; 32] {
        let mut h = self.prefix.clone();
        h.update(nonce.to_be_bytes());
        h.finalize().into()
    }
}

/// `SHA-256(challenge_bytes || nonce_be64)`.
pub fn work_hash(challenge_bytes: &[u8], nonce: u64) -> [u8; 32] {
    WorkHasher::new(challenge_bytes).hash(nonce)
}

/// Number of leading zero bits of `hash` (0..=256).
pub fn leading_zero_bits(hash: &[u8]) -> u32 {
    let mut bits = 0;
    for &byte in hash {
        if byte == 0 {
            bits += 8;
        } else {
            return bits + byte.leading_zeros();
        }
    }
    bits
}

/// Whether `hash` starts with at least `difficulty` zero bits.
pub fn meets_difficulty(hash: &[u8], difficulty: Difficulty) -> bool {
    leading_zero_bits(hash) >= u32::from(difficulty.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(bits: u8) -> Difficulty {
        Difficulty::new(bits).expect("valid difficulty")
    }

    #[test]
    fn counts_leading_zero_bits() {
        assert_eq!(leading_zero_bits(&[0xff; 32]), 0);
        assert_eq!(leading_zero_bits(&[0x80, 0]), 0);
        assert_eq!(leading_zero_bits(&[0x7f, 0]), 1);
        assert_eq!(leading_zero_bits(&[0x00, 0x80]), 8);
        assert_eq!(leading_zero_bits(&[0x01, 0x00]), 7);
        assert_eq!(leading_zero_bits(&[0x00, 0x00, 0x01]), 23);
        assert_eq!(leading_zero_bits(&[0u8; 32]), 256);
        assert_eq!(leading_zero_bits(&[]), 0);
    }

    #[test]
    fn difficulty_8_boundary() {
        // Exactly 8 zero bits: 0x00 then a byte with its top bit set.
        let mut exactly_8 = [0xffu8; 32];
        exactly_8[0] = 0x00;
        exactly_8[1] = 0x80;
        assert_eq!(leading_zero_bits(&exactly_8), 8);
        assert!(meets_difficulty(&exactly_8, d(8)));
        assert!(!meets_difficulty(&exactly_8, d(9)));

        // Exactly 7 zero bits: 0x01 first.
        let mut exactly_7 = [0xffu8; 32];
        exactly_7[0] = 0x01;
        assert_eq!(leading_zero_bits(&exactly_7), 7);
        assert!(!meets_difficulty(&exactly_7, d(8)));
        assert!(meets_difficulty(&exactly_7, d(7)));
    }

    #[test]
    fn difficulty_32_boundary() {
        let mut exactly_32 = [0xffu8; 32];
        exactly_32[..4].fill(0);
        assert!(meets_difficulty(&exactly_32, d(32)));
        let mut exactly_31 = exactly_32;
        exactly_31[3] = 0x01;
        assert!(!meets_difficulty(&exactly_31, d(32)));
        assert!(meets_difficulty(&exactly_31, d(31)));
    }

    #[test]
    fn hasher_matches_one_shot() {
        let bytes = b"some challenge bytes";
        let mut manual = Sha256::new();
        manual.update(bytes);
        manual.update(42u64.to_be_bytes());
        let manual: [u8; 32] = manual.finalize().into();
        assert_eq!(work_hash(bytes, 42), manual);
        assert_eq!(WorkHasher::new(bytes).hash(42), manual);
    }
}
