//! Short-lived, single-use server-side state: an OPAQUE login between start and finish, a
//! passkey or MFA ceremony. Stored under a random handle with a TTL and taken exactly once
//! (`GETDEL` in Valkey/Redis, so two replicas racing on one handle cannot both get it).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use fred::{
    interfaces::KeysInterface,
    types::{Expiration, SetOptions},
};

use crate::backends::Cache;

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
    },
    /// This process only.
    Memory(Mutex<HashMap<String, (Instant, Vec<u8>)>>),
}

impl EphemeralStore {
    /// In Redis when a cache is configured, else in memory.
    pub fn new(cache: Option<Cache>, prefix: &'static str) -> Self {
        match cache {
            Some(client) => Self::Redis { client, prefix },
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
            Self::Redis { client, prefix } => {
                let millis = i64::try_from(ttl.as_millis().max(1)).unwrap_or(i64::MAX);
                let set: Option<String> = client
                    .set(
                        format!("{prefix}{handle}"),
                        value,
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
            Self::Redis { client, prefix } => client
                .getdel::<Option<Vec<u8>>, _>(format!("{prefix}{handle}"))
                .await
                .map_err(|e| EphemeralError(e.to_string())),
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
        let store = EphemeralStore::new(None, "t:");
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
        let store = EphemeralStore::new(Some(cache), "permesi:test:ephemeral:");
        single_use(&store).await;
    }
}
