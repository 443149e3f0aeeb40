//! `permesictl`: permesi from the command line.
//!
//! - `permesictl token --action signup` prints an admission token from genesis, showing
//!   progress on stderr while it solves the proof of work.
//! - `permesictl signup --email E`, `verify --link URL-or-token`, `login --email E
//!   [--session-file F]`, `me --session-file F`, `logout --session-file F`: the OPAQUE client
//!   side of permesi. The password comes from `PERMESICTL_PASSWORD` or is prompted on the
//!   terminal without echo (a line of stdin when stdin is not a terminal); it is never printed,
//!   and neither are tokens nor the session cookie (which goes only into the `0600` session
//!   file).
//!
//! `PERMESICTL_INSECURE_FAST_KDF=1` swaps permesi's Argon2id costs for the cheapest ones: for
//! tests and benchmarks only (accounts made with it can only be logged into with it, and are
//! cheap to guess against offline).

use std::{
    io::{BufRead, IsTerminal, Write},
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

use clap::{Parser, Subcommand};
use client::{ClientError, Params, PermesiClient, SessionCookie};
use zeroize::Zeroizing;

/// Environment variable holding the password (instead of the prompt).
const PASSWORD_ENV: &str = "PERMESICTL_PASSWORD";
/// Environment variable that selects insecure, cheap Argon2id costs (tests/benchmarks only).
const INSECURE_FAST_KDF_ENV: &str = "PERMESICTL_INSECURE_FAST_KDF";

#[derive(Debug, Parser)]
#[command(
    version,
    about = "permesi from the command line",
    after_help = "Environment:\n  \
        PERMESICTL_PASSWORD            the password for signup/login (else prompted without echo)\n  \
        PERMESICTL_INSECURE_FAST_KDF=1 cheap Argon2id instead of permesi's: TESTS AND BENCHMARKS \
        ONLY (accounts made with it only log in with it, and are cheap to crack offline)"
)]
struct Cli {
    /// genesis base URL.
    #[arg(
        long,
        env = "PERMESICTL_GENESIS_URL",
        default_value = "http://localhost:8000"
    )]
    genesis: String,
    /// permesi base URL.
    #[arg(
        long,
        env = "PERMESICTL_PERMESI_URL",
        default_value = "http://localhost:8001"
    )]
    permesi: String,
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
    /// Sign up (OPAQUE); permesi then mails a verification link.
    Signup {
        /// The account's email address.
        #[arg(long)]
        email: String,
    },
    /// Confirm an email address with its verification link.
    Verify {
        /// The whole link from the mail, or just its token.
        #[arg(long)]
        link: String,
    },
    /// Ask for a password reset link (mailed if the address has an account).
    ForgotPassword {
        /// The account's email address.
        #[arg(long)]
        email: String,
    },
    /// Set a new password with the reset link from the mail (OPAQUE); every session ends.
    ResetPassword {
        /// The whole link from the mail, or just its token.
        #[arg(long)]
        link: String,
    },
    /// Log in (OPAQUE) and print the account as JSON.
    Login {
        /// The account's email address.
        #[arg(long)]
        email: String,
        /// Save the session cookie in this file (created with mode 0600) for `me` and `logout`.
        #[arg(long)]
        session_file: Option<PathBuf>,
        /// A TOTP code or a recovery code, for accounts with TOTP on.
        #[arg(long)]
        code: Option<String>,
    },
    /// Print the logged-in account as JSON.
    Me {
        /// The session file written by `login`.
        #[arg(long)]
        session_file: PathBuf,
    },
    /// End the session and delete the session file.
    Logout {
        /// The session file written by `login`.
        #[arg(long)]
        session_file: PathBuf,
    },
}

/// What `permesictl` reports on failure.
#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("authentication failed: wrong email or password, or the address is not verified")]
    AuthenticationFailed,
    #[error("not logged in (the session has ended or was revoked)")]
    NotLoggedIn,
    #[error(transparent)]
    Client(ClientError),
    #[error("{0}")]
    Io(String),
}

impl From<ClientError> for CliError {
    fn from(e: ClientError) -> Self {
        match e {
            e if e.is_authentication_failed() => Self::AuthenticationFailed,
            ClientError::Refused { status: 401, code } if code == "unauthenticated" => {
                Self::NotLoggedIn
            }
            e => Self::Client(e),
        }
    }
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

async fn run(cli: Cli) -> Result<(), CliError> {
    let genesis = client::GenesisClient::new(&cli.genesis)?;
    let permesi = || -> Result<PermesiClient, CliError> {
        let client = PermesiClient::new(&cli.genesis, &cli.permesi)?;
        if std::env::var(INSECURE_FAST_KDF_ENV).is_ok_and(|v| v == "1") {
            let _ = writeln!(
                std::io::stderr(),
                "permesictl: warning: {INSECURE_FAST_KDF_ENV}=1: insecure Argon2id costs \
                 (tests and benchmarks only)"
            );
            return Ok(client.with_params(Params::insecure_fast()));
        }
        Ok(client)
    };
    match cli.command {
        Command::Signup { email } => {
            let client = permesi()?;
            let password = password(true)?;
            client.signup(&email, &password).await?;
            say("signup accepted: open the verification link mailed to the address");
            Ok(())
        }
        Command::Verify { link } => {
            permesi()?.verify_email(&link).await?;
            say("email verified");
            Ok(())
        }
        Command::ForgotPassword { email } => {
            permesi()?.request_password_reset(&email).await?;
            say("if the address has an account, a reset link was mailed to it");
            Ok(())
        }
        Command::ResetPassword { link } => {
            let client = permesi()?;
            let password = password(true)?;
            client.reset_password(&link, &password).await?;
            say("password reset: every session ended; log in with the new password");
            Ok(())
        }
        Command::Login {
            email,
            session_file,
            code,
        } => {
            let client = permesi()?;
            let password = password(false)?;
            match &code {
                Some(code) => client.login_with_code(&email, &password, code).await?,
                None => client.login(&email, &password).await?,
            }
            if let (Some(file), Some(session)) = (&session_file, client.session()) {
                write_session(file, &session)?;
            }
            print_me(&client).await
        }
        Command::Me { session_file } => {
            let client = permesi()?;
            client.set_session(Some(read_session(&session_file)?));
            print_me(&client).await
        }
        Command::Logout { session_file } => {
            let client = permesi()?;
            client.set_session(Some(read_session(&session_file)?));
            client.logout().await?;
            match std::fs::remove_file(&session_file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_error(&session_file, &e)),
            }
            say("logged out");
            Ok(())
        }
        Command::Token {
            action,
            json,
            quiet,
        } => token(&genesis, &action, json, quiet).await,
    }
}

/// `permesictl token`: solves a challenge for `action` and prints the token.
async fn token(
    genesis: &client::GenesisClient,
    action: &str,
    json: bool,
    quiet: bool,
) -> Result<(), CliError> {
    let started = Instant::now();
    let admission = genesis
        .admission_token(action, move |p| {
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

fn say(line: &str) {
    let _ = writeln!(std::io::stdout(), "{line}");
}

async fn print_me(client: &PermesiClient) -> Result<(), CliError> {
    let me = client.me().await?;
    say(&serde_json::to_string(&me).unwrap_or_default());
    Ok(())
}

fn io_error(path: &Path, e: &std::io::Error) -> CliError {
    CliError::Io(format!("{}: {e}", path.display()))
}

/// The password: `PERMESICTL_PASSWORD`, else prompted on the terminal without echo (twice for
/// a signup), else one line of stdin. Taken exactly as typed, without its line ending.
fn password(confirm: bool) -> Result<Zeroizing<String>, CliError> {
    if let Ok(password) = std::env::var(PASSWORD_ENV) {
        return Ok(Zeroizing::new(password));
    }
    let password = if std::io::stdin().is_terminal() {
        let prompt = |text: &str| {
            rpassword::prompt_password(text)
                .map(Zeroizing::new)
                .map_err(|e| CliError::Io(format!("password prompt: {e}")))
        };
        let password = prompt("Password: ")?;
        if confirm && *prompt("Password (again): ")? != *password {
            return Err(CliError::Io("the passwords do not match".into()));
        }
        password
    } else {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| CliError::Io(format!("reading the password from stdin: {e}")))?;
        let end = line.trim_end_matches(['\n', '\r']).len();
        Zeroizing::new(line[..end].to_owned())
    };
    if password.is_empty() {
        return Err(CliError::Io(format!(
            "no password: set {PASSWORD_ENV} or type it at the prompt"
        )));
    }
    Ok(password)
}

/// Writes the session cookie to `path`, replacing the file, readable by its owner only.
fn write_session(path: &Path, session: &SessionCookie) -> Result<(), CliError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(path, &e)),
    }
    let mut options = std::fs::OpenOptions::new();
    // create_new: never follows a symlink planted at `path`.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| io_error(path, &e))?;
    let mut line = session.to_cookie_string();
    line.push('\n');
    file.write_all(line.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(path, &e))
}

fn read_session(path: &Path) -> Result<SessionCookie, CliError> {
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| io_error(path, &e))?);
    SessionCookie::parse(&text).map_err(CliError::from)
}
