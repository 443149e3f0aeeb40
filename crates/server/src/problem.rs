//! RFC 9457 problem details: the one error body of every non-OAuth endpoint.

use axum::{
    Json,
    body::Body,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An `application/problem+json` body. `code` is a stable machine-readable string; `title` is
/// fixed per code; `detail` explains this occurrence and never carries secrets.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type (`about:blank` for plain HTTP statuses).
    #[serde(rename = "type")]
    pub kind: String,
    /// Short, fixed summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Stable machine-readable code, e.g. `payload_too_large`.
    pub code: String,
    /// Human-readable explanation of this occurrence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl Problem {
    /// A problem for `status` with a stable `code` and fixed `title`.
    pub fn new(status: StatusCode, code: &str, title: &str) -> Self {
        Self {
            kind: "about:blank".to_owned(),
            title: title.to_owned(),
            status: status.as_u16(),
            code: code.to_owned(),
            detail: None,
        }
    }

    /// Adds a human-readable detail.
    #[must_use]
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// The problem a bare status stands for, used when a layer or extractor answered without a
    /// body of ours (413 from the body limit, 415 from `Json`, 405 from the router, ...).
    pub fn from_status(status: StatusCode) -> Self {
        let code = match status {
            StatusCode::BAD_REQUEST => "bad_request",
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
            StatusCode::NOT_ACCEPTABLE => "not_acceptable",
            StatusCode::REQUEST_TIMEOUT => "request_timeout",
            StatusCode::CONFLICT => "conflict",
            StatusCode::LENGTH_REQUIRED => "length_required",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            StatusCode::UNPROCESSABLE_ENTITY => "unprocessable_entity",
            StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
            StatusCode::SERVICE_UNAVAILABLE => "service_unavailable",
            StatusCode::GATEWAY_TIMEOUT => "gateway_timeout",
            s if s.is_client_error() => "client_error",
            _ => "internal_error",
        };
        Self::new(
            status,
            code,
            status.canonical_reason().unwrap_or("Unknown status"),
        )
    }

    /// The HTTP status of this problem.
    pub fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, Json(self)).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        response
    }
}

/// Largest bare error body kept as the problem's `detail`.
const MAX_DETAIL: usize = 512;

/// Rewrites an error response that is not JSON already into problem details, keeping its
/// status and headers (`Retry-After`, `Allow`, ...). Axum's extractor rejections are short
/// plain-text messages; they become the `detail` (server errors keep no detail).
pub async fn problemize(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let mut problem = Problem::from_status(status);
    if status.is_client_error()
        && let Ok(bytes) = axum::body::to_bytes(body, MAX_DETAIL).await
    {
        let text = String::from_utf8_lossy(&bytes).trim().to_owned();
        if !text.is_empty() {
            problem = problem.with_detail(text);
        }
    }
    let json = serde_json::to_vec(&problem).unwrap_or_default();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(json))
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            let ct = ct.split(';').next().unwrap_or("").trim();
            ct == "application/json" || ct.ends_with("+json")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bare_errors_become_problems_keeping_status_and_headers() {
        let response = Response::builder()
            .status(StatusCode::TOO_MANY_REQUESTS)
            .header(header::RETRY_AFTER, "3")
            .header(header::CONTENT_TYPE, "text/plain")
            .body(Body::from("slow down"))
            .unwrap();
        let out = problemize(response).await;
        assert_eq!(out.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(out.headers()[header::RETRY_AFTER], "3");
        assert_eq!(out.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let body = axum::body::to_bytes(out.into_body(), 4096).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], "too_many_requests");
        assert_eq!(v["status"], 429);
        assert_eq!(v["detail"], "slow down");
    }

    #[tokio::test]
    async fn json_errors_and_successes_pass_through() {
        let ok = Response::new(Body::from("fine"));
        assert_eq!(problemize(ok).await.status(), StatusCode::OK);
        let ours = Problem::new(StatusCode::CONFLICT, "taken", "Taken").into_response();
        let out = problemize(ours).await;
        let body = axum::body::to_bytes(out.into_body(), 4096).await.unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["code"], "taken");
    }

    #[tokio::test]
    async fn server_errors_carry_no_detail() {
        let response = Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Body::from("db password is hunter2"))
            .unwrap();
        let body = axum::body::to_bytes(problemize(response).await.into_body(), 4096)
            .await
            .unwrap();
        assert!(!String::from_utf8_lossy(&body).contains("hunter2"));
    }
}
