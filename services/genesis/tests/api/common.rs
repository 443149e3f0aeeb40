//! Shared set-up: settings against the test databases, a served genesis, the real binary.

use std::process::Command;

use genesis::{Genesis, config::Settings};
use server::cli::Service;
use testkit::TestServer;

/// Settings with a fresh database, the test Redis and a private key folder.
pub async fn settings(keys: &tempfile::TempDir) -> Settings {
    Settings {
        database_url: Some(testkit::fresh_database("genesis").await.into()),
        redis_url: Some(testkit::genesis_redis_url().into()),
        keys_dir: keys.path().join("keys"),
        max_body_bytes: 1024,
        ..Settings::default()
    }
}

/// Cheap work and generous limits, for tests that mint many tokens.
pub fn fast(settings: Settings) -> Settings {
    Settings {
        pow_actions: "signup:4,login:4".to_owned(),
        rate_limit_per_ip: 1000.0,
        rate_limit_per_ip_burst: 1000.0,
        ..settings
    }
}

/// genesis with default settings, served.
pub async fn start() -> (TestServer, tempfile::TempDir) {
    let keys = tempfile::tempdir().unwrap();
    let app = Genesis::build(settings(&keys).await)
        .await
        .expect("genesis starts");
    (TestServer::start(app.router).await, keys)
}

/// genesis with `settings`, served.
pub async fn start_with(settings: Settings) -> TestServer {
    let app = Genesis::build(settings).await.expect("genesis starts");
    TestServer::start(app.router).await
}

/// The body as JSON.
pub async fn json(response: reqwest::Response) -> serde_json::Value {
    response.json().await.expect("a JSON body")
}

/// The real binary with an empty environment.
pub fn genesis_binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_genesis"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    command
}

/// Waits for `child` to exit, at most `limit`; kills it and fails the test past that, so a
/// shutdown that never completes fails instead of hanging the suite.
pub fn wait_bounded(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> std::process::ExitStatus {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
