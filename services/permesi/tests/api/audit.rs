//! Every auth event lands in the audit log, without secrets, in a chain that
//! `permesi audit verify` checks and that breaks when a row is changed.

use std::process::Command;

use reqwest::{StatusCode, header};
use sqlx::Row;

use crate::{
    auth::{PASSWORD, Stack},
    session::login,
};

/// `(action, outcome, actor_kind, target_kind)` of every entry, oldest first.
async fn entries(stack: &Stack) -> Vec<(String, String, String, Option<String>)> {
    sqlx::query_as("SELECT action, outcome, actor_kind, target_kind FROM audit_log ORDER BY seq")
        .fetch_all(&stack.pool().await)
        .await
        .unwrap()
}

/// `permesi audit verify` on the stack's database and keys.
pub fn audit_verify(stack: &Stack) -> std::process::Output {
    permesi_cli(stack, &["audit", "verify"])
}

/// The `permesi` binary with `args`, on the stack's database and keys.
pub fn permesi_cli(stack: &Stack, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_permesi"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("PERMESI_DATABASE_URL", &stack.database_url)
        .env("PERMESI_KEYS_DIR", stack.keys_dir())
        .env(
            "PERMESI_ADMISSION_PASERK_URL",
            "http://127.0.0.1:9/paserk.json",
        )
        .output()
        .unwrap()
}

fn e(
    action: &str,
    outcome: &str,
    actor: &str,
    target: Option<&str>,
) -> (String, String, String, Option<String>) {
    (
        action.to_owned(),
        outcome.to_owned(),
        actor.to_owned(),
        target.map(str::to_owned),
    )
}

/// The security events (action, outcome, target kind) in a stable order, once there are at
/// least `n` (waits, bounded).
async fn security_events(stack: &Stack, n: usize) -> Vec<(String, String, Option<String>)> {
    let pool = stack.pool().await;
    let mut events = Vec::new();
    for _ in 0..500 {
        events = sqlx::query_as(
            "SELECT action, outcome, target_kind FROM security_events ORDER BY action, outcome, \
             target_kind NULLS FIRST",
        )
        .fetch_all(&pool)
        .await
        .unwrap();
        if events.len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    events
}

#[tokio::test]
async fn auth_events_are_audited_in_order_without_secrets() {
    let stack = Stack::start().await;
    let email = "audit.me@example.com";
    assert_eq!(
        stack.signup(email, PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );
    let token = stack.next_token().await;
    assert_eq!(
        stack.verify("not-a-token").await.status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(stack.verify(&token).await.status(), StatusCode::NO_CONTENT);
    // A signup for the verified address changes nothing but is recorded (and its owner told).
    assert_eq!(
        stack.signup(email, b"another password").await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        stack.login(email, b"wrong password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        stack.login("nobody@example.com", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let cookie = login(&stack, email).await;
    let logout = reqwest::Client::new()
        .post(stack.permesi.url("/v1/auth/logout"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);

    // The chain holds what authenticated principals did; anonymous failures are security
    // events, off the chain and its lock.
    assert_eq!(
        entries(&stack).await,
        [
            e("user.email_verified", "success", "user", Some("user")),
            e("auth.login", "success", "user", Some("session")),
            e("auth.logout", "success", "user", Some("session")),
        ]
    );
    let pool = stack.pool().await;
    // Signups are stored after their answer: wait (bounded) for the second one's record.
    let events = security_events(&stack, 5).await;
    let event =
        |a: &str, o: &str, t: Option<&str>| (a.to_owned(), o.to_owned(), t.map(str::to_owned));
    assert_eq!(
        events,
        [
            // The wrong password names the account; the unknown address cannot.
            event("auth.login", "failure", None),
            event("auth.login", "failure", Some("user")),
            event("user.email_verified", "failure", None),
            event("user.signup", "failure", Some("user")),
            event("user.signup", "success", Some("user")),
        ]
    );
    let rows = sqlx::query(
        "SELECT coalesce(target_id, '') || ' ' || detail || ' ' || coalesce(request_id, '') \
                AS text, host(client_ip) AS ip, request_id FROM audit_log \
         UNION ALL SELECT coalesce(target_id, '') || ' ' || detail || ' ' || \
                coalesce(request_id, ''), host(client_ip), request_id FROM security_events",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for row in rows {
        let text: String = row.get("text");
        for secret in [
            "audit.me",
            "nobody@",
            "horse",
            "wrong password",
            &cookie[16..],
        ] {
            assert!(
                !text.contains(secret),
                "{secret:?} in an audit entry: {text}"
            );
        }
        assert_eq!(
            row.get::<Option<String>, _>("ip").as_deref(),
            Some("127.0.0.1")
        );
        assert!(row.get::<Option<String>, _>("request_id").is_some());
    }
    let out = audit_verify(&stack);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .starts_with("audit log intact: 3 entries; head 3 "),
    );
}

#[tokio::test]
async fn audit_verify_names_the_first_changed_or_deleted_entry() {
    let stack = Stack::start().await;
    let email = "tamper@example.com";
    stack.signup(email, PASSWORD).await;
    stack.verify_latest_link().await;
    login(&stack, email).await;
    let pool = stack.pool().await;
    // The service cannot change an entry: the table refuses it.
    let refused = sqlx::query("UPDATE audit_log SET outcome = 'failure' WHERE seq = 2")
        .execute(&pool)
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("append-only"));
    // Someone with the table owner's powers can; verification finds it.
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("UPDATE audit_log SET outcome = 'failure' WHERE seq = 2")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let out = audit_verify(&stack);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("audit log broken at entry 2: entry changed"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_log WHERE seq = 1")
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let out = audit_verify(&stack);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("audit log broken at entry 1: entry missing"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
