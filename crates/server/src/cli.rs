//! The command line every service shares: `serve` (default), `migrate`, `openapi`.
//!
//! A service describes itself with [`Service`]; [`main`] does the rest: settings, telemetry,
//! dependencies, migrations, serving, and one clear line and a non-zero exit on failure.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::de::DeserializeOwned;

use crate::{
    ListenAddr, Secret,
    backends::{self, BackendError},
    middleware::Assembled,
    settings::{self, LogFormat, SettingsError, Sources},
};

/// What the shared lifecycle needs from a service's settings.
pub trait ServiceSettings: DeserializeOwned + std::fmt::Debug {
    /// Where to listen.
    fn listen(&self) -> &ListenAddr;
    /// Log output format.
    fn log_format(&self) -> LogFormat;
    /// The database, when configured.
    fn database_url(&self) -> Option<&Secret<String>>;
    /// Cross-field checks after loading (required settings, ranges).
    fn validate(&self) -> Result<(), SettingsError> {
        Ok(())
    }
}

/// A service: its name, settings, migrations, API description and how to build its router.
pub trait Service {
    /// Binary and metrics name, e.g. `genesis`.
    const NAME: &'static str;
    /// Environment prefix, e.g. `GENESIS`.
    const PREFIX: &'static str;
    /// Variables that carry the prefix but belong to something else (lowercase, no prefix).
    const FOREIGN: &'static [&'static str] = &[];
    /// Typed settings.
    type Settings: ServiceSettings;
    /// Embedded migrations.
    fn migrator() -> &'static sqlx::migrate::Migrator;
    /// The OpenAPI document, built without any state.
    fn openapi() -> utoipa::openapi::OpenApi;
    /// Connects dependencies, applies migrations and assembles the router.
    fn build(
        settings: Self::Settings,
    ) -> impl Future<Output = Result<Assembled, StartError>> + Send;
    /// Service-specific subcommands (`genesis keys ...`); [`NoCommands`] when there are none.
    type Commands: Subcommand + std::fmt::Debug;
    /// Runs one of [`Service::Commands`].
    fn run(
        settings: Self::Settings,
        command: Self::Commands,
    ) -> impl Future<Output = Result<(), StartError>> + Send;
}

/// For a service without subcommands of its own.
#[derive(Debug, Clone, Copy, Subcommand)]
pub enum NoCommands {}

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is missing or invalid.
    #[error(transparent)]
    Settings(#[from] SettingsError),
    /// A dependency is unreachable or misconfigured.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// Listening or another I/O step failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli<E: Subcommand> {
    #[command(subcommand)]
    command: Option<Command<E>>,
}

#[derive(Debug, Subcommand)]
enum Command<E: Subcommand> {
    /// Serve HTTP (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI document as JSON and exit.
    Openapi,
    #[command(flatten)]
    Service(E),
}

/// Loads and validates the settings of service `S` from its config file and environment.
pub fn load_settings<S: Service>() -> Result<S::Settings, SettingsError> {
    let settings: S::Settings = settings::load(&Sources {
        prefix: S::PREFIX,
        foreign: S::FOREIGN,
    })?;
    settings.validate()?;
    Ok(settings)
}

/// Loads and validates settings of service `S` from the TOML file at `path` plus `vars` (no
/// process environment): keeps example config files honest in tests.
pub fn settings_from_file<S: Service>(
    path: &std::path::Path,
    vars: &[(&str, &str)],
) -> Result<S::Settings, SettingsError> {
    let mut all: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    all.push((
        format!("{}_CONFIG", S::PREFIX),
        path.to_string_lossy().into_owned(),
    ));
    let settings: S::Settings = settings::load_from(
        &Sources {
            prefix: S::PREFIX,
            foreign: S::FOREIGN,
        },
        all,
    )?;
    settings.validate()?;
    Ok(settings)
}

/// Runs the service's command line; returns the process exit code.
pub fn main<S: Service>() -> ExitCode {
    install_crypto_provider();
    let cli = Cli::<S::Commands>::parse();
    if let Some(Command::Openapi) = cli.command {
        let doc = S::openapi().to_pretty_json().unwrap_or_default();
        #[allow(clippy::print_stdout)]
        {
            println!("{doc}");
        }
        return ExitCode::SUCCESS;
    }
    let settings = match load_settings::<S>() {
        Ok(settings) => settings,
        Err(e) => return fail(S::NAME, &e),
    };
    // Telemetry lives outside the runtime: the OTLP exporter's blocking HTTP client must be
    // created and shut down off the async threads.
    let telemetry = match crate::telemetry::init(S::NAME, settings.log_format()) {
        Ok(t) => t,
        Err(e) => return fail(S::NAME, &e),
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(S::NAME, &e),
    };
    let result = runtime.block_on(async {
        match cli.command {
            Some(Command::Migrate) => migrate::<S>(&settings).await,
            Some(Command::Service(command)) => S::run(settings, command).await,
            _ => {
                tracing::info!(service = S::NAME, settings = ?settings, "starting");
                let listen = settings.listen().clone();
                let app = S::build(settings).await?;
                crate::serve::serve(app.router, &listen).await?;
                tracing::info!(service = S::NAME, "stopped");
                Ok(())
            }
        }
    });
    drop(runtime);
    drop(telemetry);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(S::NAME, &e),
    }
}

/// Every TLS client in the process (Vault, the OTLP exporter, keyset fetches) uses rustls with
/// ring; the HTTP clients are built without a default provider, so one is installed here,
/// before anything makes a connection.
pub fn install_crypto_provider() {
    // Err means one is installed already, which is just as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

async fn migrate<S: Service>(settings: &S::Settings) -> Result<(), StartError> {
    let Some(url) = settings.database_url() else {
        return Err(SettingsError::Invalid {
            setting: format!("{}_DATABASE_URL", S::PREFIX),
            reason: "is required to migrate".to_owned(),
        }
        .into());
    };
    let pool = backends::connect_database(url, 1).await?;
    backends::migrate(&pool, S::migrator()).await?;
    tracing::info!(service = S::NAME, "migrations applied");
    Ok(())
}

fn fail(service: &str, error: &dyn std::fmt::Display) -> ExitCode {
    // One line on stderr, whatever the log format: this is what an operator reads first.
    #[allow(clippy::print_stderr)]
    {
        eprintln!("{service}: {error}");
    }
    ExitCode::from(2)
}
