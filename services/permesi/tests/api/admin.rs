//! Platform operators over HTTP: claim once, elevation, the attempt limit, operator actions,
//! the audit query, and Vault tokens as operator tokens.

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use server::key_backend::{BackendKind, VaultAuthKind};
use time::OffsetDateTime;
use vault_double::{Double, ENCRYPTION_KEY, ROLE_ID, SECRET_ID, SIGNING_KEY};

use crate::{
    auth::{PASSWORD, Stack, code},
    session::{get, logged_in, login},
};

async fn post(stack: &Stack, path: &str, cookie: &str, body: Option<Value>) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(stack.permesi.url(path))
        .header(header::COOKIE, cookie);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

/// A fresh one-time local operator token, as `permesi operator-token` makes.
async fn operator_token(stack: &Stack) -> String {
    permesi::operators::issue_local_token(&stack.pool().await, OffsetDateTime::now_utc())
        .await
        .unwrap()
}

async fn status(stack: &Stack, cookie: &str) -> Value {
    let response = get(stack, "/v1/admin/status", Some(cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn user_id(stack: &Stack, cookie: &str) -> String {
    let me: Value = get(stack, "/v1/me", Some(cookie))
        .await
        .json()
        .await
        .unwrap();
    me["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn the_first_operator_claims_once_then_elevates_to_act() {
    let stack = Stack::start().await;
    let alice = logged_in(&stack, "alice.ops@example.com").await;
    let bob = logged_in(&stack, "bob.user@example.com").await;
    assert_eq!(
        status(&stack, &alice).await,
        json!({ "claimed": false, "operator": false, "elevated_until": null })
    );
    // Not an operator yet: every operator action is refused.
    let refused = get(&stack, "/v1/admin/users", Some(&alice)).await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(refused).await, "operator_required");
    // Without a session, nothing.
    let anonymous = reqwest::Client::new()
        .post(stack.permesi.url("/v1/admin/claim"))
        .json(&json!({ "token": operator_token(&stack).await }))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    let wrong = post(
        &stack,
        "/v1/admin/claim",
        &alice,
        Some(json!({ "token": "pmo_guess" })),
    )
    .await;
    assert_eq!(wrong.status(), StatusCode::FORBIDDEN);
    assert_eq!(code(wrong).await, "operator_token_invalid");
    let token = operator_token(&stack).await;
    let claimed = post(
        &stack,
        "/v1/admin/claim",
        &alice,
        Some(json!({ "token": token })),
    )
    .await;
    assert_eq!(claimed.status(), StatusCode::OK);
    let claimed: Value = claimed.json().await.unwrap();
    assert_eq!(claimed["operator"], true);
    assert_eq!(claimed["elevated_until"], Value::Null);
    // Claim once only, whatever the token.
    let again = post(
        &stack,
        "/v1/admin/claim",
        &bob,
        Some(json!({ "token": operator_token(&stack).await })),
    )
    .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert_eq!(code(again).await, "already_claimed");
    assert_eq!(status(&stack, &bob).await["operator"], false);

    // The token was spent by its use.
    let used: Option<OffsetDateTime> =
        sqlx::query_scalar("SELECT used_at FROM operator_tokens WHERE token_hash = $1")
            .bind(permesi::operators::token_hash(&token).as_slice())
            .fetch_one(&stack.pool().await)
            .await
            .unwrap();
    assert!(used.is_some());
    // An operator must elevate first (alice's third attempt in ten minutes: the last allowed).
    let not_elevated = get(&stack, "/v1/admin/users", Some(&alice)).await;
    assert_eq!(code(not_elevated).await, "elevation_required");
    let bob_elevates = post(
        &stack,
        "/v1/admin/elevate",
        &bob,
        Some(json!({ "token": operator_token(&stack).await })),
    )
    .await;
    assert_eq!(code(bob_elevates).await, "operator_required");
    let elevated = post(
        &stack,
        "/v1/admin/elevate",
        &alice,
        Some(json!({ "token": operator_token(&stack).await })),
    )
    .await;
    assert_eq!(elevated.status(), StatusCode::OK);
    let elevated: Value = elevated.json().await.unwrap();
    let until = OffsetDateTime::parse(
        elevated["elevated_until"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = until - OffsetDateTime::now_utc();
    assert!(left > time::Duration::minutes(14) && left <= time::Duration::minutes(15));
}

/// Signs `email` up, claims the platform and elevates; returns the session cookie.
async fn elevated_operator(stack: &Stack, email: &str) -> String {
    let cookie = logged_in(stack, email).await;
    for path in ["/v1/admin/claim", "/v1/admin/elevate"] {
        let token = operator_token(stack).await;
        let response = post(stack, path, &cookie, Some(json!({ "token": token }))).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    cookie
}

#[tokio::test]
async fn elevated_operators_find_users_by_exact_email_page_by_page() {
    let stack = Stack::start().await;
    let alice = elevated_operator(&stack, "alice.ops@example.com").await;
    logged_in(&stack, "bob.user@example.com").await;
    // Users, found by exact email.
    let users: Value = get(&stack, "/v1/admin/users", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(users["users"].as_array().unwrap().len(), 2);
    let found: Value = get(
        &stack,
        "/v1/admin/users?email=Bob.User@example.com",
        Some(&alice),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(found["users"].as_array().unwrap().len(), 1);
    assert_eq!(found["users"][0]["email"], "bob.user@example.com");
    assert_eq!(found["users"][0]["operator"], false);
    let page: Value = get(&stack, "/v1/admin/users?limit=1", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    let next = page["next_before"].as_str().unwrap();
    let rest: Value = get(
        &stack,
        &format!("/v1/admin/users?limit=1&before={next}"),
        Some(&alice),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(rest["users"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_before"], Value::Null);
    let bad = get(&stack, "/v1/admin/users?status=gone", Some(&alice)).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn elevated_operators_find_disable_enable_and_sign_out_users_all_audited() {
    let stack = Stack::start().await;
    let alice = elevated_operator(&stack, "alice.ops@example.com").await;
    let bob = logged_in(&stack, "bob.user@example.com").await;
    // Disable ends the user's sessions and stops logins; enable restores logins.
    let bob_id = user_id(&stack, &bob).await;
    let alice_id = user_id(&stack, &alice).await;
    let myself = post(
        &stack,
        &format!("/v1/admin/users/{alice_id}/disable"),
        &alice,
        None,
    )
    .await;
    assert_eq!(code(myself).await, "cannot_disable_self");
    let disabled = post(
        &stack,
        &format!("/v1/admin/users/{bob_id}/disable"),
        &alice,
        None,
    )
    .await;
    assert_eq!(disabled.status(), StatusCode::OK);
    assert_eq!(disabled.json::<Value>().await.unwrap()["sessions_ended"], 1);
    assert_eq!(
        get(&stack, "/v1/me", Some(&bob)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        stack.login("bob.user@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let unknown = post(
        &stack,
        &format!("/v1/admin/users/{}/disable", uuid::Uuid::now_v7()),
        &alice,
        None,
    )
    .await;
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    let enabled = post(
        &stack,
        &format!("/v1/admin/users/{bob_id}/enable"),
        &alice,
        None,
    )
    .await;
    assert_eq!(enabled.status(), StatusCode::OK);
    let bob = login(&stack, "bob.user@example.com").await;
    let ended = post(
        &stack,
        &format!("/v1/admin/users/{bob_id}/sessions/end"),
        &alice,
        None,
    )
    .await;
    assert_eq!(ended.json::<Value>().await.unwrap()["sessions_ended"], 1);
    assert_eq!(
        get(&stack, "/v1/me", Some(&bob)).await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Each step is in the audit log, which only elevated operators read.
    let audit: Value = get(&stack, "/v1/admin/audit?action=admin.", Some(&alice))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "admin.user.sessions_ended",
            "admin.user.enabled",
            "admin.user.disabled",
        ]
    );
    let claims: Value = get(
        &stack,
        "/v1/admin/audit?action=platform.claimed",
        Some(&alice),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(claims["entries"].as_array().unwrap().len(), 1);
    assert_eq!(claims["entries"][0]["outcome"], "success");
    assert_eq!(claims["entries"][0]["actor_kind"], "operator");
    assert_eq!(claims["entries"][0]["actor_id"], alice_id.as_str());
    let bob = login(&stack, "bob.user@example.com").await;
    let denied = get(&stack, "/v1/admin/audit", Some(&bob)).await;
    assert_eq!(code(denied).await, "operator_required");
    // Logging out ends the elevation with the session.
    post(&stack, "/v1/auth/logout", &alice, None).await;
    let alice = login(&stack, "alice.ops@example.com").await;
    assert_eq!(status(&stack, &alice).await["elevated_until"], Value::Null);
}

#[tokio::test]
async fn claim_and_elevation_allow_three_attempts_then_lock() {
    let stack = Stack::start().await;
    let mallory = logged_in(&stack, "mallory@example.com").await;
    for guess in ["pmo_1", "pmo_2", "pmo_3"] {
        let wrong = post(
            &stack,
            "/v1/admin/claim",
            &mallory,
            Some(json!({ "token": guess })),
        )
        .await;
        assert_eq!(code(wrong).await, "operator_token_invalid");
    }
    // Locked: even a valid token is refused now, and it is not spent.
    let token = operator_token(&stack).await;
    let locked = post(
        &stack,
        "/v1/admin/claim",
        &mallory,
        Some(json!({ "token": token })),
    )
    .await;
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = locked.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((14 * 60..=15 * 60).contains(&retry), "{retry}");
    assert_eq!(code(locked).await, "too_many_attempts");
    // Another user is not affected, and the unspent token still works for them.
    let carol = logged_in(&stack, "carol@example.com").await;
    let claimed = post(
        &stack,
        "/v1/admin/claim",
        &carol,
        Some(json!({ "token": token })),
    )
    .await;
    assert_eq!(claimed.status(), StatusCode::OK);
    let outcomes: Vec<(String, String)> = sqlx::query_as(
        "SELECT outcome, detail FROM audit_log WHERE action = 'platform.claimed' ORDER BY seq",
    )
    .fetch_all(&stack.pool().await)
    .await
    .unwrap();
    assert_eq!(outcomes.len(), 5);
    assert_eq!(outcomes[3].0, "denied");
    assert!(outcomes[3].1.contains("rate_limited"));
}

#[tokio::test]
async fn concurrent_claims_make_exactly_one_operator() {
    let stack = Stack::start().await;
    let mut cookies = Vec::new();
    for i in 0..4 {
        cookies.push(logged_in(&stack, &format!("racer{i}@example.com")).await);
    }
    let mut tokens = Vec::new();
    for _ in 0..4 {
        tokens.push(operator_token(&stack).await);
    }
    let claim = |i: usize| {
        post(
            &stack,
            "/v1/admin/claim",
            &cookies[i],
            Some(json!({ "token": tokens[i] })),
        )
    };
    // Polled together: the four claims are in flight at the same time.
    let (a, b, c, d) = tokio::join!(claim(0), claim(1), claim(2), claim(3));
    let statuses = [a.status(), b.status(), c.status(), d.status()];
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1);
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        3
    );
    let operators: i64 = sqlx::query_scalar("SELECT count(*) FROM platform_operators")
        .fetch_one(&stack.pool().await)
        .await
        .unwrap();
    assert_eq!(operators, 1);
}

#[tokio::test]
async fn with_vault_operators_present_a_vault_token_holding_the_policy() {
    let double = Double::new();
    let addr = double.serve_tcp().await;
    let stack = Stack::start_with(|s| permesi::config::Settings {
        keys_backend: BackendKind::Vault,
        vault_addr: addr,
        vault_auth: VaultAuthKind::Approle,
        vault_role_id: ROLE_ID.to_owned(),
        vault_secret_id: Some(SECRET_ID.to_owned().into()),
        keys_signing_key: SIGNING_KEY.to_owned(),
        keys_encryption_key: ENCRYPTION_KEY.to_owned(),
        vault_timeout_ms: 2_000,
        ..s
    })
    .await;
    // Signup, verification and login work with the seed and keys in Vault.
    let dana = logged_in(&stack, "dana.vault@example.com").await;
    double.with(|s| {
        for name in [
            "permesi-opaque-seed",
            "permesi-email-index",
            "permesi-audit-key",
        ] {
            assert!(
                s.kv.keys().any(|k| k.ends_with(name)),
                "{name} not in KV: {:?}",
                s.kv.keys().collect::<Vec<_>>()
            );
        }
    });
    let sealed: String = sqlx::query_scalar("SELECT email_ciphertext FROM users")
        .fetch_one(&stack.pool().await)
        .await
        .unwrap();
    assert!(sealed.starts_with("vault:v1:"), "{sealed}");

    let plain = double.issue_token(&["default"]);
    let refused = post(
        &stack,
        "/v1/admin/claim",
        &dana,
        Some(json!({ "token": plain })),
    )
    .await;
    assert_eq!(code(refused).await, "operator_token_invalid");
    // A revoked operator token is refused.
    let eve = logged_in(&stack, "eve.vault@example.com").await;
    let revoked = double.issue_token(&["permesi-operators"]);
    double.revoke_token(&revoked);
    let refused = post(
        &stack,
        "/v1/admin/claim",
        &eve,
        Some(json!({ "token": revoked })),
    )
    .await;
    assert_eq!(code(refused).await, "operator_token_invalid");
    // Vault down: refused (fail closed), and not counted as an attempt.
    double.set_mode(vault_double::Mode::Fail);
    let down = post(
        &stack,
        "/v1/admin/claim",
        &dana,
        Some(json!({ "token": double.issue_token(&["permesi-operators"]) })),
    )
    .await;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    double.set_mode(vault_double::Mode::Normal);
    let operator = double.issue_token(&["default", "permesi-operators"]);
    let claimed = post(
        &stack,
        "/v1/admin/claim",
        &dana,
        Some(json!({ "token": operator })),
    )
    .await;
    assert_eq!(claimed.status(), StatusCode::OK);
    // A Vault token is not spent by use: the same one elevates (dana's third attempt).
    let elevated = post(
        &stack,
        "/v1/admin/elevate",
        &dana,
        Some(json!({ "token": operator })),
    )
    .await;
    assert_eq!(elevated.status(), StatusCode::OK);
    // The lookups were self-lookups made with the presented tokens.
    let lookups = double.with(|s| {
        s.requests
            .iter()
            .filter(|(_, path, _, _)| path == "auth/token/lookup-self")
            .filter_map(|(_, _, token, _)| token.clone())
            .collect::<Vec<_>>()
    });
    assert!(lookups.contains(&plain) && lookups.contains(&revoked) && lookups.contains(&operator));
}

#[tokio::test]
async fn support_views_an_organization_and_its_admins_see_that_in_their_audit() {
    let stack = Stack::start().await;
    let alice = elevated_operator(&stack, "alice.ops@example.com").await;
    let bob = logged_in(&stack, "bob.owner@example.com").await;
    let created = post(
        &stack,
        "/v1/orgs",
        &bob,
        Some(json!({ "slug": "acme", "name": "Acme" })),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    // A non-operator cannot use the support view.
    let refused = get(&stack, "/v1/admin/orgs/acme", Some(&bob)).await;
    assert_eq!(code(refused).await, "operator_required");
    let missing = get(&stack, "/v1/admin/orgs/nope", Some(&alice)).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    let view = get(&stack, "/v1/admin/orgs/acme", Some(&alice)).await;
    assert_eq!(view.status(), StatusCode::OK);
    let view: Value = view.json().await.unwrap();
    assert_eq!(view["slug"], "acme");
    assert_eq!(view["members"].as_array().unwrap().len(), 1);
    assert_eq!(view["members"][0]["user_id"], user_id(&stack, &bob).await);
    // The org's owner sees that support looked.
    let audit: Value = get(&stack, "/v1/orgs/acme/audit", Some(&bob))
        .await
        .json()
        .await
        .unwrap();
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["admin.org.viewed", "org.created"]);
}
