//! The same mint with `keys_backend = vault`: signatures from Transit, the proof-of-work MAC key
//! in KV v2, against the Vault double (written from Vault's documented API).

use std::sync::Arc;

use admission_token::{KeysetSource, SystemClock, TokenVerifier, VerifierConfig};
use genesis::config::Settings;
use reqwest::{StatusCode, header};
use serde_json::json;
use server::key_backend::{BackendKind, VaultAuthKind};
use testkit::TestServer;
use vault_double::{Double, ENCRYPTION_KEY, Mode, ROLE_ID, SECRET_ID, SIGNING_KEY};

use crate::common::{fast, json, settings, start_with};

async fn genesis_on_vault(double: &Double) -> (TestServer, tempfile::TempDir) {
    let keys = tempfile::tempdir().unwrap();
    let settings = Settings {
        keys_backend: BackendKind::Vault,
        vault_addr: double.serve_tcp().await,
        vault_auth: VaultAuthKind::Approle,
        vault_role_id: ROLE_ID.to_owned(),
        vault_secret_id: Some(SECRET_ID.to_owned().into()),
        keys_signing_key: SIGNING_KEY.to_owned(),
        keys_encryption_key: ENCRYPTION_KEY.to_owned(),
        vault_timeout_ms: 2_000,
        ..fast(settings(&keys).await)
    };
    (start_with(settings).await, keys)
}

async fn mint(server: &TestServer, action: &str) -> reqwest::Response {
    let client = reqwest::Client::new();
    let c: serde_json::Value = client
        .post(server.url("/v1/pow/challenge"))
        .json(&json!({ "action": action }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let decoded = pow::Challenge::decode(c["challenge"].as_str().unwrap()).unwrap();
    let solution = pow::solve(&decoded, |_| std::ops::ControlFlow::Continue(())).unwrap();
    client
        .post(server.url("/v1/admission"))
        .json(&json!({ "challenge": c["challenge"], "solution": solution }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn tokens_signed_through_transit_verify_offline_against_paserk_json() {
    let double = Double::new();
    let (server, _keys) = genesis_on_vault(&double).await;
    let response = mint(&server, "signup").await;
    assert_eq!(response.status(), StatusCode::OK);
    let token = json(response).await["token"].as_str().unwrap().to_owned();

    let verifier = TokenVerifier::new(
        VerifierConfig::new("genesis", "permesi"),
        KeysetSource::inline(
            &reqwest::get(server.url("/paserk.json"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap(),
        )
        .unwrap(),
        Arc::new(SystemClock),
    );
    verifier.verify(&token, "signup").await.unwrap();

    // The signature came from Transit with an explicit key version, and the MAC key of the
    // challenges lives in KV v2, not on disk.
    let (signed, kv_keys) = double.with(|s| {
        let signed: Vec<serde_json::Value> = s
            .requests
            .iter()
            .filter(|(method, path, ..)| method == "POST" && path.starts_with("transit/sign/"))
            .map(|(.., body)| body.clone())
            .collect();
        (signed, s.kv.keys().cloned().collect::<Vec<_>>())
    });
    assert_eq!(signed.len(), 1);
    assert_eq!(signed[0]["key_version"], 1);
    assert!(
        kv_keys.iter().any(|k| k.ends_with("genesis-pow-mac")),
        "{kv_keys:?}"
    );
}

#[tokio::test]
async fn a_failing_vault_fails_closed_with_503_and_ready_says_keys() {
    let double = Double::new();
    let (server, _keys) = genesis_on_vault(&double).await;
    assert_eq!(mint(&server, "login").await.status(), StatusCode::OK);

    double.set_mode(Mode::Fail);
    let response = mint(&server, "login").await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let problem = json(response).await;
    assert_eq!(problem["code"], "unavailable");
    // No backend detail leaks to the client.
    assert!(problem.get("detail").is_none(), "{problem}");

    let ready = reqwest::get(server.url("/ready")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(json(ready).await["checks"]["keys"], "error: unavailable");

    // Vault back: minting resumes.
    double.set_mode(Mode::Normal);
    assert_eq!(mint(&server, "login").await.status(), StatusCode::OK);
}
