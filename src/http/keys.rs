//! `/v1/keys`: API keys (admin role).

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use baomi_audit::Action;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, Problem};
use super::extract::{AdminKey, Json, Path};
use super::rfc3339;
use crate::app::AppState;
use crate::auth::Role;
use crate::service::cluster;
use crate::service::keys::{self, NewKey};
use crate::service::{RequestContext, audit};
use crate::store::ApiKeyRecord;

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
}

/// A request for a new API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// A name for people, 1 to 64 characters (e.g. `loan-backend prod`).
    pub name: String,
    /// `admin`, `service` or `officer`.
    pub role: Role,
    /// Required for `service`: the purposes it may act under. Optional for `officer`: the
    /// purposes whose subjects' consent histories and receipts it may read (none without
    /// any). Refused for `admin`.
    #[serde(default)]
    pub purposes: Vec<String>,
}

/// An API key as listed (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyView {
    /// The key's public id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// Purposes of a service or officer key.
    pub purposes: Vec<String>,
    /// When it was made (RFC 3339).
    pub created_at: String,
    /// The admin key that made it; absent for the bootstrap key and keys made offline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// When it was revoked (RFC 3339), if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked_at: Option<String>,
    /// Whether it can still be used.
    pub active: bool,
}

impl From<&ApiKeyRecord> for KeyView {
    fn from(k: &ApiKeyRecord) -> Self {
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            role: k.role,
            purposes: k.purposes.iter().map(|p| p.as_str().to_owned()).collect(),
            created_at: rfc3339(k.created_at),
            created_by: k.created_by.clone(),
            revoked_at: k.revoked_at.map(rfc3339),
            active: k.revoked_at.is_none(),
        }
    }
}

/// A newly created key, with its secret: shown this once, never again.
#[derive(Serialize, ToSchema)]
pub struct CreatedKey {
    /// The key.
    #[serde(flatten)]
    pub key: KeyView,
    /// The secret to send as `Authorization: Bearer <secret>`. Store it now.
    pub secret: String,
}

impl std::fmt::Debug for CreatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedKey")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// The list of keys.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyList {
    /// Every key, oldest first.
    pub keys: Vec<KeyView>,
}

/// Create an API key.
#[utoipa::path(post, path = "/v1/keys", tag = "keys", security(("bearer" = [])),
    request_body = CreateKey,
    responses(
        (status = 201, description = "Created; the secret is shown only now", body = CreatedKey),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_key(
    State(state): State<AppState>,
    admin: AdminKey,
    Extension(ctx): Extension<RequestContext>,
    Json(body): Json<CreateKey>,
) -> Result<impl IntoResponse, ApiError> {
    let new = NewKey {
        name: body.name,
        role: body.role,
        purposes: body.purposes,
    };
    let event = |record: &ApiKeyRecord| {
        let mut e = audit::about(&admin.caller, &ctx, Action::KeyCreate, &record.id);
        e.fields = vec![format!("role:{}", record.role.as_str())];
        vec![e]
    };
    let (record, secret) = keys::create(state.store.as_ref(), &new, Some(&admin.id), event).await?;
    audit::settle(state.audit.as_ref()).await;
    let created = CreatedKey {
        key: KeyView::from(&record),
        secret: secret.expose_secret().to_owned(),
    };
    Ok((StatusCode::CREATED, axum::Json(created)))
}

/// List API keys.
#[utoipa::path(get, path = "/v1/keys", tag = "keys", security(("bearer" = [])),
    responses(
        (status = 200, body = KeyList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_keys(
    State(state): State<AppState>,
    _admin: AdminKey,
) -> Result<axum::Json<KeyList>, ApiError> {
    let keys = keys::list(state.store.as_ref()).await?;
    Ok(axum::Json(KeyList {
        keys: keys.iter().map(KeyView::from).collect(),
    }))
}

/// Revoke an API key (idempotent). The last active admin key cannot be revoked.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The last active admin key", body = Problem, content_type = "application/problem+json"),
    ))]
async fn revoke_key(
    State(state): State<AppState>,
    admin: AdminKey,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let event = audit::about(&admin.caller, &ctx, Action::KeyRevoke, &id);
    keys::revoke(state.store.as_ref(), &id, &[event]).await?;
    state.key_records.evict(&id);
    audit::settle(state.audit.as_ref()).await;
    // Every other node forgets the key's cached record before this call returns.
    let propagation = cluster::publish(&state, cluster::Kind::Key, &id).await?;
    if let Some(p) = propagation.filter(|p| !p.unconfirmed_nodes.is_empty()) {
        tracing::warn!(nodes = ?p.unconfirmed_nodes, "a key revocation is not confirmed by every node yet");
    }
    Ok(StatusCode::NO_CONTENT)
}
