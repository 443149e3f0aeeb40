//! Service secrets that live in the key backend's secret store (Vault KV v2 or the local
//! folder): created once by the first replica to start, read by every later one.

use keys::{KeysError, SecretStore};

/// Reads the secret `name`, or creates it with `len` random bytes when it does not exist.
///
/// Two replicas starting at the same instant on an empty store could each create one; the
/// store keeps the last write, and the loser reads it back below, so both end up using it.
pub async fn get_or_create(
    store: &dyn SecretStore,
    name: &str,
    len: usize,
) -> Result<Vec<u8>, KeysError> {
    if let Some(bytes) = store.get(name).await? {
        return check_len(name, bytes, len);
    }
    let mut bytes = vec![0u8; len];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    store.put(name, &bytes).await?;
    tracing::info!(secret = name, "created secret");
    let stored = store
        .get(name)
        .await?
        .ok_or_else(|| KeysError::Corrupt(format!("{name} vanished after being written")))?;
    check_len(name, stored, len)
}

fn check_len(name: &str, bytes: Vec<u8>, len: usize) -> Result<Vec<u8>, KeysError> {
    if bytes.len() == len {
        Ok(bytes)
    } else {
        Err(KeysError::Corrupt(format!(
            "{name} holds {} bytes, expected {len}",
            bytes.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store(dir: &std::path::Path) -> std::sync::Arc<dyn SecretStore> {
        keys::KeyBackend::open(keys::BackendConfig::Local(keys::LocalConfig {
            dir: dir.join("keys"),
            signing_key: "s".into(),
            encryption_key: "e".into(),
        }))
        .await
        .unwrap()
        .secrets()
    }

    #[tokio::test]
    async fn created_once_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path()).await;
        let first = get_or_create(store.as_ref(), "seed", 32).await.unwrap();
        assert_eq!(first.len(), 32);
        assert_eq!(
            get_or_create(store.as_ref(), "seed", 32).await.unwrap(),
            first
        );
        // Another replica on the same store gets the same secret.
        let other = self::store(dir.path()).await;
        assert_eq!(
            get_or_create(other.as_ref(), "seed", 32).await.unwrap(),
            first
        );
    }

    #[tokio::test]
    async fn a_secret_of_the_wrong_size_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path()).await;
        store.put("seed", &[1, 2, 3]).await.unwrap();
        assert!(matches!(
            get_or_create(store.as_ref(), "seed", 32).await,
            Err(KeysError::Corrupt(_))
        ));
    }
}
