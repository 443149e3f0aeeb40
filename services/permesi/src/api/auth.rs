//! `/v1/auth/...`: OPAQUE signup and login, email verification.

use axum::{
    Json,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use serde::{Deserialize, Serialize};
use server::client_ip::ClientIp;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::{
    app::AppState,
    audit::{Action, Actor, Context, Outcome, Record},
    auth,
    error::Error,
    identity::email::{BlindIndex, Email},
    sessions::AuthMethod,
    store::users,
    verification::VerificationError,
};

/// OPAQUE registration request (RFC 9807 `RegistrationRequest`, base64url without padding).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupStart {
    /// The account's email address.
    pub email: String,
    /// base64url `RegistrationRequest` (32 bytes).
    pub request: String,
}

/// The server's registration response and the handle of this signup.
#[derive(Debug, Serialize, ToSchema)]
pub struct SignupStarted {
    /// Send back with the finish (valid 5 minutes, once).
    pub signup_id: String,
    /// base64url `RegistrationResponse` (64 bytes).
    pub response: String,
}

/// The client's registration upload.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SignupFinish {
    /// From the start.
    pub signup_id: String,
    /// The same address as the start.
    pub email: String,
    /// base64url `RegistrationUpload` (192 bytes).
    pub upload: String,
}

/// OPAQUE credential request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginStart {
    /// The account's email address.
    pub email: String,
    /// base64url `CredentialRequest` (KE1, 96 bytes).
    pub request: String,
}

/// The server's credential response and the handle of this login.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginStarted {
    /// Send back with the finish (valid 2 minutes, once).
    pub login_id: String,
    /// base64url `CredentialResponse` (KE2, 320 bytes).
    pub response: String,
}

/// The client's key-exchange finalization.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginFinish {
    /// From the start.
    pub login_id: String,
    /// base64url `CredentialFinalization` (KE3, 64 bytes).
    pub finalization: String,
}

/// A verification link's token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmail {
    /// The `token` query parameter of the link.
    #[schema(value_type = String)]
    pub token: server::Secret<String>,
}

/// An address to send a new verification link to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResendVerification {
    /// The account's email address.
    pub email: String,
}

/// The same answer whether or not the address has an account.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckEmail {
    /// Always `check_email`.
    pub status: &'static str,
}

const CHECK_EMAIL: CheckEmail = CheckEmail {
    status: "check_email",
};

/// Starts a signup. Requires an admission token for `signup` in `X-Permesi-Admission`.
#[utoipa::path(post, path = "/v1/auth/opaque/signup/start", tag = "auth",
    request_body = SignupStart,
    params(("x-permesi-admission" = String, Header, description = "Admission token for `signup` from genesis")),
    responses(
        (status = 200, body = SignupStarted),
        (status = 400, description = "invalid_email, malformed", body = server::Problem, content_type = "application/problem+json"),
        (status = 401, description = "admission_required, admission_invalid, admission_replayed", body = server::Problem, content_type = "application/problem+json"),
        (status = 403, description = "admission_wrong_action", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn signup_start(
    State(state): State<AppState>,
    Json(body): Json<SignupStart>,
) -> Result<Json<SignupStarted>, Error> {
    let (signup_id, response) =
        auth::signup_start(state.auth_parts(), &body.email, &body.request).await?;
    Ok(Json(SignupStarted {
        signup_id,
        response,
    }))
}

/// Finishes a signup and sends a verification link. Answers `202` whether or not the address
/// already had an account.
#[utoipa::path(post, path = "/v1/auth/opaque/signup/finish", tag = "auth",
    request_body = SignupFinish,
    responses(
        (status = 202, body = CheckEmail),
        (status = 400, description = "ceremony_expired, invalid_email, malformed", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn signup_finish(
    State(state): State<AppState>,
    context: Context,
    Json(body): Json<SignupFinish>,
) -> Result<impl IntoResponse, Error> {
    let signup = auth::signup_check(
        state.auth_parts(),
        &body.signup_id,
        &body.email,
        &body.upload,
    )
    .await?;
    // Answered before anything is stored, so a new address and one with an account (verified
    // or not) take the same time.
    tokio::spawn(async move {
        let stored = auth::signup_register(
            state.auth_parts(),
            &state.link_base,
            signup,
            &context,
            OffsetDateTime::now_utc(),
        )
        .await;
        if let Err(e) = stored {
            tracing::warn!(error = %e, "signup could not be stored");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(CHECK_EMAIL)))
}

/// Starts a login. Requires an admission token for `login`.
#[utoipa::path(post, path = "/v1/auth/opaque/login/start", tag = "auth",
    request_body = LoginStart,
    params(("x-permesi-admission" = String, Header, description = "Admission token for `login` from genesis")),
    responses(
        (status = 200, body = LoginStarted),
        (status = 400, description = "invalid_email, malformed", body = server::Problem, content_type = "application/problem+json"),
        (status = 401, description = "admission_required, admission_invalid, admission_replayed", body = server::Problem, content_type = "application/problem+json"),
        (status = 429, description = "too_many_attempts: failed logins from this address; see Retry-After", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn login_start(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    context: Context,
    Json(body): Json<LoginStart>,
) -> Result<Json<LoginStarted>, Error> {
    let (login_id, response) =
        auth::login_start(state.auth_parts(), ip, &body.email, &body.request, &context).await?;
    Ok(Json(LoginStarted { login_id, response }))
}

/// Finishes a login.
#[utoipa::path(post, path = "/v1/auth/opaque/login/finish", tag = "auth",
    request_body = LoginFinish,
    responses(
        (status = 204, description = "Logged in: `Set-Cookie: __Host-permesi_session=...; Path=/; HttpOnly; Secure; SameSite=Lax`"),
        (status = 200, body = super::mfa::MfaRequired, description = "Password right, second factor needed: `Set-Cookie: permesi_mfa=...` (5 minutes); continue at /v1/auth/mfa/totp or /v1/auth/mfa/recovery"),
        (status = 400, description = "malformed", body = server::Problem, content_type = "application/problem+json"),
        (status = 401, description = "authentication_failed (wrong password, unknown, unverified or disabled account, expired login: never says which)", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn login_finish(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    context: Context,
    headers: HeaderMap,
    Json(body): Json<LoginFinish>,
) -> Result<Response, Error> {
    let password = auth::login_finish(
        state.auth_parts(),
        &body.login_id,
        &body.finalization,
        &context,
    )
    .await?;
    super::mfa::primary_factor_passed(
        &state,
        password.user,
        &[AuthMethod::Pwd],
        Some(&password),
        ip,
        &headers,
        &context,
    )
    .await
}

/// Confirms an email address with the token from its verification link.
#[utoipa::path(post, path = "/v1/auth/verify-email", tag = "auth",
    request_body = VerifyEmail,
    params(("x-permesi-admission" = String, Header, description = "Admission token for `verify_email` from genesis")),
    responses(
        (status = 204, description = "Verified"),
        (status = 400, description = "invalid_or_expired_token", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn verify_email(
    State(state): State<AppState>,
    context: Context,
    Json(body): Json<VerifyEmail>,
) -> Result<StatusCode, Error> {
    match state
        .verification
        .verify(body.token.expose(), &context, OffsetDateTime::now_utc())
        .await
    {
        Ok(_) => Ok(StatusCode::NO_CONTENT),
        Err(VerificationError::InvalidOrExpired) => Err(Error::InvalidToken),
        Err(e) => Err(Error::Unavailable(format!("verification: {e}"))),
    }
}

/// Sends a new verification link (at most one per cooldown). Answers `202` at once in every
/// case and does the work afterwards, so neither the answer nor its timing tells whether the
/// address has an account, or an unverified one.
#[utoipa::path(post, path = "/v1/auth/resend-verification", tag = "auth",
    request_body = ResendVerification,
    params(("x-permesi-admission" = String, Header, description = "Admission token for `resend_verification` from genesis")),
    responses((status = 202, body = CheckEmail)))]
pub async fn resend_verification(
    State(state): State<AppState>,
    context: Context,
    Json(body): Json<ResendVerification>,
) -> Result<impl IntoResponse, Error> {
    if let Ok(address) = Email::parse(&body.email) {
        tokio::spawn(async move {
            if let Err(e) = resend_in_background(&state, &address, &context).await {
                tracing::warn!(error = %e, "verification resend failed");
            }
        });
    }
    Ok((StatusCode::ACCEPTED, Json(CHECK_EMAIL)))
}

/// The work of [`resend_verification`], after its answer. An address without an account is
/// audited as a failed resend (reason `unknown_account`); the others by
/// [`crate::verification::EmailVerification::resend`].
async fn resend_in_background(
    state: &AppState,
    address: &Email,
    context: &Context,
) -> Result<(), Error> {
    let now = OffsetDateTime::now_utc();
    let index = BlindIndex::of(&state.email_index, address);
    let Some((user, _)) = users::email_of_index(&state.pool, &index).await? else {
        let record = Record::new(
            context,
            Actor::Anonymous,
            Action::VerificationResent,
            Outcome::Failure,
        )
        .detail("reason", "unknown_account");
        state.audit.append_alone(&state.pool, &record, now).await?;
        return Ok(());
    };
    match state.verification.resend(user, address, context, now).await {
        Ok(_) | Err(VerificationError::UnknownUser) => Ok(()),
        Err(e) => Err(Error::Unavailable(format!("verification: {e}"))),
    }
}

/// An address to send a password reset link to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    /// The account's email address.
    pub email: String,
}

/// A reset link's token and the OPAQUE registration request made with the new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetStart {
    /// The `token` query parameter of the link.
    #[schema(value_type = String)]
    pub token: server::Secret<String>,
    /// base64url `RegistrationRequest` (32 bytes).
    pub request: String,
}

/// The server's registration response and the handle of this reset.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordResetStarted {
    /// Send back with the finish (valid 5 minutes, once).
    pub reset_id: String,
    /// base64url `RegistrationResponse` (64 bytes).
    pub response: String,
}

/// The client's registration upload for the new password.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetFinish {
    /// From the start.
    pub reset_id: String,
    /// base64url `RegistrationUpload` (192 bytes).
    pub upload: String,
}

/// Sends a password reset link (at most one per minute per account). Answers `202` at once in
/// every case and does the work afterwards, so neither the answer nor its timing tells whether
/// the address has an account.
#[utoipa::path(post, path = "/v1/auth/password-reset", tag = "auth",
    request_body = PasswordResetRequest,
    params(("x-permesi-admission" = String, Header, description = "Admission token for `password_reset` from genesis")),
    responses(
        (status = 202, body = CheckEmail),
        (status = 400, description = "invalid_email", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn password_reset_request(
    State(state): State<AppState>,
    context: Context,
    Json(body): Json<PasswordResetRequest>,
) -> Result<impl IntoResponse, Error> {
    let address = Email::parse(&body.email).map_err(|_| Error::InvalidEmail)?;
    tokio::spawn(async move {
        let now = OffsetDateTime::now_utc();
        let done = auth::reset::request(
            state.auth_parts(),
            &state.link_base,
            &address,
            &context,
            now,
        )
        .await;
        if let Err(e) = done {
            tracing::warn!(error = %e, "password reset request failed");
        }
    });
    Ok((StatusCode::ACCEPTED, Json(CHECK_EMAIL)))
}

/// Starts a password reset with the token from its link (the token is spent by the finish).
#[utoipa::path(post, path = "/v1/auth/password-reset/start", tag = "auth",
    request_body = PasswordResetStart,
    responses(
        (status = 200, body = PasswordResetStarted),
        (status = 400, description = "invalid_or_expired_token, malformed", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn password_reset_start(
    State(state): State<AppState>,
    Json(body): Json<PasswordResetStart>,
) -> Result<Json<PasswordResetStarted>, Error> {
    let (reset_id, response) = auth::reset::start(
        state.auth_parts(),
        body.token.expose(),
        &body.request,
        OffsetDateTime::now_utc(),
    )
    .await?;
    Ok(Json(PasswordResetStarted { reset_id, response }))
}

/// Finishes a password reset: the new password replaces the old one, the link is spent, and
/// every session of the account ends. Log in afterwards (with the second factor, if any).
/// The sign-in factors still on an account after a reset: a reset replaces the password
/// only, so the owner is shown what else can sign in (an attacker's passkey or TOTP would
/// otherwise survive unnoticed).
#[derive(Debug, Serialize, ToSchema)]
pub struct RemainingFactors {
    /// Whether TOTP is on.
    pub totp: bool,
    /// The account's passkeys.
    pub passkeys: Vec<crate::mfa::passkeys::PasskeyLine>,
}

/// What a finished reset answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordResetDone {
    /// Factors to review after logging in.
    pub factors: RemainingFactors,
}

#[utoipa::path(post, path = "/v1/auth/password-reset/finish", tag = "auth",
    request_body = PasswordResetFinish,
    responses(
        (status = 200, body = PasswordResetDone, description = "Password replaced; every session ended; the factors still on the account"),
        (status = 400, description = "invalid_or_expired_token, ceremony_expired, malformed", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn password_reset_finish(
    State(state): State<AppState>,
    context: Context,
    Json(body): Json<PasswordResetFinish>,
) -> Result<Response, Error> {
    let (user, ended) = auth::reset::finish(
        state.auth_parts(),
        &body.reset_id,
        &body.upload,
        &context,
        OffsetDateTime::now_utc(),
    )
    .await?;
    tracing::info!(ended, "password reset; every session ended");
    super::mfa::notify(
        &state,
        user,
        crate::verification::delivery::Notice::PasswordChanged,
    )
    .await;
    let factors = RemainingFactors {
        totp: state.mfa.required(user).await?,
        passkeys: state.passkeys.list(user).await?,
    };
    Ok(super::no_store(
        Json(PasswordResetDone { factors }).into_response(),
    ))
}
