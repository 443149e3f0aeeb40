//! Vault backend against an HTTP double of Vault's API (see `vault_double`).
#![cfg(feature = "vault")]
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use keys::{
    BackendConfig, JwsAlgorithm, JwsPublicKey, KeyBackend, KeysError, VaultAuth, VaultConfig,
};
use vault_double::{
    Double, ENCRYPTION_KEY, ES256_KEY, Mode, ROLE_ID, RS256_KEY, SECRET_ID, SIGNING_KEY,
};

fn approle() -> VaultAuth {
    VaultAuth::AppRole {
        mount: "approle".into(),
        role_id: ROLE_ID.into(),
        secret_id: SECRET_ID.into(),
    }
}

fn config(addr: String, auth: VaultAuth) -> VaultConfig {
    VaultConfig {
        addr,
        auth,
        transit_mount: "transit".into(),
        signing_key: SIGNING_KEY.into(),
        encryption_key: ENCRYPTION_KEY.into(),
        kv_mount: "secret".into(),
        kv_prefix: "permesi".into(),
        timeout: Duration::from_millis(200),
        jws_keys: Vec::new(),
    }
}

async fn open_with(double: &Double) -> KeyBackend {
    let addr = double.serve_tcp().await;
    KeyBackend::open(BackendConfig::Vault(config(addr, approle())))
        .await
        .unwrap()
}

fn verify(public_key: [u8; 32], msg: &[u8], sig: [u8; 64]) -> bool {
    VerifyingKey::from_bytes(&public_key)
        .unwrap()
        .verify(msg, &Signature::from_bytes(&sig))
        .is_ok()
}

/// Waits (event-driven, bounded) until `cond` holds on the double's state.
async fn wait_for(double: &Double, cond: impl Fn(&vault_double::Inner) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let notified = double.events.notified();
        if double.with(|s| cond(s)) {
            return;
        }
        assert!(
            tokio::time::timeout_at(deadline, notified).await.is_ok(),
            "condition not reached in time"
        );
    }
}

#[tokio::test]
async fn sign_verifies_with_the_doubles_public_key() {
    let double = Double::new();
    let backend = open_with(&double).await;
    assert_eq!(backend.kind(), "vault");
    let signer = backend.signer();

    let versions = signer.versions().await.unwrap();
    assert_eq!(versions.len(), 1);
    let double_pk = double.with(|s| s.signing[0].0.verifying_key().to_bytes());
    assert_eq!(versions[0].version, 1);
    assert_eq!(versions[0].public_key, double_pk);
    assert_eq!(versions[0].created_at.unix_timestamp(), 1_767_323_045);

    let msg = b"v4.public PAE bytes \x00\xff";
    let sig = signer.sign(1, msg).await.unwrap();
    assert!(verify(double_pk, msg, sig));
    assert!(!verify(double_pk, b"other", sig));

    // The request named the version and carried the token; input was base64.
    let (method, path, had_token, body) = double.with(|s| {
        s.requests
            .iter()
            .rfind(|r| r.1.starts_with("transit/sign"))
            .cloned()
            .unwrap()
    });
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("POST", "transit/sign/genesis-ed25519")
    );
    assert_eq!(had_token.as_deref(), Some("hvs.token-1"));
    assert_eq!(body["key_version"], 1);
    assert_eq!(
        STANDARD.decode(body["input"].as_str().unwrap()).unwrap(),
        msg
    );
}

#[tokio::test]
async fn rotate_then_versions_lists_all_and_signs_with_exactly_the_one_asked() {
    let double = Double::new();
    let signer = open_with(&double).await.signer();
    let v1 = signer.versions().await.unwrap().remove(0);

    let v2 = signer.rotate().await.unwrap();
    assert_eq!(v2.version, 2);
    assert_eq!(double.with(|s| s.signing.len()), 2);
    let all = signer.versions().await.unwrap();
    assert_eq!(all.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(all[0], v1);
    assert_eq!(all[1], v2);
    assert_ne!(v1.public_key, v2.public_key);

    let s1 = signer.sign(1, b"m").await.unwrap();
    let s2 = signer.sign(2, b"m").await.unwrap();
    assert!(verify(v1.public_key, b"m", s1) && !verify(v2.public_key, b"m", s1));
    assert!(verify(v2.public_key, b"m", s2) && !verify(v1.public_key, b"m", s2));
}

#[tokio::test]
async fn sign_with_an_unknown_version_fails_without_fallback() {
    let double = Double::new();
    let signer = open_with(&double).await.signer();
    assert!(
        matches!(signer.sign(7, b"m").await, Err(KeysError::Rejected(m)) if m.contains("does not exist"))
    );
    assert!(matches!(
        signer.sign(0, b"m").await,
        Err(KeysError::NotFound(_))
    ));
    // Version 0 never reached Vault (where it would mean "latest").
    assert_eq!(
        double.with(|s| s
            .requests
            .iter()
            .filter(|r| r.1.starts_with("transit/sign"))
            .count()),
        1
    );
}

#[tokio::test]
async fn encrypt_decrypt_round_trip_and_aad_is_bound() {
    let double = Double::new();
    let cipher = open_with(&double).await.cipher();

    let ct = cipher.encrypt(b"totp seed", b"user:42").await.unwrap();
    assert!(ct.starts_with("vault:v1:"), "{ct}");
    assert_eq!(cipher.decrypt(&ct, b"user:42").await.unwrap(), b"totp seed");
    assert!(matches!(
        cipher.decrypt(&ct, b"user:43").await,
        Err(KeysError::Decrypt)
    ));

    let mut raw = STANDARD
        .decode(ct.strip_prefix("vault:v1:").unwrap())
        .unwrap();
    raw[14] ^= 1;
    let tampered = format!("vault:v1:{}", STANDARD.encode(raw));
    assert!(matches!(
        cipher.decrypt(&tampered, b"user:42").await,
        Err(KeysError::Decrypt)
    ));

    // Not a Vault ciphertext: refused locally, never sent.
    let before = double.with(|s| s.requests.len());
    assert!(matches!(
        cipher.decrypt("local:v1:AAAA", b"").await,
        Err(KeysError::Decrypt)
    ));
    assert_eq!(double.with(|s| s.requests.len()), before);

    // The aad travelled base64-encoded as associated_data.
    let body = double.with(|s| {
        s.requests
            .iter()
            .find(|r| r.1 == "transit/encrypt/permesi-chacha")
            .unwrap()
            .3
            .clone()
    });
    assert_eq!(
        STANDARD
            .decode(body["associated_data"].as_str().unwrap())
            .unwrap(),
        b"user:42"
    );
}

#[tokio::test]
async fn kv_put_get_and_missing_is_none() {
    let double = Double::new();
    let secrets = open_with(&double).await.secrets();
    assert_eq!(secrets.get("opaque-seed").await.unwrap(), None);
    let value = [0u8, 159, 146, 150, 255];
    secrets.put("opaque-seed", &value).await.unwrap();
    assert_eq!(secrets.get("opaque-seed").await.unwrap().unwrap(), value);

    // Stored at KV v2's data path under the prefix, as {"value": base64}.
    let stored = double.with(|s| s.kv.get("permesi/opaque-seed").cloned().unwrap());
    assert_eq!(
        STANDARD.decode(stored["value"].as_str().unwrap()).unwrap(),
        value
    );

    for bad in ["../x", "a/b", "..", ""] {
        assert!(
            matches!(secrets.get(bad).await, Err(KeysError::InvalidName(_))),
            "{bad}"
        );
        assert!(
            matches!(secrets.put(bad, b"v").await, Err(KeysError::InvalidName(_))),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn approle_login_then_background_renewal() {
    let double = Double::new();
    double.with(|s| s.token_ttl = 1);
    let backend = open_with(&double).await;
    assert_eq!(double.with(|s| s.logins), 1);

    // Renewal at two thirds of the 1 s lease; wait for it (bounded, event-driven).
    wait_for(&double, |s| s.renewals >= 2).await;
    assert_eq!(
        double.with(|s| s.logins),
        1,
        "renewable token is renewed, not replaced"
    );
    let renew = double.with(|s| {
        s.requests
            .iter()
            .find(|r| r.1 == "auth/token/renew-self")
            .cloned()
            .unwrap()
    });
    assert_eq!(
        renew.2.as_deref(),
        Some("hvs.token-1"),
        "renew-self carries the token"
    );
    backend.signer().sign(1, b"m").await.unwrap();
    backend.check().await.unwrap();
}

#[tokio::test]
async fn not_renewable_token_is_replaced_by_a_new_login() {
    let double = Double::new();
    double.with(|s| {
        s.token_ttl = 1;
        s.renewable = false;
    });
    let backend = open_with(&double).await;
    // Login 3 starts only after login 2's token was stored, and revokes token 1.
    wait_for(&double, |s| s.logins >= 3).await;
    backend.signer().sign(1, b"m").await.unwrap();
    let used = double.with(|s| {
        s.requests
            .iter()
            .rfind(|r| r.1.starts_with("transit/sign"))
            .unwrap()
            .2
            .clone()
    });
    assert_ne!(used.as_deref(), Some("hvs.token-1"));
    assert_eq!(double.with(|s| s.renewals), 0);
}

#[tokio::test]
async fn failed_renewal_falls_back_to_login() {
    let double = Double::new();
    double.with(|s| s.token_ttl = 1);
    let backend = open_with(&double).await;
    // Revoke the token behind the client's back: renew-self gets 403.
    let renewals = double.with(|s| {
        s.tokens.clear();
        s.renewals
    });
    // A successful renewal after the new login proves the new token is in use.
    wait_for(&double, |s| s.logins >= 2 && s.renewals > renewals).await;
    backend.signer().sign(1, b"m").await.unwrap();
    let denied_renewal = double.with(|s| {
        s.requests
            .iter()
            .any(|r| r.1 == "auth/token/renew-self" && r.2.as_deref() == Some("hvs.token-1"))
    });
    assert!(denied_renewal, "the revoked token was tried first");
}

#[tokio::test]
async fn bad_approle_credentials_are_denied() {
    let double = Double::new();
    let addr = double.serve_tcp().await;
    let auth = VaultAuth::AppRole {
        mount: "approle".into(),
        role_id: ROLE_ID.into(),
        secret_id: "wrong".into(),
    };
    let err = KeyBackend::open(BackendConfig::Vault(config(addr, auth)))
        .await
        .unwrap_err();
    assert!(
        matches!(err, KeysError::Denied(ref m) if m.contains("invalid role or secret ID")),
        "{err:?}"
    );
}

#[tokio::test]
async fn forbidden_maps_to_denied() {
    let double = Double::new();
    let backend = open_with(&double).await;
    double.set_mode(Mode::Deny);
    assert!(matches!(
        backend.signer().sign(1, b"m").await,
        Err(KeysError::Denied(_))
    ));
    assert!(matches!(
        backend.cipher().encrypt(b"m", b"").await,
        Err(KeysError::Denied(_))
    ));
    assert!(matches!(
        backend.secrets().get("x").await,
        Err(KeysError::Denied(_))
    ));
    assert!(matches!(backend.check().await, Err(KeysError::Denied(_))));
}

#[tokio::test]
async fn missing_token_is_denied() {
    // Agent mode against a plain Vault (no agent to inject a token): no X-Vault-Token.
    let double = Double::new();
    let addr = double.serve_tcp().await;
    let backend = KeyBackend::open(BackendConfig::Vault(config(addr, VaultAuth::Agent)))
        .await
        .unwrap();
    assert!(
        matches!(backend.signer().versions().await, Err(KeysError::Denied(m)) if m.contains("permission denied"))
    );
    assert!(double.with(|s| s.requests.iter().all(|r| r.2.is_none())));
}

#[tokio::test]
async fn server_error_maps_to_unavailable() {
    let double = Double::new();
    let backend = open_with(&double).await;
    double.set_mode(Mode::Fail);
    let err = backend.signer().sign(1, b"m").await.unwrap_err();
    assert!(
        matches!(err, KeysError::Unavailable(ref m) if m.contains("500")),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert!(matches!(
        backend.check().await,
        Err(KeysError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_hanging_vault_times_out() {
    let double = Double::new();
    let backend = open_with(&double).await;
    double.set_mode(Mode::Hang);
    let started = std::time::Instant::now();
    assert!(matches!(
        backend.signer().sign(1, b"m").await,
        Err(KeysError::Timeout)
    ));
    assert!(matches!(
        backend.cipher().decrypt("vault:v1:AAAA", b"").await,
        Err(KeysError::Timeout)
    ));
    assert!(matches!(
        backend.secrets().put("a", b"b").await,
        Err(KeysError::Timeout)
    ));
    assert!(matches!(backend.check().await, Err(KeysError::Timeout)));
    // Bounded by the 200 ms client timeout (4 sequential calls), not by the double.
    assert!(started.elapsed() < Duration::from_secs(5));

    // A login that hangs fails the open with a timeout too.
    let double = Double::new();
    double.with(|s| s.hang_all = true);
    let addr = double.serve_tcp().await;
    let err = KeyBackend::open(BackendConfig::Vault(config(addr, approle())))
        .await
        .unwrap_err();
    assert!(matches!(err, KeysError::Timeout), "{err:?}");
}

#[tokio::test]
async fn unreachable_vault_is_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = KeyBackend::open(BackendConfig::Vault(config(addr, approle())))
        .await
        .unwrap_err();
    assert!(matches!(err, KeysError::Unavailable(_)), "{err:?}");
}

#[tokio::test]
async fn agent_unix_socket_transport() {
    let double = Double::new();
    let dir = tempfile::tempdir().unwrap();
    let addr = double.serve_unix(&dir.path().join("agent.sock"));
    assert!(addr.starts_with("unix:///"));
    let backend = KeyBackend::open(BackendConfig::Vault(config(addr, VaultAuth::Agent)))
        .await
        .unwrap();

    backend.check().await.unwrap();
    let v = backend.signer().versions().await.unwrap();
    let sig = backend.signer().sign(1, b"over the socket").await.unwrap();
    assert!(verify(v[0].public_key, b"over the socket", sig));
    let ct = backend.cipher().encrypt(b"pt", b"aad").await.unwrap();
    assert_eq!(backend.cipher().decrypt(&ct, b"aad").await.unwrap(), b"pt");
    backend.secrets().put("seed", b"s").await.unwrap();
    assert_eq!(backend.secrets().get("seed").await.unwrap().unwrap(), b"s");

    // No login, no token from the client: the agent injected it.
    double.with(|s| {
        assert_eq!(s.logins, 0);
        assert!(s.requests.len() >= 6);
        assert!(
            s.requests.iter().all(|r| r.2.is_none()),
            "client sent X-Vault-Token"
        );
    });
}

#[tokio::test]
async fn check_detects_wrong_key_type_and_missing_key() {
    let double = Double::new();
    let addr = double.serve_tcp().await;
    let backend = KeyBackend::open(BackendConfig::Vault(config(addr.clone(), approle())))
        .await
        .unwrap();
    backend.check().await.unwrap();

    let mut cfg = config(addr.clone(), approle());
    cfg.encryption_key = SIGNING_KEY.into();
    let backend = KeyBackend::open(BackendConfig::Vault(cfg)).await.unwrap();
    assert!(matches!(backend.check().await, Err(KeysError::Config(_))));
    assert!(matches!(
        backend.cipher().encrypt(b"x", b"").await,
        Err(KeysError::Rejected(_))
    ));

    let mut cfg = config(addr, approle());
    cfg.signing_key = "missing".into();
    let backend = KeyBackend::open(BackendConfig::Vault(cfg)).await.unwrap();
    assert!(matches!(backend.check().await, Err(KeysError::NotFound(_))));
    assert!(matches!(
        backend.signer().versions().await,
        Err(KeysError::NotFound(_))
    ));
}

#[tokio::test]
async fn config_is_validated_and_debug_redacts_the_secret_id() {
    let cfg = config("http://127.0.0.1:1".into(), approle());
    let dbg = format!("{:?}", BackendConfig::Vault(cfg.clone()));
    assert!(!dbg.contains(SECRET_ID), "{dbg}");
    assert!(dbg.contains(ROLE_ID));

    let mut bad = cfg.clone();
    bad.addr = "vault:8200".into();
    assert!(matches!(
        KeyBackend::open(BackendConfig::Vault(bad)).await,
        Err(KeysError::Config(_))
    ));
    let mut bad = cfg.clone();
    bad.timeout = Duration::ZERO;
    assert!(matches!(
        KeyBackend::open(BackendConfig::Vault(bad)).await,
        Err(KeysError::Config(_))
    ));
    let mut bad = cfg;
    bad.kv_prefix = "a/../b".into();
    assert!(matches!(
        KeyBackend::open(BackendConfig::Vault(bad)).await,
        Err(KeysError::Config(_))
    ));
}

#[tokio::test]
async fn es256_and_rs256_sign_through_transit_in_the_jws_form() {
    let double = Double::new();
    let addr = double.serve_tcp().await;
    let mut cfg = config(addr.clone(), approle());
    cfg.jws_keys = vec![
        (JwsAlgorithm::Es256, ES256_KEY.into()),
        (JwsAlgorithm::Rs256, RS256_KEY.into()),
    ];
    // The double makes RSA keys and signs with them in this process: on two busy cores that
    // can take longer than the short timeout the fault tests use.
    cfg.timeout = Duration::from_secs(10);
    let backend = KeyBackend::open(BackendConfig::Vault(cfg.clone()))
        .await
        .unwrap();
    backend.check().await.unwrap();
    let signers = backend.jws_signers();
    assert_eq!(
        signers.iter().map(|s| s.algorithm()).collect::<Vec<_>>(),
        JwsAlgorithm::ALL
    );
    for signer in &signers {
        let v1 = signer.versions().await.unwrap();
        assert_eq!(v1.len(), 1);
        assert_eq!(v1[0].public.algorithm(), signer.algorithm());
        if let JwsPublicKey::Rsa { n, e } = &v1[0].public {
            assert_eq!((n.len(), e.as_slice()), (256, &[1, 0, 1][..]));
        }
        let msg = b"header.claims";
        let signature = signer.sign(1, msg).await.unwrap();
        assert!(
            v1[0].public.verify(msg, &signature),
            "{:?}",
            signer.algorithm()
        );
        assert!(!v1[0].public.verify(b"other", &signature));
        // Exactly the version asked for, or an error.
        assert!(matches!(
            signer.sign(2, msg).await,
            Err(KeysError::Rejected(_))
        ));
        let v2 = signer.rotate().await.unwrap();
        assert_eq!(v2.version, 2);
        let signature = signer.sign(2, msg).await.unwrap();
        assert!(v2.public.verify(msg, &signature));
        assert!(!v1[0].public.verify(msg, &signature));
    }
    // What went over the wire: SHA-256 in Vault, JWS marshaling for ECDSA, PKCS#1 v1.5
    // (not Vault's default PSS) for RSA.
    double.with(|s| {
        let signs: Vec<_> = s
            .requests
            .iter()
            .filter(|r| r.1.starts_with("transit/sign/permesi-"))
            .collect();
        assert!(!signs.is_empty());
        for (_, path, _, body) in signs {
            assert_eq!(body["hash_algorithm"], "sha2-256", "{path}");
            if path.ends_with(ES256_KEY) {
                assert_eq!(body["marshaling_algorithm"], "jws");
            } else {
                assert_eq!(body["signature_algorithm"], "pkcs1v15");
            }
        }
    });

    // A key of the wrong type is a configuration error, and two keys for one algorithm too.
    let mut wrong = cfg.clone();
    wrong.jws_keys = vec![(JwsAlgorithm::Rs256, ES256_KEY.into())];
    let backend = KeyBackend::open(BackendConfig::Vault(wrong)).await.unwrap();
    assert!(matches!(backend.check().await, Err(KeysError::Config(_))));
    let mut twice = cfg;
    twice.jws_keys = vec![
        (JwsAlgorithm::Es256, ES256_KEY.into()),
        (JwsAlgorithm::Es256, RS256_KEY.into()),
    ];
    assert!(matches!(
        KeyBackend::open(BackendConfig::Vault(twice)).await,
        Err(KeysError::Config(_))
    ));
    // Without JWS keys configured, none are offered.
    let backend = KeyBackend::open(BackendConfig::Vault(config(addr, approle())))
        .await
        .unwrap();
    assert!(backend.jws_signers().is_empty());
}
