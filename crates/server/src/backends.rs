//! Connections to the three things a service depends on (PostgreSQL, Valkey/Redis, the key
//! backend) and the readiness report built from them.

use std::{collections::BTreeMap, time::Duration};

use fred::prelude::{ClientLike, Config as CacheConfig};
use serde::Serialize;
use sqlx::{PgPool, postgres::PgPoolOptions};

use crate::Secret;

/// How long one readiness probe may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A dependency could not be reached or configured at start-up.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The database URL is malformed or the database is unreachable.
    #[error("database: {0}")]
    Database(#[source] sqlx::Error),
    /// The cache URL is malformed or the cache is unreachable.
    #[error("cache: {0}")]
    Cache(#[source] fred::error::Error),
    /// The key backend could not be opened.
    #[error("keys: {0}")]
    Keys(#[source] keys::KeysError),
    /// Migrations failed.
    #[error("migrations: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
}

/// The cache client type used across the services.
pub type Cache = fred::clients::Client;

/// Opens a PostgreSQL pool and checks that it answers. URLs may name a Unix socket directory
/// with `?host=/path`.
pub async fn connect_database(
    url: &Secret<String>,
    max_connections: u32,
) -> Result<PgPool, BackendError> {
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect(url.expose())
        .await
        .map_err(BackendError::Database)
}

/// Connects to Valkey/Redis, waiting for the first connection, with command timeouts so a hung
/// cache fails requests instead of hanging them.
pub async fn connect_cache(url: &Secret<String>) -> Result<Cache, BackendError> {
    let config = CacheConfig::from_url(url.expose()).map_err(BackendError::Cache)?;
    let client = fred::types::Builder::from_config(config)
        .with_connection_config(|c| {
            c.connection_timeout = Duration::from_secs(3);
            c.internal_command_timeout = Duration::from_secs(3);
        })
        .with_performance_config(|p| p.default_command_timeout = Duration::from_secs(2))
        .set_policy(fred::types::config::ReconnectPolicy::new_exponential(
            0, 100, 5_000, 2,
        ))
        .build()
        .map_err(BackendError::Cache)?;
    client.init().await.map_err(BackendError::Cache)?;
    Ok(client)
}

/// The state of one dependency in a readiness report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(into = "String")]
pub enum CheckState {
    /// It answered.
    Ok,
    /// It is not configured for this instance (e.g. no cache: in-memory fallbacks are used).
    Disabled,
    /// It failed; the reason is a short fixed word (`timeout`, `unavailable`), never details.
    Error(&'static str),
}

impl From<CheckState> for String {
    fn from(state: CheckState) -> Self {
        match state {
            CheckState::Ok => "ok".to_owned(),
            CheckState::Disabled => "disabled".to_owned(),
            CheckState::Error(reason) => format!("error: {reason}"),
        }
    }
}

/// `GET /ready` body: overall status and one entry per dependency.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ReadyReport {
    /// `ready` when every configured dependency answered, else `not_ready`.
    pub status: &'static str,
    /// `database`, `cache` and `keys`: `ok`, `disabled` or `error: <reason>`.
    #[schema(value_type = BTreeMap<String, String>)]
    pub checks: BTreeMap<&'static str, CheckState>,
}

impl ReadyReport {
    /// Whether every configured dependency answered.
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }
}

/// The dependencies a service checks for readiness.
#[derive(Clone, Debug, Default)]
pub struct Dependencies {
    /// PostgreSQL, when configured.
    pub database: Option<PgPool>,
    /// Valkey/Redis, when configured.
    pub cache: Option<Cache>,
    /// The key backend, when configured.
    pub keys: Option<keys::KeyBackend>,
}

/// What [`Dependencies::connect`] connects.
#[derive(Debug)]
pub struct Connect<'a> {
    /// PostgreSQL URL; `None` runs without a database.
    pub database_url: Option<&'a Secret<String>>,
    /// Pool size.
    pub database_max_connections: u32,
    /// Migrations applied right after connecting.
    pub migrator: &'a sqlx::migrate::Migrator,
    /// Valkey/Redis URL; `None` uses in-process fallbacks.
    pub cache_url: Option<&'a Secret<String>>,
    /// The key backend.
    pub keys: keys::BackendConfig,
}

impl Dependencies {
    /// Connects everything configured, applies migrations, and fails on the first dependency
    /// that cannot be reached: a service never starts half-configured.
    pub async fn connect(connect: Connect<'_>) -> Result<Self, BackendError> {
        let database = match connect.database_url {
            Some(url) => {
                let pool = connect_database(url, connect.database_max_connections).await?;
                migrate(&pool, connect.migrator).await?;
                Some(pool)
            }
            None => None,
        };
        let cache = match connect.cache_url {
            Some(url) => Some(connect_cache(url).await?),
            None => None,
        };
        let keys = keys::KeyBackend::open(connect.keys)
            .await
            .map_err(BackendError::Keys)?;
        Ok(Self {
            database,
            cache,
            keys: Some(keys),
        })
    }

    /// Probes every configured dependency concurrently, each with a short timeout.
    pub async fn readiness(&self) -> ReadyReport {
        let database = async {
            match &self.database {
                None => CheckState::Disabled,
                Some(pool) => probe("database", sqlx::query("SELECT 1").execute(pool)).await,
            }
        };
        let cache = async {
            match &self.cache {
                None => CheckState::Disabled,
                Some(client) => probe("cache", client.ping::<String>(None)).await,
            }
        };
        let keys = async {
            match &self.keys {
                None => CheckState::Disabled,
                Some(backend) => probe("keys", backend.check()).await,
            }
        };
        let (database, cache, keys) = tokio::join!(database, cache, keys);
        let checks = BTreeMap::from([("database", database), ("cache", cache), ("keys", keys)]);
        let ready = checks.values().all(|c| !matches!(c, CheckState::Error(_)));
        ReadyReport {
            status: if ready { "ready" } else { "not_ready" },
            checks,
        }
    }
}

async fn probe<T, E: std::fmt::Display>(
    name: &'static str,
    fut: impl Future<Output = Result<T, E>>,
) -> CheckState {
    match tokio::time::timeout(PROBE_TIMEOUT, fut).await {
        Ok(Ok(_)) => CheckState::Ok,
        Ok(Err(e)) => {
            tracing::warn!(dependency = name, error = %e, "readiness probe failed");
            CheckState::Error("unavailable")
        }
        Err(_) => {
            tracing::warn!(dependency = name, "readiness probe timed out");
            CheckState::Error("timeout")
        }
    }
}

/// Applies embedded migrations.
pub async fn migrate(
    pool: &PgPool,
    migrator: &sqlx::migrate::Migrator,
) -> Result<(), BackendError> {
    migrator.run(pool).await.map_err(BackendError::Migrate)
}
