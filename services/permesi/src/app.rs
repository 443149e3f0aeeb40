//! permesi state and router assembly.

use server::{
    backends::{Connect, Dependencies},
    cli::{Service, StartError},
    middleware::{self, Assembled},
    ops::OpsState,
};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::{api, config::Settings};

/// permesi as a [`Service`] for the shared command line.
#[derive(Debug)]
pub struct Permesi;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../db/migrations/permesi");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "permesi",
        description = "permesi's core identity authority: OPAQUE signup and login, sessions, \
                       MFA, passkeys, OpenID Connect, tenancy and audit."
    ),
    tags((name = "ops", description = "Health, readiness, metrics and this document"))
)]
struct ApiDoc;

/// What permesi handlers share.
#[derive(Clone, Debug)]
pub struct AppState {
    /// Database, cache and key backend.
    pub dependencies: Dependencies,
}

impl Service for Permesi {
    const NAME: &'static str = "permesi";
    const PREFIX: &'static str = "PERMESI";
    /// The console's build-time settings share the prefix; they are not the service's.
    const FOREIGN: &'static [&'static str] = &["api_base_url", "token_base_url", "client_id"];
    type Settings = Settings;
    type Commands = server::cli::NoCommands;

    fn migrator() -> &'static sqlx::migrate::Migrator {
        &MIGRATOR
    }

    fn openapi() -> utoipa::openapi::OpenApi {
        middleware::document(ApiDoc::openapi(), api::routes().into_openapi())
    }

    async fn run(_: Settings, command: Self::Commands) -> Result<(), StartError> {
        match command {}
    }

    async fn build(settings: Settings) -> Result<Assembled, StartError> {
        let dependencies = Dependencies::connect(Connect {
            database_url: settings.database_url.as_ref(),
            database_max_connections: settings.database_max_connections,
            migrator: &MIGRATOR,
            cache_url: settings.redis_url.as_ref(),
            keys: settings.keys_config(),
        })
        .await?;
        Ok(assemble(&settings, dependencies))
    }
}

/// Assembles the router over already connected dependencies.
pub fn assemble(settings: &Settings, dependencies: Dependencies) -> Assembled {
    let state = AppState {
        dependencies: dependencies.clone(),
    };
    let api: OpenApiRouter<OpsState> = api::routes().with_state(state);
    middleware::assemble(
        Permesi::NAME,
        env!("CARGO_PKG_VERSION"),
        ApiDoc::openapi(),
        api,
        dependencies,
        &settings.http_policy(),
    )
}
