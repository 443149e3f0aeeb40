//! Sealing what a service keeps in Valkey/Redis: XChaCha20-Poly1305 under a key from the
//! service's secret store, with the Valkey key name as associated data.
//!
//! Valkey is shared infrastructure (another service's user, an operator, a backup): a value
//! that grants something (a login ceremony holding the expected OPAQUE MAC, a cached session)
//! must neither be readable there nor forgeable by writing it, nor movable from one key to
//! another. Sealed values are `version (1) || nonce (24) || ciphertext+tag`.

use chacha20poly1305::{
    KeyInit, XChaCha20Poly1305, XNonce,
    aead::{Aead, Payload},
};
use rand::RngCore;

const VERSION: u8 = 1;
const NONCE: usize = 24;

/// Seals and opens values bound to their key names.
pub struct Sealer {
    aead: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    /// A sealer under a 256-bit key.
    pub fn new(key: &[u8; 32]) -> Self {
        Self {
            aead: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// `plain`, sealed for the key `name`.
    pub fn seal(&self, name: &str, plain: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let sealed = self
            .aead
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: name.as_bytes(),
                },
            )
            // Encryption fails only for inputs beyond 256 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// The plain value of `sealed` read under `name`; `None` when it was not sealed by this key
    /// for this name (forged, moved, corrupted, or written in the clear).
    pub fn open(&self, name: &str, sealed: &[u8]) -> Option<Vec<u8>> {
        let (&version, rest) = sealed.split_first()?;
        if version != VERSION || rest.len() < NONCE {
            return None;
        }
        let (nonce, body) = rest.split_at(NONCE);
        self.aead
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: body,
                    aad: name.as_bytes(),
                },
            )
            .ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_under_their_name_and_key() {
        let sealer = Sealer::new(&[7; 32]);
        let value = sealer.seal("permesi:ceremony:login:a", b"state");
        assert!(!value.windows(5).any(|w| w == b"state"), "not in the clear");
        assert_eq!(
            sealer.open("permesi:ceremony:login:a", &value).as_deref(),
            Some(&b"state"[..])
        );
        assert_eq!(sealer.open("permesi:ceremony:login:b", &value), None);
        assert_eq!(
            Sealer::new(&[8; 32]).open("permesi:ceremony:login:a", &value),
            None
        );
        let mut flipped = value.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(sealer.open("permesi:ceremony:login:a", &flipped), None);
        assert_eq!(sealer.open("permesi:ceremony:login:a", b"state"), None);
        assert_eq!(sealer.open("permesi:ceremony:login:a", b""), None);
    }
}
