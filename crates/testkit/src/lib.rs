//! Test support for integration tests that talk to the real PostgreSQL and Redis started by
//! `just test` (`scripts/test.sh`), never mocks.
//!
//! - [`fresh_database`] creates an empty database per test, so tests never share rows and can
//!   run in any order and in parallel.
//! - [`redis_url`] is the test Redis.
//! - [`admission_token`] gets a real admission token from a running genesis.
//! - [`TestServer`] serves a router on an ephemeral loopback port and stops it when dropped.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::net::SocketAddr;

use sqlx::{Connection, PgConnection};
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

/// Admin URL of the test PostgreSQL cluster (a superuser, so tests may `CREATE DATABASE`).
pub const DATABASE_ENV: &str = "PERMESI_TEST_DATABASE_URL";
/// URL of the test Redis as permesi's ACL user (`permesi:*` keys only).
pub const REDIS_ENV: &str = "PERMESI_TEST_REDIS_URL";
/// URL of the test Redis as genesis's ACL user (`genesis:*` keys only).
pub const GENESIS_REDIS_ENV: &str = "GENESIS_TEST_REDIS_URL";
/// URL of the test Redis as its administrator (test set-up only).
pub const REDIS_ADMIN_ENV: &str = "TEST_REDIS_ADMIN_URL";

fn required(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: run the tests with `just test`, which starts PostgreSQL and Redis"
        )
    })
}

/// Creates an empty database named after `label` plus a random suffix and returns its URL.
pub async fn fresh_database(label: &str) -> String {
    let admin = required(DATABASE_ENV);
    let name = format!(
        "t_{}_{}",
        label.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        uuid::Uuid::new_v4().simple()
    );
    let mut conn = PgConnection::connect(&admin)
        .await
        .expect("connect to the test PostgreSQL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
        .execute(&mut conn)
        .await
        .expect("create a test database");
    let mut url = url::Url::parse(&admin).expect("a valid test database URL");
    url.set_path(&name);
    url.to_string()
}

/// The test Redis URL.
pub fn redis_url() -> String {
    required(REDIS_ENV)
}

/// The test Redis as genesis's ACL user.
pub fn genesis_redis_url() -> String {
    required(GENESIS_REDIS_ENV)
}

/// The test Redis as its administrator.
pub fn redis_admin_url() -> String {
    required(REDIS_ADMIN_ENV)
}

/// Asserts that `generated` (a service's OpenAPI document) documents the operational routes and
/// equals the checked-in `docs/openapi/<service>.json`, which `just openapi` rewrites.
pub fn assert_openapi_current(service: &str, generated: &serde_json::Value) {
    for path in ["/health", "/ready", "/metrics", "/openapi.json"] {
        assert!(
            generated["paths"][path].is_object(),
            "{path} missing from the {service} spec"
        );
    }
    let file = format!(
        "{}/../../docs/openapi/{service}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{file}: {e} (run `just openapi`)"));
    let checked_in: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    // Not assert_eq!: printing two whole documents hides the one line that matters.
    assert!(
        &checked_in == generated,
        "docs/openapi/{service}.json is stale: run `just openapi`"
    );
}

/// A real admission token for `action` from the genesis at `genesis` (its base URL, e.g. a
/// [`TestServer::url`] of `""`): challenge, proof of work, admission, as a client would.
pub async fn admission_token(genesis: &str, action: &str) -> String {
    let http = reqwest::Client::new();
    let challenge: serde_json::Value = http
        .post(format!("{genesis}/v1/pow/challenge"))
        .json(&serde_json::json!({ "action": action }))
        .send()
        .await
        .expect("genesis answers")
        .json()
        .await
        .expect("a challenge");
    let encoded = challenge["challenge"]
        .as_str()
        .unwrap_or_else(|| panic!("no challenge for {action}: {challenge}"));
    let decoded = pow::Challenge::decode(encoded).expect("a valid challenge");
    let solution = pow::solve(&decoded, |_| std::ops::ControlFlow::Continue(())).expect("solved");
    let admitted: serde_json::Value = http
        .post(format!("{genesis}/v1/admission"))
        .json(&serde_json::json!({ "challenge": encoded, "solution": solution }))
        .send()
        .await
        .expect("genesis answers")
        .json()
        .await
        .expect("an admission");
    admitted["token"]
        .as_str()
        .unwrap_or_else(|| panic!("no token: {admitted}"))
        .to_owned()
}

/// A router served on `127.0.0.1:<ephemeral>` until dropped.
#[derive(Debug)]
pub struct TestServer {
    /// The bound address.
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestServer {
    /// Serves `router` with the same code path as production (`server::serve::serve_tcp`).
    pub async fn start(router: axum::Router) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        Self::start_on(listener, router)
    }

    /// Serves `router` on an already bound listener (when the service must know its own URL
    /// before it is built, e.g. an OpenID Provider's issuer).
    pub fn start_on(listener: TcpListener, router: axum::Router) -> Self {
        let addr = listener.local_addr().expect("local addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server::serve::serve_tcp(listener, router, async {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops serving and waits for in-flight requests to drain.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.expect("server task"),
            None => Ok(()),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
