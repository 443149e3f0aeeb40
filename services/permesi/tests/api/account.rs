//! Deleting one's own account: confirmed by the address, refused while an organization or the
//! platform would lose its last keeper, and complete (sessions, credentials, memberships).

use reqwest::{StatusCode, header};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{
    auth::{PASSWORD, Stack, code},
    session::{get, logged_in},
};

async fn send(
    stack: &Stack,
    method: reqwest::Method,
    path: &str,
    cookie: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut request = reqwest::Client::new().request(method, stack.permesi.url(path));
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap()
}

async fn delete_me(stack: &Stack, cookie: Option<&str>, email: &str) -> reqwest::Response {
    send(
        stack,
        reqwest::Method::DELETE,
        "/v1/me",
        cookie,
        Some(json!({ "email": email })),
    )
    .await
}

#[tokio::test]
async fn users_delete_their_account_once_nothing_would_lose_its_last_keeper() {
    let stack = Stack::start().await;
    let email = "dora.leaving@example.com";
    let dora = logged_in(&stack, email).await;
    let id: String = get(&stack, "/v1/me", Some(&dora))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let pool = stack.pool().await;

    // Without a session, or with another address typed, nothing happens.
    let response = delete_me(&stack, None, email).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = delete_me(&stack, Some(&dora), "someone.else@example.com").await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(code(response).await, "confirmation_mismatch");

    // The only owner of an organization cannot leave it ownerless.
    let created = send(
        &stack,
        reqwest::Method::POST,
        "/v1/orgs",
        Some(&dora),
        Some(json!({ "slug": "doras", "name": "Dora's" })),
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let response = delete_me(&stack, Some(&dora), email).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_eq!(code(response).await, "last_owner");

    // Nor can the only platform operator.
    let token = permesi::operators::issue_local_token(&pool, OffsetDateTime::now_utc())
        .await
        .unwrap();
    let claimed = send(
        &stack,
        reqwest::Method::POST,
        "/v1/admin/claim",
        Some(&dora),
        Some(json!({ "token": token })),
    )
    .await;
    assert!(claimed.status().is_success(), "{}", claimed.status());
    let deleted = send(
        &stack,
        reqwest::Method::DELETE,
        "/v1/orgs/doras",
        Some(&dora),
        None,
    )
    .await;
    assert!(deleted.status().is_success(), "{}", deleted.status());
    let response = delete_me(&stack, Some(&dora), email).await;
    assert_eq!(code(response).await, "last_operator");
    sqlx::query("DELETE FROM platform_operators")
        .execute(&pool)
        .await
        .unwrap();

    // Now it goes: the address typed in another case still confirms, every session ends and
    // the cookie is cleared.
    let other = crate::session::login(&stack, email).await;
    let response = delete_me(&stack, Some(&dora), " Dora.Leaving@Example.com ").await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    // `/v1/me/sessions` reads by the session's user id only: a session that outlived the
    // account in the cache would still answer there.
    for cookie in [&dora, &other] {
        let sessions = get(&stack, "/v1/me/sessions", Some(cookie)).await;
        assert_eq!(sessions.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        stack.login(email, PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM users WHERE id = $1::uuid) \
              + (SELECT count(*) FROM sessions WHERE user_id = $1::uuid) \
              + (SELECT count(*) FROM org_members WHERE user_id = $1::uuid)",
    )
    .bind(&id)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(left, 0);
    let (actor, ended): (String, Value) = sqlx::query_as(
        "SELECT actor_id::text, detail::jsonb -> 'sessions_ended' FROM audit_log \
         WHERE action = 'user.deleted'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((actor, ended), (id, json!(2)));
    assert!(crate::audit::audit_verify(&stack).status.success());

    // The address is free again: a new account can be made with it.
    let again = logged_in(&stack, email).await;
    assert_eq!(
        get(&stack, "/v1/me", Some(&again)).await.status(),
        StatusCode::OK
    );
}
