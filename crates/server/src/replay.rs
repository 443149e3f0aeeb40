//! Single use of ids (genesis's solved challenges, permesi's admission-token `jti`s): accepted
//! once. Valkey/Redis (`SET NX PX`) when configured, so every replica sees every use; an
//! in-process map otherwise (one replica only).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use crate::backends::Cache;
use fred::{
    interfaces::KeysInterface,
    types::{Expiration, SetOptions},
};

/// Most entries the in-memory guard holds before it refuses (fails closed) rather than grow.
const MEMORY_CAPACITY: usize = 1_000_000;

/// The replay store could not answer; the request is refused, never let through.
#[derive(Debug, thiserror::Error)]
#[error("replay store unavailable: {0}")]
pub struct ReplayError(String);

/// Records first uses of ids until they expire.
#[derive(Debug)]
pub enum ReplayGuard {
    /// Shared across replicas.
    Redis {
        /// The client.
        client: Cache,
        /// Key prefix, e.g. `genesis:pow:`.
        prefix: &'static str,
    },
    /// This process only.
    Memory(Mutex<HashMap<[u8; 32], Instant>>),
}

impl ReplayGuard {
    /// An in-memory guard.
    pub fn memory() -> Self {
        Self::Memory(Mutex::new(HashMap::new()))
    }

    /// `true` the first time `id` is seen within `ttl`, `false` on every later use.
    pub async fn first_use(&self, id: &[u8; 32], ttl: Duration) -> Result<bool, ReplayError> {
        let ttl = ttl.max(Duration::from_millis(1));
        match self {
            Self::Redis { client, prefix } => {
                let key = format!("{prefix}{}", crate::to_hex(id));
                let millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
                let set: Option<String> = client
                    .set(
                        key,
                        "1",
                        Some(Expiration::PX(millis)),
                        Some(SetOptions::NX),
                        false,
                    )
                    .await
                    .map_err(|e| ReplayError(e.to_string()))?;
                Ok(set.is_some())
            }
            Self::Memory(map) => {
                let now = Instant::now();
                let mut map = map.lock().map_err(|_| ReplayError("poisoned".into()))?;
                if map.get(id).is_some_and(|expiry| *expiry > now) {
                    return Ok(false);
                }
                if map.len() >= MEMORY_CAPACITY {
                    map.retain(|_, expiry| *expiry > now);
                    if map.len() >= MEMORY_CAPACITY {
                        return Err(ReplayError("in-memory replay store is full".into()));
                    }
                }
                map.insert(*id, now + ttl);
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_guard_accepts_once() {
        let guard = ReplayGuard::memory();
        let id = [7u8; 32];
        assert!(guard.first_use(&id, Duration::from_mins(1)).await.unwrap());
        assert!(!guard.first_use(&id, Duration::from_mins(1)).await.unwrap());
        assert!(
            guard
                .first_use(&[8u8; 32], Duration::from_mins(1))
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn memory_guard_forgets_after_expiry() {
        let guard = ReplayGuard::memory();
        let id = [1u8; 32];
        // A zero TTL is clamped to 1 ms; the entry is then already past when checked later.
        assert!(guard.first_use(&id, Duration::ZERO).await.unwrap());
        if let ReplayGuard::Memory(map) = &guard {
            let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
            map.lock().unwrap().insert(id, past);
        }
        assert!(guard.first_use(&id, Duration::from_mins(1)).await.unwrap());
    }
}
