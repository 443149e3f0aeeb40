//! `PermesiClient` and `permesictl` against a real genesis and permesi served in-process:
//! signup, verification with the link from permesi's dev mail folder, login, `/v1/me`, logout.
//! Needs `PERMESI_TEST_DATABASE_URL` and `PERMESI_TEST_REDIS_URL` (`just test`).
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use client::{ClientError, Params, PermesiClient};
use genesis::Genesis;
use permesi::{Permesi, config::Settings};
use server::cli::Service;
use testkit::TestServer;

const PASSWORD: &str = "correct horse battery staple";

struct Stack {
    genesis: TestServer,
    permesi: TestServer,
    mail: PathBuf,
    dir: tempfile::TempDir,
}

impl Stack {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let genesis = genesis::config::Settings {
            keys_dir: dir.path().join("genesis-keys"),
            pow_actions:
                "signup:2,login:2,verify_email:2,resend_verification:2,mfa:2,password_reset:2"
                    .to_owned(),
            rate_limit_per_ip: 1000.0,
            rate_limit_per_ip_burst: 1000.0,
            ..genesis::config::Settings::default()
        };
        let genesis = TestServer::start(Genesis::build(genesis).await.unwrap().router).await;
        let mail = dir.path().join("mail");
        let settings = Settings {
            database_url: Some(testkit::fresh_database("client_flows").await.into()),
            redis_url: Some(testkit::redis_url().into()),
            keys_dir: dir.path().join("permesi-keys"),
            admission_paserk_url: Some(genesis.url("/paserk.json")),
            // All tests log in from 127.0.0.1 through the shared test Redis.
            login_free_failures_per_ip: 1_000_000,
            email_mail_dir: mail.clone(),
            ..Settings::default()
        };
        let permesi = TestServer::start(Permesi::build(settings).await.unwrap().router).await;
        Self {
            genesis,
            permesi,
            mail,
            dir,
        }
    }

    fn client(&self) -> PermesiClient {
        PermesiClient::new(&self.genesis.url("/"), &self.permesi.url("/")).unwrap()
    }

    /// A client with cheap Argon2 (tests only).
    fn fast_client(&self) -> PermesiClient {
        self.client().with_params(Params::insecure_fast())
    }

    /// The newest verification link, waiting (bounded) for the `n`th mail from the worker.
    async fn link(&self, n: usize) -> String {
        let count = || {
            std::fs::read_dir(&self.mail).map_or(0, |d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".eml"))
                    .count()
            })
        };
        for _ in 0..500 {
            if count() >= n {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(count() >= n, "no verification mail #{n}");
        permesi::verification::latest_link(&self.mail)
            .unwrap()
            .expect("a verification mail in the dev folder")
    }

    /// Runs `permesictl` with `args` (and the password in the environment).
    async fn ctl(&self, args: &[&str]) -> std::process::Output {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_permesictl"));
        command
            .env_clear()
            .env("PERMESICTL_PASSWORD", PASSWORD)
            .env("PERMESICTL_INSECURE_FAST_KDF", "1")
            .args(["--genesis", &self.genesis.url("/")])
            .args(["--permesi", &self.permesi.url("/")])
            .args(args)
            .stdin(std::process::Stdio::null());
        tokio::task::spawn_blocking(move || command.output().unwrap())
            .await
            .unwrap()
    }
}

fn assert_refused(e: &ClientError, status: u16, expected: &str) {
    assert!(
        matches!(e, ClientError::Refused { status: s, code } if *s == status && code == expected),
        "{e:?}"
    );
}

#[tokio::test]
async fn the_sdk_signs_up_verifies_logs_in_and_out() {
    let stack = Stack::start().await;
    let client = stack.fast_client();
    client.signup("Ada@Example.com", PASSWORD).await.unwrap();

    // Not verified yet: refused like a wrong password (by permesi: the password is right).
    let early = client.login("ada@example.com", PASSWORD).await.unwrap_err();
    assert!(early.is_authentication_failed(), "{early:?}");
    assert_refused(&early, 401, "authentication_failed");
    assert!(client.session().is_none());

    // The whole link works, and only once.
    let link = stack.link(1).await;
    client.verify_email(&link).await.unwrap();
    let again = client.verify_email(&link).await.unwrap_err();
    assert_refused(&again, 400, "invalid_or_expired_token");

    client.login("  ADA@example.com", PASSWORD).await.unwrap();
    let session = client.session().expect("a session cookie");
    assert_eq!(session.name(), client::SESSION_COOKIE);
    let me = client.me().await.unwrap();
    assert_eq!(me.email, "ada@example.com");
    assert!(me.email_verified);

    // A second client given the saved cookie is the same session.
    let other = stack.fast_client();
    other.set_session(Some(session.clone()));
    assert_eq!(other.me().await.unwrap(), me);

    client.logout().await.unwrap();
    assert!(client.session().is_none());
    assert_refused(&client.me().await.unwrap_err(), 401, "unauthenticated");
    // Revoked on the server, not just forgotten here.
    assert_refused(&other.me().await.unwrap_err(), 401, "unauthenticated");
}

#[tokio::test]
async fn wrong_passwords_and_unknown_accounts_are_authentication_failed() {
    let stack = Stack::start().await;
    // Production Argon2id parameters (the default), end to end.
    let client = stack.client();
    assert_eq!(client.params(), Params::default());
    client.signup("bo@example.com", PASSWORD).await.unwrap();
    // Just the token works as well as the link.
    let link = stack.link(1).await;
    let token = client::token_from_link(&link).unwrap();
    client.verify_email(&token).await.unwrap();

    let wrong = client
        .login("bo@example.com", "tr0ub4dor&3")
        .await
        .unwrap_err();
    assert_refused(&wrong, 401, "authentication_failed");
    let unknown = client
        .login("nobody@example.com", PASSWORD)
        .await
        .unwrap_err();
    assert_refused(&unknown, 401, "authentication_failed");
    assert!(client.session().is_none());

    // An account made with other KSF costs only opens with those costs.
    let fast = stack.fast_client();
    assert!(
        fast.login("bo@example.com", PASSWORD)
            .await
            .unwrap_err()
            .is_authentication_failed()
    );

    client.login("bo@example.com", PASSWORD).await.unwrap();
    assert_eq!(client.me().await.unwrap().email, "bo@example.com");
    assert!(matches!(
        client.verify_email("https://x.example/verify-email").await,
        Err(ClientError::InvalidLink)
    ));
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn permesictl_signs_up_verifies_logs_in_and_out() {
    let stack = Stack::start().await;
    let session_file = stack.dir.path().join("session");
    let file = session_file.to_str().unwrap();
    let mut outputs = Vec::new();
    let mut run = async |args: &[&str]| {
        let out = stack.ctl(args).await;
        let stdout = String::from_utf8(out.stdout.clone()).unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        outputs.push(format!("{stdout}{stderr}"));
        (out.status.success(), stdout, stderr)
    };

    let (ok, _, stderr) = run(&["signup", "--email", "cy@example.com"]).await;
    assert!(ok, "{stderr}");
    assert!(stderr.contains("PERMESICTL_INSECURE_FAST_KDF"), "{stderr}");

    // Unverified: the CLI says authentication failed.
    let (ok, _, stderr) = run(&["login", "--email", "cy@example.com"]).await;
    assert!(!ok);
    assert!(stderr.contains("authentication failed"), "{stderr}");

    let link = stack.link(1).await;
    let (ok, _, stderr) = run(&["verify", "--link", &link]).await;
    assert!(ok, "{stderr}");

    let (ok, stdout, stderr) =
        run(&["login", "--email", "cy@example.com", "--session-file", file]).await;
    assert!(ok, "{stderr}");
    let me: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(me["email"], "cy@example.com");
    assert_eq!(me["email_verified"], true);
    #[cfg(unix)]
    assert_eq!(mode(&session_file), 0o600);
    let cookie = std::fs::read_to_string(&session_file).unwrap();
    assert!(
        cookie.starts_with("__Host-permesi_session="),
        "bad session file"
    );
    let cookie_value = cookie.trim().split_once('=').unwrap().1.to_owned();

    let (ok, stdout, stderr) = run(&["me", "--session-file", file]).await;
    assert!(ok, "{stderr}");
    let again: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(again, me);

    let (ok, _, stderr) = run(&["logout", "--session-file", file]).await;
    assert!(ok, "{stderr}");
    assert!(!session_file.exists());

    // The old cookie no longer works.
    std::fs::write(&session_file, &cookie).unwrap();
    let (ok, _, stderr) = run(&["me", "--session-file", file]).await;
    assert!(!ok);
    assert!(stderr.contains("not logged in"), "{stderr}");

    // Wrong password: the same message as the unverified login.
    let (ok, _, stderr) = {
        let out = {
            let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_permesictl"));
            command
                .env_clear()
                .env("PERMESICTL_INSECURE_FAST_KDF", "1")
                .args(["--genesis", &stack.genesis.url("/")])
                .args(["--permesi", &stack.permesi.url("/")])
                .args(["login", "--email", "cy@example.com"])
                .stdin(std::process::Stdio::piped());
            tokio::task::spawn_blocking(move || {
                let mut child = command
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap();
                std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"wrong password\n")
                    .unwrap();
                child.wait_with_output().unwrap()
            })
            .await
            .unwrap()
        };
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert!(!ok);
    assert!(stderr.contains("authentication failed"), "{stderr}");

    // Neither the password nor the cookie was ever printed.
    for output in &outputs {
        assert!(!output.contains(PASSWORD), "password printed");
        assert!(!output.contains(&cookie_value), "cookie printed");
        assert!(!output.contains("token="), "link printed");
    }
}

#[tokio::test]
async fn a_forgotten_password_is_reset_with_the_mailed_link() {
    let stack = Stack::start().await;
    let client = stack.fast_client();
    client.signup("fay@example.com", PASSWORD).await.unwrap();
    client.verify_email(&stack.link(1).await).await.unwrap();
    let out = stack
        .ctl(&["forgot-password", "--email", "fay@example.com"])
        .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The request is handled in the background; the mail arrives through the outbox.
    let mut link = None;
    for _ in 0..500 {
        link = permesi::verification::latest_link_to(&stack.mail, "/reset-password").unwrap();
        if link.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let link = link.expect("a reset mail");
    let new_password = "a brand new passphrase";
    client.reset_password(&link, new_password).await.unwrap();
    let old = client.login("fay@example.com", PASSWORD).await.unwrap_err();
    assert!(old.is_authentication_failed(), "{old:?}");
    client.login("fay@example.com", new_password).await.unwrap();
    let again = client.reset_password(&link, PASSWORD).await.unwrap_err();
    assert_refused(&again, 400, "invalid_or_expired_token");
}

#[tokio::test]
async fn accounts_with_totp_log_in_with_a_code() {
    use permesi::mfa::totp;
    let stack = Stack::start().await;
    let client = stack.fast_client();
    client.signup("totp@example.com", PASSWORD).await.unwrap();
    client.verify_email(&stack.link(1).await).await.unwrap();
    client.login("totp@example.com", PASSWORD).await.unwrap();
    // Turn TOTP on through the API with the session.
    let cookie = client.session().unwrap().to_cookie_string().to_string();
    let http = reqwest::Client::new();
    let enrol: serde_json::Value = http
        .post(stack.permesi.url("/v1/me/totp/enrol"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = totp::Secret::from_base32(enrol["secret"].as_str().unwrap()).unwrap();
    let step = totp::step_of(time::OffsetDateTime::now_utc().unix_timestamp());
    let confirmed = http
        .post(stack.permesi.url("/v1/me/totp/confirm"))
        .header("cookie", &cookie)
        .json(&serde_json::json!({ "code": totp::code_at(&secret.0, step, totp::DIGITS) }))
        .send()
        .await
        .unwrap();
    assert!(confirmed.status().is_success());

    let needs = client
        .login("totp@example.com", PASSWORD)
        .await
        .unwrap_err();
    assert!(
        matches!(needs, ClientError::SecondFactorRequired),
        "{needs:?}"
    );
    let next = totp::code_at(&secret.0, step + 1, totp::DIGITS);
    client
        .login_with_code("totp@example.com", PASSWORD, &next)
        .await
        .unwrap();
    assert_eq!(client.me().await.unwrap().email, "totp@example.com");
    // The same code does not work twice.
    let replayed = client
        .login_with_code("totp@example.com", PASSWORD, &next)
        .await
        .unwrap_err();
    assert_refused(&replayed, 401, "authentication_failed");
}
