//! Client ids and client secrets of applications.
//!
//! A client secret is 32 random bytes (base64url, 43 characters), shown once when it is made
//! and stored only as HMAC-SHA256 under a key from the secret store, bound to its client id:
//! a database dump reveals no secret and allows no offline guessing without the key.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::verification::token::Token;

/// Name of the client-secret MAC key in the secret store.
pub const CLIENT_SECRET_KEY_NAME: &str = "permesi-client-secret-key";

/// The key client secrets are MAC'd under.
#[derive(Clone)]
pub struct ClientSecretKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for ClientSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecretKey([redacted])")
    }
}

impl ClientSecretKey {
    /// A key from 32 bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// HMAC-SHA256(key, "permesi/client-secret/v1\0" || client_id || "\0" || secret).
    pub fn mac(&self, client_id: &str, secret: &str) -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(self.0.as_slice()).expect("any key length");
        mac.update(b"permesi/client-secret/v1\0");
        mac.update(client_id.as_bytes());
        mac.update(b"\0");
        mac.update(secret.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// A new client secret (shown once) and its stored MAC.
pub fn new_client_secret(key: &ClientSecretKey, client_id: &str) -> (Zeroizing<String>, [u8; 32]) {
    let secret = Token::generate().encode();
    let mac = key.mac(client_id, &secret);
    (secret, mac)
}

/// Whether `presented` is the secret of `client_id` whose MAC is `stored`, in constant time
/// (for the OIDC token endpoint).
pub fn verify_client_secret(
    key: &ClientSecretKey,
    client_id: &str,
    presented: &str,
    stored: &[u8],
) -> bool {
    let computed = key.mac(client_id, presented);
    bool::from(computed.as_slice().ct_eq(stored))
}

/// A new public client id: 128 random bits as 32 lowercase hex digits.
pub fn new_client_id() -> String {
    let mut bytes = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    server::to_hex(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_verifies_only_for_its_client_and_key() {
        let key = ClientSecretKey::new([3; 32]);
        let (secret, mac) = new_client_secret(&key, "client-a");
        assert_eq!(secret.len(), 43);
        assert!(
            secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert!(verify_client_secret(&key, "client-a", &secret, &mac));
        assert!(!verify_client_secret(&key, "client-b", &secret, &mac));
        assert!(!verify_client_secret(&key, "client-a", "guess", &mac));
        assert!(!verify_client_secret(&key, "client-a", &secret, &mac[..31]));
        let other = ClientSecretKey::new([4; 32]);
        assert!(!verify_client_secret(&other, "client-a", &secret, &mac));
        let (again, _) = new_client_secret(&key, "client-a");
        assert_ne!(*again, *secret);
        assert_eq!(format!("{key:?}"), "ClientSecretKey([redacted])");
    }

    #[test]
    fn client_ids_are_random_hex() {
        let a = new_client_id();
        assert_eq!(a.len(), 32);
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        );
        assert_ne!(a, new_client_id());
    }
}
