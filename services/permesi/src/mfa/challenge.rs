//! The MFA step between a primary factor and a session: short-lived, single-use state in
//! `server::ephemeral` under a random id that only the browser holds, in an `HttpOnly`
//! cookie scoped to `/v1/auth/mfa`. Each attempt takes the state (Redis `GETDEL`); a failed
//! attempt puts it back with one attempt fewer, until [`MAX_ATTEMPTS`], when the user must log
//! in again (through the admission gate and the login throttles).

use serde::{Deserialize, Serialize};
use server::ephemeral::EphemeralStore;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::{error::Error, sessions::AuthMethod};

/// How long the second step may take.
pub const TTL: Duration = Duration::minutes(5);
/// Wrong codes per challenge.
pub const MAX_ATTEMPTS: u8 = 5;
/// The challenge cookie.
pub const COOKIE: &str = "permesi_mfa";
const PATH: &str = "/v1/auth/mfa";

/// What the primary factor established.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Pending {
    /// Who.
    pub user: Uuid,
    /// How (RFC 8176 names of the primary factor).
    pub methods: Vec<String>,
    /// Wrong codes so far.
    pub attempts: u8,
    /// Unix time the challenge ends.
    pub expires_at: i64,
    /// For a password login, the password generation it started with (the session needs it).
    #[serde(default)]
    pub password_generation: Option<i64>,
    /// For a password login, the account's blind index: the session settles its password
    /// throttle.
    #[serde(default)]
    pub account_index: Option<[u8; 32]>,
}

impl Pending {
    /// A challenge for `user` after `methods`.
    pub fn new(
        user: Uuid,
        methods: &[AuthMethod],
        password: Option<&crate::auth::PasswordPassed>,
        now: OffsetDateTime,
    ) -> Self {
        Self {
            user,
            methods: methods.iter().map(|m| m.as_str().to_owned()).collect(),
            attempts: 0,
            expires_at: (now + TTL).unix_timestamp(),
            password_generation: password.map(|p| p.generation),
            account_index: password.map(|p| p.index.0),
        }
    }

    /// The primary factor's methods.
    pub fn methods(&self) -> Vec<AuthMethod> {
        self.methods
            .iter()
            .filter_map(|m| AuthMethod::parse(m))
            .collect()
    }
}

fn key(id: &str) -> String {
    format!("mfa:{id}")
}

fn valid_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Opens a challenge; returns the cookie value.
pub async fn open(store: &EphemeralStore, pending: &Pending) -> Result<String, Error> {
    let id = Uuid::new_v4().simple().to_string();
    let bytes = serde_json::to_vec(pending).map_err(|e| Error::Unavailable(e.to_string()))?;
    store.put(&key(&id), &bytes, TTL.unsigned_abs()).await?;
    Ok(id)
}

/// Takes the challenge of a presented cookie value (single use); `None` when unknown, used or
/// expired.
pub async fn take(
    store: &EphemeralStore,
    id: &str,
    now: OffsetDateTime,
) -> Result<Option<Pending>, Error> {
    if !valid_id(id) {
        return Ok(None);
    }
    let Some(bytes) = store.take(&key(id)).await? else {
        return Ok(None);
    };
    let pending: Pending = serde_json::from_slice(&bytes)
        .map_err(|_| Error::Unavailable("corrupt MFA state".into()))?;
    Ok((pending.expires_at > now.unix_timestamp()).then_some(pending))
}

/// After a wrong code: puts the challenge back with one attempt counted, unless that was the
/// last one; `true` when it can be tried again.
pub async fn retry(
    store: &EphemeralStore,
    id: &str,
    mut pending: Pending,
    now: OffsetDateTime,
) -> Result<bool, Error> {
    pending.attempts += 1;
    let left = pending.expires_at - now.unix_timestamp();
    if pending.attempts >= MAX_ATTEMPTS || left <= 0 {
        return Ok(false);
    }
    let bytes = serde_json::to_vec(&pending).map_err(|e| Error::Unavailable(e.to_string()))?;
    store
        .put(
            &key(id),
            &bytes,
            std::time::Duration::from_secs(left.unsigned_abs()),
        )
        .await?;
    Ok(true)
}

/// `Set-Cookie` for a challenge.
pub fn set_cookie(id: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={id}; Path={PATH}; Max-Age={}; HttpOnly; SameSite=Lax{}",
        TTL.whole_seconds(),
        if secure { "; Secure" } else { "" }
    )
}

/// `Set-Cookie` that removes the challenge cookie.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path={PATH}; Max-Age=0; HttpOnly; SameSite=Lax{}",
        if secure { "; Secure" } else { "" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn single_use_with_a_bounded_number_of_retries() {
        let store = EphemeralStore::new(
            None,
            "t:",
            std::sync::Arc::new(server::seal::Sealer::new(&[1; 32])),
        );
        let now = OffsetDateTime::now_utc();
        let pending = Pending::new(
            Uuid::now_v7(),
            &[AuthMethod::Pwd],
            Some(&crate::auth::PasswordPassed {
                user: Uuid::now_v7(),
                generation: 3,
                index: crate::identity::email::BlindIndex([7; 32]),
            }),
            now,
        );
        let id = open(&store, &pending).await.unwrap();
        let taken = take(&store, &id, now).await.unwrap().unwrap();
        assert_eq!(taken, pending);
        assert_eq!(take(&store, &id, now).await.unwrap(), None);
        let mut current = taken;
        for attempt in 1..MAX_ATTEMPTS {
            assert!(retry(&store, &id, current, now).await.unwrap());
            current = take(&store, &id, now).await.unwrap().unwrap();
            assert_eq!(current.attempts, attempt);
        }
        assert!(!retry(&store, &id, current, now).await.unwrap());
        assert_eq!(take(&store, &id, now).await.unwrap(), None);
    }

    #[tokio::test]
    async fn expired_and_malformed_ids_are_unknown() {
        let store = EphemeralStore::new(
            None,
            "t:",
            std::sync::Arc::new(server::seal::Sealer::new(&[1; 32])),
        );
        let now = OffsetDateTime::now_utc();
        let pending = Pending::new(Uuid::now_v7(), &[AuthMethod::Hwk], None, now);
        let id = open(&store, &pending).await.unwrap();
        assert_eq!(take(&store, &id, now + TTL).await.unwrap(), None);
        assert_eq!(take(&store, "../x", now).await.unwrap(), None);
        assert!(set_cookie(&id, true).contains("HttpOnly; SameSite=Lax; Secure"));
        assert!(set_cookie(&id, true).contains("Path=/v1/auth/mfa"));
    }
}
