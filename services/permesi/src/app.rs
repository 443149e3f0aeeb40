//! permesi state and router assembly.

use std::sync::Arc;

use server::{
    backends::{Connect, Dependencies},
    cli::{Service, StartError},
    middleware::{self, Assembled},
    ops::OpsState,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use server::{client_ip::TrustedProxies, ephemeral::EphemeralStore};

use crate::{
    admission_gate::Gate,
    api,
    audit::{self, AuditLog, ChainKey},
    auth,
    config::Settings,
    identity::email::{self, IndexKey},
    mfa::{Mfa, passkeys::Passkeys},
    operators::{Authority, Operators},
    sessions::Sessions,
    tenancy::{self, ClientSecretKey, secret::CLIENT_SECRET_KEY_NAME},
    throttle::Throttle,
    verification::{EmailVerification, Mailer, Worker},
};

/// permesi as a [`Service`] for the shared command line.
#[derive(Debug)]
pub struct Permesi;

pub(crate) static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../db/migrations/permesi");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "permesi",
        description = "permesi's core identity authority: OPAQUE signup and login, sessions, \
                       MFA, passkeys, OpenID Connect, tenancy and audit."
    ),
    tags(
        (name = "auth", description = "OPAQUE signup and login, email verification"),
        (name = "session", description = "The caller's session and account"),
        (name = "mfa", description = "Second factors: TOTP, recovery codes, passkeys"),
        (name = "admin", description = "Platform operators: claim, elevation, users, audit log"),
        (name = "tenancy", description = "Organizations, members, invitations, projects, \
                                         environments, applications and their audit log"),
        (name = "oauth", description = "OpenID Connect provider: discovery, JWKS, authorize, \
                                        token, userinfo, introspection, revocation, logout"),
        (name = "consent", description = "What the console's login and consent pages call"),
        (name = "ops", description = "Health, readiness, metrics and this document")
    )
)]
struct ApiDoc;

/// Name of the OPAQUE server seed in the secret store (every replica derives the same keys).
pub const OPAQUE_SEED: &str = "permesi-opaque-seed";

/// Key that seals everything permesi keeps in Valkey ([`server::seal::Sealer`]).
pub const VALKEY_SEAL_KEY: &str = "permesi-valkey-seal";

/// Key of the fake passkey credential ids given to unknown emails.
pub const PASSKEY_FAKE_KEY: &str = "permesi-passkey-fake";

/// What permesi handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Database, cache and key backend.
    pub dependencies: Dependencies,
    /// Admission tokens checked offline on every auth ceremony's first step.
    pub gate: Gate,
    /// OPAQUE server keys, derived from the seed in the secret store.
    pub opaque: Arc<opaque::server::ServerKeys>,
    /// Key of the email blind index, from the secret store.
    pub email_index: IndexKey,
    /// Encrypts stored personal data.
    pub cipher: Arc<dyn keys::Cipher>,
    /// Ceremony state between a start and its finish (Valkey, in memory without it).
    pub ceremonies: Arc<EphemeralStore>,
    /// Verification links.
    pub verification: EmailVerification,
    /// The database.
    pub pool: sqlx::PgPool,
    /// Logged-in sessions.
    pub sessions: Sessions,
    /// Delays after failed logins.
    pub throttle: Arc<Throttle>,
    /// Whose forwarded headers count for the client address.
    pub proxies: Arc<TrustedProxies>,
    /// The tamper-evident record of security events.
    pub audit: AuditLog,
    /// Platform operators: claim, elevation.
    pub operators: Operators,
    /// MAC key of application client secrets, from the secret store.
    pub client_secrets: ClientSecretKey,
    /// Console origin that invitation links point at (the email base URL).
    pub link_base: Arc<str>,
    /// TOTP and recovery codes.
    pub mfa: Mfa,
    /// WebAuthn credentials.
    pub passkeys: Passkeys,
    /// The OpenID Provider.
    pub oidc: crate::oidc::provider::Provider,
}

impl AppState {
    /// The parts signup and login use.
    pub fn auth_parts(&self) -> auth::Parts<'_> {
        auth::Parts {
            pool: &self.pool,
            opaque: &self.opaque,
            index_key: &self.email_index,
            cipher: self.cipher.as_ref(),
            ceremonies: &self.ceremonies,
            verification: &self.verification,
            throttle: &self.throttle,
            audit: &self.audit,
            sessions: &self.sessions,
        }
    }
}

impl AppState {
    /// The parts tenancy operations use.
    pub fn tenancy_parts(&self) -> tenancy::Parts<'_> {
        tenancy::Parts {
            pool: &self.pool,
            audit: &self.audit,
            cipher: self.cipher.as_ref(),
            email_index: &self.email_index,
            client_secrets: &self.client_secrets,
            verification: &self.verification,
            link_base: &self.link_base,
            clients: &self.oidc.clients,
        }
    }
}

impl AppState {
    /// Builds the state over connected dependencies: secrets from the key backend (created on
    /// first start), the admission gate (keyset loaded now when genesis answers; until then
    /// gated requests are refused with 503, never let through).
    pub async fn new(settings: &Settings, dependencies: Dependencies) -> Result<Self, StartError> {
        let keys = dependencies
            .keys
            .clone()
            .ok_or_else(|| std::io::Error::other("permesi needs a key backend"))?;
        let secrets = keys.secrets();
        let secret = |name: &'static str| {
            let secrets = secrets.clone();
            async move {
                let bytes = server::secrets::get_or_create(secrets.as_ref(), name, 32)
                    .await
                    .map_err(|e| std::io::Error::other(format!("{name}: {e}")))?;
                let mut out = [0u8; 32];
                out.copy_from_slice(&bytes);
                Ok::<_, std::io::Error>(out)
            }
        };
        let opaque = Arc::new(opaque::server::ServerKeys::from_seed(
            &secret(OPAQUE_SEED).await?,
        ));
        let email_index = IndexKey::new(secret(email::INDEX_KEY_NAME).await?);
        let sealer = Arc::new(server::seal::Sealer::new(&secret(VALKEY_SEAL_KEY).await?));
        let audit = AuditLog::new(ChainKey::new(secret(audit::AUDIT_KEY_NAME).await?));
        let client_secrets = ClientSecretKey::new(secret(CLIENT_SECRET_KEY_NAME).await?);
        let gate = Gate::new(
            settings.gate_config(),
            settings.admission_source()?,
            Gate::replay_guard(dependencies.cache.clone()),
        );
        let pool = dependencies
            .database
            .clone()
            .ok_or_else(|| std::io::Error::other("permesi needs PostgreSQL"))?;
        let cipher = keys.cipher();
        let verification = EmailVerification::new(
            pool.clone(),
            cipher.clone(),
            settings.verification_policy()?,
            audit.clone(),
        );
        let mailer = settings.mailer()?;
        if matches!(mailer, Mailer::Folder(_)) {
            tracing::warn!(
                dir = %settings.email_mail_dir.display(),
                "no PERMESI_EMAIL_SMTP_URL: mail is written to a folder (development only)"
            );
        }
        let worker = Worker::new(pool.clone(), cipher.clone(), mailer, &settings.email_from)
            .map_err(|e| std::io::Error::other(format!("mail worker: {e}")))?;
        tokio::spawn(worker.run(verification.waker(), std::future::pending::<()>()));
        if let Err(e) = gate.preload().await {
            tracing::warn!(error = %e, "admission keyset not loaded yet; gated requests get 503 until genesis answers");
        }
        tenancy::spawn_purge(pool.clone(), settings.tenancy_retention());
        audit::spawn_security_events_purge(pool.clone(), settings.security_event_retention());
        let sessions = Sessions::new(
            pool.clone(),
            dependencies.cache.clone(),
            sealer.clone(),
            settings.session_policy()?,
            audit.clone(),
        );
        let operators = operators(settings, &keys, &pool, &audit);
        announce_unclaimed(&operators, &pool, keys.kind()).await;
        let mfa = Mfa::new(pool.clone(), cipher.clone(), audit.clone());
        let passkeys = passkeys(settings, &pool, &audit, &secret(PASSKEY_FAKE_KEY).await?)?;
        let oidc = oidc_provider(settings, &keys, dependencies.cache.clone()).await?;
        crate::oidc::provider::spawn_purge(pool.clone());
        Ok(Self {
            mfa,
            passkeys,
            operators,
            throttle: Arc::new(Throttle::new(
                dependencies.cache.clone(),
                settings.throttle_policy(),
            )),
            proxies: Arc::new(settings.trusted_proxies()?),
            sessions,
            ceremonies: Arc::new(EphemeralStore::new(
                dependencies.cache.clone(),
                "permesi:ceremony:",
                sealer,
            )),
            dependencies,
            gate,
            opaque,
            email_index,
            audit,
            cipher,
            verification,
            pool,
            client_secrets,
            link_base: settings.email_base_url.trim_end_matches('/').into(),
            oidc,
        })
    }
}

/// The OpenID Provider over the key backend (signing keys, MAC keys from the secret store).
async fn oidc_provider(
    settings: &Settings,
    keys: &keys::KeyBackend,
    cache: Option<server::backends::Cache>,
) -> Result<crate::oidc::provider::Provider, StartError> {
    let secret = |name: &'static str| {
        let secrets = keys.secrets();
        async move {
            let bytes = server::secrets::get_or_create(secrets.as_ref(), name, 32)
                .await
                .map_err(|e| std::io::Error::other(format!("{name}: {e}")))?;
            let mut out = [0u8; 32];
            out.copy_from_slice(&bytes);
            Ok::<_, std::io::Error>(out)
        }
    };
    Ok(crate::oidc::provider::Provider {
        config: Arc::new(settings.oidc_config()?),
        keys: crate::oidc::keys::SigningKeys::new(
            keys.signer(),
            keys.jws_signers(),
            settings.oidc_rotation(),
        ),
        pairwise: crate::oidc::MacKey::new(secret(crate::oidc::PAIRWISE_KEY_NAME).await?),
        refresh: crate::oidc::MacKey::new(secret(crate::oidc::REFRESH_KEY_NAME).await?),
        assertions: Arc::new(match cache {
            Some(client) => server::replay::ReplayGuard::Redis {
                client,
                prefix: "permesi:oidc:assertion:",
            },
            None => server::replay::ReplayGuard::memory(),
        }),
        clients: crate::oidc::provider::ClientCache::default(),
    })
}

impl axum::extract::FromRef<AppState> for Arc<TrustedProxies> {
    fn from_ref(state: &AppState) -> Self {
        state.proxies.clone()
    }
}

impl Service for Permesi {
    const NAME: &'static str = "permesi";
    const PREFIX: &'static str = "PERMESI";
    /// The console's build-time settings share the prefix; they are not the service's.
    const FOREIGN: &'static [&'static str] = &["api_base_url", "token_base_url", "client_id"];
    type Settings = Settings;
    type Commands = crate::dev_cli::DevCommand;

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        middleware::document(ApiDoc::openapi(), api::routes().into_openapi())
    }

    async fn run(settings: Settings, command: Self::Commands) -> Result<(), StartError> {
        crate::dev_cli::run(&settings, command).await
    }

    async fn build(settings: Settings) -> Result<Assembled, StartError> {
        let dependencies = Dependencies::connect(Connect {
            database_url: settings.database_url.as_ref(),
            database_max_connections: settings.database_max_connections,
            migrator: &MIGRATOR,
            cache_url: settings.redis_url.as_ref(),
            keys: settings.keys_config()?,
        })
        .await?;
        assemble(&settings, dependencies).await
    }
}

fn operators(
    settings: &Settings,
    keys: &keys::KeyBackend,
    pool: &sqlx::PgPool,
    audit: &AuditLog,
) -> Operators {
    let authority = match keys.token_policies() {
        Some(lookup) => Authority::Vault {
            lookup,
            policy: settings.operator_vault_policy.clone(),
        },
        None => Authority::Local,
    };
    Operators::new(
        pool.clone(),
        audit.clone(),
        authority,
        time::Duration::seconds(i64::from(settings.operator_elevation_secs)),
    )
}

fn passkeys(
    settings: &Settings,
    pool: &sqlx::PgPool,
    audit: &AuditLog,
    fake_key: &[u8; 32],
) -> Result<Passkeys, StartError> {
    let (_, webauthn) = settings.relying_party()?;
    Passkeys::new(webauthn, pool.clone(), audit.clone(), fake_key)
        .map_err(|e| StartError::Io(std::io::Error::other(format!("passkeys: {e}"))))
}

/// While nobody has claimed the platform (local backend), says how to: on a terminal (the dev
/// stack) a fresh one-time operator token is printed; otherwise only the command to make one,
/// since a token in a log collector would be a credential at rest.
async fn announce_unclaimed(operators: &Operators, pool: &sqlx::PgPool, backend: &str) {
    if backend != "local" || !matches!(operators.claimed().await, Ok(false)) {
        return;
    }
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        match crate::operators::issue_local_token(pool, time::OffsetDateTime::now_utc()).await {
            #[allow(clippy::print_stderr)]
            Ok(token) => eprintln!(
                "\npermesi is not claimed yet. One-time operator token (24 h):\n\n    {token}\n\n\
                 Log in, then POST /v1/admin/claim {{\"token\": \"...\"}} (the console's /admin/claim).\n"
            ),
            Err(e) => tracing::warn!(error = %e, "could not make an operator token"),
        }
    } else {
        tracing::info!(
            "platform not claimed yet: run `permesi operator-token` (just operator-token) for a one-time operator token"
        );
    }
}

/// Assembles the router over already connected dependencies.
pub async fn assemble(
    settings: &Settings,
    dependencies: Dependencies,
) -> Result<Assembled, StartError> {
    let state = AppState::new(settings, dependencies.clone()).await?;
    let own_origin = url::Url::parse(&settings.oidc_issuer)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    let origins = Arc::new(crate::csrf::OriginPolicy::new(
        settings.cors_origins.iter().cloned().chain([own_origin]),
        state.sessions.policy().cookie_name(),
    ));
    let api: OpenApiRouter<OpsState> = api::routes_with_gate(&state.gate)
        .layer(axum::middleware::from_fn_with_state(
            origins,
            crate::csrf::check,
        ))
        .with_state(state);
    Ok(middleware::assemble(
        Permesi::NAME,
        env!("CARGO_PKG_VERSION"),
        ApiDoc::openapi(),
        api,
        dependencies,
        &settings.http_policy(),
    ))
}
