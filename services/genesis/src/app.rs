//! genesis state and router assembly.

use std::sync::Arc;

use server::{
    backends::{Connect, Dependencies},
    cli::{Service, StartError},
    client_ip::TrustedProxies,
    middleware::{self, Assembled},
    ops::OpsState,
    replay::ReplayGuard,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    admission::Admissions, api, audit::AuditSink, config::Settings, keys_cli::KeysCommand,
    load::LoadMeter, ratelimit::RateLimiter,
};

/// genesis as a [`Service`] for the shared command line.
#[derive(Debug)]
pub struct Genesis;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../db/migrations/genesis");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "genesis",
        description = "permesi's edge admission mint: proof-of-work challenges and short-lived \
                       PASETO v4.public admission tokens, verified offline by permesi."
    ),
    tags(
        (name = "admission", description = "Proof-of-work challenges and admission tokens"),
        (name = "keys", description = "Public keys for offline verification"),
        (name = "ops", description = "Health, readiness, metrics and this document")
    )
)]
struct ApiDoc;

/// genesis's own metrics, beside the HTTP ones.
#[derive(Clone, Debug)]
pub struct MintMetrics {
    /// Tokens minted, by action.
    pub minted: prometheus::IntCounterVec,
    /// Admissions refused, by code.
    pub refused: prometheus::IntCounterVec,
    /// Audit records dropped because the queue was full.
    pub audit_dropped: prometheus::IntCounter,
}

impl MintMetrics {
    fn new() -> Self {
        let counter_vec = |name: &str, help: &str, label: &str| {
            prometheus::IntCounterVec::new(prometheus::Opts::new(name, help), &[label])
                .expect("valid metric")
        };
        Self {
            minted: counter_vec(
                "admission_tokens_minted_total",
                "Admission tokens minted",
                "action",
            ),
            refused: counter_vec("admission_refused_total", "Admissions refused", "code"),
            audit_dropped: prometheus::IntCounter::new(
                "admission_audit_dropped_total",
                "Audit records dropped on a full queue",
            )
            .expect("valid metric"),
        }
    }

    fn register(&self, registry: &prometheus::Registry) {
        for c in [
            Box::new(self.minted.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(self.refused.clone()),
            Box::new(self.audit_dropped.clone()),
        ] {
            // Each registry is fresh per app, so registration cannot collide.
            let _ = registry.register(c);
        }
    }
}

/// What genesis handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The mint.
    pub admissions: Arc<Admissions>,
    /// Per-IP and global limits.
    pub limiter: Arc<RateLimiter>,
    /// Whose forwarded headers count.
    pub proxies: Arc<TrustedProxies>,
    /// Minted-id audit, when enabled.
    pub audit: Option<AuditSink>,
    /// Mint metrics.
    pub metrics: MintMetrics,
}

impl axum::extract::FromRef<AppState> for Arc<TrustedProxies> {
    fn from_ref(state: &AppState) -> Self {
        state.proxies.clone()
    }
}

impl Service for Genesis {
    const NAME: &'static str = "genesis";
    const PREFIX: &'static str = "GENESIS";
    type Settings = Settings;
    type Commands = KeysCommand;

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        middleware::document(ApiDoc::openapi(), api::routes().into_openapi())
    }

    async fn build(settings: Settings) -> Result<Assembled, StartError> {
        let dependencies = connect(&settings).await?;
        assemble(&settings, dependencies).await
    }

    async fn run(settings: Settings, command: KeysCommand) -> Result<(), StartError> {
        crate::keys_cli::run(&settings, command).await
    }
}

/// Connects genesis's dependencies and applies migrations.
pub async fn connect(settings: &Settings) -> Result<Dependencies, StartError> {
    Ok(Dependencies::connect(Connect {
        database_url: settings.database_url.as_ref(),
        database_max_connections: settings.database_max_connections,
        migrator: &MIGRATOR,
        cache_url: settings.redis_url.as_ref(),
        keys: settings.keys_config()?,
    })
    .await?)
}

/// Builds the mint over connected dependencies and assembles the router.
pub async fn assemble(
    settings: &Settings,
    dependencies: Dependencies,
) -> Result<Assembled, StartError> {
    let keys = dependencies
        .keys
        .clone()
        .ok_or_else(|| std::io::Error::other("genesis needs a key backend"))?;
    let replay = match &dependencies.cache {
        Some(client) => ReplayGuard::Redis {
            client: client.clone(),
            prefix: "genesis:pow:",
        },
        None => ReplayGuard::memory(),
    };
    let admissions = Admissions::new(
        settings.admission()?,
        keys.signer(),
        keys.secrets().as_ref(),
        replay,
        LoadMeter::new(settings.pow_boost_threshold),
    )
    .await
    .map_err(|e| std::io::Error::other(format!("admission mint: {e}")))?;
    let metrics = MintMetrics::new();
    let audit = match (&dependencies.database, settings.audit_minted) {
        (Some(pool), true) => Some(AuditSink::start(
            pool.clone(),
            metrics.audit_dropped.clone(),
        )),
        _ => None,
    };
    let state = AppState {
        admissions: Arc::new(admissions),
        limiter: Arc::new(settings.rate_limiter()),
        proxies: Arc::new(settings.trusted_proxies()?),
        audit,
        metrics: metrics.clone(),
    };
    let api: OpenApiRouter<OpsState> = api::routes_with_limits(state.clone()).with_state(state);
    let app = middleware::assemble(
        Genesis::NAME,
        env!("CARGO_PKG_VERSION"),
        ApiDoc::openapi(),
        api,
        dependencies,
        &settings.http_policy(),
    );
    metrics.register(app.metrics.registry());
    Ok(app)
}
