//! The mint end to end: challenge, solve, admit, verify offline against `/paserk.json`, and
//! every way a client can get it wrong.

use std::sync::Arc;

use admission_token::{CacheOptions, KeysetSource, SystemClock, TokenVerifier, VerifierConfig};
use genesis::config::Settings;
use reqwest::{StatusCode, header};
use serde_json::json;
use testkit::TestServer;

use crate::common::{fast, json, settings, start_with};

async fn challenge(server: &TestServer, action: &str) -> serde_json::Value {
    let response = reqwest::Client::new()
        .post(server.url("/v1/pow/challenge"))
        .json(&json!({ "action": action }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    json(response).await
}

fn solve(challenge: &serde_json::Value) -> u64 {
    let c = pow::Challenge::decode(challenge["challenge"].as_str().unwrap()).unwrap();
    pow::solve(&c, |_| std::ops::ControlFlow::Continue(())).unwrap()
}

async fn admit(
    server: &TestServer,
    challenge: &serde_json::Value,
    solution: u64,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/v1/admission"))
        .json(&json!({ "challenge": challenge["challenge"], "solution": solution }))
        .send()
        .await
        .unwrap()
}

async fn fast_server() -> (TestServer, tempfile::TempDir) {
    let keys = tempfile::tempdir().unwrap();
    let server = start_with(fast(settings(&keys).await)).await;
    (server, keys)
}

#[tokio::test]
async fn a_solved_challenge_mints_a_token_that_verifies_offline_against_paserk_json() {
    let (server, _keys) = fast_server().await;
    let c = challenge(&server, "signup").await;
    assert_eq!(c["action"], "signup");
    assert_eq!(c["difficulty"], 4);
    let response = admit(&server, &c, solve(&c)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body = json(response).await;
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with("v4.public."), "{token}");
    assert_eq!(body["action"], "signup");

    // permesi's view: only the keyset URL, no call to genesis per token.
    let verifier = TokenVerifier::new(
        VerifierConfig::new("genesis", "permesi"),
        KeysetSource::url(
            &server.url("/paserk.json"),
            CacheOptions::default(),
            Arc::new(SystemClock),
        )
        .unwrap(),
        Arc::new(SystemClock),
    );
    let accepted = verifier
        .verify(token, "signup")
        .await
        .expect("verifies offline");
    assert_eq!(accepted.claims.aud, "permesi");
    assert_eq!(accepted.claims.iss, "genesis");
    // A token for one action does not admit another.
    let refused = verifier.verify(token, "login").await.unwrap_err();
    assert_eq!(refused.code(), "wrong_action");
}

#[tokio::test]
async fn a_replayed_solution_is_refused_across_replicas() {
    // Two genesis replicas sharing the test Redis and the same key folder.
    let keys = tempfile::tempdir().unwrap();
    let a = start_with(fast(settings(&keys).await)).await;
    let b = start_with(fast(settings(&keys).await)).await;
    let c = challenge(&a, "login").await;
    let solution = solve(&c);
    assert_eq!(admit(&a, &c, solution).await.status(), StatusCode::OK);
    for server in [&a, &b] {
        let response = admit(server, &c, solution).await;
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert_eq!(json(response).await["code"], "challenge_used");
    }
}

#[tokio::test]
async fn the_in_memory_replay_guard_refuses_a_second_use_without_redis() {
    let keys = tempfile::tempdir().unwrap();
    let settings = Settings {
        redis_url: None,
        ..fast(settings(&keys).await)
    };
    let server = start_with(settings).await;
    let c = challenge(&server, "signup").await;
    let solution = solve(&c);
    assert_eq!(admit(&server, &c, solution).await.status(), StatusCode::OK);
    assert_eq!(
        admit(&server, &c, solution).await.status(),
        StatusCode::CONFLICT
    );
}

#[tokio::test]
async fn forged_tampered_and_unsolved_challenges_are_refused() {
    let (server, _keys) = fast_server().await;
    let c = challenge(&server, "signup").await;
    let encoded = c["challenge"].as_str().unwrap();
    let solution = solve(&c);

    // Insufficient work: the first nonce that does NOT meet the difficulty.
    let parsed = pow::Challenge::decode(encoded).unwrap();
    let bad = (0..u64::MAX)
        .find(|n| parsed.verify_solution(*n).is_err())
        .unwrap();
    let response = admit(&server, &c, bad).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(response).await["code"], "insufficient_work");

    // A challenge minted with another secret (another genesis) is refused by its MAC.
    let foreign = pow::Challenge::issue(
        &pow::PowSecret::new(vec![9u8; 32]).unwrap(),
        pow::Action::new("signup").unwrap(),
        pow::Difficulty::new(1).unwrap(),
        time::Duration::minutes(1),
        time::OffsetDateTime::now_utc(),
        &mut rand::rngs::OsRng,
    )
    .unwrap();
    let forged = json!({ "challenge": foreign.encode() });
    let response = admit(&server, &forged, solve(&forged)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(response).await["code"], "bad_mac");

    // One changed character anywhere.
    let mut chars: Vec<char> = encoded.chars().collect();
    let mid = chars.len() / 2;
    chars[mid] = if chars[mid] == 'A' { 'B' } else { 'A' };
    let tampered = json!({ "challenge": chars.into_iter().collect::<String>() });
    let response = admit(&server, &tampered, solution).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    // Garbage.
    let response = admit(&server, &json!({ "challenge": "%%%" }), 1).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json(response).await["code"], "malformed");

    // The genuine solution still works: refusals did not consume the challenge.
    assert_eq!(admit(&server, &c, solution).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn bad_request_bodies_get_problem_json_4xx() {
    let (server, _keys) = fast_server().await;
    let client = reqwest::Client::new();
    let post = |path: &'static str, body: &'static str, ct: &'static str| {
        client
            .post(server.url(path))
            .header(header::CONTENT_TYPE, ct)
            .body(body)
            .send()
    };
    let cases = [
        (
            "/v1/pow/challenge",
            r#"{"action":"admin"}"#,
            "application/json",
            400,
            "unknown_action",
        ),
        (
            "/v1/pow/challenge",
            r#"{"action":"signup""#,
            "application/json",
            400,
            "bad_request",
        ),
        (
            "/v1/pow/challenge",
            r#"{"action":"signup"}"#,
            "text/plain",
            415,
            "unsupported_media_type",
        ),
        (
            "/v1/pow/challenge",
            r#"{"action":"signup","x":1}"#,
            "application/json",
            422,
            "unprocessable_entity",
        ),
        (
            "/v1/pow/challenge",
            "{}",
            "application/json",
            422,
            "unprocessable_entity",
        ),
        (
            "/v1/admission",
            r#"{"challenge":"x","solution":-1}"#,
            "application/json",
            422,
            "unprocessable_entity",
        ),
    ];
    for (path, body, ct, status, code) in cases {
        let response = post(path, body, ct).await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path} {body} {ct}");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json",
            "{path} {body}"
        );
        assert_eq!(json(response).await["code"], code, "{path} {body} {ct}");
    }
    // Oversized: max_body_bytes is 1024 in these tests.
    let big = format!(r#"{{"action":"{}"}}"#, "a".repeat(2000));
    let response = client
        .post(server.url("/v1/pow/challenge"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn clients_over_the_rate_limit_get_429_with_retry_after() {
    let keys = tempfile::tempdir().unwrap();
    let settings = Settings {
        rate_limit_per_ip: 0.5,
        rate_limit_per_ip_burst: 3.0,
        ..settings(&keys).await
    };
    let server = start_with(settings).await;
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let response = client
            .post(server.url("/v1/pow/challenge"))
            .json(&json!({ "action": "signup" }))
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(response.headers()[header::RETRY_AFTER], "2");
            assert_eq!(json(response).await["code"], "rate_limited");
        }
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    // The keyset is not rate limited: verifiers and caches fetch it.
    let response = client.get(server.url("/paserk.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn forwarded_addresses_count_only_from_trusted_proxies() {
    let keys = tempfile::tempdir().unwrap();
    let base = settings(&keys).await;
    let limited = |trusted: Vec<String>| Settings {
        rate_limit_per_ip: 0.5,
        rate_limit_per_ip_burst: 1.0,
        trusted_proxies: trusted,
        database_url: base.database_url.clone(),
        redis_url: base.redis_url.clone(),
        keys_dir: base.keys_dir.clone(),
        ..Settings::default()
    };
    let ask = |server: &TestServer, xff: &'static str| {
        reqwest::Client::new()
            .post(server.url("/v1/pow/challenge"))
            .header("x-forwarded-for", xff)
            .json(&json!({ "action": "signup" }))
            .send()
    };
    // Untrusted peer: the header is ignored, so two "different" clients share one bucket.
    let server = start_with(limited(Vec::new())).await;
    assert_eq!(
        ask(&server, "198.51.100.1").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        ask(&server, "198.51.100.2").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Loopback trusted as a proxy: each forwarded client has its own bucket.
    let server = start_with(limited(vec!["127.0.0.1/32".into()])).await;
    assert_eq!(
        ask(&server, "198.51.100.1").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        ask(&server, "198.51.100.2").await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        ask(&server, "198.51.100.1").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn paserk_json_is_cacheable_with_an_etag() {
    let (server, _keys) = fast_server().await;
    let client = reqwest::Client::new();
    let response = client.get(server.url("/paserk.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CACHE_CONTROL],
        "public, max-age=60, must-revalidate"
    );
    let etag = response.headers()[header::ETAG]
        .to_str()
        .unwrap()
        .to_owned();
    let keyset = json(response).await;
    let entries = keyset["keys"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["status"], "active");
    assert_eq!(keyset["active_kid"], entries[0]["kid"]);
    assert!(entries[0]["kid"].as_str().unwrap().starts_with("k4.pid."));
    assert!(
        entries[0]["paserk"]
            .as_str()
            .unwrap()
            .starts_with("k4.public.")
    );

    let response = client
        .get(server.url("/paserk.json"))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    let response = client
        .get(server.url("/paserk.json"))
        .header(header::IF_NONE_MATCH, "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn minted_ids_are_audited_when_enabled() {
    let keys = tempfile::tempdir().unwrap();
    let settings = Settings {
        audit_minted: true,
        ..fast(settings(&keys).await)
    };
    let url = settings.database_url.clone().unwrap();
    let server = start_with(settings).await;
    let c = challenge(&server, "signup").await;
    let body = json(admit(&server, &c, solve(&c)).await).await;
    let token = body["token"].as_str().unwrap();
    let pool = sqlx::PgPool::connect(url.expose()).await.unwrap();
    // The writer is asynchronous: poll (bounded, up to ~10 s on a slow machine) until the row
    // lands. Nothing here asserts a duration.
    let mut row = None;
    for _ in 0..1000 {
        row = sqlx::query_as::<_, (String, String)>("SELECT jti, action FROM admission_audit")
            .fetch_optional(&pool)
            .await
            .unwrap();
        if row.is_some() {
            break;
        }
        tokio::task::yield_now().await;
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let (jti, action) = row.expect("audit row written");
    assert_eq!(action, "signup");
    assert_eq!(jti.len(), 22);
    // Only the id is stored, never the token.
    let (n,): (i64,) =
        sqlx::query_as("SELECT count(*) FROM admission_audit WHERE jti = $1 OR kid = $1")
            .bind(token)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(n, 0);
}

#[tokio::test]
async fn challenges_get_harder_while_the_mint_is_busy() {
    let keys = tempfile::tempdir().unwrap();
    let settings = Settings {
        pow_boost_threshold: 1,
        pow_boost_bits: 3,
        ..fast(settings(&keys).await)
    };
    let server = start_with(settings).await;
    assert_eq!(challenge(&server, "signup").await["difficulty"], 4);
    // Three mints within at most two one-second windows: one window holds two, above 1/s.
    for _ in 0..3 {
        let c = challenge(&server, "signup").await;
        assert_eq!(admit(&server, &c, solve(&c)).await.status(), StatusCode::OK);
    }
    assert_eq!(challenge(&server, "signup").await["difficulty"], 7);
}

#[tokio::test]
async fn genesis_keys_rotate_prepublishes_the_next_key() {
    let keys = tempfile::tempdir().unwrap();
    let base = fast(settings(&keys).await);
    let keys_dir = base.keys_dir.clone();
    let cli = |args: &'static [&'static str]| {
        let keys_dir = keys_dir.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                crate::common::genesis_binary()
                    .env("GENESIS_KEYS_DIR", keys_dir)
                    .args(args)
                    .output()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    // First start creates version 1.
    let server = start_with(base).await;
    let before = json(reqwest::get(server.url("/paserk.json")).await.unwrap()).await;
    drop(server);

    let out = cli(&["keys", "rotate"]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("created version 2"));

    let out = cli(&["keys", "list"]).await;
    let listing = String::from_utf8(out.stdout).unwrap();
    let line = |v: &str| {
        listing
            .lines()
            .find(|l| l.starts_with(v))
            .unwrap()
            .to_owned()
    };
    assert!(line("1 ").contains("active"), "{listing}");
    assert!(line("2 ").contains("next"), "{listing}");

    let out = cli(&["keys", "validate"]).await;
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("ok: 2 published key(s), active version 1")
    );

    // A genesis started now publishes both; the old key still signs during prepublication.
    let server = start_with(fast(Settings {
        keys_dir: keys.path().join("keys"),
        ..settings(&keys).await
    }))
    .await;
    let after = json(reqwest::get(server.url("/paserk.json")).await.unwrap()).await;
    assert_eq!(after["active_kid"], before["active_kid"]);
    let statuses: Vec<&str> = after["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["active", "next"]);
}
