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
    /// Verification tokens already handed out by `next_token`.
    tokens_seen: std::sync::Mutex<std::collections::HashSet<String>>,
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
            tokens_seen: std::sync::Mutex::default(),
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

    /// The token of the newest verification mail not used before (the worker writes
    /// asynchronously, and other mails, such as security notices, may arrive meanwhile).
    pub async fn next_token(&self) -> String {
        for _ in 0..500 {
            let token = permesi::verification::latest_link(&self.mail)
                .unwrap()
                .map(|link| link.split("token=").nth(1).unwrap().to_owned());
            if let Some(token) = token
                && self.tokens_seen.lock().unwrap().insert(token.clone())
            {
                return token;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("no new verification mail in the dev folder");
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

    let token = stack.next_token().await;
    assert_eq!(stack.verify(&token).await.status(), StatusCode::NO_CONTENT);
    // The link works once.
    let again = stack.verify(&token).await;
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
async fn a_squatted_unverified_address_goes_to_the_registration_whose_link_is_used() {
    let stack = Stack::start().await;
    let email = "victim@example.com";
    // The squatter signs up first with their password; the mail goes to the victim's inbox.
    assert_eq!(
        stack.signup(email, b"squatter password").await.status(),
        StatusCode::ACCEPTED
    );
    let squatter_link = stack.next_token().await;
    // The owner signs up later and uses the link mailed for *their* signup.
    assert_eq!(
        stack.signup(email, PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );
    let owner_link = stack.next_token().await;
    assert_ne!(squatter_link, owner_link);
    assert_eq!(
        stack.verify(&owner_link).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(stack.users().await, 1);
    // The owner's password is the account's; the squatter's is gone with its link.
    assert_eq!(
        stack.login(email, PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        stack.login(email, b"squatter password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        stack.verify(&squatter_link).await.status(),
        StatusCode::BAD_REQUEST
    );
    // A signup for the now verified address changes nothing and tells its owner.
    assert_eq!(
        stack.signup(email, b"squatter password").await.status(),
        StatusCode::ACCEPTED
    );
    let pool = stack.pool().await;
    let mut notices = 0_i64;
    for _ in 0..500 {
        notices =
            sqlx::query_scalar("SELECT count(*) FROM email_outbox WHERE kind = 'security_notice'")
                .fetch_one(&pool)
                .await
                .unwrap();
        if notices > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(notices, 1);
    assert_eq!(
        stack.login(email, PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
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
        printed.starts_with("http://localhost:8080/verify-email#token="),
        "{printed}"
    );
}

/// A login start the throttle may refuse: its status and, when admitted, the KE2.
async fn start_only(stack: &Stack, email: &str) -> reqwest::Response {
    let (_, request) = oc::login_start(b"a guess").unwrap();
    let token = stack.admission("login").await;
    stack
        .post(
            "/v1/auth/opaque/login/start",
            Some(&token),
            &json!({ "email": email, "request": request }),
        )
        .await
}

#[tokio::test]
async fn login_starts_are_the_attempts_bounded_per_account_known_or_unknown() {
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
        for _ in 0..2 {
            let failed = stack.login(email, b"wrong guess").await;
            assert_eq!(failed.status(), StatusCode::UNAUTHORIZED, "{email}");
        }
        // Two free attempts; the third start is refused, the same for both addresses.
        let slowed = start_only(&stack, email).await;
        assert_eq!(slowed.status(), StatusCode::TOO_MANY_REQUESTS, "{email}");
        let retry: u64 = slowed.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((590..=600).contains(&retry), "{retry}");
        assert_eq!(code(slowed).await, "too_many_attempts");
    }
    // The lock is audited once per window, as the system acting on the account (the
    // unknown address's refusal is an anonymous security event).
    let pool = stack.pool().await;
    let chained: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'auth.attempts_throttled' \
         AND actor_kind = 'system' AND target_kind = 'user'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(chained, 1);
    let again = start_only(&stack, "olga@example.com").await;
    assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
    let chained_after: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_log WHERE action = 'auth.attempts_throttled'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(chained_after, 1, "one entry per lock window");
}

#[tokio::test]
async fn guessing_through_ke2_alone_is_bounded_and_the_owner_keeps_other_ways_in() {
    // The attacker never sends a finish: KE2 already tells a right password from a wrong one.
    // Default budget; a long first delay so no wait elapses while the test runs.
    let stack = Stack::start_with(|s| Settings {
        login_delay_base_secs: 600,
        ..s
    })
    .await;
    let email = "quinn@example.com";
    assert_eq!(
        stack.signup(email, PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        stack.verify_latest_link().await.status(),
        StatusCode::NO_CONTENT
    );
    let mut answered = 0;
    for _ in 0..30 {
        let started = start_only(&stack, email).await;
        match started.status() {
            StatusCode::OK => {
                let body: Value = started.json().await.unwrap();
                assert!(body["response"].is_string());
                answered += 1;
            }
            status => assert_eq!(status, StatusCode::TOO_MANY_REQUESTS),
        }
    }
    assert_eq!(answered, 5, "the default budget of unsettled starts");
    // No anonymous guess took the audit chain: failures are security events.
    let pool = stack.pool().await;
    let anonymous_in_chain: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE actor_kind = 'anonymous'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(anonymous_in_chain, 0);
    // The owner's passkey login and password reset are not behind the password lock.
    let token = stack.admission("passkey_login").await;
    let passkey = stack
        .post(
            "/v1/auth/passkey/start",
            Some(&token),
            &json!({ "email": email }),
        )
        .await;
    assert_eq!(passkey.status(), StatusCode::OK);
    let token = stack.admission("password_reset").await;
    let reset = stack
        .post(
            "/v1/auth/password-reset",
            Some(&token),
            &json!({ "email": email }),
        )
        .await;
    assert_eq!(reset.status(), StatusCode::ACCEPTED);
}

#[tokio::test]
async fn a_successful_login_settles_the_attempts_before_it() {
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
    // One failure and the right password use the two free attempts; the success settles
    // them, so the same again works (without it the third start would be refused).
    for _ in 0..3 {
        let failed = stack.login(email, b"wrong guess").await;
        assert_eq!(failed.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            stack.login(email, PASSWORD).await.status(),
            StatusCode::NO_CONTENT
        );
    }
}

#[tokio::test]
async fn a_cross_origin_post_with_a_valid_session_cookie_is_refused() {
    let stack = Stack::start().await;
    let cookie = crate::session::logged_in(&stack, "rae@example.com").await;
    let http = reqwest::Client::new();
    let post = |origin: &'static str| {
        http.post(stack.permesi.url("/v1/me/recovery-codes"))
            .header(header::COOKIE, &cookie)
            .header(header::ORIGIN, origin)
            .send()
    };
    let forged = post("https://sibling.example").await.unwrap();
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(forged).await, "cross_origin_refused");
    // The console's origin passes the check (and reaches the handler: TOTP is off here).
    let console = post("http://localhost:8080").await.unwrap();
    assert_ne!(console.status(), StatusCode::FORBIDDEN);
    // Without the cookie there is no ambient authority to forge.
    let anonymous = http
        .post(stack.permesi.url("/v1/me/recovery-codes"))
        .header(header::ORIGIN, "https://sibling.example")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sensitive_changes_need_a_recent_authentication_and_a_step_up_gives_one() {
    let stack = Stack::start().await;
    let cookie = crate::session::logged_in(&stack, "sam@example.com").await;
    // The login was long ago.
    let pool = stack.pool().await;
    sqlx::query("UPDATE sessions SET authenticated_at = now() - interval '1 hour'")
        .execute(&pool)
        .await
        .unwrap();
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        http.post(stack.permesi.url(path))
            .header(header::COOKIE, &cookie)
            .json(&body)
            .send()
    };
    let enrol = post("/v1/me/totp/enrol", json!({})).await.unwrap();
    assert_eq!(enrol.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(enrol).await, "reauthentication_required");
    let passkey = post("/v1/me/passkeys/register/start", json!({}))
        .await
        .unwrap();
    assert_eq!(code(passkey).await, "reauthentication_required");
    // A wrong password does not step up.
    let step_up = async |password: &[u8]| {
        let (state, request) = oc::login_start(password).unwrap();
        let started = post(
            "/v1/me/reauthenticate/password/start",
            json!({ "request": request }),
        )
        .await
        .unwrap();
        assert_eq!(started.status(), StatusCode::OK);
        let started: Value = started.json().await.unwrap();
        let finalization = oc::login_finish_with(
            state,
            started["response"].as_str().unwrap(),
            password,
            Params::insecure_fast(),
        )
        .map_or_else(
            |_| opaque::suite::b64::encode(&[7u8; opaque::suite::CREDENTIAL_FINALIZATION_LEN]),
            |l| l.finalization,
        );
        post(
            "/v1/me/reauthenticate/password/finish",
            json!({ "reauth_id": started["reauth_id"], "finalization": finalization }),
        )
        .await
        .unwrap()
        .status()
    };
    assert_eq!(step_up(b"wrong").await, StatusCode::UNAUTHORIZED);
    let enrol = post("/v1/me/totp/enrol", json!({})).await.unwrap();
    assert_eq!(enrol.status(), StatusCode::FORBIDDEN);
    // The right one does, and the change goes through.
    assert_eq!(step_up(PASSWORD).await, StatusCode::NO_CONTENT);
    let enrol = post("/v1/me/totp/enrol", json!({})).await.unwrap();
    assert_eq!(enrol.status(), StatusCode::OK);
    let current: Value = http
        .get(stack.permesi.url("/v1/auth/session"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(current["authenticated_at"].is_string());
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
            "SELECT detail::jsonb ->> 'reason' FROM security_events \
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
