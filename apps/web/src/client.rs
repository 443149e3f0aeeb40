//! The permesi and genesis HTTP API, typed: one function per call, one [`ApiError`].
//!
//! Every call sends cookies (`credentials: include`): the session is an `HttpOnly` cookie of
//! the API's origin, which is same-site with the console. Auth starts carry an admission token
//! from genesis in `X-Permesi-Admission` (see [`crate::admission`]).

use std::fmt;

use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Value, json};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Request, RequestCache, RequestCredentials, RequestInit, RequestMode, Response};

use crate::{config, url};

/// Why an API call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// No HTTP answer (service down, CORS, offline).
    Network(String),
    /// An `application/problem+json` answer.
    Problem {
        status: u16,
        code: String,
        title: String,
        detail: Option<String>,
        /// Seconds from the `Retry-After` header (429 answers).
        retry_after: Option<u64>,
    },
    /// Any other non-success answer.
    Http { status: u16 },
    /// Something failed in the browser (WebAuthn cancelled, OPAQUE, bad reply).
    Local(String),
}

impl ApiError {
    /// Whether the API answered 401: no session, or it ended.
    pub fn is_unauthenticated(&self) -> bool {
        matches!(
            self,
            Self::Problem { status: 401, .. } | Self::Http { status: 401 }
        )
    }

    /// The problem's `code`, when the answer was a problem.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Problem { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the API wants a recent sign-in first (step-up: `403 reauthentication_required`).
    pub fn is_reauthentication_required(&self) -> bool {
        self.code() == Some("reauthentication_required")
    }

    /// Whether the password attempts are used up for now (`429 too_many_attempts`).
    pub fn too_many_attempts(&self) -> Option<Lockout> {
        match self {
            Self::Problem {
                status: 429,
                code,
                retry_after,
                ..
            } if code == "too_many_attempts" => Some(Lockout {
                retry_after: *retry_after,
            }),
            _ => None,
        }
    }
}

/// Password attempts used up for now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lockout {
    /// Seconds to wait, when the API said (`Retry-After`).
    pub retry_after: Option<u64>,
}

/// "in 5 minutes" for a `Retry-After` in seconds (rounded up, at least a minute); "later" when
/// unknown.
pub fn wait_text(retry_after: Option<u64>) -> String {
    match retry_after {
        None => "later".to_owned(),
        Some(secs) => match secs.div_ceil(60).max(1) {
            1 => "in a minute".to_owned(),
            m => format!("in {m} minutes"),
        },
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Network(_) => f.write_str(
                "The service did not answer. Check that permesi and genesis are running.",
            ),
            Self::Problem {
                title,
                detail: Some(d),
                ..
            } if !d.is_empty() && d != title => write!(f, "{title}: {d}"),
            Self::Problem { title, .. } => f.write_str(title),
            Self::Http { status } => write!(f, "Unexpected answer (HTTP {status})."),
            Self::Local(m) => f.write_str(m),
        }
    }
}

/// Reads a problem body, or falls back to the bare status.
pub fn error_from(status: u16, body: &str) -> ApiError {
    #[derive(Deserialize)]
    struct Problem {
        code: String,
        title: String,
        detail: Option<String>,
    }
    match serde_json::from_str::<Problem>(body) {
        Ok(p) => ApiError::Problem {
            status,
            code: p.code,
            title: p.title,
            detail: p.detail,
            retry_after: None,
        },
        Err(_) => ApiError::Http { status },
    }
}

fn js_error(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_default()
}

/// One raw call: `(status, body, Retry-After seconds)` for any HTTP answer.
async fn send(
    method: &str,
    url: &str,
    body: Option<&Value>,
    admission: Option<&str>,
) -> Result<(u16, String, Option<u64>), ApiError> {
    let window = web_sys::window().ok_or_else(|| ApiError::Network("no window".into()))?;
    let init = RequestInit::new();
    init.set_method(method);
    init.set_mode(RequestMode::Cors);
    init.set_cache(RequestCache::NoStore);
    init.set_credentials(RequestCredentials::Include);
    if let Some(b) = body {
        init.set_body(&JsValue::from_str(&b.to_string()));
    }
    let request =
        Request::new_with_str_and_init(url, &init).map_err(|e| ApiError::Network(js_error(&e)))?;
    let headers = request.headers();
    let set = |k: &str, v: &str| headers.set(k, v).map_err(|e| ApiError::Local(js_error(&e)));
    set("Accept", "application/json")?;
    if body.is_some() {
        set("Content-Type", "application/json")?;
    }
    if let Some(token) = admission {
        set("X-Permesi-Admission", token)?;
    }
    let response: Response = JsFuture::from(window.fetch_with_request(&request))
        .await
        .map_err(|e| ApiError::Network(js_error(&e)))?
        .dyn_into()
        .map_err(|e| ApiError::Network(js_error(&e)))?;
    let status = response.status();
    // Readable cross-origin because the services list it in Access-Control-Expose-Headers.
    let retry_after = response
        .headers()
        .get("Retry-After")
        .ok()
        .flatten()
        .and_then(|v| v.trim().parse::<u64>().ok());
    let text = JsFuture::from(
        response
            .text()
            .map_err(|e| ApiError::Network(js_error(&e)))?,
    )
    .await
    .map_err(|e| ApiError::Network(js_error(&e)))?;
    Ok((status, text.as_string().unwrap_or_default(), retry_after))
}

/// A call that must succeed (2xx); returns the status and body.
async fn call(
    method: &str,
    url: &str,
    body: Option<&Value>,
    admission: Option<&str>,
) -> Result<(u16, String), ApiError> {
    let (status, text, retry_after) = send(method, url, body, admission).await?;
    if (200..300).contains(&status) {
        Ok((status, text))
    } else {
        let mut error = error_from(status, &text);
        if let ApiError::Problem {
            retry_after: slot, ..
        } = &mut error
        {
            *slot = retry_after;
        }
        Err(error)
    }
}

fn parse<T: DeserializeOwned>(text: &str) -> Result<T, ApiError> {
    serde_json::from_str(text).map_err(|e| ApiError::Local(format!("unreadable answer: {e}")))
}

fn api(path: &str) -> String {
    url::join(config::API_BASE_URL, path)
}

async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ApiError> {
    let (_, text) = call("GET", &api(path), None, None).await?;
    parse(&text)
}

async fn post<T: DeserializeOwned>(path: &str, body: &Value) -> Result<T, ApiError> {
    let (_, text) = call("POST", &api(path), Some(body), None).await?;
    parse(&text)
}

async fn post_unit(path: &str, body: &Value) -> Result<(), ApiError> {
    call("POST", &api(path), Some(body), None).await.map(drop)
}

async fn admitted<T: DeserializeOwned>(
    path: &str,
    body: &Value,
    token: &str,
) -> Result<T, ApiError> {
    let (_, text) = call("POST", &api(path), Some(body), Some(token)).await?;
    parse(&text)
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    String::from(js_sys::encode_uri_component(s))
}

// ---- genesis ----------------------------------------------------------------------------------

/// `POST /v1/pow/challenge`.
#[derive(Clone, Debug, Deserialize)]
pub struct ChallengeResponse {
    pub challenge: String,
}

pub async fn pow_challenge(action: &str) -> Result<ChallengeResponse, ApiError> {
    let url = url::join(config::TOKEN_BASE_URL, "/v1/pow/challenge");
    let (_, text) = call("POST", &url, Some(&json!({ "action": action })), None).await?;
    parse(&text)
}

/// `POST /v1/admission`: the admission token.
pub async fn admission(challenge: &str, solution: u64) -> Result<String, ApiError> {
    #[derive(Deserialize)]
    struct Admission {
        token: String,
    }
    let url = url::join(config::TOKEN_BASE_URL, "/v1/admission");
    let body = json!({ "challenge": challenge, "solution": solution });
    let (_, text) = call("POST", &url, Some(&body), None).await?;
    parse::<Admission>(&text).map(|a| a.token)
}

// ---- auth -------------------------------------------------------------------------------------

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Me {
    pub id: String,
    pub email: String,
    pub email_verified: bool,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct SessionView {
    pub user: Me,
    pub session_id: String,
    /// When the session last proved a factor (the login or a re-authentication), RFC 3339.
    #[serde(default)]
    pub authenticated_at: Option<String>,
}

/// `GET /v1/auth/session`: `None` without a session.
pub async fn session() -> Result<Option<SessionView>, ApiError> {
    let (status, text) = call("GET", &api("/v1/auth/session"), None, None).await?;
    if status == 204 || text.is_empty() {
        Ok(None)
    } else {
        parse(&text).map(Some)
    }
}

/// `DELETE /v1/me`: deletes the account (the address typed again confirms it).
pub async fn delete_account(email: &str) -> Result<(), ApiError> {
    call(
        "DELETE",
        &api("/v1/me"),
        Some(&json!({ "email": email })),
        None,
    )
    .await
    .map(drop)
}

pub async fn logout() -> Result<(), ApiError> {
    post_unit("/v1/auth/logout", &json!({})).await
}

#[derive(Deserialize)]
struct Started {
    #[serde(
        alias = "signup_id",
        alias = "login_id",
        alias = "change_id",
        alias = "reset_id",
        alias = "reauth_id"
    )]
    id: String,
    response: String,
}

/// `signup/start` → `(signup_id, response)`.
pub async fn signup_start(
    token: &str,
    email: &str,
    request: &str,
) -> Result<(String, String), ApiError> {
    let s: Started = admitted(
        "/v1/auth/opaque/signup/start",
        &json!({ "email": email, "request": request }),
        token,
    )
    .await?;
    Ok((s.id, s.response))
}

pub async fn signup_finish(signup_id: &str, email: &str, upload: &str) -> Result<(), ApiError> {
    post_unit(
        "/v1/auth/opaque/signup/finish",
        &json!({ "signup_id": signup_id, "email": email, "upload": upload }),
    )
    .await
}

pub async fn verify_email(token: &str, verification: &str) -> Result<(), ApiError> {
    call(
        "POST",
        &api("/v1/auth/verify-email"),
        Some(&json!({ "token": verification })),
        Some(token),
    )
    .await
    .map(drop)
}

pub async fn resend_verification(token: &str, email: &str) -> Result<(), ApiError> {
    call(
        "POST",
        &api("/v1/auth/resend-verification"),
        Some(&json!({ "email": email })),
        Some(token),
    )
    .await
    .map(drop)
}

/// `POST /v1/auth/password-reset`: mails a reset link if the address has an account (the
/// answer is the same either way).
pub async fn request_password_reset(token: &str, email: &str) -> Result<(), ApiError> {
    call(
        "POST",
        &api("/v1/auth/password-reset"),
        Some(&json!({ "email": email })),
        Some(token),
    )
    .await
    .map(drop)
}

/// `password-reset/start` → `(reset_id, response)`.
pub async fn password_reset_start(
    reset_token: &str,
    request: &str,
) -> Result<(String, String), ApiError> {
    let s: Started = post(
        "/v1/auth/password-reset/start",
        &json!({ "token": reset_token, "request": request }),
    )
    .await?;
    Ok((s.id, s.response))
}

/// The sign-in methods still on an account after a password reset.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct RemainingFactors {
    #[serde(default)]
    pub totp: bool,
    #[serde(default)]
    pub passkeys: Vec<RemainingPasskey>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct RemainingPasskey {
    pub name: String,
    pub created_at: String,
}

/// `password-reset/finish` → the factors left on the account (`None` from a server that
/// answers 204).
pub async fn password_reset_finish(
    reset_id: &str,
    upload: &str,
) -> Result<Option<RemainingFactors>, ApiError> {
    #[derive(Deserialize)]
    struct Finished {
        factors: RemainingFactors,
    }
    let body = json!({ "reset_id": reset_id, "upload": upload });
    let (_, text) = call(
        "POST",
        &api("/v1/auth/password-reset/finish"),
        Some(&body),
        None,
    )
    .await?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    parse::<Finished>(&text).map(|f| Some(f.factors))
}

/// `login/start` → `(login_id, KE2)`.
pub async fn login_start(
    token: &str,
    email: &str,
    request: &str,
) -> Result<(String, String), ApiError> {
    let s: Started = admitted(
        "/v1/auth/opaque/login/start",
        &json!({ "email": email, "request": request }),
        token,
    )
    .await?;
    Ok((s.id, s.response))
}

/// How a login step ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Signed in: the session cookie is set.
    Done,
    /// A second factor is needed; the methods the account has.
    Mfa(Vec<String>),
}

fn login_outcome(status: u16, text: &str) -> Result<LoginOutcome, ApiError> {
    #[derive(Deserialize)]
    struct MfaRequired {
        mfa_required: bool,
        methods: Vec<String>,
    }
    if status == 204 || text.is_empty() {
        return Ok(LoginOutcome::Done);
    }
    let m: MfaRequired = parse(text)?;
    Ok(if m.mfa_required {
        LoginOutcome::Mfa(m.methods)
    } else {
        LoginOutcome::Done
    })
}

pub async fn login_finish(login_id: &str, finalization: &str) -> Result<LoginOutcome, ApiError> {
    let body = json!({ "login_id": login_id, "finalization": finalization });
    let (status, text) = call(
        "POST",
        &api("/v1/auth/opaque/login/finish"),
        Some(&body),
        None,
    )
    .await?;
    login_outcome(status, &text)
}

/// `POST /v1/auth/mfa/totp` or `/recovery`.
pub async fn mfa(token: &str, recovery: bool, code: &str) -> Result<(), ApiError> {
    let path = if recovery {
        "/v1/auth/mfa/recovery"
    } else {
        "/v1/auth/mfa/totp"
    };
    call(
        "POST",
        &api(path),
        Some(&json!({ "code": code })),
        Some(token),
    )
    .await
    .map(drop)
}

/// A WebAuthn ceremony's start.
#[derive(Clone, Debug, Deserialize)]
pub struct Ceremony {
    pub ceremony_id: String,
    pub options: Value,
}

pub async fn passkey_login_start(token: &str, email: Option<&str>) -> Result<Ceremony, ApiError> {
    admitted("/v1/auth/passkey/start", &json!({ "email": email }), token).await
}

pub async fn passkey_login_finish(
    ceremony_id: &str,
    credential: Value,
) -> Result<LoginOutcome, ApiError> {
    let body = json!({ "ceremony_id": ceremony_id, "credential": credential });
    let (status, text) = call("POST", &api("/v1/auth/passkey/finish"), Some(&body), None).await?;
    login_outcome(status, &text)
}

// ---- me ---------------------------------------------------------------------------------------

/// `reauthenticate/password/start` → `(reauth_id, KE2)`: step-up with the password (the OPAQUE
/// steps of a login, for the signed-in account).
pub async fn reauth_password_start(request: &str) -> Result<(String, String), ApiError> {
    let s: Started = post(
        "/v1/me/reauthenticate/password/start",
        &json!({ "request": request }),
    )
    .await?;
    Ok((s.id, s.response))
}

pub async fn reauth_password_finish(reauth_id: &str, finalization: &str) -> Result<(), ApiError> {
    post_unit(
        "/v1/me/reauthenticate/password/finish",
        &json!({ "reauth_id": reauth_id, "finalization": finalization }),
    )
    .await
}

/// `reauthenticate/passkey/start`: step-up with one of the account's passkeys.
pub async fn reauth_passkey_start() -> Result<Ceremony, ApiError> {
    post("/v1/me/reauthenticate/passkey/start", &json!({})).await
}

pub async fn reauth_passkey_finish(ceremony_id: &str, credential: Value) -> Result<(), ApiError> {
    post_unit(
        "/v1/me/reauthenticate/passkey/finish",
        &json!({ "ceremony_id": ceremony_id, "credential": credential }),
    )
    .await
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct MfaStatus {
    pub totp: bool,
    pub recovery_codes_left: i64,
    pub passkeys: i64,
}

pub async fn mfa_status() -> Result<MfaStatus, ApiError> {
    get("/v1/me/mfa").await
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct TotpEnrolment {
    pub secret: String,
    pub otpauth_uri: String,
    pub qr_svg: String,
}

pub async fn totp_enrol() -> Result<TotpEnrolment, ApiError> {
    post("/v1/me/totp/enrol", &json!({})).await
}

#[derive(Deserialize)]
struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

pub async fn totp_confirm(code: &str) -> Result<Vec<String>, ApiError> {
    post::<RecoveryCodes>("/v1/me/totp/confirm", &json!({ "code": code }))
        .await
        .map(|r| r.recovery_codes)
}

pub async fn totp_disable() -> Result<(), ApiError> {
    post_unit("/v1/me/totp/disable", &json!({})).await
}

pub async fn regenerate_recovery_codes() -> Result<Vec<String>, ApiError> {
    post::<RecoveryCodes>("/v1/me/recovery-codes", &json!({}))
        .await
        .map(|r| r.recovery_codes)
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct PasskeyLine {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
}

pub async fn passkeys() -> Result<Vec<PasskeyLine>, ApiError> {
    get("/v1/me/passkeys").await
}

pub async fn passkey_register_start() -> Result<Ceremony, ApiError> {
    post("/v1/me/passkeys/register/start", &json!({})).await
}

pub async fn passkey_register_finish(
    ceremony_id: &str,
    name: &str,
    credential: Value,
) -> Result<(), ApiError> {
    post_unit(
        "/v1/me/passkeys/register/finish",
        &json!({ "ceremony_id": ceremony_id, "name": name, "credential": credential }),
    )
    .await
}

pub async fn passkey_rename(id: &str, name: &str) -> Result<(), ApiError> {
    call(
        "PATCH",
        &api(&format!("/v1/me/passkeys/{}", enc(id))),
        Some(&json!({ "name": name })),
        None,
    )
    .await
    .map(drop)
}

pub async fn passkey_delete(id: &str) -> Result<(), ApiError> {
    delete(&format!("/v1/me/passkeys/{}", enc(id))).await
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct SessionLine {
    pub id: String,
    pub current: bool,
    pub created_at: String,
    pub last_seen_at: String,
    pub auth_methods: Vec<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

pub async fn sessions() -> Result<Vec<SessionLine>, ApiError> {
    get("/v1/me/sessions").await
}

pub async fn end_session(id: &str) -> Result<(), ApiError> {
    delete(&format!("/v1/me/sessions/{}", enc(id))).await
}

/// `password/start` → `(change_id, response)`.
pub async fn password_start(request: &str) -> Result<(String, String), ApiError> {
    let s: Started = post("/v1/me/password/start", &json!({ "request": request })).await?;
    Ok((s.id, s.response))
}

pub async fn password_finish(change_id: &str, upload: &str) -> Result<(), ApiError> {
    post_unit(
        "/v1/me/password/finish",
        &json!({ "change_id": change_id, "upload": upload }),
    )
    .await
}

async fn delete(path: &str) -> Result<(), ApiError> {
    call("DELETE", &api(path), None, None).await.map(drop)
}

// ---- tenancy ----------------------------------------------------------------------------------

#[derive(Deserialize)]
struct Items<T> {
    items: Vec<T>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Org {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub role: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Named {
    pub id: String,
    pub slug: String,
    pub name: String,
    #[serde(default)]
    pub tier: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct Application {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub client_id: String,
    pub client_type: String,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    pub allowed_scopes: Vec<String>,
    pub secret_rotated_at: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ApplicationWithSecret {
    pub application: Application,
    pub client_secret: Option<String>,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Member {
    pub user_id: String,
    pub email: Option<String>,
    pub role: String,
    pub joined_at: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Invitation {
    pub id: String,
    pub email: String,
    pub role: String,
    pub expires_at: String,
}

pub async fn orgs() -> Result<Vec<Org>, ApiError> {
    get::<Items<Org>>("/v1/orgs?limit=100")
        .await
        .map(|p| p.items)
}

pub async fn org(org: &str) -> Result<Org, ApiError> {
    get(&format!("/v1/orgs/{}", enc(org))).await
}

pub async fn create_org(slug: &str, name: &str) -> Result<Org, ApiError> {
    post("/v1/orgs", &json!({ "slug": slug, "name": name })).await
}

fn projects_path(org: &str) -> String {
    format!("/v1/orgs/{}/projects", enc(org))
}

fn envs_path(org: &str, project: &str) -> String {
    format!("{}/{}/environments", projects_path(org), enc(project))
}

fn apps_path(org: &str, project: &str, env: &str) -> String {
    format!("{}/{}/applications", envs_path(org, project), enc(env))
}

pub async fn projects(org: &str) -> Result<Vec<Named>, ApiError> {
    get::<Items<Named>>(&format!("{}?limit=100", projects_path(org)))
        .await
        .map(|p| p.items)
}

pub async fn create_project(org: &str, slug: &str, name: &str) -> Result<Named, ApiError> {
    post(&projects_path(org), &json!({ "slug": slug, "name": name })).await
}

pub async fn environments(org: &str, project: &str) -> Result<Vec<Named>, ApiError> {
    get::<Items<Named>>(&format!("{}?limit=100", envs_path(org, project)))
        .await
        .map(|p| p.items)
}

pub async fn create_environment(
    org: &str,
    project: &str,
    slug: &str,
    name: &str,
    tier: &str,
) -> Result<Named, ApiError> {
    post(
        &envs_path(org, project),
        &json!({ "slug": slug, "name": name, "tier": tier }),
    )
    .await
}

pub async fn applications(
    org: &str,
    project: &str,
    env: &str,
) -> Result<Vec<Application>, ApiError> {
    get::<Items<Application>>(&format!("{}?limit=100", apps_path(org, project, env)))
        .await
        .map(|p| p.items)
}

/// `POST .../applications`.
pub async fn create_application(
    org: &str,
    project: &str,
    env: &str,
    body: &Value,
) -> Result<ApplicationWithSecret, ApiError> {
    post(&apps_path(org, project, env), body).await
}

/// `PATCH .../applications/{app}`: redirect URIs, post-logout redirect URIs and allowed
/// scopes.
pub async fn update_application(
    org: &str,
    project: &str,
    env: &str,
    app: &str,
    uris: &[String],
    logout_uris: &[String],
    scopes: &[String],
) -> Result<Application, ApiError> {
    let path = format!("{}/{}", apps_path(org, project, env), enc(app));
    let body = json!({
        "redirect_uris": uris, "post_logout_redirect_uris": logout_uris, "allowed_scopes": scopes,
    });
    let (_, text) = call("PATCH", &api(&path), Some(&body), None).await?;
    parse(&text)
}

pub async fn rotate_secret(
    org: &str,
    project: &str,
    env: &str,
    app: &str,
) -> Result<ApplicationWithSecret, ApiError> {
    post(
        &format!("{}/{}/secret", apps_path(org, project, env), enc(app)),
        &json!({}),
    )
    .await
}

/// An application's OpenID Connect client settings (`GET`/`PUT .../applications/{app}/oidc`).
#[derive(Clone, Debug, Deserialize, serde::Serialize, PartialEq)]
pub struct OidcClientSettings {
    /// `public` or `pairwise`.
    pub subject_type: String,
    /// `EdDSA`, `ES256` or `RS256`.
    pub id_token_signed_response_alg: String,
    /// Ed25519 public keys for `private_key_jwt`, or `null`.
    pub jwks: Option<Value>,
}

fn oidc_client_path(org: &str, project: &str, env: &str, app: &str) -> String {
    format!("{}/{}/oidc", apps_path(org, project, env), enc(app))
}

/// `GET .../applications/{app}/oidc`.
pub async fn oidc_client(
    org: &str,
    project: &str,
    env: &str,
    app: &str,
) -> Result<OidcClientSettings, ApiError> {
    get(&oidc_client_path(org, project, env, app)).await
}

/// `PUT .../applications/{app}/oidc`.
pub async fn set_oidc_client(
    org: &str,
    project: &str,
    env: &str,
    app: &str,
    settings: &OidcClientSettings,
) -> Result<OidcClientSettings, ApiError> {
    let body = serde_json::to_value(settings)
        .map_err(|e| ApiError::Local(format!("unwritable settings: {e}")))?;
    let path = oidc_client_path(org, project, env, app);
    let (_, text) = call("PUT", &api(&path), Some(&body), None).await?;
    parse(&text)
}

/// The ID token algorithms the provider signs with (discovery's
/// `id_token_signing_alg_values_supported`).
pub async fn id_token_algorithms() -> Result<Vec<String>, ApiError> {
    #[derive(Deserialize)]
    struct Discovery {
        id_token_signing_alg_values_supported: Vec<String>,
    }
    get::<Discovery>("/.well-known/openid-configuration")
        .await
        .map(|d| d.id_token_signing_alg_values_supported)
}

pub async fn members(org: &str) -> Result<Vec<Member>, ApiError> {
    get::<Items<Member>>(&format!("/v1/orgs/{}/members?limit=100", enc(org)))
        .await
        .map(|p| p.items)
}

pub async fn change_role(org: &str, user_id: &str, role: &str) -> Result<(), ApiError> {
    let path = format!("/v1/orgs/{}/members/{}", enc(org), enc(user_id));
    call("PATCH", &api(&path), Some(&json!({ "role": role })), None)
        .await
        .map(drop)
}

pub async fn remove_member(org: &str, user_id: &str) -> Result<(), ApiError> {
    delete(&format!("/v1/orgs/{}/members/{}", enc(org), enc(user_id))).await
}

pub async fn invitations(org: &str) -> Result<Vec<Invitation>, ApiError> {
    get::<Items<Invitation>>(&format!("/v1/orgs/{}/invitations?limit=100", enc(org)))
        .await
        .map(|p| p.items)
}

pub async fn invite(org: &str, email: &str, role: &str) -> Result<Invitation, ApiError> {
    post(
        &format!("/v1/orgs/{}/invitations", enc(org)),
        &json!({ "email": email, "role": role }),
    )
    .await
}

pub async fn revoke_invitation(org: &str, id: &str) -> Result<(), ApiError> {
    delete(&format!("/v1/orgs/{}/invitations/{}", enc(org), enc(id))).await
}

pub async fn accept_invitation(token: &str) -> Result<Org, ApiError> {
    post("/v1/invitations/accept", &json!({ "token": token })).await
}

// ---- admin ------------------------------------------------------------------------------------

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct AdminStatus {
    pub claimed: bool,
    pub operator: bool,
    pub elevated_until: Option<String>,
}

pub async fn admin_status() -> Result<AdminStatus, ApiError> {
    get("/v1/admin/status").await
}

pub async fn admin_claim(token: &str) -> Result<AdminStatus, ApiError> {
    post("/v1/admin/claim", &json!({ "token": token })).await
}

pub async fn admin_elevate(token: &str) -> Result<AdminStatus, ApiError> {
    post("/v1/admin/elevate", &json!({ "token": token })).await
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct AdminUser {
    pub id: String,
    pub email: String,
    pub status: String,
    pub email_verified: bool,
    pub operator: bool,
    pub created_at: String,
}

pub async fn admin_users(email: &str) -> Result<Vec<AdminUser>, ApiError> {
    #[derive(Deserialize)]
    struct UserPage {
        users: Vec<AdminUser>,
    }
    let mut path = "/v1/admin/users?limit=50".to_owned();
    if !email.is_empty() {
        path = format!("{path}&email={}", enc(email));
    }
    get::<UserPage>(&path).await.map(|p| p.users)
}

/// `POST /v1/admin/users/{id}/{disable|enable|sessions/end}` → sessions ended.
pub async fn admin_user_action(id: &str, action: &str) -> Result<i64, ApiError> {
    #[derive(Deserialize)]
    struct Done {
        sessions_ended: i64,
    }
    post::<Done>(&format!("/v1/admin/users/{}/{action}", enc(id)), &json!({}))
        .await
        .map(|d| d.sessions_ended)
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct AuditEntry {
    pub seq: i64,
    pub occurred_at: String,
    pub actor_kind: String,
    pub actor_id: Option<String>,
    pub action: String,
    pub outcome: String,
    pub client_ip: Option<String>,
    #[serde(default)]
    pub target_kind: Option<String>,
    #[serde(default)]
    pub target_id: Option<String>,
    pub detail: Value,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next_before: Option<i64>,
}

/// `GET /v1/admin/audit` with `filters` as `(name, value)` pairs (empty values skipped).
pub async fn admin_audit(filters: &[(&str, String)]) -> Result<AuditPage, ApiError> {
    let mut path = "/v1/admin/audit?limit=50".to_owned();
    for (k, v) in filters {
        if !v.trim().is_empty() {
            path = format!("{path}&{k}={}", enc(v.trim()));
        }
    }
    get(&path).await
}

/// One application the user consented to (`GET /v1/me/consents`).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct Consent {
    pub client_id: String,
    pub application: String,
    pub scopes: Vec<String>,
    pub granted_at: String,
}

pub async fn consents() -> Result<Vec<Consent>, ApiError> {
    get("/v1/me/consents").await
}

/// Withdraws a consent; the application's refresh and access tokens for the user are revoked.
pub async fn withdraw_consent(client_id: &str) -> Result<(), ApiError> {
    delete(&format!("/v1/me/consents/{}", enc(client_id))).await
}

// ---- OIDC -------------------------------------------------------------------------------------

/// `GET /v1/oauth/requests/{id}`: a pending authorization request.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct OauthRequest {
    #[serde(default, alias = "client_name", alias = "application")]
    pub application_name: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub consent_required: Option<bool>,
    #[serde(default)]
    pub redirect_uri: Option<String>,
}

pub async fn oauth_request(id: &str) -> Result<OauthRequest, ApiError> {
    get(&format!("/v1/oauth/requests/{}", enc(id))).await
}

pub async fn oauth_consent(id: &str, approve: bool) -> Result<String, ApiError> {
    #[derive(Deserialize)]
    struct Redirect {
        redirect_to: String,
    }
    post::<Redirect>(
        &format!("/v1/oauth/requests/{}/consent", enc(id)),
        &json!({ "approve": approve }),
    )
    .await
    .map(|r| r.redirect_to)
}

/// Where the browser resumes an authorization after a login.
pub fn oauth_resume_url(request: &str) -> String {
    api(&format!("/oauth/authorize?request={}", enc(request)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_codes_are_read() {
        let e = error_from(
            403,
            r#"{"type":"about:blank","code":"reauthentication_required","title":"Reauthentication required","status":403}"#,
        );
        assert!(e.is_reauthentication_required());
        assert_eq!(e.too_many_attempts(), None);
        assert!(!error_from(403, "not json").is_reauthentication_required());
    }

    #[test]
    fn too_many_attempts_carries_retry_after() {
        let ApiError::Problem {
            status,
            code,
            title,
            detail,
            ..
        } = error_from(
            429,
            r#"{"code":"too_many_attempts","title":"Too many attempts"}"#,
        )
        else {
            panic!("not a problem");
        };
        let e = ApiError::Problem {
            status,
            code,
            title,
            detail,
            retry_after: Some(300),
        };
        assert_eq!(
            e.too_many_attempts(),
            Some(Lockout {
                retry_after: Some(300)
            })
        );
        let other = error_from(
            429,
            r#"{"code":"rate_limited","title":"Too many requests"}"#,
        );
        assert_eq!(other.too_many_attempts(), None);
    }

    #[test]
    fn wait_text_rounds_up_to_minutes() {
        assert_eq!(wait_text(None), "later");
        assert_eq!(wait_text(Some(0)), "in a minute");
        assert_eq!(wait_text(Some(59)), "in a minute");
        assert_eq!(wait_text(Some(60)), "in a minute");
        assert_eq!(wait_text(Some(61)), "in 2 minutes");
        assert_eq!(wait_text(Some(900)), "in 15 minutes");
    }

    #[test]
    fn remaining_factors_parse() {
        let f: RemainingFactors = serde_json::from_str(
            r#"{"totp":true,"passkeys":[{"name":"Laptop","created_at":"2026-11-23T13:44:10Z"}]}"#,
        )
        .unwrap();
        assert!(f.totp);
        assert_eq!(f.passkeys[0].name, "Laptop");
    }
}
