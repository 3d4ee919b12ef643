//! Operations: `/healthz`, `/readyz`, `/metrics`, `/openapi.json` and `/docs` (outside `/v1`,
//! no authentication; none of them shows personal information or secrets).

use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, Problem};
use crate::app::AppState;
use crate::service::ErrorCode;

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi))
        .routes(routes!(docs))
}

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// Always `ok` when the process answers.
    pub status: &'static str,
    /// Baomi's version.
    pub version: &'static str,
}

/// Readiness and what it was judged on.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    pub status: &'static str,
    /// Each check and its result.
    pub checks: Checks,
}

/// The readiness checks.
#[derive(Debug, Serialize, ToSchema)]
pub struct Checks {
    /// `ok` or `unavailable`.
    pub database: &'static str,
    /// `unsealed` (a server that cannot unseal does not start).
    pub root_key: &'static str,
    /// Which node signs checkpoints and runs the fleet's background duties: `this node`
    /// (always, alone on SQLite) or `another node`.
    pub audit_integrator: &'static str,
}

/// Liveness: the process is up and answering.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, body = Health)))]
async fn healthz() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

/// Readiness: the database answers and the root key is unsealed.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, body = Ready),
        (status = 503, description = "Not ready; `checks` says why", body = Problem, content_type = "application/problem+json"),
    ))]
async fn readyz(State(state): State<AppState>) -> Response {
    let database = matches!(
        tokio::time::timeout(Duration::from_secs(2), state.store.ping()).await,
        Ok(Ok(()))
    );
    let checks = Checks {
        database: if database { "ok" } else { "unavailable" },
        root_key: "unsealed",
        audit_integrator: if state.duty.leads() {
            "this node"
        } else {
            "another node"
        },
    };
    if database {
        return axum::Json(Ready {
            status: "ready",
            checks,
        })
        .into_response();
    }
    let mut extra = serde_json::Map::new();
    if let Ok(value) = serde_json::to_value(&checks) {
        extra.insert("checks".to_owned(), value);
    }
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::ServiceNotReady,
        "Not ready",
        "the database is not reachable",
    )
    .with_extra(extra)
    .into_response()
}

/// Prometheus metrics: requests, latency histograms by route, errors by code. Not here (404)
/// when `metrics_listen` gives them a listener of their own.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 404, description = "Served on `metrics_listen` instead", body = Problem, content_type = "application/problem+json"),
    ))]
async fn metrics(State(state): State<AppState>) -> Response {
    if state.limits.metrics_elsewhere {
        return super::not_found().await.into_response();
    }
    render_metrics(&state.metrics)
}

/// The Prometheus text of `handle`.
pub fn render_metrics(handle: &metrics_exporter_prometheus::PrometheusHandle) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        handle.render(),
    )
        .into_response()
}

/// This API's OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn openapi(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        state.openapi_json.clone(),
    )
        .into_response()
}

/// The API reference for people, rendered from the OpenAPI document (works offline).
#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 200, description = "HTML", content_type = "text/html")))]
async fn docs(State(state): State<AppState>) -> Html<bytes::Bytes> {
    Html(state.docs_html.clone())
}
