//! Email addresses: one normal form, a keyed blind index to find an account, and ciphertext
//! to store, so the `users` table never lists who has an account.
//!
//! - [`Email::parse`] normalises: trims, lowercases, checks shape and lengths (RFC 5321 limits),
//!   so `Alice@Example.COM ` and `alice@example.com` are one account.
//! - [`BlindIndex::of`] is HMAC-SHA256 under a 256-bit key held by the secret store: equal
//!   emails give equal indexes, and without the key an index reveals nothing and cannot be
//!   brute-forced from a list of likely addresses.
//! - [`seal`] / [`open`] encrypt with the backend's AEAD, binding the ciphertext to the user id
//!   (associated data), so a ciphertext copied onto another row does not decrypt.

use hmac::{Hmac, Mac};
use keys::{Cipher, KeysError};
use sha2::Sha256;
use uuid::Uuid;

/// Longest address accepted (RFC 5321 path limit less the angle brackets).
pub const MAX_LEN: usize = 254;
const MAX_LOCAL: usize = 64;
/// Name of the blind-index key in the secret store.
pub const INDEX_KEY_NAME: &str = "permesi-email-index";

/// Why an address was refused. The same answer whatever the address, so it cannot be used to
/// learn anything but "not an email".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid email address")]
pub struct InvalidEmail;

/// A normalised email address.
#[derive(Clone, PartialEq, Eq)]
pub struct Email(String);

impl std::fmt::Debug for Email {
    // Addresses are personal data: never in logs by accident.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Email(..)")
    }
}

impl Email {
    /// Normalises and validates an address.
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.len() > MAX_LEN {
            return Err(InvalidEmail);
        }
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(InvalidEmail);
        }
        let (local, domain) = trimmed.rsplit_once('@').ok_or(InvalidEmail)?;
        let local_ok = !local.is_empty()
            && local.len() <= MAX_LOCAL
            && !local.contains('@')
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..");
        let domain_ok = domain.len() >= 3
            && domain.contains('.')
            && domain.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_alphanumeric() || c == '-')
            });
        if !(local_ok && domain_ok) {
            return Err(InvalidEmail);
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    /// The normal form.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The keyed blind index of an address.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BlindIndex(pub [u8; 32]);

/// The key of the blind index (from the secret store; created once at first start).
#[derive(Clone)]
pub struct IndexKey(zeroize::Zeroizing<[u8; 32]>);

impl std::fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IndexKey([redacted])")
    }
}

impl IndexKey {
    /// A key from 32 bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(zeroize::Zeroizing::new(bytes))
    }
}

impl BlindIndex {
    /// HMAC-SHA256(key, "permesi/email-index/v1\0" || normalised address).
    pub fn of(key: &IndexKey, email: &Email) -> Self {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(key.0.as_slice()).expect("any key length");
        mac.update(b"permesi/email-index/v1\0");
        mac.update(email.as_str().as_bytes());
        Self(mac.finalize().into_bytes().into())
    }
}

fn aad(user: Uuid) -> Vec<u8> {
    let mut aad = b"permesi/email/v1\0".to_vec();
    aad.extend_from_slice(user.as_bytes());
    aad
}

/// Encrypts `email` for storage on `user`'s row.
pub async fn seal(cipher: &dyn Cipher, user: Uuid, email: &Email) -> Result<String, KeysError> {
    cipher.encrypt(email.as_str().as_bytes(), &aad(user)).await
}

/// Decrypts the stored address of `user`.
pub async fn open(cipher: &dyn Cipher, user: Uuid, sealed: &str) -> Result<Email, KeysError> {
    let bytes = cipher.decrypt(sealed, &aad(user)).await?;
    let text = String::from_utf8(bytes).map_err(|_| KeysError::Decrypt)?;
    Email::parse(&text).map_err(|_| KeysError::Decrypt)
}

/// The address of `user` and whether it is verified (`None` for no such user): the account row
/// read (on `db`: inside a transaction, its own connection) and its sealed address opened.
pub async fn of_user(
    db: impl sqlx::PgExecutor<'_>,
    cipher: &dyn Cipher,
    user: Uuid,
) -> Result<Option<(Email, bool)>, crate::error::Error> {
    let Some((sealed, verified)) = crate::store::users::profile(db, user).await? else {
        return Ok(None);
    };
    Ok(Some((open(cipher, user, &sealed).await?, verified)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_surrounding_space() {
        let a = Email::parse("  Alice.Smith+iam@Example.COM ").unwrap();
        assert_eq!(a.as_str(), "alice.smith+iam@example.com");
        assert_eq!(a, Email::parse("alice.smith+iam@example.com").unwrap());
        assert_eq!(format!("{a:?}"), "Email(..)");
    }

    #[test]
    fn refuses_what_is_not_an_address() {
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@localhost",
            "al ice@example.com",
            "alice@exa mple.com",
            "alice@@example.com",
            ".alice@example.com",
            "al..ice@example.com",
            "alice@-example.com",
            "alice@example..com",
            "alice\u{0}@example.com",
        ] {
            assert_eq!(Email::parse(bad), Err(InvalidEmail), "{bad:?}");
        }
    }

    #[test]
    fn length_limits_are_exact() {
        let local = "a".repeat(64);
        assert!(Email::parse(&format!("{local}@example.com")).is_ok());
        assert!(Email::parse(&format!("a{local}@example.com")).is_err());
        // 254 characters in all is the limit.
        let domain = format!("{}.com", "d".repeat(63));
        let base = format!("{}@{domain}.{domain}.", "l".repeat(64));
        let fill = 254 - base.len() - 4;
        let at_limit = format!("{base}{}.com", "e".repeat(fill));
        assert_eq!(at_limit.len(), 254);
        assert!(Email::parse(&at_limit).is_ok());
        assert!(Email::parse(&format!("x{at_limit}")).is_err());
    }

    #[test]
    fn the_blind_index_is_keyed_and_stable() {
        let key = IndexKey::new([7; 32]);
        let a = Email::parse("Alice@Example.com").unwrap();
        let b = Email::parse("alice@example.com").unwrap();
        let c = Email::parse("bob@example.com").unwrap();
        assert_eq!(BlindIndex::of(&key, &a), BlindIndex::of(&key, &b));
        assert_ne!(BlindIndex::of(&key, &a), BlindIndex::of(&key, &c));
        // Another deployment's key gives unrelated indexes.
        assert_ne!(
            BlindIndex::of(&key, &a),
            BlindIndex::of(&IndexKey::new([8; 32]), &a)
        );
    }

    #[tokio::test]
    async fn sealed_addresses_open_only_on_their_own_row() {
        let dir = tempfile::tempdir().unwrap();
        let backend = keys::KeyBackend::open(keys::BackendConfig::Local(keys::LocalConfig {
            dir: dir.path().join("keys"),
            signing_key: "s".into(),
            encryption_key: "e".into(),
        }))
        .await
        .unwrap();
        let cipher = backend.cipher();
        let email = Email::parse("carol@example.org").unwrap();
        let (alice, mallory) = (Uuid::new_v4(), Uuid::new_v4());
        let sealed = seal(cipher.as_ref(), alice, &email).await.unwrap();
        assert!(!sealed.contains("carol"));
        assert_eq!(open(cipher.as_ref(), alice, &sealed).await.unwrap(), email);
        assert!(matches!(
            open(cipher.as_ref(), mallory, &sealed).await,
            Err(KeysError::Decrypt)
        ));
    }
}
