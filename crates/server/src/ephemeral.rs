//! Short-lived, single-use server-side state: an OPAQUE login between start and finish, a
//! passkey or MFA ceremony. Stored under a random handle with a TTL and taken exactly once
//! (`GETDEL` in Valkey/Redis, so two replicas racing on one handle cannot both get it).
//!
//! In Valkey every value is sealed ([`Sealer`]) under its full key name: whoever else can reach
//! Valkey can neither read a ceremony (an OPAQUE login state holds the expected client MAC) nor
//! plant or move one; a value that does not open is as good as absent.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use fred::{
    interfaces::KeysInterface,
    types::{Expiration, SetOptions},
};

use crate::{backends::Cache, seal::Sealer};

/// Most entries the in-memory store holds; beyond it, puts fail (closed) instead of growing.
const MEMORY_CAPACITY: usize = 200_000;

/// The store could not answer.
#[derive(Debug, thiserror::Error)]
#[error("ephemeral store unavailable: {0}")]
pub struct EphemeralError(String);

/// Where the state lives.
#[derive(Debug)]
pub enum EphemeralStore {
    /// Shared by every replica.
    Redis {
        /// The client.
        client: Cache,
        /// Key prefix, e.g. `permesi:login:`.
        prefix: &'static str,
        /// Seals every value under its key name.
        sealer: std::sync::Arc<Sealer>,
    },
    /// This process only.
    Memory(Mutex<HashMap<String, (Instant, Vec<u8>)>>),
}

impl EphemeralStore {
    /// In Redis when a cache is configured (values sealed by `sealer`), else in memory.
    pub fn new(cache: Option<Cache>, prefix: &'static str, sealer: std::sync::Arc<Sealer>) -> Self {
        match cache {
            Some(client) => Self::Redis {
                client,
                prefix,
                sealer,
            },
            None => Self::Memory(Mutex::new(HashMap::new())),
        }
    }

    /// Stores `value` under `handle` for `ttl`, refusing to overwrite an existing handle.
    pub async fn put(
        &self,
        handle: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<(), EphemeralError> {
        match self {
            Self::Redis {
                client,
                prefix,
                sealer,
            } => {
                let millis = i64::try_from(ttl.as_millis().max(1)).unwrap_or(i64::MAX);
                let key = format!("{prefix}{handle}");
                let sealed = sealer.seal(&key, value);
                let set: Option<String> = client
                    .set(
                        key,
                        sealed,
                        Some(Expiration::PX(millis)),
                        Some(SetOptions::NX),
                        false,
                    )
                    .await
                    .map_err(|e| EphemeralError(e.to_string()))?;
                set.map(|_| ())
                    .ok_or_else(|| EphemeralError("handle already in use".into()))
            }
            Self::Memory(map) => {
                let now = Instant::now();
                let mut map = map.lock().map_err(|_| EphemeralError("poisoned".into()))?;
                if map.len() >= MEMORY_CAPACITY {
                    map.retain(|_, (expiry, _)| *expiry > now);
                    if map.len() >= MEMORY_CAPACITY {
                        return Err(EphemeralError("in-memory store is full".into()));
                    }
                }
                if map.get(handle).is_some_and(|(expiry, _)| *expiry > now) {
                    return Err(EphemeralError("handle already in use".into()));
                }
                map.insert(handle.to_owned(), (now + ttl, value.to_vec()));
                Ok(())
            }
        }
    }

    /// Takes the value under `handle`: `Some` once, then `None`; `None` after the TTL.
    pub async fn take(&self, handle: &str) -> Result<Option<Vec<u8>>, EphemeralError> {
        match self {
            Self::Redis {
                client,
                prefix,
                sealer,
            } => {
                let key = format!("{prefix}{handle}");
                let sealed = client
                    .getdel::<Option<Vec<u8>>, _>(&key)
                    .await
                    .map_err(|e| EphemeralError(e.to_string()))?;
                Ok(sealed.and_then(|sealed| {
                    let opened = sealer.open(&key, &sealed);
                    if opened.is_none() {
                        tracing::warn!(prefix = *prefix, "ephemeral value did not open: ignored");
                    }
                    opened
                }))
            }
            Self::Memory(map) => {
                let mut map = map.lock().map_err(|_| EphemeralError("poisoned".into()))?;
                Ok(map
                    .remove(handle)
                    .filter(|(expiry, _)| *expiry > Instant::now())
                    .map(|(_, value)| value))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_sealer() -> std::sync::Arc<Sealer> {
        std::sync::Arc::new(Sealer::new(&[3; 32]))
    }

    async fn single_use(store: &EphemeralStore) {
        let handle = uuid::Uuid::new_v4().to_string();
        store
            .put(&handle, b"state", Duration::from_mins(1))
            .await
            .unwrap();
        assert!(
            store
                .put(&handle, b"other", Duration::from_mins(1))
                .await
                .is_err()
        );
        assert_eq!(
            store.take(&handle).await.unwrap().as_deref(),
            Some(&b"state"[..])
        );
        assert_eq!(store.take(&handle).await.unwrap(), None);
        assert_eq!(store.take("never-stored").await.unwrap(), None);
    }

    #[tokio::test]
    async fn memory_store_gives_each_value_once_and_forgets_expired_ones() {
        let store = EphemeralStore::new(None, "t:", test_sealer());
        single_use(&store).await;
        store
            .put("h", b"x", Duration::from_millis(1))
            .await
            .unwrap();
        if let EphemeralStore::Memory(map) = &store {
            let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
            map.lock().unwrap().get_mut("h").unwrap().0 = past;
        }
        assert_eq!(store.take("h").await.unwrap(), None);
    }

    #[tokio::test]
    async fn redis_store_gives_each_value_once() {
        // The test Redis started by `just test`; this crate cannot use testkit (it depends on us).
        let url = std::env::var("PERMESI_TEST_REDIS_URL")
            .expect("PERMESI_TEST_REDIS_URL: run with `just test`");
        let cache = crate::backends::connect_cache(&url.into()).await.unwrap();
        let store = EphemeralStore::new(
            Some(cache.clone()),
            "permesi:test:ephemeral:",
            test_sealer(),
        );
        single_use(&store).await;

        // In Valkey the value is sealed to its key: not readable there, and a value written
        // or moved by someone else is as good as absent.
        let handle = uuid::Uuid::new_v4().to_string();
        let key = format!("permesi:test:ephemeral:{handle}");
        store
            .put(&handle, b"secret-state", Duration::from_mins(1))
            .await
            .unwrap();
        let raw: Vec<u8> = cache.get(&key).await.unwrap();
        assert!(!raw.windows(12).any(|w| w == b"secret-state"));
        let other = uuid::Uuid::new_v4().to_string();
        let other_key = format!("permesi:test:ephemeral:{other}");
        cache
            .set::<(), _, _>(&other_key, raw, Some(Expiration::EX(60)), None, false)
            .await
            .unwrap();
        assert_eq!(
            store.take(&other).await.unwrap(),
            None,
            "moved to another key"
        );
        cache
            .set::<(), _, _>(
                &other_key,
                b"planted".to_vec(),
                Some(Expiration::EX(60)),
                None,
                false,
            )
            .await
            .unwrap();
        assert_eq!(
            store.take(&other).await.unwrap(),
            None,
            "written in the clear"
        );
        assert_eq!(
            store.take(&handle).await.unwrap().as_deref(),
            Some(&b"secret-state"[..])
        );
    }
}
