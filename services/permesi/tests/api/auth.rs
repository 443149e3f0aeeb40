//! OPAQUE signup, email verification and login end to end: admission tokens minted by a real
//! genesis, the OPAQUE client run as the browser would, links read from the dev mail folder.

use std::path::PathBuf;

use genesis::Genesis;
use opaque::client::{self as oc, Params};
use permesi::{Permesi, config::Settings};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use server::cli::Service;
use testkit::TestServer;

pub const PASSWORD: &[u8] = b"correct horse battery staple";

pub struct Stack {
    genesis: TestServer,
    pub permesi: TestServer,
    pub mail: PathBuf,
    pub database_url: String,
    /// Verification mails already used by `verify_latest_link`.
    mails_seen: std::sync::atomic::AtomicUsize,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

impl Stack {
    pub async fn start() -> Self {
        Self::start_with(|s| s).await
    }

    /// A stack whose permesi settings are adjusted by `tune`.
    pub async fn start_with(tune: impl FnOnce(Settings) -> Settings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let genesis = genesis::config::Settings {
            keys_dir: dir.path().join("genesis-keys"),
            pow_actions:
                "signup:2,login:2,verify_email:2,resend_verification:2,passkey_login:2,mfa:2,password_reset:2"
                    .to_owned(),
            rate_limit_per_ip: 1000.0,
            rate_limit_per_ip_burst: 1000.0,
            ..genesis::config::Settings::default()
        };
        let genesis = TestServer::start(Genesis::build(genesis).await.unwrap().router).await;
        let database_url = testkit::fresh_database("permesi_auth").await;
        let mail = dir.path().join("mail");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let settings = Settings {
            oidc_issuer: issuer,
            ..permesi_settings(&dir, &database_url, &genesis)
        };
        let permesi = TestServer::start_on(
            listener,
            Permesi::build(tune(settings)).await.unwrap().router,
        );
        Self {
            genesis,
            permesi,
            mail,
            database_url,
            mails_seen: std::sync::atomic::AtomicUsize::new(0),
            dir,
            http: reqwest::Client::new(),
        }
    }

    /// Stops permesi and starts a new one over the same database, keys and cache (what a
    /// restart or another replica sees). Default settings only.
    pub async fn restart_permesi(&mut self) {
        let settings = permesi_settings(&self.dir, &self.database_url, &self.genesis);
        let fresh = TestServer::start(Permesi::build(settings).await.unwrap().router).await;
        let old = std::mem::replace(&mut self.permesi, fresh);
        old.shutdown().await.unwrap();
    }

    /// permesi's local key folder (for its command line).
    pub fn keys_dir(&self) -> PathBuf {
        self.dir.path().join("permesi-keys")
    }

    /// A pool on permesi's database.
    pub async fn pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.database_url).await.unwrap()
    }

    pub async fn admission(&self, action: &str) -> String {
        testkit::admission_token(&self.genesis.url(""), action).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> reqwest::Response {
        let mut request = self.http.post(self.permesi.url(path)).json(body);
        if let Some(token) = token {
            request = request.header("x-permesi-admission", token);
        }
        request.send().await.unwrap()
    }

    pub async fn signup(&self, email: &str, password: &[u8]) -> reqwest::Response {
        let (state, request) = oc::registration_start(password).unwrap();
        let token = self.admission("signup").await;
        let started = self
            .post(
                "/v1/auth/opaque/signup/start",
                Some(&token),
                &json!({ "email": email, "request": request }),
            )
            .await;
        assert_eq!(started.status(), StatusCode::OK);
        let started: Value = started.json().await.unwrap();
        let upload = oc::registration_finish_with(
            state,
            started["response"].as_str().unwrap(),
            password,
            Params::insecure_fast(),
        )
        .unwrap()
        .upload;
        self.post(
            "/v1/auth/opaque/signup/finish",
            None,
            &json!({ "signup_id": started["signup_id"], "email": email, "upload": upload }),
        )
        .await
    }

    /// Runs a whole login; returns the finish response.
    pub async fn login(&self, email: &str, password: &[u8]) -> reqwest::Response {
        let (state, request) = oc::login_start(password).unwrap();
        let token = self.admission("login").await;
        let started = self
            .post(
                "/v1/auth/opaque/login/start",
                Some(&token),
                &json!({ "email": email, "request": request }),
            )
            .await;
        assert_eq!(started.status(), StatusCode::OK);
        let started: Value = started.json().await.unwrap();
        let response = started["response"].as_str().unwrap();
        // A wrong password fails on the client already; send a syntactically valid but wrong
        // finalization then, as an attacker would.
        let finalization =
            match oc::login_finish_with(state, response, password, Params::insecure_fast()) {
                Ok(login) => login.finalization,
                Err(_) => {
                    opaque::suite::b64::encode(&[7u8; opaque::suite::CREDENTIAL_FINALIZATION_LEN])
                }
            };
        self.post(
            "/v1/auth/opaque/login/finish",
            None,
            &json!({ "login_id": started["login_id"], "finalization": finalization }),
        )
        .await
    }

    /// The token of the next verification mail not used before.
    pub async fn next_token(&self) -> String {
        // The worker writes asynchronously: wait (bounded) for a mail not used before.
        let seen = self.mails_seen.load(std::sync::atomic::Ordering::SeqCst);
        let count = || {
            std::fs::read_dir(&self.mail).map_or(0, |d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".eml"))
                    .count()
            })
        };
        for _ in 0..500 {
            if count() > seen {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.mails_seen
            .store(count(), std::sync::atomic::Ordering::SeqCst);
        let link = permesi::verification::latest_link(&self.mail)
            .unwrap()
            .expect("a verification mail in the dev folder");
        link.split("token=").nth(1).unwrap().to_owned()
    }

    pub async fn verify(&self, token: &str) -> reqwest::Response {
        let admission = self.admission("verify_email").await;
        self.post(
            "/v1/auth/verify-email",
            Some(&admission),
            &json!({ "token": token }),
        )
        .await
    }

    pub async fn verify_latest_link(&self) -> reqwest::Response {
        let token = self.next_token().await;
        self.verify(&token).await
    }

    async fn users(&self) -> i64 {
        let pool = sqlx::PgPool::connect(&self.database_url).await.unwrap();
        sqlx::query_as::<_, (i64,)>("SELECT count(*) FROM users")
            .fetch_one(&pool)
            .await
            .unwrap()
            .0
    }
}

fn permesi_settings(dir: &tempfile::TempDir, database_url: &str, genesis: &TestServer) -> Settings {
    Settings {
        database_url: Some(database_url.to_owned().into()),
        redis_url: Some(testkit::redis_url().into()),
        keys_dir: dir.path().join("permesi-keys"),
        admission_paserk_url: Some(genesis.url("/paserk.json")),
        email_mail_dir: dir.path().join("mail"),
        // Every test logs in from 127.0.0.1 and the per-address counter lives in the shared
        // test Redis: only the per-(address, account) limit is exercised here.
        login_free_failures_per_ip: 1_000_000,
        ..Settings::default()
    }
}

pub async fn code(response: reqwest::Response) -> String {
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/problem+json"
    );
    let body: Value = response.json().await.unwrap();
    body["code"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn signup_verify_then_login_with_the_password_only_the_client_knows() {
    let stack = Stack::start().await;
    let signup = stack.signup("Dana@Example.com", PASSWORD).await;
    assert_eq!(signup.status(), StatusCode::ACCEPTED);
    assert_eq!(
        signup.json::<Value>().await.unwrap()["status"],
        "check_email"
    );

    // Not verified yet: the login fails like a wrong password would.
    let early = stack.login("dana@example.com", PASSWORD).await;
    assert_eq!(early.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(early).await, "authentication_failed");

    assert_eq!(
        stack.verify_latest_link().await.status(),
        StatusCode::NO_CONTENT
    );
    // The link works once.
    let again = stack.verify_latest_link().await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(again).await, "invalid_or_expired_token");

    // Any case and spacing of the address is the same account.
    let ok = stack.login("  DANA@example.COM", PASSWORD).await;
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);

    let wrong = stack.login("dana@example.com", b"tr0ub4dor&3").await;
    assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(wrong).await, "authentication_failed");

    // The database holds neither the address nor the password.
    let pool = sqlx::PgPool::connect(&stack.database_url).await.unwrap();
    let (dump,): (String,) = sqlx::query_as("SELECT row_to_json(u)::text FROM users u")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!dump.to_lowercase().contains("dana"), "{dump}");
    assert!(!dump.contains("correct horse"), "{dump}");
}

#[tokio::test]
async fn unknown_accounts_look_like_known_ones() {
    let stack = Stack::start().await;
    assert_eq!(
        stack.signup("erin@example.com", PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        stack.verify_latest_link().await.status(),
        StatusCode::NO_CONTENT
    );

    let stack = &stack;
    let start = |email: &'static str| async move {
        let (_, request) = oc::login_start(PASSWORD).unwrap();
        let token = stack.admission("login").await;
        let response = stack
            .post(
                "/v1/auth/opaque/login/start",
                Some(&token),
                &json!({ "email": email, "request": request }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json::<Value>().await.unwrap()
    };
    let known = start("erin@example.com").await;
    let unknown = start("nobody@example.com").await;
    assert_eq!(
        known["response"].as_str().unwrap().len(),
        unknown["response"].as_str().unwrap().len()
    );
    let failed = stack.login("nobody@example.com", PASSWORD).await;
    assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(failed).await, "authentication_failed");

    // Signing up an existing address answers the same and changes nothing.
    assert_eq!(
        stack.signup("erin@example.com", b"another").await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(stack.users().await, 1);
    assert_eq!(
        stack.login("erin@example.com", PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );

    // Resend answers the same for known, unknown and malformed addresses.
    for email in ["erin@example.com", "nobody@example.com", "not-an-address"] {
        let token = stack.admission("resend_verification").await;
        let response = stack
            .post(
                "/v1/auth/resend-verification",
                Some(&token),
                &json!({ "email": email }),
            )
            .await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{email}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["status"],
            "check_email"
        );
    }
}

#[tokio::test]
async fn ceremonies_need_admission_once_and_finish_once() {
    let stack = Stack::start().await;
    let (_, request) = oc::registration_start(PASSWORD).unwrap();
    let body = json!({ "email": "finn@example.com", "request": request });

    let missing = stack
        .post("/v1/auth/opaque/signup/start", None, &body)
        .await;
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(missing).await, "admission_required");

    let login_token = stack.admission("login").await;
    let wrong = stack
        .post("/v1/auth/opaque/signup/start", Some(&login_token), &body)
        .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(wrong).await, "admission_wrong_action");

    let token = stack.admission("signup").await;
    assert_eq!(
        stack
            .post("/v1/auth/opaque/signup/start", Some(&token), &body)
            .await
            .status(),
        StatusCode::OK
    );
    let replay = stack
        .post("/v1/auth/opaque/signup/start", Some(&token), &body)
        .await;
    assert_eq!(replay.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(replay).await, "admission_replayed");

    // A finish without its start, or for another address than the start's.
    let bogus = stack
        .post(
            "/v1/auth/opaque/signup/finish",
            None,
            &json!({ "signup_id": "nope", "email": "finn@example.com", "upload": "x" }),
        )
        .await;
    assert_eq!(bogus.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(bogus).await, "ceremony_expired");
    let expired_login = stack
        .post(
            "/v1/auth/opaque/login/finish",
            None,
            &json!({ "login_id": "nope", "finalization": "x" }),
        )
        .await;
    assert_eq!(expired_login.status(), StatusCode::UNAUTHORIZED);

    // Bad input is a 4xx problem, never a 5xx.
    let token = stack.admission("signup").await;
    let malformed = stack
        .post(
            "/v1/auth/opaque/signup/start",
            Some(&token),
            &json!({ "email": "finn@example.com", "request": "AAAA" }),
        )
        .await;
    assert_eq!(malformed.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(malformed).await, "malformed");
    let token = stack.admission("signup").await;
    let bad_email = stack
        .post(
            "/v1/auth/opaque/signup/start",
            Some(&token),
            &json!({ "email": "finn", "request": request }),
        )
        .await;
    assert_eq!(bad_email.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(bad_email).await, "invalid_email");
}

#[tokio::test]
async fn signup_verify_url_prints_the_newest_link_from_the_dev_mail_folder() {
    let stack = Stack::start().await;
    assert_eq!(
        stack.signup("gus@example.com", PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );
    // Sent by the worker; the verification helper waits for it the same way.
    let mut expected = None;
    for _ in 0..500 {
        expected = permesi::verification::latest_link(&stack.mail).unwrap();
        if expected.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let (mail, paserk) = (stack.mail.clone(), stack.genesis.url("/paserk.json"));
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_permesi"))
            .env_clear()
            .env("PERMESI_DATABASE_URL", "postgres://x@127.0.0.1:1/x")
            .env("PERMESI_ADMISSION_PASERK_URL", paserk)
            .env("PERMESI_EMAIL_MAIL_DIR", mail)
            .arg("signup-verify-url")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(Some(printed.trim().to_owned()), expected);
    assert!(
        printed.starts_with("http://localhost:8080/verify-email?token="),
        "{printed}"
    );
}

#[tokio::test]
async fn failed_logins_slow_down_that_address_for_known_and_unknown_accounts_alike() {
    let stack = Stack::start_with(|s| Settings {
        login_free_failures: 2,
        login_delay_base_secs: 600,
        ..s
    })
    .await;
    assert_eq!(
        stack.signup("olga@example.com", PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        stack.verify_latest_link().await.status(),
        StatusCode::NO_CONTENT
    );

    for email in ["olga@example.com", "nobody@example.com"] {
        for _ in 0..3 {
            let failed = stack.login(email, b"wrong guess").await;
            assert_eq!(failed.status(), StatusCode::UNAUTHORIZED, "{email}");
        }
        // Two free failures, the third starts the delay: the next start is refused.
        let (_, request) = oc::login_start(PASSWORD).unwrap();
        let token = stack.admission("login").await;
        let slowed = stack
            .post(
                "/v1/auth/opaque/login/start",
                Some(&token),
                &json!({ "email": email, "request": request }),
            )
            .await;
        assert_eq!(slowed.status(), StatusCode::TOO_MANY_REQUESTS, "{email}");
        let retry: u64 = slowed.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((590..=600).contains(&retry), "{retry}");
        assert_eq!(code(slowed).await, "too_many_attempts");
    }
}

#[tokio::test]
async fn a_successful_login_clears_the_failures_before_it() {
    let stack = Stack::start_with(|s| Settings {
        login_free_failures: 2,
        login_delay_base_secs: 600,
        ..s
    })
    .await;
    let email = "pia@example.com";
    assert_eq!(
        stack.signup(email, PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        stack.verify_latest_link().await.status(),
        StatusCode::NO_CONTENT
    );
    // Two free failures, then the right password: the counter starts again, so two more
    // failures are still free and the right password still works (without the reset the
    // fourth failure would have started a ten-minute delay).
    for _ in 0..2 {
        for _ in 0..2 {
            let failed = stack.login(email, b"wrong guess").await;
            assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
        }
        assert_eq!(
            stack.login(email, PASSWORD).await.status(),
            StatusCode::NO_CONTENT
        );
    }
}

#[tokio::test]
async fn resend_sends_a_new_link_that_verifies_and_respects_the_cooldown() {
    let stack = Stack::start_with(|s| Settings {
        email_resend_cooldown_secs: 0,
        ..s
    })
    .await;
    assert_eq!(
        stack.signup("pia@example.com", PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );
    let first = stack.next_token().await;
    let token = stack.admission("resend_verification").await;
    let resent = stack
        .post(
            "/v1/auth/resend-verification",
            Some(&token),
            &json!({ "email": "pia@example.com" }),
        )
        .await;
    assert_eq!(resent.status(), StatusCode::ACCEPTED);
    // A second mail arrives with a different link, and that link verifies the account.
    let second = stack.next_token().await;
    assert_ne!(first, second);
    assert_eq!(stack.verify(&second).await.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        stack.login("pia@example.com", PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );

    // With the default cooldown, an immediate resend queues nothing (same answer, no mail).
    let stack = Stack::start().await;
    assert_eq!(
        stack.signup("quin@example.com", PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );
    stack.next_token().await;
    let token = stack.admission("resend_verification").await;
    let cooling = stack
        .post(
            "/v1/auth/resend-verification",
            Some(&token),
            &json!({ "email": "quin@example.com" }),
        )
        .await;
    assert_eq!(cooling.status(), StatusCode::ACCEPTED);
    // The resend is handled after the answer: wait (bounded) for its audit entry.
    let pool = sqlx::PgPool::connect(&stack.database_url).await.unwrap();
    let mut reasons: Vec<Option<String>> = Vec::new();
    for _ in 0..500 {
        reasons = sqlx::query_scalar(
            "SELECT detail::jsonb ->> 'reason' FROM audit_log \
             WHERE action = 'user.verification_resent'",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        if !reasons.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(reasons, [Some("cooldown".to_owned())]);
    let (mails,): (i64,) = sqlx::query_as("SELECT count(*) FROM email_outbox")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(mails, 1);
}
