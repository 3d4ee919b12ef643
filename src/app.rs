//! The application: its shared state and its router.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use bytes::Bytes;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::auth::subject_token::Signer;
use crate::http;
use crate::service::audit_log::AuditLog;
use crate::service::erasure_journal::ErasureJournal;
use crate::service::ttl_cache::TtlCache;
use crate::service::{Dependencies, Limits, Services};
use crate::store::Store;
use baomi_audit::AuditSink;
use baomi_vault::Vault;

/// What every request handler can reach: the use cases' dependencies ([`Services`], which
/// it dereferences to), and what only the HTTP layer and the console need.
pub struct Inner {
    /// The use cases' dependencies.
    pub services: Services,
    /// The console's sign-in guard.
    pub signin_guard: Arc<crate::console::guard::SigninGuard>,
    /// Seals and opens console accounts' TOTP secrets.
    pub second_factor: Arc<crate::console::second_factor::SecretSealer>,
    /// The Prometheus recorder's handle.
    pub metrics: PrometheusHandle,
    /// The OpenAPI document, serialised once.
    pub openapi_json: Bytes,
    /// The API reference page, rendered once.
    pub docs_html: Bytes,
}

impl std::ops::Deref for Inner {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.services
    }
}

/// Shared, cheaply cloned application state.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Baomi",
        description = "Personal-data protection for internet-finance platforms: field-level \
                       encryption, masking, consent and a tamper-evident access trail."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "keys", description = "API keys and roles (admin)"),
        (name = "subject tokens", description = "Short-lived tokens that let an end user act for themself"),
        (name = "vault", description = "Field-level encryption, decryption under a purpose, rewrap and erasure"),
        (name = "keyrings", description = "Versioned key-encryption keys: create, rotate, retire old versions"),
        (name = "self-service", description = "Calls made with a subject token"),
        (name = "masking", description = "Detection of personal information, masking policies per role and purpose"),
        (name = "consent", description = "Purposes, the consent ledger and consent decisions"),
        (name = "audit", description = "The tamper-evident trail: signed checkpoints, Merkle proofs, queries, export and alerts (officer, admin)"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// Every route with its OpenAPI description.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(http::keys::router())
        .merge(http::subject_tokens::router())
        .merge(http::keyrings::router())
        .merge(http::vault::router())
        .merge(http::subjects::router())
        .merge(http::audit::router())
        .merge(http::consent::router())
        .merge(http::requests::router())
        .merge(http::masking::router())
        .merge(http::catalogue::router())
        .merge(http::ops::router())
}

/// The OpenAPI document of this build (the same one `/openapi.json` serves).
pub fn openapi(limits: &Limits) -> serde_json::Value {
    document(routes().into_openapi(), limits)
}

/// What the routes say of themselves, before the contract's shared rules.
#[cfg(test)]
pub(crate) fn routes_description() -> utoipa::openapi::OpenApi {
    routes().into_openapi()
}

/// The routes' description with the contract's shared rules applied.
fn document(api: utoipa::openapi::OpenApi, limits: &Limits) -> serde_json::Value {
    let mut doc = serde_json::to_value(&api).unwrap_or_default();
    http::contract::apply(&mut doc, limits);
    doc
}

/// The process-wide Prometheus recorder (one per process: `metrics` has one global recorder).
/// The router of a listener that serves `/metrics` only (`metrics_listen`).
pub fn metrics_router() -> Router {
    let handle = prometheus();
    Router::new()
        .route(
            "/metrics",
            axum::routing::get(move || {
                let handle = handle.clone();
                async move { http::ops::render_metrics(&handle) }
            }),
        )
        .fallback(http::not_found)
}

fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                    10.0,
                ])
                .map(|b| b.build_recorder())
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; metrics then go there.
            let _ = metrics::set_global_recorder(recorder);
            // Histograms keep their samples until upkeep folds them into buckets; without a
            // scrape they would grow without bound.
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new()
                .name("metrics-upkeep".to_owned())
                .spawn(move || {
                    loop {
                        std::thread::sleep(std::time::Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                });
            handle
        })
        .clone()
}

/// What the application is built from.
pub struct Parts {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Subject token signer.
    pub tokens: Signer,
    /// The vault.
    pub vault: Arc<Vault>,
    /// The erasure journal.
    pub erasure_journal: Arc<ErasureJournal>,
    /// The audit trail's Merkle log.
    pub audit_log: Arc<AuditLog>,
    /// The log that officer reads use (the replica's, or `audit_log`).
    pub audit_reads: Arc<AuditLog>,
    /// Appends to the trail (group-committed).
    pub audit: Arc<dyn AuditSink>,
    /// Masking.
    pub masking: crate::service::masking::MaskingState,
    /// The fleet this node belongs to, on PostgreSQL.
    pub cluster: Option<Arc<crate::service::cluster::Cluster>>,
    /// Whether this node does the fleet's background duties.
    pub duty: Arc<crate::service::cluster::Duty>,
    /// Limits.
    pub limits: Limits,
    /// The console's sign-in guard.
    pub signin_guard: Arc<crate::console::guard::SigninGuard>,
    /// This node's quota counting.
    pub quotas: Arc<crate::service::quotas::QuotaMeter>,
    /// Seals and opens console accounts' TOTP secrets.
    pub second_factor: Arc<crate::console::second_factor::SecretSealer>,
}

/// Builds the state and the router.
pub fn build(parts: Parts) -> Router {
    let Parts {
        store,
        tokens,
        vault,
        erasure_journal,
        audit_log,
        audit_reads,
        audit,
        masking,
        cluster,
        duty,
        limits,
        signin_guard,
        quotas,
        second_factor,
    } = parts;
    let (router, api) = routes().split_for_parts();
    let api_value = document(api, &limits);
    let services = Services::new(Dependencies {
        store,
        tokens,
        vault,
        audit,
        audit_log,
        audit_reads,
        erasure_journal,
        key_records: TtlCache::new(std::time::Duration::from_secs(limits.auth_cache_ttl_secs)),
        purposes: TtlCache::new(std::time::Duration::from_secs(limits.auth_cache_ttl_secs)),
        catalogue: TtlCache::new(std::time::Duration::from_secs(limits.auth_cache_ttl_secs)),
        masking,
        cluster: cluster.clone(),
        duty,
        limits: limits.clone(),
        quotas,
    });
    if let Some(cluster) = cluster {
        tokio::spawn(cluster.run(services.downgrade()));
    }
    let state = AppState(Arc::new(Inner {
        services,
        signin_guard,
        second_factor,
        metrics: prometheus(),
        openapi_json: Bytes::from(serde_json::to_vec_pretty(&api_value).unwrap_or_default()),
        docs_html: Bytes::from(http::docs::render(&api_value)),
    }));
    router
        .merge(crate::console::router())
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::method_not_allowed)
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(on_panic))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::context::middleware,
        ))
        .with_state(state)
}

fn on_panic(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    tracing::error!("a request handler panicked");
    http::error::ApiError::internal("handler panicked").into_response()
}
