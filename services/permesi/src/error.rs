//! The one permesi error type and its mapping to HTTP problem details.
//!
//! Authentication failures are deliberately coarse: an unknown email, a wrong password, an
//! unverified or disabled account and an expired login all answer `401 authentication_failed`,
//! so the API cannot be used to learn who has an account.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
};
use server::Problem;

/// Everything a permesi request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not an email address.
    #[error("invalid email")]
    InvalidEmail,
    /// A protocol message that does not decode.
    #[error("malformed message")]
    Malformed,
    /// The ceremony handle is unknown, used or expired.
    #[error("ceremony expired")]
    CeremonyExpired,
    /// Login refused, for whatever reason (never says which).
    #[error("authentication failed")]
    AuthenticationFailed,
    /// A verification token that is unknown, used or expired.
    #[error("invalid or expired token")]
    InvalidToken,
    /// Too many failed logins from this address (for this account or overall).
    #[error("too many attempts")]
    TooManyAttempts {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// No valid session cookie.
    #[error("not logged in")]
    Unauthenticated,
    /// Nothing of the caller's under that id.
    #[error("not found")]
    NotFound,
    /// A dependency failed; details go to the log, never to the client.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    /// The platform already has an operator.
    #[error("already claimed")]
    AlreadyClaimed,
    /// Only platform operators may do this.
    #[error("operator required")]
    OperatorRequired,
    /// The operator's session must be elevated first.
    #[error("elevation required")]
    ElevationRequired,
    /// Not a valid operator token.
    #[error("invalid operator token")]
    InvalidOperatorToken,
    /// A wrong one-time code (TOTP enrolment).
    #[error("invalid code")]
    InvalidCode,
    /// A WebAuthn answer that does not verify (registration).
    #[error("invalid credential")]
    InvalidCredential,
    /// The action needs a recent login.
    #[error("reauthentication required")]
    ReauthenticationRequired,
    /// The request conflicts with the current state; the code says how.
    #[error("conflict: {0}")]
    Conflict(&'static str),
    /// A member of the organization without the role the action needs.
    #[error("forbidden")]
    Forbidden,
    /// A well-formed request with an unacceptable value; the code names it
    /// (`invalid_slug`, `invalid_redirect_uri`, ...).
    #[error("invalid: {0}")]
    Invalid(&'static str),
    /// An OAuth 2.0 / OpenID Connect protocol error, answered in the OAuth format
    /// (`{"error", "error_description"}`, RFC 6749 section 5.2) on the OAuth endpoints.
    #[error("oauth {error}: {description}")]
    OAuth {
        /// The registered error code (`invalid_request`, `invalid_grant`, ...).
        error: &'static str,
        /// A fixed, human-readable description (never request data).
        description: &'static str,
    },
}

impl Error {
    /// An OAuth protocol error.
    pub fn oauth(error: &'static str, description: &'static str) -> Self {
        Self::OAuth { error, description }
    }
}

impl Error {
    /// Stable code for problem details.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidEmail => "invalid_email",
            Self::Malformed => "malformed",
            Self::CeremonyExpired => "ceremony_expired",
            Self::AuthenticationFailed => "authentication_failed",
            Self::InvalidToken => "invalid_or_expired_token",
            Self::Unauthenticated => "unauthenticated",
            Self::TooManyAttempts { .. } => "too_many_attempts",
            Self::NotFound => "not_found",
            Self::Unavailable(_) => "unavailable",
            Self::AlreadyClaimed => "already_claimed",
            Self::OperatorRequired => "operator_required",
            Self::ElevationRequired => "elevation_required",
            Self::InvalidOperatorToken => "operator_token_invalid",
            Self::InvalidCode => "invalid_code",
            Self::InvalidCredential => "invalid_credential",
            Self::ReauthenticationRequired => "reauthentication_required",
            Self::Conflict(code) | Self::Invalid(code) => code,
            Self::Forbidden => "forbidden",
            Self::OAuth { error, .. } => error,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidEmail | Self::Malformed | Self::CeremonyExpired | Self::InvalidToken => {
                StatusCode::BAD_REQUEST
            }
            Self::AuthenticationFailed | Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::OperatorRequired | Self::ElevationRequired | Self::InvalidOperatorToken => {
                StatusCode::FORBIDDEN
            }
            Self::AlreadyClaimed | Self::Conflict(_) => StatusCode::CONFLICT,
            Self::InvalidCode | Self::InvalidCredential => StatusCode::BAD_REQUEST,
            Self::ReauthenticationRequired | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::OAuth { error, .. } => match *error {
                "invalid_client" | "invalid_token" => StatusCode::UNAUTHORIZED,
                "insufficient_scope" => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            },
        }
    }

    fn title(&self) -> &'static str {
        match self {
            Self::InvalidEmail => "Invalid email address",
            Self::Malformed => "Malformed message",
            Self::CeremonyExpired => "Expired or unknown ceremony",
            Self::AuthenticationFailed => "Authentication failed",
            Self::InvalidToken => "Invalid or expired token",
            Self::Unauthenticated => "Not logged in",
            Self::TooManyAttempts { .. } => "Too many attempts",
            Self::NotFound => "Not found",
            Self::Unavailable(_) => "Service temporarily unavailable",
            Self::AlreadyClaimed => "The platform is already claimed",
            Self::OperatorRequired => "Platform operators only",
            Self::ElevationRequired => "Elevate your session first",
            Self::InvalidOperatorToken => "Invalid operator token",
            Self::InvalidCode => "Invalid code",
            Self::InvalidCredential => "The authenticator's answer did not verify",
            Self::ReauthenticationRequired => "Log in again first",
            Self::Conflict(_) => "Conflict with the current state",
            Self::Forbidden => "Forbidden",
            Self::Invalid(_) => "Invalid value",
            Self::OAuth { description, .. } => description,
        }
    }
}

impl From<crate::sessions::SessionError> for Error {
    fn from(e: crate::sessions::SessionError) -> Self {
        match e {
            // The account went away, was disabled, or changed its password while the login
            // was under way: the login fails like any other.
            crate::sessions::SessionError::UnknownUser => Self::AuthenticationFailed,
            e => Self::Unavailable(format!("sessions: {}", e.code())),
        }
    }
}

impl From<crate::throttle::ThrottleError> for Error {
    fn from(e: crate::throttle::ThrottleError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl From<crate::audit::AuditError> for Error {
    fn from(e: crate::audit::AuditError) -> Self {
        Self::Unavailable(format!("audit: {e}"))
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Self::Unavailable(format!("database: {e}"))
    }
}

impl From<keys::KeysError> for Error {
    fn from(e: keys::KeysError) -> Self {
        Self::Unavailable(format!("keys: {e}"))
    }
}

impl From<server::ephemeral::EphemeralError> for Error {
    fn from(e: server::ephemeral::EphemeralError) -> Self {
        Self::Unavailable(e.to_string())
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        if let Self::Unavailable(detail) = &self {
            tracing::error!(error = %detail, "request failed");
        }
        if let Self::OAuth { error, description } = self {
            return oauth_response(self.status(), error, description);
        }
        let mut response = Problem::new(self.status(), self.code(), self.title()).into_response();
        response.headers_mut().insert(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        if let Self::TooManyAttempts { retry_after_secs } = self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_secs),
            );
        }
        response
    }
}

/// The OAuth error body with `Cache-Control: no-store` and, for 401s, the `WWW-Authenticate`
/// challenge of the scheme the endpoint takes (RFC 6749 section 5.2, RFC 6750 section 3).
fn oauth_response(status: StatusCode, error: &str, description: &str) -> Response {
    use axum::http::{HeaderValue, header};
    let body = serde_json::json!({ "error": error, "error_description": description });
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    let challenge = match error {
        "invalid_client" => Some(HeaderValue::from_static(r#"Basic realm="permesi""#)),
        "invalid_token" => Some(HeaderValue::from_static(
            r#"Bearer realm="permesi", error="invalid_token""#,
        )),
        "insufficient_scope" => Some(HeaderValue::from_static(
            r#"Bearer realm="permesi", error="insufficient_scope""#,
        )),
        _ => None,
    };
    if let Some(challenge) = challenge {
        headers.insert(header::WWW_AUTHENTICATE, challenge);
    }
    response
}
