//! permesi as an OpenID Provider, end to end: the `openidconnect` crate (a relying-party
//! library written by others) logs a user in through the console's contract, verifies the
//! tokens, reads userinfo, refreshes and logs out; then the adversarial cases.
#![allow(clippy::too_many_lines)] // each scenario reads top to bottom, like the flow it drives

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::Signer as _;
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndSessionUrl, IssuerUrl, LogoutRequest,
    Nonce, OAuth2TokenResponse, PkceCodeChallenge, PostLogoutRedirectUrl, RedirectUrl, Scope,
    TokenResponse,
    core::{
        CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata,
        CoreUserInfoClaims,
    },
};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::{auth::Stack, session::logged_in};

const REDIRECT: &str = "http://127.0.0.1:9/callback";
const LOGGED_OUT: &str = "http://127.0.0.1:9/logged-out";

/// A browser: keeps no cookies of its own (the test passes the session cookie), follows no
/// redirects (each hop is checked).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct App {
    client_id: String,
    secret: String,
}

/// Org `acme`, project `shop`, environment `prod`, made by the user behind `cookie`.
async fn tenant(stack: &Stack, cookie: &str) {
    let http = reqwest::Client::new();
    for (path, body) in [
        ("/v1/orgs", json!({ "slug": "acme", "name": "Acme" })),
        (
            "/v1/orgs/acme/projects",
            json!({ "slug": "shop", "name": "Shop" }),
        ),
        (
            "/v1/orgs/acme/projects/shop/environments",
            json!({ "slug": "prod", "name": "Prod", "tier": "production" }),
        ),
    ] {
        let r = http
            .post(stack.permesi.url(path))
            .header(header::COOKIE, cookie)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED, "{path}");
    }
}

async fn application(stack: &Stack, cookie: &str, slug: &str, grants: &[&str]) -> App {
    let created: Value = reqwest::Client::new()
        .post(
            stack
                .permesi
                .url("/v1/orgs/acme/projects/shop/environments/prod/applications"),
        )
        .header(header::COOKIE, cookie)
        .json(&json!({
            "slug": slug, "name": format!("App {slug}"), "client_type": "confidential",
            "redirect_uris": [REDIRECT], "post_logout_redirect_uris": [LOGGED_OUT],
            "allowed_scopes": ["openid", "email", "profile", "offline_access", "api:read"],
            "grant_types": grants,
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    App {
        client_id: created["application"]["client_id"]
            .as_str()
            .unwrap()
            .to_owned(),
        secret: created["client_secret"].as_str().unwrap().to_owned(),
    }
}

/// A logged-in user who owns `acme` and its application `web`.
async fn setup(stack: &Stack) -> (String, App) {
    let cookie = logged_in(stack, "rp-user@example.com").await;
    tenant(stack, &cookie).await;
    let app = application(
        stack,
        &cookie,
        "web",
        &["authorization_code", "refresh_token"],
    )
    .await;
    (cookie, app)
}

async fn location(http: &reqwest::Client, url: &str, cookie: Option<&str>) -> String {
    let mut request = http.get(url);
    if let Some(cookie) = cookie {
        request = request.header(header::COOKIE, cookie);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND, "{url}");
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_owned()
}

fn query(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The console's consent page: approve the request the browser was sent with.
async fn approve(stack: &Stack, cookie: &str, consent_url: &str) -> String {
    assert!(consent_url.starts_with("http://localhost:8080/consent?request="));
    let id = &query(consent_url)["request"];
    let http = reqwest::Client::new();
    let view: Value = http
        .get(stack.permesi.url(&format!("/v1/oauth/requests/{id}")))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(view["application"].as_str().unwrap().starts_with("App "));
    assert_eq!(view["consent_required"], true);
    let next: Value = http
        .post(
            stack
                .permesi
                .url(&format!("/v1/oauth/requests/{id}/consent")),
        )
        .header(header::COOKIE, cookie)
        .json(&json!({ "approve": true }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    next["redirect_to"].as_str().unwrap().to_owned()
}

async fn rp(
    stack: &Stack,
    app: &App,
) -> (
    CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    reqwest::Client,
) {
    let http = browser();
    let metadata =
        CoreProviderMetadata::discover_async(IssuerUrl::new(stack.permesi.url("")).unwrap(), &http)
            .await
            .unwrap();
    let client = CoreClient::from_provider_metadata(
        metadata,
        ClientId::new(app.client_id.clone()),
        Some(ClientSecret::new(app.secret.clone())),
    )
    .set_redirect_uri(RedirectUrl::new(REDIRECT.to_owned()).unwrap());
    (client, http)
}

#[tokio::test]
async fn a_standard_relying_party_logs_in_refreshes_reads_userinfo_and_logs_out() {
    let stack = Stack::start().await;
    let (cookie, app) = setup(&stack).await;
    // Configured only with the issuer, client id, secret and redirect URI.
    let (client, http) = rp(&stack, &app).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (auth_url, csrf, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_owned()))
        .add_scope(Scope::new("offline_access".to_owned()))
        .set_pkce_challenge(challenge)
        .url();

    // Not logged in: to the console's login page, then back (resume) once logged in.
    let login = location(&http, auth_url.as_str(), None).await;
    assert!(
        login.starts_with("http://localhost:8080/login?request="),
        "{login}"
    );
    let request = &query(&login)["request"];
    let resume = stack
        .permesi
        .url(&format!("/oauth/authorize?request={request}"));
    let consent = location(&http, &resume, Some(&cookie)).await;
    let back = approve(&stack, &cookie, &consent).await;
    let callback = location(&http, &back, Some(&cookie)).await;
    assert!(callback.starts_with(REDIRECT), "{callback}");
    let params = query(&callback);
    assert_eq!(&params["state"], csrf.secret());
    assert_eq!(params["iss"], stack.permesi.url(""));

    let tokens = client
        .exchange_code(AuthorizationCode::new(params["code"].clone()))
        .unwrap()
        .set_pkce_verifier(verifier)
        .request_async(&http)
        .await
        .unwrap();
    let id_token = tokens.id_token().unwrap();
    let claims = id_token
        .claims(&client.id_token_verifier(), &nonce)
        .unwrap();
    assert_eq!(
        *id_token.signing_alg().unwrap(),
        CoreJwsSigningAlgorithm::EdDsa
    );
    assert_eq!(
        claims.email().map(|e| e.as_str()),
        Some("rp-user@example.com")
    );
    assert_eq!(claims.email_verified(), Some(true));
    assert!(claims.auth_time().is_some());
    let amr: Vec<String> = claims
        .auth_method_refs()
        .unwrap()
        .iter()
        .map(|m| m.to_string())
        .collect();
    assert_eq!(amr, ["pwd"]);
    assert_eq!(
        claims.auth_context_ref().map(|a| a.as_str()),
        Some("urn:permesi:acr:pwd")
    );
    let me: Value = reqwest::Client::new()
        .get(stack.permesi.url("/v1/me"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(claims.subject().as_str(), me["id"].as_str().unwrap());

    // The access token is an RFC 9068 JWT with our kid.
    let access = tokens.access_token().secret();
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(access.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        (&header["typ"], &header["alg"]),
        (&json!("at+jwt"), &json!("EdDSA"))
    );
    let jwks: Value = http
        .get(stack.permesi.url("/oauth/jwks"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kid"], header["kid"]);

    let info: CoreUserInfoClaims = client
        .user_info(
            tokens.access_token().clone(),
            Some(claims.subject().clone()),
        )
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    assert_eq!(
        info.email().map(|e| e.as_str()),
        Some("rp-user@example.com")
    );

    // Refresh: a new refresh token every time; the ID token is issued again.
    let first_refresh = tokens.refresh_token().unwrap().clone();
    let refreshed = client
        .exchange_refresh_token(&first_refresh)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();
    let second_refresh = refreshed.refresh_token().unwrap().clone();
    assert_ne!(second_refresh.secret(), first_refresh.secret());
    assert!(refreshed.id_token().is_some());
    let _: CoreUserInfoClaims = client
        .user_info(refreshed.access_token().clone(), None)
        .unwrap()
        .request_async(&http)
        .await
        .unwrap();

    // Consent is remembered: the next authorization goes straight back with a code.
    let (challenge, _) = PkceCodeChallenge::new_random_sha256();
    let (again, _, _) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .add_scope(Scope::new("email".to_owned()))
        .set_pkce_challenge(challenge)
        .url();
    let direct = location(&http, again.as_str(), Some(&cookie)).await;
    assert!(direct.starts_with(REDIRECT) && query(&direct).contains_key("code"));

    // RP-initiated logout ends the session and goes to the registered URI with the state.
    let logout =
        LogoutRequest::from(EndSessionUrl::new(stack.permesi.url("/oauth/logout")).unwrap())
            .set_id_token_hint(id_token)
            .set_post_logout_redirect_uri(
                PostLogoutRedirectUrl::new(LOGGED_OUT.to_owned()).unwrap(),
            )
            .set_state(CsrfToken::new("bye".to_owned()))
            .http_get_url();
    let response = http
        .get(logout.as_str())
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(
        response.headers()[header::LOCATION],
        format!("{LOGGED_OUT}?state=bye").as_str()
    );
    let session = http
        .get(stack.permesi.url("/v1/auth/session"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), StatusCode::NO_CONTENT);

    // Consent is revocable: withdrawing it revokes the refresh tokens.
    let cookie = crate::session::login(&stack, "rp-user@example.com").await;
    let consents: Value = http
        .get(stack.permesi.url("/v1/me/consents"))
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(consents[0]["client_id"], app.client_id.as_str());
    let withdrawn = http
        .delete(
            stack
                .permesi
                .url(&format!("/v1/me/consents/{}", app.client_id)),
        )
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(withdrawn.status(), StatusCode::NO_CONTENT);
    assert!(
        client
            .exchange_refresh_token(&second_refresh)
            .unwrap()
            .request_async(&http)
            .await
            .is_err()
    );

    let pool = stack.pool().await;
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_log WHERE action LIKE 'oauth.%' ORDER BY seq")
            .fetch_all(&pool)
            .await
            .unwrap();
    for expected in [
        "oauth.consent_granted",
        "oauth.code_issued",
        "oauth.token_issued",
        "oauth.logout",
        "oauth.consent_revoked",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "{expected}: {actions:?}"
        );
    }
}

/// An authorization URL for `app` with these extra or replaced parameters.
fn authorize_url(stack: &Stack, app: &App, params: &[(&str, &str)]) -> String {
    let mut all: Vec<(&str, &str)> = vec![
        ("client_id", &app.client_id),
        ("redirect_uri", REDIRECT),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "st8"),
        (
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        ),
        ("code_challenge_method", "S256"),
    ];
    for (k, v) in params {
        all.retain(|(name, _)| name != k);
        if !v.is_empty() {
            all.push((k, v));
        }
    }
    let mut url = url::Url::parse(&stack.permesi.url("/oauth/authorize")).unwrap();
    url.query_pairs_mut().extend_pairs(all);
    url.to_string()
}

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

/// A code for `app` (consent given on the way when needed).
async fn code(stack: &Stack, cookie: &str, app: &App, scope: &str) -> String {
    let http = browser();
    let mut to = location(
        &http,
        &authorize_url(stack, app, &[("scope", scope)]),
        Some(cookie),
    )
    .await;
    if to.contains("/consent?") {
        let back = approve(stack, cookie, &to).await;
        to = location(&http, &back, Some(cookie)).await;
    }
    query(&to)["code"].clone()
}

async fn token(stack: &Stack, app: &App, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(stack.permesi.url("/oauth/token"))
        .basic_auth(&app.client_id, Some(&app.secret))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    (status, response.json().await.unwrap())
}

async fn exchange(stack: &Stack, app: &App, code: &str, verifier: &str) -> (StatusCode, Value) {
    token(
        stack,
        app,
        &[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", verifier),
        ],
    )
    .await
}

async fn introspect(stack: &Stack, app: &App, token: &str) -> Value {
    reqwest::Client::new()
        .post(stack.permesi.url("/oauth/introspect"))
        .basic_auth(&app.client_id, Some(&app.secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn bad_authorization_requests_are_shown_or_answered_at_the_redirect_uri() {
    let stack = Stack::start().await;
    let (cookie, app) = setup(&stack).await;
    let http = browser();
    // Unknown client, or a redirect URI off by one character: shown, never redirected.
    for params in [
        vec![("client_id", "nope")],
        vec![("client_id", "nope\0")],
        vec![("redirect_uri", "http://127.0.0.1:9/callbacK")],
        vec![("redirect_uri", "http://127.0.0.1:9/callback/")],
        vec![("redirect_uri", "")],
    ] {
        let response = http
            .get(authorize_url(&stack, &app, &params))
            .header(header::COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{params:?}");
        assert!(response.headers().get(header::LOCATION).is_none());
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request");
    }
    // Everything else goes back to the client with the state.
    for (params, error) in [
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("scope", "openid admin")], "invalid_scope"),
        (vec![("prompt", "none login")], "invalid_request"),
        (vec![("max_age", "-1")], "invalid_request"),
        (vec![("nonce", "n\0")], "invalid_request"),
    ] {
        let to = location(&http, &authorize_url(&stack, &app, &params), Some(&cookie)).await;
        let q = query(&to);
        assert!(to.starts_with(REDIRECT), "{to}");
        assert_eq!(
            (q["error"].as_str(), q["state"].as_str()),
            (error, "st8"),
            "{params:?}"
        );
    }
    // prompt=none: no session, then no consent.
    let to = location(
        &http,
        &authorize_url(&stack, &app, &[("prompt", "none")]),
        None,
    )
    .await;
    assert_eq!(query(&to)["error"], "login_required");
    let to = location(
        &http,
        &authorize_url(&stack, &app, &[("prompt", "none")]),
        Some(&cookie),
    )
    .await;
    assert_eq!(query(&to)["error"], "consent_required");
    // prompt=login sends a logged-in user to the login page; so does max_age=0 later on.
    let to = location(
        &http,
        &authorize_url(
            &stack,
            &app,
            &[("prompt", "login"), ("login_hint", "a@b.c")],
        ),
        Some(&cookie),
    )
    .await;
    assert!(
        to.starts_with("http://localhost:8080/login?request="),
        "{to}"
    );
    assert_eq!(query(&to)["login_hint"], "a@b.c");
    // A denied consent goes back as access_denied.
    let consent = location(&http, &authorize_url(&stack, &app, &[]), Some(&cookie)).await;
    let id = query(&consent)["request"].clone();
    let next: Value = reqwest::Client::new()
        .post(
            stack
                .permesi
                .url(&format!("/v1/oauth/requests/{id}/consent")),
        )
        .header(header::COOKIE, &cookie)
        .json(&json!({ "approve": false }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let denied = query(next["redirect_to"].as_str().unwrap());
    assert_eq!(
        (denied["error"].as_str(), denied["state"].as_str()),
        ("access_denied", "st8")
    );
}

#[tokio::test]
async fn codes_are_single_use_pkce_bound_and_short_lived() {
    let stack = Stack::start().await;
    let (cookie, app) = setup(&stack).await;

    // Wrong verifier: refused, and the code is burnt.
    let c = code(&stack, &cookie, &app, "openid offline_access").await;
    let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj";
    let (status, body) = exchange(&stack, &app, &c, wrong).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _) = exchange(&stack, &app, &c, VERIFIER).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Missing verifier.
    let c = code(&stack, &cookie, &app, "openid offline_access").await;
    let (status, body) = token(
        &stack,
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", REDIRECT),
        ],
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );

    // Reuse: the second exchange fails and revokes what the first one issued.
    let c = code(&stack, &cookie, &app, "openid offline_access").await;
    let (status, first) = exchange(&stack, &app, &c, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let access = first["access_token"].as_str().unwrap();
    let refresh = first["refresh_token"].as_str().unwrap();
    assert_eq!(introspect(&stack, &app, access).await["active"], true);
    assert_eq!(introspect(&stack, &app, refresh).await["active"], true);
    let (status, body) = exchange(&stack, &app, &c, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(introspect(&stack, &app, access).await["active"], false);
    assert_eq!(introspect(&stack, &app, refresh).await["active"], false);
    let (status, _) = token(
        &stack,
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", refresh)],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Expired (60 s): simulated by moving the expiry into the past.
    let c = code(&stack, &cookie, &app, "openid").await;
    let pool = stack.pool().await;
    sqlx::query(
        "UPDATE oauth_codes SET expires_at = now() - interval '1 second' WHERE consumed_at IS NULL",
    )
    .execute(&pool)
    .await
    .unwrap();
    let (status, body) = exchange(&stack, &app, &c, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );

    // A redirect URI differing from the authorization request's.
    let c = code(&stack, &cookie, &app, "openid").await;
    let (status, _) = token(
        &stack,
        &app,
        &[
            ("grant_type", "authorization_code"),
            ("code", &c),
            ("redirect_uri", "http://127.0.0.1:9/callbacK"),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // A wrong client secret: 401 with a challenge, in the OAuth format, not cached.
    let c = code(&stack, &cookie, &app, "openid").await;
    let response = reqwest::Client::new()
        .post(stack.permesi.url("/oauth/token"))
        .basic_auth(&app.client_id, Some("not-the-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", c.as_str()),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");
    assert!(body["error_description"].is_string());
    // The code was not spent by the failed client authentication.
    let (status, _) = exchange(&stack, &app, &c, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);

    let reuse: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'oauth.code_reuse'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(reuse >= 1);
}

#[tokio::test]
async fn refresh_tokens_rotate_detect_reuse_and_tolerate_a_lost_response() {
    let stack = Stack::start().await;
    let (cookie, app) = setup(&stack).await;
    let c = code(&stack, &cookie, &app, "openid offline_access").await;
    let (_, first) = exchange(&stack, &app, &c, VERIFIER).await;
    let r0 = first["refresh_token"].as_str().unwrap().to_owned();
    let refresh = |t: String| {
        let stack = &stack;
        let app = &app;
        async move {
            token(
                stack,
                app,
                &[("grant_type", "refresh_token"), ("refresh_token", &t)],
            )
            .await
        }
    };

    // Two tabs refresh with the same token at once: both succeed, with the same successor.
    let (a, b) = tokio::join!(refresh(r0.clone()), refresh(r0.clone()));
    assert_eq!((a.0, b.0), (StatusCode::OK, StatusCode::OK), "{a:?} {b:?}");
    let r1 = a.1["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(b.1["refresh_token"].as_str().unwrap(), r1);
    assert_ne!(r1, r0);

    // Using the successor moves on; presenting r0 again is now reuse: the family is revoked.
    let (status, next) = refresh(r1.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let r2 = next["refresh_token"].as_str().unwrap().to_owned();
    let (status, body) = refresh(r0.clone()).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, _) = refresh(r2.clone()).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "the newest token died with its family"
    );
    assert_eq!(
        introspect(&stack, &app, next["access_token"].as_str().unwrap()).await["active"],
        false
    );

    // Outside the retry window a lost response is reuse too.
    let c = code(&stack, &cookie, &app, "openid offline_access").await;
    let (_, fresh) = exchange(&stack, &app, &c, VERIFIER).await;
    let s0 = fresh["refresh_token"].as_str().unwrap().to_owned();
    let (status, _) = refresh(s0.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let pool = stack.pool().await;
    sqlx::query("UPDATE oauth_refresh_tokens SET used_at = used_at - interval '31 seconds' WHERE used_at IS NOT NULL")
        .execute(&pool)
        .await
        .unwrap();
    let (status, _) = refresh(s0).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let reuse: i64 =
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = 'oauth.refresh_reuse'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(reuse, 2);
    // No token value is ever in the audit log.
    let details: Vec<String> = sqlx::query_scalar("SELECT detail::text FROM audit_log")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert!(details.iter().all(|d| !d.contains(&r0) && !d.contains(&r1)));
}

fn assertion(key: &ed25519_dalek::SigningKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = key.sign(input.as_bytes()).to_bytes();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

#[tokio::test]
async fn machine_clients_private_key_jwt_introspection_and_revocation() {
    let stack = Stack::start().await;
    let (cookie, web) = setup(&stack).await;
    let svc = application(&stack, &cookie, "svc", &["client_credentials"]).await;
    // Its Ed25519 public key for private_key_jwt, registered before its first token request
    // (the token endpoint caches a client for a few seconds).
    let key = ed25519_dalek::SigningKey::from_bytes(&[42; 32]);
    let jwks = json!({ "keys": [{
        "kty": "OKP", "crv": "Ed25519", "kid": "k1",
        "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
    }]});
    let pool = stack.pool().await;
    sqlx::query("UPDATE applications SET jwks = $1 WHERE client_id = $2")
        .bind(&jwks)
        .bind(&svc.client_id)
        .execute(&pool)
        .await
        .unwrap();

    // client_secret_post; user scopes are refused without a user.
    let post = |scope: &'static str| {
        let stack = &stack;
        let svc = &svc;
        async move {
            let r = reqwest::Client::new()
                .post(stack.permesi.url("/oauth/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", svc.client_id.as_str()),
                    ("client_secret", svc.secret.as_str()),
                    ("scope", scope),
                ])
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }
    };
    let (status, issued) = post("api:read").await;
    assert_eq!(status, StatusCode::OK, "{issued}");
    assert_eq!(issued["scope"], "api:read");
    assert!(issued.get("refresh_token").is_none() && issued.get("id_token").is_none());
    let (status, body) = post("openid").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_scope"))
    );
    // The web app may not use client_credentials.
    let (status, body) = token(&stack, &web, &[("grant_type", "client_credentials")]).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("unauthorized_client"))
    );

    // Introspection: the owner sees it active, another client does not.
    let access = issued["access_token"].as_str().unwrap();
    let own = introspect(&stack, &svc, access).await;
    assert_eq!(
        (own["active"].as_bool(), own["client_id"].as_str()),
        (Some(true), Some(svc.client_id.as_str()))
    );
    assert_eq!(
        introspect(&stack, &web, access).await,
        json!({ "active": false })
    );
    // Revocation by another client does nothing; by the owner it works.
    for (app, active) in [(&web, true), (&svc, false)] {
        let r = reqwest::Client::new()
            .post(stack.permesi.url("/oauth/revoke"))
            .basic_auth(&app.client_id, Some(&app.secret))
            .form(&[("token", access)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(introspect(&stack, &svc, access).await["active"], active);
    }

    // private_key_jwt with the client's registered Ed25519 key (registered above).
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = |jti: &str| {
        json!({ "iss": svc.client_id, "sub": svc.client_id, "jti": jti, "exp": now + 60,
                "aud": stack.permesi.url("/oauth/token") })
    };
    let with_assertion = |jwt: String| {
        let stack = &stack;
        async move {
            let r = reqwest::Client::new()
                .post(stack.permesi.url("/oauth/token"))
                .form(&[
                    ("grant_type", "client_credentials"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", jwt.as_str()),
                ])
                .send()
                .await
                .unwrap();
            r.status()
        }
    };
    let good = assertion(
        &key,
        &json!({ "alg": "EdDSA", "kid": "k1" }),
        &claims("j-1"),
    );
    assert_eq!(with_assertion(good.clone()).await, StatusCode::OK);
    assert_eq!(
        with_assertion(good).await,
        StatusCode::UNAUTHORIZED,
        "jti replay"
    );
    // alg confusion: HS256 keyed with the public key, `none`, and a header lying about alg.
    let public = key.verifying_key().to_bytes();
    let hs_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(json!({ "alg": "HS256", "kid": "k1" }).to_string()),
        URL_SAFE_NO_PAD.encode(claims("j-2").to_string())
    );
    let mac = {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(
            URL_SAFE_NO_PAD.encode(public).as_bytes(),
        )
        .unwrap();
        mac.update(hs_input.as_bytes());
        mac.finalize().into_bytes()
    };
    let hs = format!("{hs_input}.{}", URL_SAFE_NO_PAD.encode(mac));
    assert_eq!(with_assertion(hs).await, StatusCode::UNAUTHORIZED);
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({ "alg": "none" }).to_string()),
        URL_SAFE_NO_PAD.encode(claims("j-3").to_string())
    );
    assert_eq!(with_assertion(none).await, StatusCode::UNAUTHORIZED);
    let rs = assertion(
        &key,
        &json!({ "alg": "RS256", "kid": "k1" }),
        &claims("j-4"),
    );
    assert_eq!(with_assertion(rs).await, StatusCode::UNAUTHORIZED);
    // Another key, or an audience that is not ours.
    let other = ed25519_dalek::SigningKey::from_bytes(&[43; 32]);
    let forged = assertion(
        &other,
        &json!({ "alg": "EdDSA", "kid": "k1" }),
        &claims("j-5"),
    );
    assert_eq!(with_assertion(forged).await, StatusCode::UNAUTHORIZED);
    let mut elsewhere = claims("j-6");
    elsewhere["aud"] = json!("https://elsewhere.example/token");
    let elsewhere = assertion(&key, &json!({ "alg": "EdDSA" }), &elsewhere);
    assert_eq!(with_assertion(elsewhere).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn discovery_and_errors_follow_the_specs() {
    let stack = Stack::start().await;
    let http = browser();
    for path in [
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
    ] {
        let doc: Value = http
            .get(stack.permesi.url(path))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(doc["issuer"], stack.permesi.url(""));
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
        assert_eq!(doc["response_types_supported"], json!(["code"]));
    }
    // userinfo without or with a bad token: 401 with a Bearer challenge.
    for auth in [None, Some("Bearer nope"), Some("Bearer a.b.c")] {
        let mut request = http.get(stack.permesi.url("/oauth/userinfo"));
        if let Some(auth) = auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(
            response.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
    }
    let response = http
        .post(stack.permesi.url("/oauth/token"))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");
    // A token from another issuer's key is not accepted by userinfo.
    let other = ed25519_dalek::SigningKey::from_bytes(&[1; 32]);
    let forged = assertion(
        &other,
        &json!({ "alg": "EdDSA", "typ": "at+jwt" }),
        &json!({ "sub": "x" }),
    );
    let response = http
        .get(stack.permesi.url("/oauth/userinfo"))
        .bearer_auth(forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

/// Sets the ID token algorithm of `app` (slug `web`) through the tenancy API.
async fn set_id_token_alg(stack: &Stack, cookie: &str, alg: &str) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .put(
            stack
                .permesi
                .url("/v1/orgs/acme/projects/shop/environments/prod/applications/web/oidc"),
        )
        .header(header::COOKIE, cookie)
        .json(&json!({
            "subject_type": "public", "id_token_signed_response_alg": alg, "jwks": null,
        }))
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

/// The `alg` of every key in the JWKS, in order.
async fn jwks_algorithms(stack: &Stack) -> Vec<String> {
    let jwks: Value = reqwest::get(stack.permesi.url("/oauth/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["alg"].as_str().unwrap().to_owned())
        .collect()
}

/// A client that asks for `alg` gets ID tokens the relying party library verifies from
/// discovery and the JWKS alone; access tokens stay EdDSA; the ID token is a valid logout hint.
async fn id_tokens_signed_with(stack: &Stack, cookie: &str, app: &App, alg: &str) {
    let (status, body) = set_id_token_alg(stack, cookie, alg).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The change applies at once on the instance that took it (its client cache is cleared).
    let expected = match alg {
        "ES256" => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        "RS256" => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        _ => CoreJwsSigningAlgorithm::EdDsa,
    };
    let c = code(stack, cookie, app, "openid").await;
    let (status, tokens) = exchange(stack, app, &c, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let id_token: openidconnect::core::CoreIdToken =
        tokens["id_token"].as_str().unwrap().parse().unwrap();
    assert_eq!(*id_token.signing_alg().unwrap(), expected);
    let (client, _) = rp(stack, app).await;
    let claims = id_token
        .claims(&client.id_token_verifier(), |_: Option<&Nonce>| Ok(()))
        .unwrap();
    assert_eq!(claims.audiences()[0].as_str(), app.client_id);
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(
                tokens["access_token"]
                    .as_str()
                    .unwrap()
                    .split('.')
                    .next()
                    .unwrap(),
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA");
    // Our own kid and alg over a signature with one bit flipped: refused as a logout hint
    // (the session stays) and as a bearer token.
    let tampered = |token: &str| {
        let (input, signature) = token.rsplit_once('.').unwrap();
        let mut signature = URL_SAFE_NO_PAD.decode(signature).unwrap();
        signature[0] ^= 1;
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    };
    let response = browser()
        .get(stack.permesi.url("/oauth/logout"))
        .query(&[(
            "id_token_hint",
            tampered(tokens["id_token"].as_str().unwrap()),
        )])
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{alg}");
    let response = browser()
        .get(stack.permesi.url("/oauth/userinfo"))
        .bearer_auth(tampered(tokens["access_token"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = browser()
        .get(stack.permesi.url("/oauth/logout"))
        .query(&[("id_token_hint", tokens["id_token"].as_str().unwrap())])
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["logged_out"], true);
}

#[tokio::test]
async fn clients_may_ask_for_es256_or_rs256_id_tokens() {
    let stack = Stack::start().await;
    let (_, app) = setup(&stack).await;
    // The local backend has a key of each algorithm; discovery and the JWKS list them all.
    assert_eq!(jwks_algorithms(&stack).await, ["EdDSA", "ES256", "RS256"]);
    for alg in ["ES256", "RS256", "EdDSA"] {
        // Each logout above ended the session: log in again.
        let cookie = crate::session::login(&stack, "rp-user@example.com").await;
        id_tokens_signed_with(&stack, &cookie, &app, alg).await;
    }
    let cookie = crate::session::login(&stack, "rp-user@example.com").await;
    for bad in ["none", "HS256", "rs256", "PS256"] {
        let (status, body) = set_id_token_alg(&stack, &cookie, bad).await;
        assert!(status.is_client_error(), "{bad}: {status} {body}");
    }
}

#[tokio::test]
async fn on_vault_es256_and_rs256_id_tokens_are_signed_by_transit() {
    use server::key_backend::{BackendKind, VaultAuthKind};
    use vault_double::{
        Double, ENCRYPTION_KEY, ES256_KEY, ROLE_ID, RS256_KEY, SECRET_ID, SIGNING_KEY,
    };
    let double = Double::new();
    let addr = double.serve_tcp().await;
    let vault = |es256: &str, rs256: &str| {
        let (addr, es256, rs256) = (addr.clone(), es256.to_owned(), rs256.to_owned());
        move |s| permesi::config::Settings {
            keys_backend: BackendKind::Vault,
            vault_addr: addr,
            vault_auth: VaultAuthKind::Approle,
            vault_role_id: ROLE_ID.to_owned(),
            vault_secret_id: Some(SECRET_ID.to_owned().into()),
            keys_signing_key: SIGNING_KEY.to_owned(),
            keys_encryption_key: ENCRYPTION_KEY.to_owned(),
            vault_es256_key: es256,
            vault_rs256_key: rs256,
            vault_timeout_ms: 5_000,
            ..s
        }
    };
    let stack = Stack::start_with(vault(ES256_KEY, RS256_KEY)).await;
    let (_, app) = setup(&stack).await;
    assert_eq!(jwks_algorithms(&stack).await, ["EdDSA", "ES256", "RS256"]);
    for alg in ["ES256", "RS256"] {
        let cookie = crate::session::login(&stack, "rp-user@example.com").await;
        id_tokens_signed_with(&stack, &cookie, &app, alg).await;
    }
    // Both were signed by Transit, with the JWS options.
    double.with(|s| {
        for key in [ES256_KEY, RS256_KEY] {
            let signs = s
                .requests
                .iter()
                .filter(|r| r.1 == format!("transit/sign/{key}"))
                .count();
            assert!(signs > 0, "{key} never signed");
        }
    });
    drop(stack);

    // Without Transit JWS keys only EdDSA is offered, and a client cannot ask for more.
    let stack = Stack::start_with(vault("", "")).await;
    let (cookie, _) = setup(&stack).await;
    assert_eq!(jwks_algorithms(&stack).await, ["EdDSA"]);
    let metadata: Value = reqwest::get(stack.permesi.url("/.well-known/openid-configuration"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        metadata["id_token_signing_alg_values_supported"],
        json!(["EdDSA"])
    );
    let (status, body) = set_id_token_alg(&stack, &cookie, "RS256").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "unsupported_id_token_alg");
}

#[tokio::test]
async fn a_rotated_key_is_published_before_it_signs_and_the_rotation_is_audited() {
    let stack = Stack::start().await;
    let (cookie, app) = setup(&stack).await;
    // Rotate RS256 before the service first reads its key versions (it caches them a minute).
    let out = crate::audit::permesi_cli(&stack, &["oidc-keys", "rotate", "--alg", "RS256"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("RS256 key version 2 ("), "{stdout}");
    let roles: Vec<(String, String)> = stdout
        .lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (format!("{} {}", f[0], f[1]), f[2].to_owned())
        })
        .collect();
    let expected = [
        ("EdDSA v1", "signing"),
        ("ES256 v1", "signing"),
        ("RS256 v1", "signing"),
        ("RS256 v2", "prepublished"),
    ];
    assert_eq!(roles, expected.map(|(k, r)| (k.to_owned(), r.to_owned())));
    let new_kid = stdout
        .lines()
        .last()
        .unwrap()
        .split_whitespace()
        .last()
        .unwrap()
        .to_owned();
    // Both RS256 versions are in the JWKS; the new one signs nothing yet.
    let jwks: Value = reqwest::get(stack.permesi.url("/oauth/jwks"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kids: Vec<&str> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|k| k["alg"] == "RS256")
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2, "{jwks}");
    assert!(kids.contains(&new_kid.as_str()));
    let (status, body) = set_id_token_alg(&stack, &cookie, "RS256").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let c = code(&stack, &cookie, &app, "openid").await;
    let (status, tokens) = exchange(&stack, &app, &c, VERIFIER).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(
                tokens["id_token"]
                    .as_str()
                    .unwrap()
                    .split('.')
                    .next()
                    .unwrap(),
            )
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["kid"], kids[0], "the old version still signs");
    assert_ne!(header["kid"], new_kid.as_str());
    // The rotation is in the audit log, and the chain is intact.
    let (actor, target): (String, String) = sqlx::query_as(
        "SELECT actor_kind, target_id FROM audit_log WHERE action = 'oauth.key_rotated'",
    )
    .fetch_one(&stack.pool().await)
    .await
    .unwrap();
    assert_eq!(
        (actor.as_str(), target.as_str()),
        ("system", new_kid.as_str())
    );
    assert!(crate::audit::audit_verify(&stack).status.success());
    // A bad algorithm is refused by the command line.
    let out = crate::audit::permesi_cli(&stack, &["oidc-keys", "rotate", "--alg", "HS256"]);
    assert!(!out.status.success());
}

/// A claim of a token permesi just issued (read without verifying: it came from us).
fn claim(token: &str, name: &str) -> Value {
    let claims: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    claims[name].clone()
}

#[tokio::test]
async fn pairwise_subjects_public_clients_resources_and_forced_login() {
    let stack = Stack::start().await;
    let (cookie, web) = setup(&stack).await;
    let other = application(&stack, &cookie, "other", &["authorization_code"]).await;
    let pool = stack.pool().await;
    for app in [&web, &other] {
        sqlx::query("UPDATE applications SET subject_type = 'pairwise' WHERE client_id = $1")
            .bind(&app.client_id)
            .execute(&pool)
            .await
            .unwrap();
    }
    let me = crate::session::get(&stack, "/v1/me", Some(&cookie))
        .await
        .json::<Value>()
        .await
        .unwrap()["id"]
        .clone();
    let mut subjects = Vec::new();
    for app in [&web, &other] {
        let c = code(&stack, &cookie, app, "openid").await;
        let (status, tokens) = exchange(&stack, app, &c, VERIFIER).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        let sub = claim(tokens["id_token"].as_str().unwrap(), "sub");
        assert_ne!(sub, me, "pairwise: not the user id");
        assert_eq!(claim(tokens["access_token"].as_str().unwrap(), "sub"), sub);
        let info: Value = reqwest::Client::new()
            .get(stack.permesi.url("/oauth/userinfo"))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(info["sub"], sub);
        subjects.push(sub);
    }
    assert_ne!(
        subjects[0], subjects[1],
        "two applications cannot correlate the user"
    );
    // The same application sees the same pairwise subject every time.
    let c = code(&stack, &cookie, &web, "openid").await;
    let (_, again) = exchange(&stack, &web, &c, VERIFIER).await;
    assert_eq!(
        claim(again["id_token"].as_str().unwrap(), "sub"),
        subjects[0]
    );

    // A public client: no secret, PKCE only; a secret it does not have is refused.
    let public: Value = reqwest::Client::new()
        .post(
            stack
                .permesi
                .url("/v1/orgs/acme/projects/shop/environments/prod/applications"),
        )
        .header(header::COOKIE, &cookie)
        .json(&json!({
            "slug": "spa", "name": "App spa", "client_type": "public",
            "redirect_uris": [REDIRECT], "allowed_scopes": ["openid", "api:read"],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let spa = App {
        client_id: public["application"]["client_id"]
            .as_str()
            .unwrap()
            .to_owned(),
        secret: String::new(),
    };
    // RFC 8707: the access token is for the resource asked for.
    let http = browser();
    let consent = location(
        &http,
        &authorize_url(
            &stack,
            &spa,
            &[
                ("resource", "https://api.example.com/"),
                ("scope", "openid"),
            ],
        ),
        Some(&cookie),
    )
    .await;
    let back = approve(&stack, &cookie, &consent).await;
    let c = query(&location(&http, &back, Some(&cookie)).await)["code"].clone();
    let form = [
        ("grant_type", "authorization_code"),
        ("code", c.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
        ("client_id", spa.client_id.as_str()),
    ];
    let with_secret = reqwest::Client::new()
        .post(stack.permesi.url("/oauth/token"))
        .form(&[&form[..], &[("client_secret", "guess")]].concat())
        .send()
        .await
        .unwrap();
    assert_eq!(with_secret.status(), StatusCode::UNAUTHORIZED);
    let response = reqwest::Client::new()
        .post(stack.permesi.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(
        claim(tokens["access_token"].as_str().unwrap(), "aud"),
        "https://api.example.com/"
    );
    // Audience-restricted to the API: userinfo (the issuer's own audience) refuses it.
    let userinfo = reqwest::Client::new()
        .get(stack.permesi.url("/oauth/userinfo"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), StatusCode::UNAUTHORIZED);

    // prompt=login: to the login page, and after a new login the same request resumes.
    let login = location(
        &http,
        &authorize_url(&stack, &web, &[("prompt", "login"), ("scope", "openid")]),
        Some(&cookie),
    )
    .await;
    let request = query(&login)["request"].clone();
    let resume = stack
        .permesi
        .url(&format!("/oauth/authorize?request={request}"));
    let still = location(&http, &resume, Some(&cookie)).await;
    assert!(
        still.starts_with("http://localhost:8080/login?"),
        "old session: log in again"
    );
    let fresh = crate::session::login(&stack, "rp-user@example.com").await;
    let done = location(&http, &resume, Some(&fresh)).await;
    assert!(
        done.starts_with(REDIRECT) && query(&done).contains_key("code"),
        "{done}"
    );
    // The request was used up.
    let used = http
        .get(&resume)
        .header(header::COOKIE, &fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(used.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_leaked_code_cannot_revoke_another_clients_tokens_and_disabled_users_tokens_are_dead() {
    let stack = Stack::start().await;
    let (cookie, app) = setup(&stack).await;
    let other = application(
        &stack,
        &cookie,
        "other",
        &["authorization_code", "refresh_token"],
    )
    .await;
    let c = code(&stack, &cookie, &app, "openid offline_access").await;
    let (status, tokens) = exchange(&stack, &app, &c, VERIFIER).await;
    assert_eq!(status, StatusCode::OK);
    let access = tokens["access_token"].as_str().unwrap().to_owned();
    let r0 = tokens["refresh_token"].as_str().unwrap().to_owned();
    // Another client presenting the spent code is refused, and does not end `web`'s tokens.
    let (status, body) = exchange(&stack, &other, &c, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    assert_eq!(introspect(&stack, &app, &access).await["active"], true);
    let (status, next) = token(
        &stack,
        &app,
        &[("grant_type", "refresh_token"), ("refresh_token", &r0)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{next}");
    let r1 = next["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(introspect(&stack, &app, &r1).await["active"], true);
    // A code issued just before the user is disabled.
    let pending = code(&stack, &cookie, &app, "openid").await;
    // Disabled: its tokens introspect as inactive, as userinfo and refresh refuse them, and
    // the outstanding code no longer exchanges.
    sqlx::query("UPDATE users SET status = 'disabled'")
        .execute(&stack.pool().await)
        .await
        .unwrap();
    assert_eq!(introspect(&stack, &app, &access).await["active"], false);
    assert_eq!(introspect(&stack, &app, &r1).await["active"], false);
    let (status, body) = exchange(&stack, &app, &pending, VERIFIER).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
}

#[tokio::test]
async fn a_rotated_secret_stops_working_at_once() {
    let stack = Stack::start().await;
    let (cookie, app) = setup(&stack).await;
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", "unknown"),
    ];
    // The secret is accepted (the grant is not): the client is now in the token endpoint's
    // cache.
    let (_, body) = token(&stack, &app, &form).await;
    assert_eq!(body["error"], "invalid_grant", "{body}");
    let rotated: Value = reqwest::Client::new()
        .post(
            stack
                .permesi
                .url("/v1/orgs/acme/projects/shop/environments/prod/applications/web/secret"),
        )
        .header(header::COOKIE, &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let (status, body) = token(&stack, &app, &form).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_client");
    let renewed = App {
        client_id: app.client_id.clone(),
        secret: rotated["client_secret"].as_str().unwrap().to_owned(),
    };
    let (_, body) = token(&stack, &renewed, &form).await;
    assert_eq!(body["error"], "invalid_grant", "{body}");
}
