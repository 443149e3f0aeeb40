//! Operational endpoints every service serves: liveness, readiness, metrics, its OpenAPI spec.

use std::sync::Arc;

use axum::{
    Json,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    backends::{Dependencies, ReadyReport},
    metrics::Metrics,
};

/// What the operational endpoints read.
#[derive(Clone, Debug)]
pub struct OpsState {
    /// Dependencies probed by `/ready`.
    pub dependencies: Dependencies,
    /// Rendered by `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The service's OpenAPI document, served by `/openapi.json`.
    pub openapi: Arc<serde_json::Value>,
}

/// `GET /health` body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: &'static str,
    /// The service name.
    pub service: &'static str,
    /// The service version.
    pub version: &'static str,
}

/// The operational routes, for a service named `service` at `version`.
pub fn routes(service: &'static str, version: &'static str) -> OpenApiRouter<OpsState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
        .layer(axum::Extension(ServiceName { service, version }))
}

#[derive(Clone, Copy, Debug)]
struct ServiceName {
    service: &'static str,
    version: &'static str,
}

/// Liveness: the process is up and serving; dependencies are not checked.
#[utoipa::path(get, path = "/health", tag = "ops",
    responses((status = 200, description = "The process is alive", body = Health)))]
async fn health(axum::Extension(name): axum::Extension<ServiceName>) -> Json<Health> {
    Json(Health {
        status: "ok",
        service: name.service,
        version: name.version,
    })
}

/// Readiness: database, cache and key backend each answered within a short timeout.
#[utoipa::path(get, path = "/ready", tag = "ops", responses(
    (status = 200, description = "Every configured dependency answered", body = ReadyReport),
    (status = 503, description = "A dependency failed; the body says which", body = ReadyReport)))]
async fn ready(State(state): State<OpsState>) -> Response {
    let report = state.dependencies.readiness().await;
    let status = if report.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report)).into_response()
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics(State(state): State<OpsState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// This service's OpenAPI document.
#[utoipa::path(get, path = "/openapi.json", tag = "ops",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi(State(state): State<OpsState>) -> Json<serde_json::Value> {
    Json((*state.openapi).clone())
}
