//! Password reset by email link: the request answers the same for every address, the link
//! starts a new OPAQUE registration, finishing it spends the link and ends every session.

use std::collections::HashSet;

use opaque::client::{self as oc, Params};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::{
    auth::{PASSWORD, Stack, code},
    session::{logged_in, login},
};

const NEW_PASSWORD: &[u8] = b"a new and longer passphrase";

/// Asks for a reset link for `email` with a fresh admission token.
async fn request(stack: &Stack, email: &str) -> reqwest::Response {
    let admission = stack.admission("password_reset").await;
    stack
        .post(
            "/v1/auth/password-reset",
            Some(&admission),
            &json!({ "email": email }),
        )
        .await
}

/// The outcomes of the reset requests audited so far (they are handled in the background):
/// waits, bounded, until there are `n`.
async fn requests_audited(stack: &Stack, n: usize) -> Vec<(String, Option<String>)> {
    let pool = stack.pool().await;
    for _ in 0..500 {
        let rows: Vec<(String, Option<String>)> = sqlx::query_as(
            "SELECT outcome, detail::jsonb->>'reason' FROM security_events \
             WHERE action = 'user.password_reset_requested' ORDER BY id",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        if rows.len() >= n {
            return rows;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("fewer than {n} reset requests audited");
}

/// The token of the newest reset mail not seen before (the worker writes asynchronously).
async fn next_reset_token(stack: &Stack, seen: &mut HashSet<String>) -> String {
    for _ in 0..500 {
        if let Some(link) =
            permesi::verification::latest_link_to(&stack.mail, "/reset-password").unwrap()
            && seen.insert(link.clone())
        {
            assert!(link.starts_with("http://localhost:8080/reset-password#token="));
            return link.split("token=").nth(1).unwrap().to_owned();
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no new reset mail");
}

async fn reset_mails(stack: &Stack) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM email_outbox WHERE kind = 'password_reset'")
        .fetch_one(&stack.pool().await)
        .await
        .unwrap()
}

/// Starts a reset with `token` for `password`; the start's response and the client state.
async fn start(
    stack: &Stack,
    token: &str,
    password: &[u8],
) -> (reqwest::Response, oc::RegistrationState) {
    let (state, request) = oc::registration_start(password).unwrap();
    let response = stack
        .post(
            "/v1/auth/password-reset/start",
            None,
            &json!({ "token": token, "request": request }),
        )
        .await;
    (response, state)
}

/// A whole reset with `token`: the finish's response.
async fn reset(stack: &Stack, token: &str, password: &[u8]) -> reqwest::Response {
    let (started, state) = start(stack, token, password).await;
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
    stack
        .post(
            "/v1/auth/password-reset/finish",
            None,
            &json!({ "reset_id": started["reset_id"], "upload": upload }),
        )
        .await
}

async fn session_status(stack: &Stack, cookie: &str) -> StatusCode {
    reqwest::Client::new()
        .get(stack.permesi.url("/v1/me"))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .status()
}

/// The start of a password login and the client's finalization, not yet sent: the body of
/// `/v1/auth/opaque/login/finish`.
async fn begin_login(stack: &Stack, email: &str, password: &[u8]) -> Value {
    let (state, request) = oc::login_start(password).unwrap();
    let admission = stack.admission("login").await;
    let started: Value = stack
        .post(
            "/v1/auth/opaque/login/start",
            Some(&admission),
            &json!({ "email": email, "request": request }),
        )
        .await
        .json()
        .await
        .unwrap();
    let finalization = oc::login_finish_with(
        state,
        started["response"].as_str().unwrap(),
        password,
        Params::insecure_fast(),
    )
    .unwrap()
    .finalization;
    json!({ "login_id": started["login_id"], "finalization": finalization })
}

#[tokio::test]
async fn a_reset_link_replaces_the_password_once_and_ends_every_session() {
    let stack = Stack::start().await;
    let email = "forgetful@example.com";
    let laptop = logged_in(&stack, email).await;
    let phone = login(&stack, email).await;
    let mut seen = HashSet::new();

    // Every address gets the same answer; only a real account gets mail.
    for address in ["nobody@example.com", email] {
        let response = request(&stack, address).await;
        assert_eq!(response.status(), StatusCode::ACCEPTED, "{address}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body, json!({ "status": "check_email" }));
    }
    let token = next_reset_token(&stack, &mut seen).await;
    // A second request within the cooldown sends nothing.
    assert_eq!(request(&stack, email).await.status(), StatusCode::ACCEPTED);
    let audited = requests_audited(&stack, 3).await;
    let mut outcomes: Vec<_> = audited
        .iter()
        .map(|(o, r)| (o.as_str(), r.as_deref()))
        .collect();
    outcomes.sort_unstable();
    assert_eq!(
        outcomes,
        [
            ("failure", Some("cooldown")),
            ("failure", Some("unknown_account")),
            ("success", None)
        ]
    );
    assert_eq!(reset_mails(&stack).await, 1);

    // Bad tokens are one answer.
    for bad in ["", "not-a-token", &"A".repeat(43), &token[..42]] {
        let (response, _) = start(&stack, bad, NEW_PASSWORD).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad:?}");
        assert_eq!(code(response).await, "invalid_or_expired_token");
    }

    // A login with the old password, started before the reset and finished after it, gets
    // no session.
    let pending = begin_login(&stack, email, PASSWORD).await;

    // The link works once: the new password replaces the old and both sessions end.
    let done = reset(&stack, &token, NEW_PASSWORD).await;
    assert_eq!(done.status(), StatusCode::OK);
    // The factors that survive a reset are shown to the owner.
    let done: Value = done.json().await.unwrap();
    assert_eq!(done["factors"]["totp"], false);
    assert_eq!(done["factors"]["passkeys"], json!([]));
    let late = stack
        .post("/v1/auth/opaque/login/finish", None, &pending)
        .await;
    assert_eq!(late.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(late).await, "authentication_failed");
    let refused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM security_events WHERE action = 'auth.login' AND outcome = 'failure' \
         AND detail::jsonb ->> 'reason' = 'account_changed'",
    )
    .fetch_one(&stack.pool().await)
    .await
    .unwrap();
    assert_eq!(refused, 1);
    assert_eq!(
        session_status(&stack, &laptop).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        session_status(&stack, &phone).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        stack.login(email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        stack.login(email, NEW_PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    let (again, _) = start(&stack, &token, PASSWORD).await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(again).await, "invalid_or_expired_token");

    // The reset is audited without the address or the token.
    let pool = stack.pool().await;
    let detail: Value = sqlx::query_scalar(
        "SELECT detail::jsonb FROM audit_log WHERE action = 'user.password_reset' AND outcome = 'success'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(detail["sessions_ended"], 2);
    let all: Vec<String> = sqlx::query_scalar("SELECT detail::text FROM audit_log")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(
        all.iter()
            .all(|d| !d.contains(email) && !d.contains(&token))
    );
    assert!(crate::audit::audit_verify(&stack).status.success());
}

#[tokio::test]
async fn expired_links_finishes_without_a_start_and_disabled_accounts_are_refused() {
    let stack = Stack::start().await;
    let email = "late@example.com";
    logged_in(&stack, email).await;
    let pool = stack.pool().await;
    let mut seen = HashSet::new();

    // An expired link no longer starts a reset.
    assert_eq!(request(&stack, email).await.status(), StatusCode::ACCEPTED);
    let expired = next_reset_token(&stack, &mut seen).await;
    sqlx::query(
        "UPDATE password_reset_tokens SET created_at = now() - interval '2 hours', \
         expires_at = now() - interval '1 second'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (response, _) = start(&stack, &expired, NEW_PASSWORD).await;
    assert_eq!(code(response).await, "invalid_or_expired_token");

    // A link that expires between start and finish is refused at the finish, and the old
    // password still works.
    assert_eq!(request(&stack, email).await.status(), StatusCode::ACCEPTED);
    let token = next_reset_token(&stack, &mut seen).await;
    let (started, state) = start(&stack, &token, NEW_PASSWORD).await;
    assert_eq!(started.status(), StatusCode::OK);
    let started: Value = started.json().await.unwrap();
    sqlx::query(
        "UPDATE password_reset_tokens SET created_at = now() - interval '2 hours', \
         expires_at = now() - interval '1 second' WHERE used_at IS NULL",
    )
    .execute(&pool)
    .await
    .unwrap();
    let upload = oc::registration_finish_with(
        state,
        started["response"].as_str().unwrap(),
        NEW_PASSWORD,
        Params::insecure_fast(),
    )
    .unwrap()
    .upload;
    let finish = |reset_id: Value| {
        let upload = upload.clone();
        let stack = &stack;
        async move {
            stack
                .post(
                    "/v1/auth/password-reset/finish",
                    None,
                    &json!({ "reset_id": reset_id, "upload": upload }),
                )
                .await
        }
    };
    let response = finish(started["reset_id"].clone()).await;
    assert_eq!(code(response).await, "invalid_or_expired_token");
    // The handle was single use; an unknown one is a ceremony error.
    let response = finish(started["reset_id"].clone()).await;
    assert_eq!(code(response).await, "ceremony_expired");
    assert_eq!(
        stack.login(email, PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );

    // A disabled account gets no mail, and its earlier link stops working.
    sqlx::query("UPDATE password_reset_tokens SET created_at = now() - interval '2 minutes'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(request(&stack, email).await.status(), StatusCode::ACCEPTED);
    let live = next_reset_token(&stack, &mut seen).await;
    sqlx::query("UPDATE users SET status = 'disabled'")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE password_reset_tokens SET created_at = now() - interval '2 minutes'")
        .execute(&pool)
        .await
        .unwrap();
    assert_eq!(request(&stack, email).await.status(), StatusCode::ACCEPTED);
    let audited = requests_audited(&stack, 4).await;
    assert_eq!(
        audited[3],
        ("failure".to_owned(), Some("disabled".to_owned()))
    );
    assert_eq!(reset_mails(&stack).await, 3);
    let (response, _) = start(&stack, &live, NEW_PASSWORD).await;
    assert_eq!(code(response).await, "invalid_or_expired_token");

    // Bad input: no admission token, a malformed address, unknown fields.
    let response = stack
        .post("/v1/auth/password-reset", None, &json!({ "email": email }))
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = request(&stack, "not an address").await;
    assert_eq!(code(response).await, "invalid_email");
    let response = stack
        .post(
            "/v1/auth/password-reset/start",
            None,
            &json!({ "token": live, "request": "x", "extra": 1 }),
        )
        .await;
    assert!(response.status().is_client_error());
}
