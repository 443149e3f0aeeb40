//! The cost of permesi's token signing beside the raw Ed25519 signature it wraps: an ID token
//! and an `at+jwt` access token (claims JSON, base64url, signing through the local key backend
//! behind `keys::Signer`), raw `ed25519-dalek` over a message of the same length, and the
//! verification userinfo and introspection do.
#![allow(missing_docs, clippy::unwrap_used)]

use std::{hint::black_box, sync::Arc};

use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::Signer as _;
use permesi::oidc::keys::{Alg, RotationPolicy, SigningKeys};
use serde_json::json;
use time::Duration;

fn claims() -> serde_json::Value {
    json!({
        "iss": "https://id.example.com", "sub": "0196a5b1-7c1e-7d2a-9a51-1d5e3c2b4a10",
        "aud": "0123456789abcdef0123456789abcdef", "azp": "0123456789abcdef0123456789abcdef",
        "exp": 1_800_000_600, "iat": 1_800_000_000, "auth_time": 1_799_999_000,
        "nonce": "n-0S6_WzA2Mj", "acr": "urn:permesi:acr:pwd", "amr": ["pwd"],
        "sid": "0196a5b1-7c1e-7d2a-9a51-1d5e3c2b4a11", "email": "someone@example.com",
        "email_verified": true,
    })
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let backend = runtime
        .block_on(keys::KeyBackend::open(keys::BackendConfig::Local(
            keys::LocalConfig {
                dir: dir.path().join("keys"),
                signing_key: "permesi-oidc".to_owned(),
                encryption_key: "permesi-data".to_owned(),
            },
        )))
        .unwrap();
    let signing = SigningKeys::new(
        backend.signer(),
        backend.jws_signers(),
        RotationPolicy {
            prepublish: Duration::hours(1),
            retire_after: Duration::hours(2),
        },
    );
    let claims = claims();
    let sample = runtime
        .block_on(signing.sign(Alg::EdDsa, "JWT", &claims))
        .unwrap();
    let input_len = sample.rsplit_once('.').unwrap().0.len();

    c.bench_function("oidc_id_token_sign_local_backend", |b| {
        b.iter(|| {
            runtime
                .block_on(signing.sign(Alg::EdDsa, "JWT", black_box(&claims)))
                .unwrap()
        });
    });
    let access = json!({
        "iss": "https://id.example.com", "sub": "0123456789abcdef0123456789abcdef",
        "aud": "https://id.example.com", "exp": 1_800_000_600, "iat": 1_800_000_000,
        "jti": "5b0e3f4c-1f7e-4a61-9a51-1d5e3c2b4a10",
        "client_id": "0123456789abcdef0123456789abcdef", "scope": "api:read",
    });
    c.bench_function("oidc_access_token_sign_local_backend", |b| {
        b.iter(|| {
            runtime
                .block_on(signing.sign(Alg::EdDsa, "at+jwt", black_box(&access)))
                .unwrap()
        });
    });
    c.bench_function("oidc_id_token_sign_es256_local_backend", |b| {
        b.iter(|| {
            runtime
                .block_on(signing.sign(Alg::Es256, "JWT", black_box(&claims)))
                .unwrap()
        });
    });
    c.bench_function("oidc_id_token_sign_rs256_local_backend", |b| {
        b.iter(|| {
            runtime
                .block_on(signing.sign(Alg::Rs256, "JWT", black_box(&claims)))
                .unwrap()
        });
    });
    let raw = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
    let message = vec![b'a'; input_len];
    c.bench_function("ed25519_dalek_sign_same_length_raw", |b| {
        b.iter(|| raw.sign(black_box(&message)));
    });
    let keys = Arc::new(signing);
    c.bench_function("oidc_token_verify", |b| {
        b.iter(|| {
            runtime
                .block_on(keys.verify(black_box(&sample)))
                .unwrap()
                .unwrap()
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
