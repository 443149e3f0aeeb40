//! Passkeys over HTTP with a software authenticator (webauthn-authenticator-rs): register,
//! list, rename, log in with the passkey alone, and the refusals: wrong origin, wrong RP id,
//! replayed assertion, cloned authenticator, deleted credential, unknown email. With TOTP on,
//! a passkey login also ends at the MFA step.

use reqwest::StatusCode;
use serde_json::{Value, json};
use url::Url;
use webauthn_authenticator_rs::{WebauthnAuthenticator, softpasskey::SoftPasskey};
use webauthn_rs_proto::{CreationChallengeResponse, RequestChallengeResponse};

use crate::{
    auth::{Stack, code},
    mfa::{cookie, enable_totp, post},
    session::{get, logged_in},
};

const CONSOLE: &str = "http://localhost:8080";

fn origin(text: &str) -> Url {
    Url::parse(text).unwrap()
}

/// Registers a passkey on `authenticator` for the session; returns its id.
async fn register(
    stack: &Stack,
    session: &str,
    authenticator: &mut SoftPasskey,
    name: &str,
) -> String {
    let started = post(
        stack,
        "/v1/me/passkeys/register/start",
        &[session],
        None,
        &json!({}),
    )
    .await;
    assert_eq!(started.status(), StatusCode::OK);
    let started: Value = started.json().await.unwrap();
    let options: CreationChallengeResponse =
        serde_json::from_value(started["options"].clone()).unwrap();
    let credential = authenticator
        .do_registration(origin(CONSOLE), options)
        .unwrap();
    let finished = post(
        stack,
        "/v1/me/passkeys/register/finish",
        &[session],
        None,
        &json!({
            "ceremony_id": started["ceremony_id"],
            "name": name,
            "credential": serde_json::to_value(&credential).unwrap(),
        }),
    )
    .await;
    assert_eq!(finished.status(), StatusCode::CREATED);
    finished.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Starts a passkey login (with an email, or discoverable); returns the ceremony id and options.
async fn login_start(
    stack: &Stack,
    email: Option<&str>,
) -> (String, RequestChallengeResponse, Value) {
    let token = stack.admission("passkey_login").await;
    let started = post(
        stack,
        "/v1/auth/passkey/start",
        &[],
        Some(&token),
        &json!({ "email": email }),
    )
    .await;
    assert_eq!(started.status(), StatusCode::OK);
    let started: Value = started.json().await.unwrap();
    let options = serde_json::from_value(started["options"].clone()).unwrap();
    (
        started["ceremony_id"].as_str().unwrap().to_owned(),
        options,
        started["options"].clone(),
    )
}

async fn login_finish(stack: &Stack, ceremony: &str, credential: &Value) -> reqwest::Response {
    post(
        stack,
        "/v1/auth/passkey/finish",
        &[],
        None,
        &json!({ "ceremony_id": ceremony, "credential": credential }),
    )
    .await
}

/// A whole passkey login from `at`; returns the finish response.
async fn passkey_login(
    stack: &Stack,
    email: &str,
    authenticator: &mut SoftPasskey,
    at: &str,
) -> reqwest::Response {
    let (ceremony, options, _) = login_start(stack, Some(email)).await;
    let assertion = authenticator
        .do_authentication(origin(at), options)
        .unwrap();
    login_finish(stack, &ceremony, &serde_json::to_value(&assertion).unwrap()).await
}

async fn failure_reasons(stack: &Stack) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT detail::jsonb->>'reason' FROM security_events WHERE action = 'auth.passkey' \
         ORDER BY id",
    )
    .fetch_all(&stack.pool().await)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_passkey_alone_logs_in_once_per_assertion() {
    let stack = Stack::start().await;
    let email = "pk.ada@example.com";
    let session = logged_in(&stack, email).await;
    let mut authenticator = SoftPasskey::new(true);
    let id = register(&stack, &session, &mut authenticator, "Laptop key").await;
    let listed: Value = get(&stack, "/v1/me/passkeys", Some(&session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed[0]["name"], "Laptop key");
    assert_eq!(listed[0]["last_used_at"], Value::Null);
    let renamed = reqwest::Client::new()
        .patch(stack.permesi.url(&format!("/v1/me/passkeys/{id}")))
        .header("cookie", &session)
        .json(&json!({ "name": "Blue key" }))
        .send()
        .await
        .unwrap();
    assert_eq!(renamed.status(), StatusCode::NO_CONTENT);
    let bad_name = reqwest::Client::new()
        .patch(stack.permesi.url(&format!("/v1/me/passkeys/{id}")))
        .header("cookie", &session)
        .json(&json!({ "name": "" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_name.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // The passkey alone logs in.
    let done = passkey_login(&stack, email, &mut authenticator, CONSOLE).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    let passkey_session = cookie(&done, "__Host-permesi_session").unwrap();
    let me: Value = get(&stack, "/v1/me", Some(&passkey_session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], email);
    let sessions: Value = get(&stack, "/v1/me/sessions", Some(&passkey_session))
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
    assert_eq!(current["auth_methods"], json!(["hwk"]));

    // A replayed assertion: its ceremony is spent, and a new ceremony has a new challenge.
    let (ceremony, options, _) = login_start(&stack, Some(email)).await;
    let assertion = serde_json::to_value(
        authenticator
            .do_authentication(origin(CONSOLE), options)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        login_finish(&stack, &ceremony, &assertion).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        code(login_finish(&stack, &ceremony, &assertion).await).await,
        "authentication_failed"
    );
    let (other, _, _) = login_start(&stack, Some(email)).await;
    assert_eq!(
        code(login_finish(&stack, &other, &assertion).await).await,
        "authentication_failed"
    );

    assert_eq!(
        failure_reasons(&stack).await,
        // A spent or unknown ceremony is refused without a record (anyone can send those).
        ["wrong_challenge"]
    );
    let renamed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'passkey.renamed'")
            .fetch_one(&stack.pool().await)
            .await
            .unwrap();
    assert_eq!(renamed, 1);
}

#[tokio::test]
async fn foreign_origins_rp_ids_clones_and_deleted_credentials_are_refused_and_audited() {
    let stack = Stack::start().await;
    let email = "pk.eve@example.com";
    let session = logged_in(&stack, email).await;
    let mut authenticator = SoftPasskey::new(true);
    let id = register(&stack, &session, &mut authenticator, "Key").await;
    // Another origin than the console's, and another RP id on an allowed origin.
    let evil = passkey_login(&stack, email, &mut authenticator, "https://evil.localhost").await;
    assert_eq!(evil.status(), StatusCode::UNAUTHORIZED);
    let (ceremony, mut options, _) = login_start(&stack, Some(email)).await;
    options.public_key.rp_id = "permesi.localhost".to_owned();
    let assertion = authenticator
        .do_authentication(origin("https://permesi.localhost"), options)
        .unwrap();
    let wrong_rp = login_finish(
        &stack,
        &ceremony,
        &serde_json::to_value(&assertion).unwrap(),
    )
    .await;
    assert_eq!(wrong_rp.status(), StatusCode::UNAUTHORIZED);

    // A cloned authenticator: the stored counter is ahead of what the authenticator signs.
    sqlx::query(
        "UPDATE passkeys SET passkey = jsonb_set(passkey, '{cred,counter}', '100000') WHERE id = $1::uuid",
    )
    .bind(&id)
    .execute(&stack.pool().await)
    .await
    .unwrap();
    let cloned = passkey_login(&stack, email, &mut authenticator, CONSOLE).await;
    assert_eq!(cloned.status(), StatusCode::UNAUTHORIZED);

    // A deleted credential no longer logs in, even with options fetched before deletion.
    let (ceremony, options, _) = login_start(&stack, Some(email)).await;
    let deleted = reqwest::Client::new()
        .delete(stack.permesi.url(&format!("/v1/me/passkeys/{id}")))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let assertion = authenticator
        .do_authentication(origin(CONSOLE), options)
        .unwrap();
    let gone = login_finish(
        &stack,
        &ceremony,
        &serde_json::to_value(&assertion).unwrap(),
    )
    .await;
    assert_eq!(gone.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(
        failure_reasons(&stack).await,
        [
            "wrong_origin",
            "wrong_rp_id",
            "counter_regression",
            "unknown_credential",
        ]
    );
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE action LIKE 'passkey.%' ORDER BY seq",
    )
    .fetch_all(&stack.pool().await)
    .await
    .unwrap();
    assert_eq!(actions, ["passkey.registered", "passkey.deleted"]);
}

#[tokio::test]
async fn unknown_emails_get_options_shaped_like_a_real_accounts() {
    let stack = Stack::start().await;
    let email = "pk.known@example.com";
    let session = logged_in(&stack, email).await;
    register(&stack, &session, &mut SoftPasskey::new(true), "Key").await;
    let (_, _, known) = login_start(&stack, Some(email)).await;
    // Every member but the credential list has the same names for any address.
    let keys = |v: &Value| {
        let mut k: Vec<String> = v["publicKey"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "allowCredentials")
            .cloned()
            .collect();
        k.sort();
        k
    };
    let credentials = |v: &Value| {
        v["publicKey"]["allowCredentials"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(credentials(&known).len(), 1);
    // Fake lists follow the spread of real accounts (about one in seven has no passkey), so
    // several addresses are asked; each always gets the same list, with a fresh challenge.
    let mut faked = 0;
    for i in 0..12 {
        let address = format!("pk.nobody{i}@example.com");
        let (_, _, unknown) = login_start(&stack, Some(&address)).await;
        let (_, _, again) = login_start(&stack, Some(&address)).await;
        assert_eq!(keys(&known), keys(&unknown));
        assert_eq!(
            credentials(&unknown),
            credentials(&again),
            "the same address always gets the same fake credentials"
        );
        assert_ne!(
            unknown["publicKey"]["challenge"],
            again["publicKey"]["challenge"]
        );
        faked += usize::from(!credentials(&unknown).is_empty());
    }
    assert!(faked > 0, "fake credential ids are offered");
    // Discoverable: no email, no credentials listed.
    let (_, _, discoverable) = login_start(&stack, None).await;
    assert!(
        discoverable["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(Vec::is_empty)
    );
    // Malformed answers are 400, not 500.
    let (ceremony, _, _) = login_start(&stack, Some(email)).await;
    let malformed = login_finish(&stack, &ceremony, &json!({ "id": "x" })).await;
    assert_eq!(code(malformed).await, "malformed");
}

#[tokio::test]
async fn with_totp_on_a_passkey_login_also_needs_the_second_factor() {
    let stack = Stack::start().await;
    let email = "pk.mfa@example.com";
    let session = logged_in(&stack, email).await;
    let mut authenticator = SoftPasskey::new(true);
    register(&stack, &session, &mut authenticator, "Key").await;
    let (_, _, recovery) = enable_totp(&stack, &session).await;
    let response = passkey_login(&stack, email, &mut authenticator, CONSOLE).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(cookie(&response, "__Host-permesi_session").is_none());
    let challenge = cookie(&response, "permesi_mfa").unwrap();
    let done = crate::mfa::second_factor(&stack, &challenge, "recovery", &recovery[0]).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
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
    assert_eq!(current["auth_methods"], json!(["otp", "hwk", "mfa"]));
}

#[tokio::test]
async fn a_discoverable_passkey_names_its_user_and_logs_in_without_an_email() {
    let stack = Stack::start().await;
    let email = "pk.usernameless@example.com";
    let session = logged_in(&stack, email).await;
    let mut authenticator = SoftPasskey::new(true);
    register(&stack, &session, &mut authenticator, "Phone").await;
    let me: Value = get(&stack, "/v1/me", Some(&session))
        .await
        .json()
        .await
        .unwrap();
    let user = uuid::Uuid::parse_str(me["id"].as_str().unwrap()).unwrap();
    let other = logged_in(&stack, "pk.other@example.com").await;
    let other: Value = get(&stack, "/v1/me", Some(&other))
        .await
        .json()
        .await
        .unwrap();
    let other = uuid::Uuid::parse_str(other["id"].as_str().unwrap()).unwrap();

    // The software authenticator keeps no resident keys: it is told its credential id, and the
    // user handle a resident credential returns (not covered by the signature) is added.
    let assertion_for = |handle: uuid::Uuid,
                         options: RequestChallengeResponse,
                         authenticator: &mut SoftPasskey,
                         id: &[u8]| {
        let mut options = options;
        options.public_key.allow_credentials = vec![webauthn_rs_proto::AllowCredentials {
            type_: "public-key".to_owned(),
            id: id.to_vec(),
            transports: None,
        }];
        let mut assertion = serde_json::to_value(
            authenticator
                .do_authentication(origin(CONSOLE), options)
                .unwrap(),
        )
        .unwrap();
        assertion["response"]["userHandle"] = json!(base64_url(handle.as_bytes()));
        assertion
    };
    let credential_id: Vec<u8> = sqlx::query_scalar("SELECT credential_id FROM passkeys")
        .fetch_one(&stack.pool().await)
        .await
        .unwrap();

    let (ceremony, options, _) = login_start(&stack, None).await;
    let foreign = assertion_for(other, options, &mut authenticator, &credential_id);
    assert_eq!(
        code(login_finish(&stack, &ceremony, &foreign).await).await,
        "authentication_failed"
    );
    let (ceremony, options, _) = login_start(&stack, None).await;
    let assertion = assertion_for(user, options, &mut authenticator, &credential_id);
    let done = login_finish(&stack, &ceremony, &assertion).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
    let session = cookie(&done, "__Host-permesi_session").unwrap();
    let me: Value = get(&stack, "/v1/me", Some(&session))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["email"], email);
    assert_eq!(failure_reasons(&stack).await, ["foreign_credential"]);
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[tokio::test]
async fn passkeys_and_totp_survive_a_restart() {
    let mut stack = Stack::start().await;
    let email = "pk.restart@example.com";
    let session = logged_in(&stack, email).await;
    let mut authenticator = SoftPasskey::new(true);
    register(&stack, &session, &mut authenticator, "Key").await;
    let (secret, step, _) = enable_totp(&stack, &session).await;
    stack.restart_permesi().await;
    // The old session is still valid on the new process (it lives in PostgreSQL).
    assert_eq!(
        get(&stack, "/v1/me", Some(&session)).await.status(),
        StatusCode::OK
    );
    let response = passkey_login(&stack, email, &mut authenticator, CONSOLE).await;
    assert_eq!(response.status(), StatusCode::OK);
    let challenge = cookie(&response, "permesi_mfa").unwrap();
    let code = permesi::mfa::totp::code_at(&secret.0, step + 1, permesi::mfa::totp::DIGITS);
    let done = crate::mfa::second_factor(&stack, &challenge, "totp", &code).await;
    assert_eq!(done.status(), StatusCode::NO_CONTENT);
}
