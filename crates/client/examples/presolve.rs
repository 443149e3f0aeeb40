//! Fetches and solves many admission challenges ahead of a load test, writing one
//! `{"challenge":..,"solution":..}` body per line, so the load generator measures genesis's
//! admission path and not the client's proof of work.
//!
//! `cargo run --release -p client --example presolve -- URL ACTION COUNT OUT`
#![allow(clippy::unwrap_used, clippy::print_stderr, missing_docs)]

use std::io::Write;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, action, count, out] = args.as_slice() else {
        eprintln!("usage: presolve URL ACTION COUNT OUT");
        std::process::exit(2);
    };
    let count: usize = count.parse().unwrap();
    let client = client::GenesisClient::new(url).unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(4096);
    let workers = 32;
    for w in 0..workers {
        let (client, tx, action) = (client.clone(), tx.clone(), action.clone());
        let share = count / workers + usize::from(w < count % workers);
        tokio::spawn(async move {
            for _ in 0..share {
                let c = client.challenge(&action).await.unwrap();
                let solution = client::solve(&c.challenge, |_| {}).await.unwrap();
                let body = serde_json::json!({ "challenge": c.challenge, "solution": solution });
                tx.send(body.to_string()).await.unwrap();
            }
        });
    }
    drop(tx);
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).unwrap());
    let mut n = 0;
    while let Some(line) = rx.recv().await {
        writeln!(file, "{line}").unwrap();
        n += 1;
    }
    file.flush().unwrap();
    eprintln!("presolved {n} challenges into {out}");
}
