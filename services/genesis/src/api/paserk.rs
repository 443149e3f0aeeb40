//! `GET /paserk.json`: the public keys that verify admission tokens.

use axum::{
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use time::OffsetDateTime;

use crate::{app::AppState, error::Error};

/// Verifiers cache the keyset for up to 5 minutes; a minute here keeps proxies fresh enough
/// that a prepublished key (published 10 minutes ahead by default) reaches everyone in time.
const CACHE_CONTROL: &str = "public, max-age=60, must-revalidate";

/// The PASERK keyset: `{active_kid, keys: [{kid, paserk, status, created_at, not_after?}]}`.
#[utoipa::path(get, path = "/paserk.json", tag = "keys",
    responses(
        (status = 200, description = "The keyset", content_type = "application/json"),
        (status = 304, description = "Unchanged since the ETag sent in If-None-Match"),
        (status = 503, description = "Key backend unavailable", body = server::Problem, content_type = "application/problem+json"),
    ))]
pub async fn keyset(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, Error> {
    let published = state.admissions.keyset(OffsetDateTime::now_utc()).await?;
    let etag = HeaderValue::from_str(&published.etag).map_err(|_| Error::Config("etag"))?;
    let cache = [
        (
            header::CACHE_CONTROL,
            HeaderValue::from_static(CACHE_CONTROL),
        ),
        (header::ETAG, etag),
    ];
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == published.etag || t.trim() == "*")
        });
    if unchanged {
        return Ok((StatusCode::NOT_MODIFIED, cache).into_response());
    }
    Ok((
        cache,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        published.json.clone(),
    )
        .into_response())
}
