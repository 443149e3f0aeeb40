//! What sealing costs on the login path: every value permesi keeps in Valkey is sealed with
//! XChaCha20-Poly1305 under its key name (`server::seal`). A login seals and opens its OPAQUE
//! state once (start, finish) and a session-cache entry once per cache write and read.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use server::seal::Sealer;

fn bench(c: &mut Criterion) {
    let sealer = Sealer::new(&[42; 32]);
    // An OPAQUE login state plus index, user and generation (what login start stores).
    let login_state = vec![7u8; 192 + 32 + 16 + 8];
    let login_key = "permesi:ceremony:login:0123456789abcdef0123456789abcdef";
    // A session-cache entry (JSON, about 250 bytes).
    let session = vec![b'x'; 250];
    let session_key =
        "permesi:session:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    let sealed_state = sealer.seal(login_key, &login_state);
    let sealed_session = sealer.seal(session_key, &session);

    c.bench_function("seal_login_state", |b| {
        b.iter(|| sealer.seal(black_box(login_key), black_box(&login_state)));
    });
    c.bench_function("open_login_state", |b| {
        b.iter(|| {
            sealer
                .open(black_box(login_key), black_box(&sealed_state))
                .unwrap()
        });
    });
    c.bench_function("seal_session_entry", |b| {
        b.iter(|| sealer.seal(black_box(session_key), black_box(&session)));
    });
    c.bench_function("open_session_entry", |b| {
        b.iter(|| {
            sealer
                .open(black_box(session_key), black_box(&sealed_session))
                .unwrap()
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
