//! `permesictl token` and the SDK against a real genesis.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use admission_token::{KeysetSource, SystemClock, TokenVerifier, VerifierConfig};
use genesis::{Genesis, config::Settings};
use server::cli::Service;
use testkit::TestServer;

async fn genesis(keys: &tempfile::TempDir) -> TestServer {
    let settings = Settings {
        keys_dir: keys.path().join("keys"),
        pow_actions: "signup:8,login:8".to_owned(),
        ..Settings::default()
    };
    TestServer::start(Genesis::build(settings).await.unwrap().router).await
}

#[tokio::test]
async fn the_sdk_gets_a_token_that_verifies_offline() {
    let keys = tempfile::tempdir().unwrap();
    let server = genesis(&keys).await;
    let client = client::GenesisClient::new(&server.url("/")).unwrap();
    let admission = client.admission_token("signup", |_| {}).await.unwrap();
    assert_eq!(admission.action, "signup");
    let keyset = reqwest::get(server.url("/paserk.json"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let verifier = TokenVerifier::new(
        VerifierConfig::new("genesis", "permesi"),
        KeysetSource::inline(&keyset).unwrap(),
        Arc::new(SystemClock),
    );
    verifier.verify(&admission.token, "signup").await.unwrap();

    let refused = client.admission_token("root", |_| {}).await.unwrap_err();
    assert!(
        matches!(&refused, client::ClientError::Refused { status: 400, code } if code == "unknown_action"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn permesictl_token_prints_a_token() {
    let keys = tempfile::tempdir().unwrap();
    let server = genesis(&keys).await;
    let base = server.url("/");
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_permesictl"))
            .args(["--genesis", &base, "token", "--action", "login"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();
    assert!(token.trim().starts_with("v4.public."), "{token}");
    // Progress went to stderr, not stdout.
    assert!(String::from_utf8_lossy(&out.stderr).contains("solved in"));
}
