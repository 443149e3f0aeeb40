//! The middleware stack and router assembly shared by both services.

use std::{sync::Arc, time::Duration};

use axum::{
    Router,
    http::{HeaderName, HeaderValue, Method, Request, StatusCode, header},
    middleware::{from_fn_with_state, map_request, map_response},
};
use opentelemetry::propagation::Extractor;
use tower::ServiceBuilder;
use tower_http::{
    catch_panic::CatchPanicLayer,
    cors::{AllowOrigin, CorsLayer},
    limit::RequestBodyLimitLayer,
    map_response_body::MapResponseBodyLayer,
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    sensitive_headers::SetSensitiveRequestHeadersLayer,
    timeout::{RequestBodyTimeoutLayer, TimeoutLayer},
    trace::TraceLayer,
};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use utoipa_axum::router::OpenApiRouter;

use crate::{
    backends::Dependencies,
    metrics::{self, Metrics},
    ops::{self, OpsState},
    problem::problemize,
};

/// The request id header, set when the client sent none (or an unusable one) and echoed on
/// every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest incoming request id kept (HAProxy's unique ids and UUIDs fit).
pub const MAX_REQUEST_ID: usize = 64;

/// Whether an incoming request id may be kept: at most [`MAX_REQUEST_ID`] characters of
/// `[A-Za-z0-9._:-]`. Anything else (a client's 300-byte value, spaces, quotes) is replaced by a
/// fresh one, so logs and audit entries only ever carry ids of a known shape.
pub fn usable_request_id(id: &[u8]) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

async fn drop_unusable_request_id<B>(mut request: Request<B>) -> Request<B> {
    let unusable = request.headers().get_all(REQUEST_ID).iter().count() > 1
        || request
            .headers()
            .get(REQUEST_ID)
            .is_some_and(|id| !usable_request_id(id.as_bytes()));
    if unusable {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}
/// The header carrying a genesis admission token to permesi.
pub const ADMISSION_TOKEN: HeaderName = HeaderName::from_static("x-permesi-admission");

/// HTTP limits and cross-origin policy for one service.
#[derive(Clone, Debug)]
pub struct HttpPolicy {
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Longest time a request may take end to end.
    pub request_timeout: Duration,
    /// Origins allowed to call the API from a browser (the console).
    pub cors_origins: Vec<String>,
}

/// A service's routes assembled with the operational endpoints and the middleware stack.
pub struct Assembled {
    /// The router to serve.
    pub router: Router,
    /// The service's OpenAPI document (also served at `/openapi.json`).
    pub openapi: utoipa::openapi::OpenApi,
    /// Its metrics registry, for service-specific metrics.
    pub metrics: Arc<Metrics>,
}

/// The service's OpenAPI document: `base` (title, version, tags), its API, and the
/// operational endpoints. The `openapi` subcommand and `/openapi.json` both come from here.
pub fn document(
    base: utoipa::openapi::OpenApi,
    api: utoipa::openapi::OpenApi,
) -> utoipa::openapi::OpenApi {
    base.merge_from(api)
        .merge_from(ops::routes("", "").into_openapi())
}

impl std::fmt::Debug for Assembled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assembled").finish_non_exhaustive()
    }
}

/// Assembles the service router: `api` (routes whose state is already applied) plus `/health`,
/// `/ready`, `/metrics` and `/openapi.json`, wrapped in the shared middleware.
pub fn assemble(
    service: &'static str,
    version: &'static str,
    base: utoipa::openapi::OpenApi,
    api: OpenApiRouter<OpsState>,
    dependencies: Dependencies,
    policy: &HttpPolicy,
) -> Assembled {
    let openapi = document(base, api.get_openapi().clone());
    let (router, _) = api.merge(ops::routes(service, version)).split_for_parts();
    let metrics = Arc::new(Metrics::new(service));
    let state = OpsState {
        dependencies,
        metrics: metrics.clone(),
        openapi: Arc::new(serde_json::to_value(&openapi).unwrap_or_default()),
    };
    // Outermost first: secrets hidden from logs, request id, span, panics caught, bare errors
    // made problem+json, CORS, timeouts, body limit.
    let stack = ServiceBuilder::new()
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
            ADMISSION_TOKEN,
        ]))
        .layer(map_request(drop_unusable_request_id))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(make_span::<axum::body::Body>)
                .on_response(on_response::<axum::body::Body>),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(map_response(problemize))
        // Normalises the body type of the layers below so `problemize` sees one type.
        .layer(MapResponseBodyLayer::new(axum::body::Body::new))
        .layer(CatchPanicLayer::new())
        .layer(cors(&policy.cors_origins))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            policy.request_timeout,
        ))
        .layer(RequestBodyTimeoutLayer::new(policy.request_timeout))
        .layer(RequestBodyLimitLayer::new(policy.max_body_bytes))
        .layer(axum::extract::DefaultBodyLimit::max(policy.max_body_bytes));
    let router = router
        .layer(from_fn_with_state(metrics.clone(), metrics::record))
        .with_state(state)
        .layer(stack);
    Assembled {
        router,
        openapi,
        metrics,
    }
}

fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::CONTENT_TYPE,
            header::ACCEPT,
            REQUEST_ID,
            ADMISSION_TOKEN,
        ])
        .expose_headers([REQUEST_ID, header::RETRY_AFTER])
        .allow_credentials(true)
        .max_age(Duration::from_mins(10))
}

/// One span per request. The path is the matched route (`/v1/oauth/requests/{id}`), as the
/// metrics record it: neither a query string nor a path segment (a request id, a token) reaches
/// the logs. Unmatched requests record `-`.
fn make_span<B>(request: &Request<B>) -> Span {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or("-", axum::extract::MatchedPath::as_str);
    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %route,
        request_id,
        status = tracing::field::Empty,
    );
    let parent = opentelemetry::global::get_text_map_propagator(|p| {
        p.extract(&HeaderExtractor(request.headers()))
    });
    // Without an OpenTelemetry layer there is nothing to attach to; that is not an error.
    let _ = span.set_parent(parent);
    span
}

fn on_response<B>(response: &axum::http::Response<B>, latency: Duration, span: &Span) {
    let status = response.status().as_u16();
    span.record("status", status);
    let ms = latency.as_secs_f64() * 1000.0;
    if response.status().is_server_error() {
        tracing::error!(status, latency_ms = ms, "response");
    } else {
        tracing::info!(status, latency_ms = ms, "response");
    }
}

struct HeaderExtractor<'a>(&'a axum::http::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(HeaderName::as_str).collect()
    }
}
