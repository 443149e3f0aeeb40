//! Whether signup's answer tells a new address from one that has an account (finding M8):
//! times `POST /v1/auth/opaque/signup/finish` over HTTP for new addresses and for a verified
//! one, interleaved, against a real permesi (PostgreSQL, Valkey) and genesis in this process.
//! Only the finish is timed; the admission token, the proof of work and the client's OPAQUE
//! work happen before. Prints both distributions and their difference.
//!
//! Run with the test stack's PostgreSQL and Valkey: `scripts/load/signup-timing.sh [N]`.
#![allow(missing_docs, clippy::unwrap_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use opaque::client::{self as oc, Params};
use permesi::{Permesi, config::Settings};
use serde_json::{Value, json};
use server::cli::Service;
use testkit::TestServer;

struct Bench {
    genesis: TestServer,
    permesi: TestServer,
    http: reqwest::Client,
}

impl Bench {
    /// Signup start for `email`; the finish request's body.
    async fn started(&self, email: &str) -> Value {
        let (state, request) = oc::registration_start(b"a long enough passphrase").unwrap();
        let token = testkit::admission_token(&self.genesis.url(""), "signup").await;
        let started: Value = self
            .http
            .post(self.permesi.url("/v1/auth/opaque/signup/start"))
            .header("x-permesi-admission", token)
            .json(&json!({ "email": email, "request": request }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let upload = oc::registration_finish_with(
            state,
            started["response"].as_str().unwrap(),
            b"a long enough passphrase",
            Params::insecure_fast(),
        )
        .unwrap()
        .upload;
        json!({ "signup_id": started["signup_id"], "email": email, "upload": upload })
    }

    /// The finish alone, timed.
    async fn finish(&self, body: &Value) -> Duration {
        let t = Instant::now();
        let response = self
            .http
            .post(self.permesi.url("/v1/auth/opaque/signup/finish"))
            .json(body)
            .send()
            .await
            .unwrap();
        let elapsed = t.elapsed();
        assert_eq!(response.status(), reqwest::StatusCode::ACCEPTED);
        elapsed
    }
}

fn summary(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    // The sample at `percent` (nearest rank).
    let at = |percent: usize| samples[(samples.len() - 1) * percent / 100];
    let mean = samples.iter().sum::<Duration>() / u32::try_from(samples.len()).unwrap();
    println!(
        "{name:<26} n={:<4} p10={:>8.3?} p50={:>8.3?} p90={:>8.3?} mean={:>8.3?}",
        samples.len(),
        at(10),
        at(50),
        at(90),
        mean
    );
    at(50)
}

fn main() {
    let rounds: usize = std::env::var("SIGNUP_TIMING_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let genesis = genesis::config::Settings {
            keys_dir: dir.path().join("genesis-keys"),
            pow_actions: "signup:1".to_owned(),
            rate_limit_per_ip: 100_000.0,
            rate_limit_per_ip_burst: 100_000.0,
            ..genesis::config::Settings::default()
        };
        let genesis =
            TestServer::start(genesis::Genesis::build(genesis).await.unwrap().router).await;
        let database_url = testkit::fresh_database("signup_timing").await;
        let settings = Settings {
            database_url: Some(database_url.clone().into()),
            redis_url: Some(testkit::redis_url().into()),
            keys_dir: dir.path().join("permesi-keys"),
            admission_paserk_url: Some(genesis.url("/paserk.json")),
            email_mail_dir: dir.path().join("mail"),
            ..Settings::default()
        };
        let permesi = TestServer::start(Permesi::build(settings).await.unwrap().router).await;
        let bench = Bench {
            genesis,
            permesi,
            http: reqwest::Client::new(),
        };
        // One verified account.
        let taken = "taken@example.com";
        bench.finish(&bench.started(taken).await).await;
        let pool = sqlx::PgPool::connect(&database_url).await.unwrap();
        for _ in 0..500 {
            let verified = sqlx::query("UPDATE users SET email_verified_at = now()")
                .execute(&pool)
                .await
                .unwrap()
                .rows_affected();
            if verified == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Warm-up, then interleaved rounds.
        for i in 0..20 {
            bench
                .finish(&bench.started(&format!("warm{i}@example.com")).await)
                .await;
        }
        let (mut new, mut existing) = (Vec::new(), Vec::new());
        for i in 0..rounds {
            let fresh = bench.started(&format!("new{i}@example.com")).await;
            let again = bench.started(taken).await;
            if i % 2 == 0 {
                new.push(bench.finish(&fresh).await);
                existing.push(bench.finish(&again).await);
            } else {
                existing.push(bench.finish(&again).await);
                new.push(bench.finish(&fresh).await);
            }
        }
        let a = summary("signup finish, new address", new);
        let b = summary("signup finish, verified", existing);
        println!(
            "median difference: {:.1} µs",
            (a.as_secs_f64() - b.as_secs_f64()) * 1e6
        );
    });
}
