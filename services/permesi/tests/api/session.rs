//! Sessions over HTTP: the cookie login sets, who it says you are, listing and ending sessions,
//! logout, and a new session at every login.

use reqwest::{StatusCode, header};
use serde_json::Value;

use crate::auth::{PASSWORD, Stack, code};

/// Signs up and verifies `email`, then logs in; returns the session cookie pair.
pub async fn logged_in(stack: &Stack, email: &str) -> String {
    assert_eq!(
        stack.signup(email, PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        stack.verify_latest_link().await.status(),
        StatusCode::NO_CONTENT
    );
    login(stack, email).await
}

pub async fn login(stack: &Stack, email: &str) -> String {
    let response = stack.login(email, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let set_cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    set_cookie.split(';').next().unwrap().to_owned()
}

pub async fn get(stack: &Stack, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = reqwest::Client::new().get(stack.permesi.url(path));
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn login_sets_a_locked_down_cookie_that_identifies_the_user() {
    let stack = Stack::start().await;
    assert_eq!(
        stack.signup("hana@example.com", PASSWORD).await.status(),
        StatusCode::ACCEPTED
    );
    assert_eq!(
        stack.verify_latest_link().await.status(),
        StatusCode::NO_CONTENT
    );
    let response = stack.login("hana@example.com", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let set_cookie = response.headers()[header::SET_COOKIE]
        .to_str()
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} missing: {set_cookie}"
        );
    }
    let cookie = set_cookie.split(';').next().unwrap();
    assert!(cookie.starts_with("__Host-permesi_session="));

    let session = get(&stack, "/v1/auth/session", Some(cookie)).await;
    assert_eq!(session.status(), StatusCode::OK);
    assert_eq!(session.headers()[header::CACHE_CONTROL], "no-store");
    let session: Value = session.json().await.unwrap();
    assert_eq!(session["user"]["email"], "hana@example.com");
    assert_eq!(session["user"]["email_verified"], true);

    let me: Value = get(&stack, "/v1/me", Some(cookie))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], "hana@example.com");

    // Without a session: 204 from the session probe, 401 from /v1/me.
    assert_eq!(
        get(&stack, "/v1/auth/session", None).await.status(),
        StatusCode::NO_CONTENT
    );
    let anonymous = get(&stack, "/v1/me", None).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(code(anonymous).await, "unauthenticated");
    // A forged cookie of the right shape is just as anonymous.
    let forged = format!("__Host-permesi_session={}", "a".repeat(64));
    assert_eq!(
        get(&stack, "/v1/me", Some(&forged)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn sessions_are_listed_and_ended_one_by_one_or_by_logout() {
    let stack = Stack::start().await;
    let first = logged_in(&stack, "ivan@example.com").await;
    let second = login(&stack, "ivan@example.com").await;
    assert_ne!(first, second, "every login gets a new session");

    let lines: Value = get(&stack, "/v1/me/sessions", Some(&second))
        .await
        .json()
        .await
        .unwrap();
    let lines = lines.as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines.iter().filter(|l| l["current"] == true).count(), 1);
    let other = lines.iter().find(|l| l["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        !lines.iter().any(|l| l.to_string().contains(&first[16..])),
        "no secret listed"
    );

    let client = reqwest::Client::new();
    let end = |id: String, cookie: String| {
        let client = client.clone();
        let url = stack.permesi.url(&format!("/v1/me/sessions/{id}"));
        async move {
            client
                .delete(url)
                .header(header::COOKIE, cookie)
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(
        end(other.clone(), second.clone()).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        get(&stack, "/v1/me", Some(&first)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // Unknown ids, and ids of sessions already ended, are not found.
    assert_eq!(
        end(other, second.clone()).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        end(uuid::Uuid::new_v4().to_string(), second.clone())
            .await
            .status(),
        StatusCode::NOT_FOUND
    );

    let logout = client
        .post(stack.permesi.url("/v1/auth/logout"))
        .header(header::COOKIE, &second)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    assert!(
        logout.headers()[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(
        get(&stack, "/v1/me", Some(&second)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn another_users_session_cannot_be_ended() {
    let stack = Stack::start().await;
    let judy = logged_in(&stack, "judy@example.com").await;
    let karl = logged_in(&stack, "karl@example.com").await;
    let karls: Value = get(&stack, "/v1/me/sessions", Some(&karl))
        .await
        .json()
        .await
        .unwrap();
    let karls_id = karls[0]["id"].as_str().unwrap();
    let response = reqwest::Client::new()
        .delete(stack.permesi.url(&format!("/v1/me/sessions/{karls_id}")))
        .header(header::COOKIE, &judy)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        get(&stack, "/v1/me", Some(&karl)).await.status(),
        StatusCode::OK
    );
}

async fn change_password(stack: &Stack, cookie: &str, new_password: &[u8]) -> reqwest::Response {
    use opaque::client::{self as oc, Params};
    let client = reqwest::Client::new();
    let (state, request) = oc::registration_start(new_password).unwrap();
    let started = client
        .post(stack.permesi.url("/v1/me/password/start"))
        .header(header::COOKIE, cookie)
        .json(&serde_json::json!({ "request": request }))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), StatusCode::OK);
    let started: Value = started.json().await.unwrap();
    let upload = oc::registration_finish_with(
        state,
        started["response"].as_str().unwrap(),
        new_password,
        Params::insecure_fast(),
    )
    .unwrap()
    .upload;
    client
        .post(stack.permesi.url("/v1/me/password/finish"))
        .header(header::COOKIE, cookie)
        .json(&serde_json::json!({ "change_id": started["change_id"], "upload": upload }))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_password_change_re_registers_and_ends_the_other_sessions() {
    let stack = Stack::start().await;
    let laptop = logged_in(&stack, "lena@example.com").await;
    let phone = login(&stack, "lena@example.com").await;

    let changed = change_password(&stack, &phone, b"a brand new passphrase").await;
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);

    // This session stays, every other one ends.
    assert_eq!(
        get(&stack, "/v1/me", Some(&phone)).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        get(&stack, "/v1/me", Some(&laptop)).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The old password no longer works; the new one does.
    let old = stack.login("lena@example.com", PASSWORD).await;
    assert_eq!(old.status(), StatusCode::UNAUTHORIZED);
    let new = stack
        .login("lena@example.com", b"a brand new passphrase")
        .await;
    assert_eq!(new.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_password_change_needs_a_session_and_its_own_ceremony() {
    let stack = Stack::start().await;
    let mona = logged_in(&stack, "mona@example.com").await;
    let nils = logged_in(&stack, "nils@example.com").await;
    let client = reqwest::Client::new();

    let (_, request) = opaque::client::registration_start(b"x").unwrap();
    let anonymous = client
        .post(stack.permesi.url("/v1/me/password/start"))
        .json(&serde_json::json!({ "request": request }))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // Mona starts a change; Nils cannot finish it with his session.
    let started: Value = client
        .post(stack.permesi.url("/v1/me/password/start"))
        .header(header::COOKIE, &mona)
        .json(&serde_json::json!({ "request": request }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hijack = client
        .post(stack.permesi.url("/v1/me/password/finish"))
        .header(header::COOKIE, &nils)
        .json(&serde_json::json!({ "change_id": started["change_id"], "upload": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(hijack.status(), StatusCode::BAD_REQUEST);
    assert_eq!(code(hijack).await, "ceremony_expired");
    // Nothing changed for either.
    assert_eq!(
        stack.login("mona@example.com", PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        stack.login("nils@example.com", PASSWORD).await.status(),
        StatusCode::NO_CONTENT
    );
}
