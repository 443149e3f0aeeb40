//! The second factor: the MFA step of every login, TOTP enrolment, recovery codes, and
//! passkeys (register while logged in; log in with one).

use axum::{
    Json,
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};
use utoipa::ToSchema;
use uuid::Uuid;

use std::net::IpAddr;

use server::client_ip::ClientIp;

use super::session::CurrentSession;
use crate::{
    app::AppState,
    audit::{Action, Actor, Context, Outcome, Record},
    auth::PasswordPassed,
    error::Error,
    identity::email::{self, BlindIndex, Email},
    mfa::{challenge, passkeys::PasskeyLine},
    sessions::{self, AuthMethod, Session},
    store::users,
    throttle::{self, Lane},
    verification::delivery::Notice,
};

/// How recently a session must have proved a factor (its login, or a step-up at
/// `/v1/me/reauthenticate/...`) to change how the account signs in: password, TOTP, recovery
/// codes, passkeys, deletion. A stolen session alone cannot add an attacker's factor.
pub const REAUTH_WINDOW: Duration = Duration::minutes(10);

/// The primary factor passed; the second is needed.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaRequired {
    /// Always `true`.
    pub mfa_required: bool,
    /// What can be presented: `totp`, `recovery_code`.
    pub methods: Vec<&'static str>,
}

use super::no_store;

fn cookie_header(value: &str) -> Result<HeaderValue, Error> {
    HeaderValue::from_str(value).map_err(|_| Error::Unavailable("cookie header".into()))
}

/// Makes the session of a finished login (a new id every time; a session cookie planted
/// before login is revoked) and answers `204` with its cookie.
pub async fn start_session(
    state: &AppState,
    user: Uuid,
    methods: &[AuthMethod],
    password_generation: Option<i64>,
    headers: &HeaderMap,
    context: &Context,
    extra: Option<HeaderValue>,
) -> Result<Response, Error> {
    let now = OffsetDateTime::now_utc();
    let policy = state.sessions.policy();
    if let Some(previous) = sessions::cookie_from_headers(headers, policy.cookie_name()) {
        state
            .sessions
            .revoke_presented(&previous, Action::SessionRevoked, context, now)
            .await?;
    }
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let created = state
        .sessions
        .create(user, methods, password_generation, user_agent, context, now)
        .await;
    let (_, cookie) = match created {
        Ok(created) => created,
        Err(crate::sessions::SessionError::UnknownUser) => {
            // Deleted, disabled, or its password replaced while this login was under way.
            let record = Record::new(context, Actor::Anonymous, Action::Login, Outcome::Failure)
                .target("user", user)
                .detail("reason", "account_changed");
            state.audit.append_alone(&state.pool, &record, now).await?;
            return Err(Error::AuthenticationFailed);
        }
        Err(e) => return Err(e.into()),
    };
    let mut response = (
        StatusCode::NO_CONTENT,
        [(
            header::SET_COOKIE,
            cookie_header(&sessions::set_cookie(&cookie, policy))?,
        )],
    )
        .into_response();
    if let Some(extra) = extra {
        response.headers_mut().append(header::SET_COOKIE, extra);
    }
    Ok(no_store(response))
}

/// After a primary factor (password or passkey): the session, or — when the user has TOTP
/// on — the MFA challenge, bound to this browser by its cookie. A password login passes its
/// [`PasswordPassed`]: the session (now or after the MFA step) is only created on the password
/// generation the login started with, and the login throttle of the account is cleared only
/// once the session exists.
pub async fn primary_factor_passed(
    state: &AppState,
    user: Uuid,
    methods: &[AuthMethod],
    password: Option<&PasswordPassed>,
    ip: IpAddr,
    headers: &HeaderMap,
    context: &Context,
) -> Result<Response, Error> {
    if !state.mfa.required(user).await? {
        let response = start_session(
            state,
            user,
            methods,
            password.map(|p| p.generation),
            headers,
            context,
            None,
        )
        .await?;
        if let Some(p) = password {
            state.throttle.settle(Lane::Password, ip, &p.index).await?;
        }
        return Ok(response);
    }
    let now = OffsetDateTime::now_utc();
    let id = challenge::open(
        &state.ceremonies,
        &challenge::Pending::new(user, methods, password, now),
    )
    .await?;
    let amr: Vec<&str> = methods.iter().map(|m| m.as_str()).collect();
    let record = Record::new(
        context,
        Actor::User(user),
        Action::MfaChallenged,
        Outcome::Success,
    )
    .target("user", user)
    .detail("amr", amr);
    state.audit.append_alone(&state.pool, &record, now).await?;
    let secure = state.sessions.policy().secure();
    let response = (
        StatusCode::OK,
        [(
            header::SET_COOKIE,
            cookie_header(&challenge::set_cookie(&id, secure))?,
        )],
        Json(MfaRequired {
            mfa_required: true,
            methods: vec!["totp", "recovery_code"],
        }),
    )
        .into_response();
    Ok(no_store(response))
}

/// A one-time code.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Code {
    /// The 6-digit TOTP code, or a recovery code.
    #[schema(value_type = String)]
    pub code: server::Secret<String>,
}

#[derive(Clone, Copy)]
enum SecondFactor {
    Totp,
    Recovery,
}

async fn second_factor(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    context: &Context,
    code: &str,
    kind: SecondFactor,
) -> Result<Response, Error> {
    let now = OffsetDateTime::now_utc();
    let id = sessions::cookie_value(headers, challenge::COOKIE)
        .ok_or(Error::AuthenticationFailed)?
        .to_owned();
    let Some(pending) = challenge::take(&state.ceremonies, &id, now).await? else {
        return Err(Error::AuthenticationFailed);
    };
    let user = pending.user;
    // Every code counts against the account, across challenges and networks (a guesser who
    // holds the password cannot buy fresh codes by logging in again from elsewhere).
    let account = throttle::user_account(user);
    if let Err(refused) = state
        .throttle
        .attempt(Lane::SecondFactor, ip, Some(&account), now)
        .await?
    {
        challenge::retry(&state.ceremonies, &id, pending, now).await?;
        return Err(crate::auth::throttled(
            state.auth_parts(),
            Lane::SecondFactor,
            &account,
            ip,
            refused,
            context,
            now,
        )
        .await);
    }
    let valid = match kind {
        SecondFactor::Totp => state.mfa.check_totp(user, code, now).await?,
        SecondFactor::Recovery => state.mfa.use_recovery_code(user, code, now).await?,
    };
    let method = match kind {
        SecondFactor::Totp => "totp",
        SecondFactor::Recovery => "recovery_code",
    };
    let password_index = pending.account_index.map(BlindIndex);
    if !valid {
        let retry = challenge::retry(&state.ceremonies, &id, pending, now).await?;
        let record = Record::new(
            context,
            Actor::Anonymous,
            Action::MfaVerified,
            Outcome::Failure,
        )
        .target("user", user)
        .detail("method", method)
        .detail("challenge_ended", !retry);
        state.audit.append_alone(&state.pool, &record, now).await?;
        return Err(Error::AuthenticationFailed);
    }
    let record = Record::new(
        context,
        Actor::User(user),
        Action::MfaVerified,
        Outcome::Success,
    )
    .target("user", user)
    .detail("method", method);
    state.audit.append_alone(&state.pool, &record, now).await?;
    let mut methods = pending.methods();
    methods.extend([AuthMethod::Otp, AuthMethod::Mfa]);
    let clear = cookie_header(&challenge::clear_cookie(state.sessions.policy().secure()))?;
    let response = start_session(
        state,
        user,
        &methods,
        pending.password_generation,
        headers,
        context,
        Some(clear),
    )
    .await?;
    state
        .throttle
        .settle(Lane::SecondFactor, ip, &account)
        .await?;
    if let Some(index) = &password_index {
        state.throttle.settle(Lane::Password, ip, index).await?;
    }
    Ok(response)
}

/// The second step of a login with a TOTP code (once per code; 5 tries per challenge).
#[utoipa::path(post, path = "/v1/auth/mfa/totp", tag = "mfa",
    request_body = Code,
    params(("x-permesi-admission" = String, Header, description = "Admission token for `mfa` from genesis")),
    responses(
        (status = 204, description = "Logged in: session cookie set, challenge cookie cleared"),
        (status = 401, description = "authentication_failed (wrong, reused or expired code, no challenge)", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn mfa_totp(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    context: Context,
    headers: HeaderMap,
    Json(body): Json<Code>,
) -> Result<Response, Error> {
    second_factor(
        &state,
        ip,
        &headers,
        &context,
        body.code.expose(),
        SecondFactor::Totp,
    )
    .await
}

/// The second step of a login with a recovery code (each works once).
#[utoipa::path(post, path = "/v1/auth/mfa/recovery", tag = "mfa",
    request_body = Code,
    params(("x-permesi-admission" = String, Header, description = "Admission token for `mfa` from genesis")),
    responses(
        (status = 204, description = "Logged in: session cookie set, challenge cookie cleared"),
        (status = 401, description = "authentication_failed", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn mfa_recovery(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    context: Context,
    headers: HeaderMap,
    Json(body): Json<Code>,
) -> Result<Response, Error> {
    second_factor(
        &state,
        ip,
        &headers,
        &context,
        body.code.expose(),
        SecondFactor::Recovery,
    )
    .await
}

/// The caller's second factors.
#[derive(Debug, Serialize, ToSchema)]
pub struct MfaStatus {
    /// TOTP is on (required at every login).
    pub totp: bool,
    /// Unused recovery codes.
    pub recovery_codes_left: i64,
    /// Registered passkeys.
    pub passkeys: usize,
}

/// The caller's second factors.
#[utoipa::path(get, path = "/v1/me/mfa", tag = "mfa",
    responses((status = 200, body = MfaStatus)))]
pub async fn status(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
) -> Result<Json<MfaStatus>, Error> {
    let status = state.mfa.status(session.user_id).await?;
    Ok(Json(MfaStatus {
        totp: status.totp,
        recovery_codes_left: status.recovery_codes_left,
        passkeys: state.passkeys.list(session.user_id).await?.len(),
    }))
}

async fn account_name(state: &AppState, user: Uuid) -> Result<String, Error> {
    let (address, _) = email::of_user(&state.pool, state.cipher.as_ref(), user)
        .await?
        .ok_or(Error::Unauthenticated)?;
    Ok(address.as_str().to_owned())
}

/// A TOTP secret to scan.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpEnrolment {
    /// Base32 secret, for typing.
    #[serde(serialize_with = "super::expose")]
    #[schema(value_type = String)]
    pub secret: server::Secret<String>,
    /// The `otpauth://` URI.
    pub otpauth_uri: String,
    /// The URI as a QR code (SVG).
    pub qr_svg: String,
}

/// Starts TOTP enrolment (a new secret, off until confirmed).
#[utoipa::path(post, path = "/v1/me/totp/enrol", tag = "mfa",
    responses(
        (status = 200, body = TotpEnrolment),
        (status = 409, description = "totp_already_enabled", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn totp_enrol(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
) -> Result<Response, Error> {
    recent(&session)?;
    let account = account_name(&state, session.user_id).await?;
    let enrolment = state
        .mfa
        .enrol(session.user_id, &account, OffsetDateTime::now_utc())
        .await?;
    Ok(no_store(
        Json(TotpEnrolment {
            secret: enrolment.secret.into(),
            otpauth_uri: enrolment.uri,
            qr_svg: enrolment.qr_svg,
        })
        .into_response(),
    ))
}

/// Recovery codes, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecoveryCodes {
    /// Ten single-use codes.
    #[serde(serialize_with = "super::expose")]
    #[schema(value_type = Vec<String>)]
    pub recovery_codes: server::Secret<Vec<String>>,
}

/// Turns TOTP on with a first valid code; returns the recovery codes (shown once).
#[utoipa::path(post, path = "/v1/me/totp/confirm", tag = "mfa",
    request_body = Code,
    responses(
        (status = 200, body = RecoveryCodes),
        (status = 400, description = "invalid_code", body = server::Problem, content_type = "application/problem+json"),
        (status = 409, description = "totp_not_enrolled, totp_already_enabled", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn totp_confirm(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
    Json(body): Json<Code>,
) -> Result<Response, Error> {
    recent(&session)?;
    let recovery_codes = state
        .mfa
        .confirm(
            session.user_id,
            body.code.expose(),
            &context,
            OffsetDateTime::now_utc(),
        )
        .await?;
    notify(&state, session.user_id, Notice::TotpEnabled).await;
    Ok(no_store(
        Json(RecoveryCodes {
            recovery_codes: recovery_codes.into(),
        })
        .into_response(),
    ))
}

/// Tells the account's owner by mail that a sign-in factor changed (after the change
/// committed; a failure is logged, never undoes it).
pub(crate) async fn notify(state: &AppState, user: Uuid, notice: Notice) {
    if let Err(e) = state
        .verification
        .notify(user, notice, OffsetDateTime::now_utc())
        .await
    {
        tracing::warn!(error = %e, notice = notice.as_str(), "security notice not queued");
    }
}

/// Refuses sessions that proved no factor within [`REAUTH_WINDOW`] (changes to how the
/// account signs in): `403 reauthentication_required`, answered with a step-up.
pub(crate) fn recent(session: &Session) -> Result<(), Error> {
    if OffsetDateTime::now_utc() - session.authenticated_at > REAUTH_WINDOW {
        return Err(Error::ReauthenticationRequired);
    }
    Ok(())
}

/// Turns TOTP off (needs a login in the last 10 minutes).
#[utoipa::path(post, path = "/v1/me/totp/disable", tag = "mfa",
    responses(
        (status = 204, description = "TOTP and recovery codes removed"),
        (status = 403, description = "reauthentication_required", body = server::Problem, content_type = "application/problem+json"),
        (status = 409, description = "totp_not_enrolled", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn totp_disable(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
) -> Result<StatusCode, Error> {
    recent(&session)?;
    state
        .mfa
        .disable(session.user_id, &context, OffsetDateTime::now_utc())
        .await?;
    notify(&state, session.user_id, Notice::TotpDisabled).await;
    Ok(StatusCode::NO_CONTENT)
}

/// New recovery codes replace the old ones (needs a login in the last 10 minutes).
#[utoipa::path(post, path = "/v1/me/recovery-codes", tag = "mfa",
    responses(
        (status = 200, body = RecoveryCodes),
        (status = 403, description = "reauthentication_required", body = server::Problem, content_type = "application/problem+json"),
        (status = 409, description = "totp_not_enabled", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn recovery_codes(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
) -> Result<Response, Error> {
    recent(&session)?;
    let recovery_codes = state
        .mfa
        .regenerate_recovery_codes(session.user_id, &context, OffsetDateTime::now_utc())
        .await?;
    notify(&state, session.user_id, Notice::RecoveryCodesRegenerated).await;
    Ok(no_store(
        Json(RecoveryCodes {
            recovery_codes: recovery_codes.into(),
        })
        .into_response(),
    ))
}

/// A ceremony's options for `navigator.credentials.create()` / `.get()`.
#[derive(Debug, Serialize, ToSchema)]
pub struct CeremonyStarted {
    /// Send back with the finish (5 minutes, once).
    pub ceremony_id: String,
    /// The WebAuthn options (`{"publicKey": {...}}`).
    #[schema(value_type = Object)]
    pub options: serde_json::Value,
}

pub(crate) fn options_json<T: Serialize>(options: &T) -> Result<serde_json::Value, Error> {
    serde_json::to_value(options).map_err(|e| Error::Unavailable(e.to_string()))
}

/// Starts registering a passkey for the logged-in user.
#[utoipa::path(post, path = "/v1/me/passkeys/register/start", tag = "mfa",
    responses((status = 200, body = CeremonyStarted)))]
pub async fn passkey_register_start(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
) -> Result<Response, Error> {
    recent(&session)?;
    let account = account_name(&state, session.user_id).await?;
    let (ceremony_id, options) = state
        .passkeys
        .register_start(&state.ceremonies, session.user_id, &account)
        .await?;
    Ok(no_store(
        Json(CeremonyStarted {
            ceremony_id,
            options: options_json(&options)?,
        })
        .into_response(),
    ))
}

/// The authenticator's answer to a registration.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRegisterFinish {
    /// From the start.
    pub ceremony_id: String,
    /// The user's name for it (1 to 64 characters).
    pub name: String,
    /// The `PublicKeyCredential` from `navigator.credentials.create()`, as JSON.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Finishes registering a passkey.
#[utoipa::path(post, path = "/v1/me/passkeys/register/finish", tag = "mfa",
    request_body = PasskeyRegisterFinish,
    responses(
        (status = 201, body = PasskeyLine),
        (status = 400, description = "ceremony_expired, malformed, invalid_credential", body = server::Problem, content_type = "application/problem+json"),
        (status = 409, description = "passkey_exists", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn passkey_register_finish(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
    Json(body): Json<PasskeyRegisterFinish>,
) -> Result<(StatusCode, Json<PasskeyLine>), Error> {
    recent(&session)?;
    let credential = serde_json::from_value(body.credential).map_err(|_| Error::Malformed)?;
    let line = state
        .passkeys
        .register_finish(
            &state.ceremonies,
            session.user_id,
            crate::mfa::passkeys::Answer {
                ceremony_id: &body.ceremony_id,
                name: &body.name,
                credential: &credential,
            },
            &context,
            OffsetDateTime::now_utc(),
        )
        .await?;
    notify(&state, session.user_id, Notice::PasskeyAdded).await;
    Ok((StatusCode::CREATED, Json(line)))
}

/// The caller's passkeys.
#[utoipa::path(get, path = "/v1/me/passkeys", tag = "mfa",
    responses((status = 200, body = [PasskeyLine])))]
pub async fn passkey_list(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
) -> Result<Json<Vec<PasskeyLine>>, Error> {
    Ok(Json(state.passkeys.list(session.user_id).await?))
}

/// A new name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyRename {
    /// 1 to 64 characters.
    pub name: String,
}

/// Renames one of the caller's passkeys.
#[utoipa::path(patch, path = "/v1/me/passkeys/{id}", tag = "mfa",
    params(("id" = Uuid, Path, description = "Passkey id")),
    request_body = PasskeyRename,
    responses(
        (status = 204, description = "Renamed"),
        (status = 404, description = "not_found", body = server::Problem, content_type = "application/problem+json"),
        (status = 422, description = "passkey_name", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn passkey_rename(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
    Path(id): Path<Uuid>,
    Json(body): Json<PasskeyRename>,
) -> Result<StatusCode, Error> {
    state
        .passkeys
        .rename(
            session.user_id,
            id,
            &body.name,
            &context,
            OffsetDateTime::now_utc(),
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes one of the caller's passkeys (not the last credential of an account without a
/// password).
#[utoipa::path(delete, path = "/v1/me/passkeys/{id}", tag = "mfa",
    params(("id" = Uuid, Path, description = "Passkey id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "not_found", body = server::Problem, content_type = "application/problem+json"),
        (status = 409, description = "last_credential", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn passkey_delete(
    State(state): State<AppState>,
    CurrentSession(session): CurrentSession,
    context: Context,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, Error> {
    recent(&session)?;
    state
        .passkeys
        .delete(session.user_id, id, &context, OffsetDateTime::now_utc())
        .await?;
    notify(&state, session.user_id, Notice::PasskeyRemoved).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Who is logging in: an email (its passkeys are offered), or nobody (a discoverable passkey
/// names its user).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyLoginStart {
    /// The account's email; omit for a discoverable (usernameless) login.
    pub email: Option<String>,
}

/// Starts a passkey login.
#[utoipa::path(post, path = "/v1/auth/passkey/start", tag = "mfa",
    request_body = PasskeyLoginStart,
    params(("x-permesi-admission" = String, Header, description = "Admission token for `passkey_login` from genesis")),
    responses(
        (status = 200, body = CeremonyStarted),
        (status = 400, description = "invalid_email", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn passkey_login_start(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    context: Context,
    Json(body): Json<PasskeyLoginStart>,
) -> Result<Response, Error> {
    let index = body
        .email
        .as_deref()
        .map(|address| {
            Email::parse(address)
                .map(|address| BlindIndex::of(&state.email_index, &address))
                .map_err(|_| Error::InvalidEmail)
        })
        .transpose()?;
    // Passkey starts have a budget of their own: a locked password never blocks them.
    let now = OffsetDateTime::now_utc();
    if let Err(refused) = state
        .throttle
        .attempt(Lane::Passkey, ip, index.as_ref(), now)
        .await?
    {
        let key = index.clone().unwrap_or(BlindIndex([0; 32]));
        return Err(crate::auth::throttled(
            state.auth_parts(),
            Lane::Passkey,
            &key,
            ip,
            refused,
            &context,
            now,
        )
        .await);
    }
    let (ceremony_id, options) = match index {
        None => state.passkeys.login_start(&state.ceremonies, None).await?,
        Some(index) => {
            // Unknown, unverified and disabled accounts get the fake options.
            let user = users::find_by_index(&state.pool, &index)
                .await?
                .filter(|a| a.active && a.verified)
                .map(|a| a.id);
            state
                .passkeys
                .login_start(&state.ceremonies, Some((&index.0, user)))
                .await?
        }
    };
    Ok(no_store(
        Json(CeremonyStarted {
            ceremony_id,
            options: options_json(&options)?,
        })
        .into_response(),
    ))
}

/// The authenticator's assertion.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasskeyLoginFinish {
    /// From the start.
    pub ceremony_id: String,
    /// The `PublicKeyCredential` from `navigator.credentials.get()`, as JSON.
    #[schema(value_type = Object)]
    pub credential: serde_json::Value,
}

/// Checks a passkey assertion against its single-use ceremony: the account it proves and
/// how (`hwk` or `swk`). Used by the login and by the step-up.
pub(crate) async fn passkey_assertion(
    state: &AppState,
    body: PasskeyLoginFinish,
    context: &Context,
) -> Result<(Uuid, Vec<AuthMethod>), Error> {
    let credential = serde_json::from_value(body.credential).map_err(|_| Error::Malformed)?;
    state
        .passkeys
        .login_finish(
            &state.ceremonies,
            &body.ceremony_id,
            &credential,
            context,
            OffsetDateTime::now_utc(),
        )
        .await
}

/// Finishes a passkey login: a session, or the MFA step when the user has TOTP on.
#[utoipa::path(post, path = "/v1/auth/passkey/finish", tag = "mfa",
    request_body = PasskeyLoginFinish,
    responses(
        (status = 204, description = "Logged in: session cookie set"),
        (status = 200, body = MfaRequired, description = "Second factor needed (challenge cookie set)"),
        (status = 400, description = "malformed", body = server::Problem, content_type = "application/problem+json"),
        (status = 401, description = "authentication_failed", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn passkey_login_finish(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    context: Context,
    headers: HeaderMap,
    Json(body): Json<PasskeyLoginFinish>,
) -> Result<Response, Error> {
    let (user, methods) = passkey_assertion(&state, body, &context).await?;
    // The account may have been disabled since the credential was registered.
    if !users::is_active(&state.pool, user).await? {
        return Err(Error::AuthenticationFailed);
    }
    // The owner got in: their passkey starts begin a fresh budget.
    if let Some(index) = users::index_of(&state.pool, user).await? {
        state.throttle.settle(Lane::Passkey, ip, &index).await?;
    }
    primary_factor_passed(&state, user, &methods, None, ip, &headers, &context).await
}
