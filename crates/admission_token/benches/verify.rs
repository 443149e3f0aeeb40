//! Offline verification and minting, each beside the raw ed25519-dalek operation it wraps.
#![allow(missing_docs, clippy::unwrap_used)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use admission_token::{
    Claims, KeyStatus, Keyset, SignatureCheck, Verifier, VerifierConfig, mint, mint_with,
};
use criterion::{Criterion, criterion_group, criterion_main};
use ed25519_dalek::{Signature, Signer as _, SigningKey};
use keys::{KeysError, Signer, VerifyingKeyVersion};
use rand::SeedableRng;
use rand::rngs::StdRng;
use time::{Duration, OffsetDateTime};

#[derive(Debug)]
struct MemSigner(SigningKey);

#[async_trait::async_trait]
impl Signer for MemSigner {
    async fn versions(&self) -> Result<Vec<VerifyingKeyVersion>, KeysError> {
        Ok(vec![version(&self.0)])
    }
    async fn sign(&self, _version: u32, message: &[u8]) -> Result<[u8; 64], KeysError> {
        Ok(self.0.sign(message).to_bytes())
    }
    async fn rotate(&self) -> Result<VerifyingKeyVersion, KeysError> {
        Ok(version(&self.0))
    }
}

fn version(sk: &SigningKey) -> VerifyingKeyVersion {
    VerifyingKeyVersion {
        version: 1,
        public_key: sk.verifying_key().to_bytes(),
        created_at: OffsetDateTime::UNIX_EPOCH,
    }
}

/// The in-memory signer never awaits, so one poll finishes the future (no runtime overhead).
fn ready<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => out,
        Poll::Pending => unreachable!("in-memory signer is synchronous"),
    }
}

fn benches(c: &mut Criterion) {
    let sk = SigningKey::from_bytes(&[7u8; 32]);
    let pk = sk.verifying_key();
    let signer = MemSigner(sk.clone());
    let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
    let mut rng = StdRng::seed_from_u64(1);
    let claims = Claims::new(
        "https://genesis.permesi.localhost",
        "https://api.permesi.localhost",
        "signup",
        now,
        Duration::seconds(120),
        &mut rng,
    )
    .unwrap();
    let keyset = Keyset::builder()
        .key(&version(&sk), KeyStatus::Active, None)
        .build()
        .unwrap();
    let verifier = Verifier::new(VerifierConfig::new(
        "https://genesis.permesi.localhost",
        "https://api.permesi.localhost",
    ));
    let token = ready(mint(&signer, 1, &pk.to_bytes(), &claims)).unwrap();
    let msg = [42u8; 64];
    let sig: Signature = sk.sign(&msg);

    let mut g = c.benchmark_group("verify");
    g.bench_function("admission_token_verify", |b| {
        b.iter(|| {
            verifier
                .verify(black_box(&token), "signup", &keyset, now)
                .unwrap()
        });
    });
    g.bench_function("ed25519_dalek_verify_strict_64B", |b| {
        b.iter(|| pk.verify_strict(black_box(&msg), black_box(&sig)).unwrap());
    });
    g.finish();

    let mut g = c.benchmark_group("mint");
    g.bench_function("admission_token_mint", |b| {
        b.iter(|| {
            ready(mint(
                &signer,
                1,
                black_box(&pk.to_bytes()),
                black_box(&claims),
            ))
            .unwrap()
        });
    });
    g.bench_function("admission_token_mint_trusted_signer", |b| {
        b.iter(|| {
            ready(mint_with(
                &signer,
                1,
                black_box(&pk.to_bytes()),
                black_box(&claims),
                SignatureCheck::Trusted,
            ))
            .unwrap()
        });
    });
    g.bench_function("ed25519_dalek_sign_64B", |b| {
        b.iter(|| sk.sign(black_box(&msg)));
    });
    g.finish();
}

criterion_group!(verify, benches);
criterion_main!(verify);
