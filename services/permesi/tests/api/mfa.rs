//! TOTP and recovery codes over HTTP: enrolment, the MFA step after a password login,
//! replayed and wrong codes, single-use recovery codes, and the audit trail.

use permesi::mfa::totp::{self, Secret};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{
    auth::{PASSWORD, Stack, code},
    session::{get, logged_in},
};

/// POSTs JSON with optional cookies and admission token.
pub async fn post(
    stack: &Stack,
    path: &str,
    cookies: &[&str],
    admission: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(stack.permesi.url(path))
        .json(body);
    if !cookies.is_empty() {
        request = request.header(header::COOKIE, cookies.join("; "));
    }
    if let Some(token) = admission {
        request = request.header("x-permesi-admission", token);
    }
    request.send().await.unwrap()
}

/// The `name=value` of a `Set-Cookie` named `name`.
pub fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap().to_owned())
        .find(|pair| pair.starts_with(&format!("{name}=")) && pair.len() > name.len() + 1)
}

fn step_now() -> i64 {
    totp::step_of(OffsetDateTime::now_utc().unix_timestamp())
}

fn code_at(secret: &Secret, step: i64) -> String {
    totp::code_at(&secret.0, step, totp::DIGITS)
}

/// Enrols and confirms TOTP for a logged-in session; returns the secret, the step its
/// confirmation used, and the recovery codes.
pub async fn enable_totp(stack: &Stack, session: &str) -> (Secret, i64, Vec<String>) {
    let enrol = post(stack, "/v1/me/totp/enrol", &[session], None, &json!({})).await;
    assert_eq!(enrol.status(), StatusCode::OK);
    let enrol: Value = enrol.json().await.unwrap();
    assert!(
        enrol["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/permesi%3A")
    );
    assert!(enrol["qr_svg"].as_str().unwrap().contains("<svg"));
    let secret = Secret::from_base32(enrol["secret"].as_str().unwrap()).unwrap();
    let wrong = post(
        stack,
        "/v1/me/totp/confirm",
        &[session],
        None,
        &json!({ "code": "000000" }),
    )
    .await;
    // (One in a million it is the right code; then the test would see 200.)
    assert_eq!(code(wrong).await, "invalid_code");
    let step = step_now();
    let confirmed = post(
        stack,
        "/v1/me/totp/confirm",
        &[session],
        None,
        &json!({ "code": code_at(&secret, step) }),
    )
    .await;
    assert_eq!(confirmed.status(), StatusCode::OK);
    let codes: Vec<String> = confirmed.json::<Value>().await.unwrap()["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, step, codes)
}

/// A password login that stops at the MFA step; returns the challenge cookie.
pub async fn challenged(stack: &Stack, email: &str) -> String {
    let response = stack.login(email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        cookie(&response, "__Host-permesi_session").is_none(),
        "no session before the second factor"
    );
    let challenge = cookie(&response, "permesi_mfa").unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "mfa_required": true, "methods": ["totp", "recovery_code"] })
    );
    challenge
}

/// Presents a second factor (with a fresh `mfa` admission token).
pub async fn second_factor(
    stack: &Stack,
    challenge: &str,
    kind: &str,
    code: &str,
) -> reqwest::Response {
    let token = stack.admission("mfa").await;
    post(
        stack,
        &format!("/v1/auth/mfa/{kind}"),
        &[challenge],
        Some(&token),
        &json!({ "code": code }),
    )
    .await
}

async fn mfa_actions(stack: &Stack) -> Vec<(String, String)> {
    sqlx::query_as(
        "SELECT action, outcome FROM audit_log WHERE action LIKE 'mfa.%' OR action LIKE 'auth.mfa%' \
         ORDER BY seq",
    )
    .fetch_all(&stack.pool().await)
    .await
    .unwrap()
}

#[tokio::test]
async fn with_totp_on_a_password_login_needs_a_fresh_code() {
    let stack = Stack::start().await;
    let email = "totp.ada@example.com";
    let session = logged_in(&stack, email).await;
    let (secret, step, recovery) = enable_totp(&stack, &session).await;
    let status: Value = get(&stack, "/v1/me/mfa", Some(&session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        status,
        json!({ "totp": true, "recovery_codes_left": 10, "passkeys": 0 })
    );
    // A second enrolment while on is refused.
    let again = post(&stack, "/v1/me/totp/enrol", &[&session], None, &json!({})).await;
    assert_eq!(code(again).await, "totp_already_enabled");

    let challenge = challenged(&stack, email).await;
    // The step needs its admission token, a challenge, and a code not used before.
    let ungated = post(
        &stack,
        "/v1/auth/mfa/totp",
        &[&challenge],
        None,
        &json!({ "code": "123456" }),
    )
    .await;
    assert_eq!(ungated.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(ungated).await, "admission_required");
    let no_challenge = second_factor(
        &stack,
        "permesi_mfa=0123456789abcdef0123456789abcdef",
        "totp",
        &code_at(&secret, step + 1),
    )
    .await;
    assert_eq!(code(no_challenge).await, "authentication_failed");
    let replayed = second_factor(&stack, &challenge, "totp", &code_at(&secret, step)).await;
    assert_eq!(code(replayed).await, "authentication_failed");
    let done = second_factor(&stack, &challenge, "totp", &code_at(&secret, step + 1)).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    let set: Vec<&str> = done
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert!(
        set.iter()
            .any(|c| c.starts_with("permesi_mfa=;") && c.contains("Max-Age=0"))
    );
    let mfa_session = cookie(&done, "__Host-permesi_session").unwrap();
    let sessions: Value = get(&stack, "/v1/me/sessions", Some(&mfa_session))
        .await
        .json()
        .await
        .unwrap();
    let current = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap();
    assert_eq!(current["auth_methods"], json!(["pwd", "otp", "mfa"]));
    // The challenge was single use.
    let reused = second_factor(&stack, &challenge, "totp", &code_at(&secret, step + 1)).await;
    assert_eq!(code(reused).await, "authentication_failed");

    // A recovery code works once.
    let challenge = challenged(&stack, email).await;
    let by_code = second_factor(&stack, &challenge, "recovery", &recovery[3].to_uppercase()).await;
    assert_eq!(by_code.status(), StatusCode::NO_CONTENT);
    let challenge = challenged(&stack, email).await;
    let twice = second_factor(&stack, &challenge, "recovery", &recovery[3]).await;
    assert_eq!(code(twice).await, "authentication_failed");
    let status: Value = get(&stack, "/v1/me/mfa", Some(&session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["recovery_codes_left"], 9);

    // Five wrong codes end the challenge: the right one no longer helps.
    for _ in 0..5 {
        let wrong = second_factor(&stack, &challenge, "recovery", "aaaa-aaaa-aaaa-aaaa").await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
    }
    let late = second_factor(&stack, &challenge, "recovery", &recovery[4]).await;
    assert_eq!(late.status(), StatusCode::UNAUTHORIZED);

    // Wrong codes are anonymous security events, not chain entries.
    let actions = mfa_actions(&stack).await;
    let expected = [
        ("mfa.totp_enabled", "success"),
        ("auth.mfa_challenged", "success"),
        ("auth.mfa", "success"),
        ("auth.mfa_challenged", "success"),
        ("auth.mfa", "success"),
        ("auth.mfa_challenged", "success"),
    ];
    assert_eq!(
        actions[..expected.len()],
        expected.map(|(a, o)| (a.to_owned(), o.to_owned()))
    );
}

#[tokio::test]
async fn turning_totp_off_and_new_recovery_codes() {
    let stack = Stack::start().await;
    let email = "totp.bob@example.com";
    let session = logged_in(&stack, email).await;
    // Nothing to confirm or regenerate before enrolment.
    let early = post(
        &stack,
        "/v1/me/totp/confirm",
        &[&session],
        None,
        &json!({ "code": "123456" }),
    )
    .await;
    assert_eq!(code(early).await, "totp_not_enrolled");
    let none = post(
        &stack,
        "/v1/me/recovery-codes",
        &[&session],
        None,
        &json!({}),
    )
    .await;
    assert_eq!(code(none).await, "totp_not_enabled");
    let (_, _, old) = enable_totp(&stack, &session).await;
    let fresh = post(
        &stack,
        "/v1/me/recovery-codes",
        &[&session],
        None,
        &json!({}),
    )
    .await;
    assert_eq!(fresh.status(), StatusCode::OK);
    let fresh: Value = fresh.json().await.unwrap();
    assert_ne!(fresh["recovery_codes"][0], old[0].as_str());
    // The old set is gone.
    let challenge = challenged(&stack, email).await;
    let stale = second_factor(&stack, &challenge, "recovery", &old[0]).await;
    assert_eq!(stale.status(), StatusCode::UNAUTHORIZED);
    let disabled = post(&stack, "/v1/me/totp/disable", &[&session], None, &json!({})).await;
    assert_eq!(disabled.status(), StatusCode::NO_CONTENT);
    // Without TOTP a password login makes a session at once again.
    assert_eq!(
        stack.login(email, PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    let unauthenticated = post(&stack, "/v1/me/totp/enrol", &[], None, &json!({})).await;
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn wrong_second_factor_codes_count_per_account_across_challenges() {
    let stack = Stack::start_with(|s| permesi::config::Settings {
        login_free_failures: 2,
        login_delay_base_secs: 600,
        ..s
    })
    .await;
    let email = "guessed@example.com";
    let session = logged_in(&stack, email).await;
    enable_totp(&stack, &session).await;
    // Someone with the password but not the authenticator: the codes add up in the
    // account's second-factor budget. Two are free; the third waits ten minutes.
    let challenge = challenged(&stack, email).await;
    for _ in 0..2 {
        let wrong = second_factor(&stack, &challenge, "totp", "000000").await;
        assert_eq!(code(wrong).await, "authentication_failed");
    }
    let third = second_factor(&stack, &challenge, "totp", "000000").await;
    assert_eq!(code(third).await, "too_many_attempts");
    // Logging in again (a new challenge) does not buy more guesses, not even the right one.
    let challenge = challenged(&stack, email).await;
    let again = second_factor(&stack, &challenge, "totp", "000000").await;
    assert_eq!(code(again).await, "too_many_attempts");
}

#[tokio::test]
async fn the_owner_is_mailed_when_a_sign_in_factor_changes() {
    let stack = Stack::start().await;
    let session = logged_in(&stack, "notice.me@example.com").await;
    enable_totp(&stack, &session).await;
    let codes = post(
        &stack,
        "/v1/me/recovery-codes",
        &[&session],
        None,
        &json!({}),
    )
    .await;
    assert_eq!(codes.status(), StatusCode::OK);
    let pool = stack.pool().await;
    let notices = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM email_outbox WHERE kind = 'security_notice'",
        )
        .fetch_one(&pool)
        .await
        .unwrap()
    };
    assert_eq!(notices().await, 2, "TOTP turned on, new recovery codes");
    // The worker delivers them to the dev mail folder, pointing at the security page.
    let mut texts = Vec::new();
    for _ in 0..500 {
        texts = std::fs::read_dir(&stack.mail)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
                    .filter(|t| t.contains("Security notice"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        if texts.len() == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(texts.len(), 2);
    assert!(texts.iter().any(|t| t.contains("authenticator app")));
    assert!(texts.iter().all(|t| t.contains("/security")));
}
