//! Operational behaviour. The shared HTTP stack (problem+json, limits, CORS, metrics) is exercised in genesis's tests;
//! these cover what permesi adds.

use std::process::Command;

use permesi::{Permesi, config::Settings};
use reqwest::StatusCode;
use server::cli::Service;
use testkit::TestServer;

async fn settings(keys: &tempfile::TempDir) -> Settings {
    Settings {
        database_url: Some(testkit::fresh_database("permesi").await.into()),
        redis_url: Some(testkit::redis_url().into()),
        keys_dir: keys.path().join("keys"),
        // Nothing listens there: these tests do not reach the admission gate, and permesi
        // starts anyway (gated requests would get 503 until genesis answers).
        admission_paserk_url: Some("http://127.0.0.1:9/paserk.json".to_owned()),
        ..Settings::default()
    }
}

#[tokio::test]
async fn ready_with_database_cache_and_keys() {
    let keys = tempfile::tempdir().unwrap();
    let app = Permesi::build(settings(&keys).await)
        .await
        .expect("permesi starts");
    let server = TestServer::start(app.router).await;
    let response = reqwest::get(server.url("/ready")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok");
    assert_eq!(body["checks"]["cache"], "ok");
    assert_eq!(body["checks"]["keys"], "ok");
    let health: serde_json::Value = reqwest::get(server.url("/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["service"], "permesi");
    server.shutdown().await.expect("drains and stops");
}

#[tokio::test]
async fn migrations_are_recorded_and_idempotent() {
    let keys = tempfile::tempdir().unwrap();
    let settings = settings(&keys).await;
    let url = settings.database_url.clone().unwrap();
    drop(Permesi::build(settings).await.unwrap());
    // A second start (another replica, a restart) applies nothing twice.
    let again = Settings {
        database_url: Some(url.clone()),
        redis_url: None,
        ..self::settings(&keys).await
    };
    drop(Permesi::build(again).await.unwrap());
    let pool = sqlx::PgPool::connect(url.expose()).await.unwrap();
    let versions: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(&pool)
            .await
            .unwrap();
    let expected: Vec<(i64, bool)> = Permesi::migrator()
        .iter()
        .map(|m| (m.version, true))
        .collect();
    assert_eq!(versions, expected);
}

#[test]
fn openapi_spec_is_checked_in_and_current() {
    let generated = serde_json::to_value(Permesi::openapi()).unwrap();
    testkit::assert_openapi_current("permesi", &generated);
}

fn permesi_binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_permesi"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

#[test]
fn database_url_is_required() {
    let out = permesi_binary().output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap().trim(),
        "permesi: invalid setting PERMESI_DATABASE_URL: is required"
    );
}

#[test]
fn console_build_variables_are_not_mistaken_for_service_settings() {
    // PERMESI_API_BASE_URL configures the console build; it must not stop the service, while
    // a typo of a real setting must.
    let out = permesi_binary()
        .env("PERMESI_API_BASE_URL", "http://localhost:8001")
        .env("PERMESI_TOKEN_BASE_URL", "http://localhost:8000")
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("PERMESI_DATABASE_URL: is required"),
        "{stderr}"
    );
    let out = permesi_binary()
        .env("PERMESI_REDIS_ULR", "redis://x")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8(out.stderr).unwrap().trim(),
        "permesi: unknown setting PERMESI_REDIS_ULR"
    );
}

#[test]
fn exactly_one_admission_keyset_source_is_required() {
    let run = |vars: &[(&str, &str)]| {
        let out = permesi_binary()
            .env("PERMESI_DATABASE_URL", "postgres://x@127.0.0.1:1/x")
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        String::from_utf8(out.stderr).unwrap()
    };
    assert!(
        run(&[]).starts_with("permesi: invalid setting PERMESI_ADMISSION_PASERK_URL: is required"),
        "{}",
        run(&[])
    );
    let both = run(&[
        (
            "PERMESI_ADMISSION_PASERK_URL",
            "http://127.0.0.1:9/paserk.json",
        ),
        ("PERMESI_ADMISSION_PASERK_JSON", "{}"),
    ]);
    assert!(both.contains("set exactly one of"), "{both}");
    let bad_json = run(&[("PERMESI_ADMISSION_PASERK_JSON", "{\"keys\":[]}")]);
    assert!(
        bad_json.starts_with("permesi: invalid setting PERMESI_ADMISSION_PASERK_JSON"),
        "{bad_json}"
    );
    let not_http = run(&[("PERMESI_ADMISSION_PASERK_URL", "ftp://genesis/paserk.json")]);
    assert!(
        not_http.starts_with("permesi: invalid setting PERMESI_ADMISSION_PASERK_URL"),
        "{not_http}"
    );
}

#[test]
fn config_file_is_layered_under_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("permesi.toml");
    std::fs::write(&file, "max_body_bytes = 10\n").unwrap();
    // The file's value is invalid and is reported by its key...
    let out = permesi_binary()
        .env("PERMESI_CONFIG", &file)
        .env("PERMESI_DATABASE_URL", "postgres://x@127.0.0.1:1/x")
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("PERMESI_MAX_BODY_BYTES"), "{stderr}");
    // ...and the environment overrides it, so start-up moves on to the (unreachable) database.
    let out = permesi_binary()
        .env("PERMESI_CONFIG", &file)
        .env("PERMESI_MAX_BODY_BYTES", "4096")
        .env(
            "PERMESI_ADMISSION_PASERK_URL",
            "http://127.0.0.1:9/paserk.json",
        )
        .env("PERMESI_DATABASE_URL", "postgres://x@127.0.0.1:1/x")
        .env("PERMESI_KEYS_DIR", dir.path().join("keys"))
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("permesi: database:"), "{stderr}");
    // A missing file is named.
    let out = permesi_binary()
        .env("PERMESI_CONFIG", dir.path().join("missing.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.starts_with("permesi: PERMESI_CONFIG: cannot read config file"),
        "{stderr}"
    );
}
