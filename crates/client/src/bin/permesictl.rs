//! `permesictl`: permesi from the command line.
//!
//! `permesictl token --action signup` prints an admission token from genesis, showing
//! progress on stderr while it solves the proof of work.

use std::{io::Write, process::ExitCode, time::Instant};

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(version, about = "permesi from the command line")]
struct Cli {
    /// genesis base URL.
    #[arg(
        long,
        env = "PERMESICTL_GENESIS_URL",
        default_value = "http://localhost:8000"
    )]
    genesis: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Solve a proof-of-work challenge and print an admission token.
    Token {
        /// The action to be admitted to (`signup`, `login`, ...).
        #[arg(long)]
        action: String,
        /// Print the whole response as JSON instead of the bare token.
        #[arg(long)]
        json: bool,
        /// No progress on stderr.
        #[arg(long, short)]
        quiet: bool,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("permesictl: {e}");
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), client::ClientError> {
    let genesis = client::GenesisClient::new(&cli.genesis)?;
    match cli.command {
        Command::Token {
            action,
            json,
            quiet,
        } => {
            let started = Instant::now();
            let admission = genesis
                .admission_token(&action, move |p| {
                    if !quiet {
                        // Display only: precision beyond 2^52 hashes does not matter.
                        #[allow(clippy::cast_precision_loss)]
                        let rate = p.attempts as f64 / started.elapsed().as_secs_f64().max(1e-6);
                        let mut err = std::io::stderr();
                        let _ = write!(
                            err,
                            "\rsolving {} bits: {} hashes ({:.0}/s)",
                            p.difficulty, p.attempts, rate
                        );
                        let _ = err.flush();
                    }
                })
                .await?;
            if !quiet {
                let _ = writeln!(
                    std::io::stderr(),
                    "\rsolved in {:.2}s{:40}",
                    started.elapsed().as_secs_f64(),
                    ""
                );
            }
            let out = if json {
                serde_json::to_string(&admission).unwrap_or_default()
            } else {
                admission.token
            };
            let _ = writeln!(std::io::stdout(), "{out}");
            Ok(())
        }
    }
}
