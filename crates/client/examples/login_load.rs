//! Load generator for permesi logins: signs up `USERS` accounts (marking them verified directly
//! in the database, a benchmark shortcut), then runs complete logins for `SECONDS` at
//! `CONCURRENCY`: each login gets its own admission token from genesis (challenge, proof of
//! work, mint), then OPAQUE login start and finish against permesi. The client's Argon2 runs
//! with cheap test parameters, or the generator itself would be the bottleneck on 2 cores.
//!
//! `cargo run --release -p client --example login_load -- GENESIS PERMESI DATABASE_URL USERS CONCURRENCY SECONDS`
// A measuring tool: counts become floats for rates and percentiles, where precision beyond
// 2^52 does not matter.
#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    clippy::print_stderr,
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    missing_docs
)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use client::{Params, PermesiClient};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, genesis, permesi, database, users, concurrency, seconds] = args.as_slice() else {
        eprintln!("usage: login_load GENESIS PERMESI DATABASE_URL USERS CONCURRENCY SECONDS");
        std::process::exit(2);
    };
    let (users, concurrency, seconds): (usize, usize, u64) = (
        users.parse().unwrap(),
        concurrency.parse().unwrap(),
        seconds.parse().unwrap(),
    );
    let client = || {
        PermesiClient::new(genesis, permesi)
            .unwrap()
            .with_params(Params::insecure_fast())
    };
    let password = "benchmark passphrase";
    let run_id = uuid::Uuid::new_v4().simple().to_string();
    let emails: Vec<String> = (0..users)
        .map(|i| format!("load{i}-{}@bench.example", &run_id[..8]))
        .collect();
    let started = Instant::now();
    for email in &emails {
        client().signup(email, password).await.unwrap();
    }
    let signup_secs = started.elapsed().as_secs_f64();
    let pool = sqlx::PgPool::connect(database).await.unwrap();
    sqlx::query("UPDATE users SET email_verified_at = now() WHERE email_verified_at IS NULL")
        .execute(&pool)
        .await
        .unwrap();
    eprintln!(
        "signed up {users} users in {signup_secs:.2}s ({:.1} ms each, sequential)",
        signup_secs * 1000.0 / users as f64
    );

    let stop = Arc::new(AtomicBool::new(false));
    let emails = Arc::new(emails);
    let mut tasks = Vec::new();
    let t0 = Instant::now();
    for w in 0..concurrency {
        let (stop, emails) = (stop.clone(), emails.clone());
        let client = client();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = w;
            while !stop.load(Ordering::Relaxed) {
                let email = &emails[i % emails.len()];
                let start = Instant::now();
                client.login(email, password).await.unwrap();
                latencies.push(start.elapsed());
                i += concurrency;
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all: Vec<Duration> = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let elapsed = t0.elapsed().as_secs_f64();
    all.sort_unstable();
    let pct =
        |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "logins: {} in {elapsed:.1}s = {:.0}/s at concurrency {concurrency}; p50 {:.2} ms, p99 {:.2} ms",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99)
    );
}
