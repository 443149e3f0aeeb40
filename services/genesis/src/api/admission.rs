//! `POST /v1/pow/challenge` and `POST /v1/admission`.

use axum::{Json, extract::State};
use serde::{Deserialize, Serialize};
use server::client_ip::ClientIp;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::{app::AppState, audit::MintRecord, error::Error};

/// Asks for a challenge.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    /// The action to be admitted to, e.g. `signup`, `login`.
    #[schema(example = "signup")]
    pub action: String,
}

/// A challenge to solve: find a nonce such that SHA-256(challenge bytes || nonce as 8
/// big-endian bytes) starts with `difficulty` zero bits.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChallengeResponse {
    /// Opaque base64url challenge, sent back unchanged with the solution.
    pub challenge: String,
    /// The action it admits to.
    pub action: String,
    /// Leading zero bits required.
    pub difficulty: u8,
    /// When the challenge stops being accepted (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
}

/// A solved challenge.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AdmissionRequest {
    /// The challenge as received.
    pub challenge: String,
    /// The nonce found.
    pub solution: u64,
}

/// An admission token for permesi.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdmissionResponse {
    /// PASETO v4.public token; send it to permesi in `X-Permesi-Admission`.
    pub token: String,
    /// When it expires (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub expires_at: OffsetDateTime,
    /// The action it admits to.
    pub action: String,
}

/// Issues a stateless, MAC'd proof-of-work challenge for an action.
#[utoipa::path(post, path = "/v1/pow/challenge", tag = "admission",
    request_body = ChallengeRequest,
    responses(
        (status = 200, description = "A challenge", body = ChallengeResponse),
        (status = 400, description = "Unknown action or malformed body", body = server::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = server::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited; see Retry-After", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn challenge(
    State(state): State<AppState>,
    Json(request): Json<ChallengeRequest>,
) -> Result<Json<ChallengeResponse>, Error> {
    let issued = state
        .admissions
        .challenge(&request.action, OffsetDateTime::now_utc())
        .inspect_err(|e| state.metrics.refused.with_label_values(&[e.code()]).inc())?;
    Ok(Json(ChallengeResponse {
        challenge: issued.challenge,
        action: issued.action,
        difficulty: issued.difficulty,
        expires_at: issued.expires_at,
    }))
}

/// Verifies a solved challenge (once) and mints a short-lived admission token.
#[utoipa::path(post, path = "/v1/admission", tag = "admission",
    request_body = AdmissionRequest,
    responses(
        (status = 200, description = "An admission token", body = AdmissionResponse),
        (status = 400, description = "Forged, expired, malformed or unsolved challenge", body = server::Problem, content_type = "application/problem+json"),
        (status = 409, description = "Challenge already used", body = server::Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = server::Problem, content_type = "application/problem+json"),
        (status = 429, description = "Rate limited; see Retry-After", body = server::Problem, content_type = "application/problem+json"),
        (status = 503, description = "Key backend or replay store unavailable", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn admit(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    Json(request): Json<AdmissionRequest>,
) -> Result<Json<AdmissionResponse>, Error> {
    let admission = state
        .admissions
        .admit(
            &request.challenge,
            request.solution,
            OffsetDateTime::now_utc(),
        )
        .await
        .inspect_err(|e| state.metrics.refused.with_label_values(&[e.code()]).inc())?;
    state
        .metrics
        .minted
        .with_label_values(&[admission.action.as_str()])
        .inc();
    if let Some(audit) = &state.audit {
        audit.record(MintRecord {
            jti: admission.jti.clone(),
            action: admission.action.clone(),
            kid: admission.kid.as_str().to_owned(),
            issued_at: admission.issued_at,
            expires_at: admission.expires_at,
            client_ip,
        });
    }
    Ok(Json(AdmissionResponse {
        token: admission.token,
        expires_at: admission.expires_at,
        action: admission.action,
    }))
}
