//! `/v1/keys`: API keys (admin role).

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, Problem};
use super::extract::{AdminKey, Json, Path};
use crate::app::AppState;
use crate::auth::Role;
use crate::auth::api_key::ApiKeyRecord;
use crate::auth::client_certificate::CertificateBinding;
use crate::auth::grant::{Permission, ViewKind};
use crate::auth::quota::{GrantQuota, QuotaRaise};
use crate::service::keys::{self, GrantRequest, NewKey, PurposeRequest, RaiseRequest};
use crate::service::{RequestContext, rfc3339};

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
        .routes(routes!(set_grants))
        .routes(routes!(raise_quota))
        .routes(routes!(end_raise))
}

/// A request for a new API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKey {
    /// A name for people, 1 to 64 characters (e.g. `loan-backend prod`).
    pub name: String,
    /// `admin`, `service` or `officer`.
    pub role: Role,
    /// Purposes granted with the masked view only (see [`GrantsBody`]).
    #[serde(default)]
    pub purposes: Vec<String>,
    /// Purposes with the views granted under each (see [`GrantsBody`]).
    #[serde(default)]
    pub grants: Vec<PurposeGrantBody>,
    /// Permissions of a service key (see [`GrantsBody`]).
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// Masking roles (see [`GrantsBody`]).
    #[serde(default)]
    pub masking_roles: Vec<String>,
    /// Binds the key to a client certificate: calls with it must then come over mutual
    /// TLS with a certificate the platform's CA signed (`tls.client_ca_file`) that has this
    /// public key or subject, and are refused (401 `auth.client_certificate_required`)
    /// otherwise. Unset: any certificate the CA signed, or none where none is required.
    #[serde(default)]
    pub client_certificate: Option<CertificateBinding>,
}

/// What a key is granted. Deny by default: a purpose grants the masked view unless its
/// grant names `plain`, and every permission is off until named. Each purpose must be
/// declared (`PUT /v1/purposes/{id}`) first (422 `keys.undeclared_purpose`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantsBody {
    /// Purposes granted with the masked view only. Required (here or in `grants`) for
    /// `service`: the purposes it may act under. Optional for `officer`: the purposes whose
    /// subjects' consent histories and receipts it may read (none without any). Refused for
    /// `admin`.
    #[serde(default)]
    pub purposes: Vec<String>,
    /// Purposes with the views granted under each, e.g.
    /// `[{"purpose":"loan_underwriting","views":["masked","plain"]}]`.
    #[serde(default)]
    pub grants: Vec<PurposeGrantBody>,
    /// Service keys only: `store_data` (write stored data), `erase_subjects`,
    /// `mint_subject_tokens`, `record_consent` (under its purposes) and `self_service` (its
    /// subject tokens may read the subject's own export and access log).
    #[serde(default)]
    pub permissions: Vec<Permission>,
    /// The masking roles its masked views follow: the first by default, another of these
    /// when a request names it in `X-Baomi-Operator-Role` (or a mask call's `role`); any
    /// other is refused (`auth.masking_role_not_granted`). Default: the key's role name.
    #[serde(default)]
    pub masking_roles: Vec<String>,
}

/// One purpose with its views, and the key's own quota under it.
#[derive(Debug, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurposeGrantBody {
    /// A declared purpose.
    pub purpose: String,
    /// `masked`, `plain`, or both.
    pub views: Vec<ViewKind>,
    /// The key's own quota under this purpose: `key` for the key as a whole, `operator`
    /// for each operator it names, each limit laid over the server's default
    /// (`[quotas]`); `0` is no limit. E.g. `{"key":{"subjects_per_day":500000}}`.
    #[serde(default, skip_serializing_if = "GrantQuota::is_empty")]
    pub quota: GrantQuota,
}

impl GrantsBody {
    fn request(self) -> GrantRequest {
        GrantRequest {
            purposes: self.purposes,
            grants: self
                .grants
                .into_iter()
                .map(|g| PurposeRequest {
                    purpose: g.purpose,
                    views: g.views,
                    quota: g.quota,
                })
                .collect(),
            permissions: self.permissions,
            masking_roles: self.masking_roles,
        }
    }
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
    /// Each purpose with the views granted under it.
    pub grants: Vec<PurposeGrantBody>,
    /// Permissions of a service key.
    pub permissions: Vec<Permission>,
    /// Masking roles, the default first.
    pub masking_roles: Vec<String>,
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
    /// The client certificate it is bound to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_certificate: Option<CertificateBinding>,
    /// Break-glass raises of its quotas in force now.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub quota_raises: Vec<QuotaRaiseView>,
}

/// A break-glass raise of a key's quota under a purpose.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuotaRaiseView {
    /// The purpose.
    pub purpose: String,
    /// The raised limits, laid over the grant's.
    pub quota: GrantQuota,
    /// Why.
    pub reason: String,
    /// The admin key that raised it.
    pub raised_by: String,
    /// When (RFC 3339).
    pub raised_at: String,
    /// When it stops counting (RFC 3339).
    pub expires_at: String,
}

impl From<&QuotaRaise> for QuotaRaiseView {
    fn from(r: &QuotaRaise) -> Self {
        Self {
            purpose: r.purpose.as_str().to_owned(),
            quota: r.quota,
            reason: r.reason.clone(),
            raised_by: r.raised_by.clone(),
            raised_at: rfc3339(r.raised_at),
            expires_at: rfc3339(r.expires_at),
        }
    }
}

impl From<&ApiKeyRecord> for KeyView {
    fn from(k: &ApiKeyRecord) -> Self {
        Self {
            id: k.id.clone(),
            name: k.name.clone(),
            role: k.role,
            purposes: k
                .grants
                .purpose_ids()
                .map(|p| p.as_str().to_owned())
                .collect(),
            grants: k
                .grants
                .purposes
                .iter()
                .map(|g| PurposeGrantBody {
                    purpose: g.purpose.as_str().to_owned(),
                    views: g.views.iter().copied().collect(),
                    quota: g.quota,
                })
                .collect(),
            permissions: k.grants.permissions.iter().copied().collect(),
            masking_roles: k.grants.masking_roles.clone(),
            created_at: rfc3339(k.created_at),
            created_by: k.created_by.clone(),
            revoked_at: k.revoked_at.map(rfc3339),
            active: k.revoked_at.is_none(),
            client_certificate: k.client_certificate.clone(),
            quota_raises: k
                .grants
                .raises
                .iter()
                .filter(|r| r.in_force(crate::service::now()))
                .map(QuotaRaiseView::from)
                .collect(),
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
        (status = 422, description = "`request.invalid_field`, or `keys.undeclared_purpose`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_key(
    State(state): State<AppState>,
    admin: AdminKey,
    Extension(ctx): Extension<RequestContext>,
    Json(body): Json<CreateKey>,
) -> Result<impl IntoResponse, ApiError> {
    let grants = GrantsBody {
        purposes: body.purposes,
        grants: body.grants,
        permissions: body.permissions,
        masking_roles: body.masking_roles,
    };
    let new = NewKey {
        name: body.name,
        role: body.role,
        grants: grants.request(),
        client_certificate: body.client_certificate,
    };
    let (record, secret) = keys::create_key(&state, admin.of(&ctx), &new).await?;
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
    keys::revoke_key(&state, admin.of(&ctx), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace an active key's grants (purposes and views, permissions, masking roles); its
/// secret and role stay. Audited as `key_grant`; every node forgets the old grants before
/// this call returns.
#[utoipa::path(put, path = "/v1/keys/{id}/grants", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "The key's id")),
    request_body = GrantsBody,
    responses(
        (status = 200, body = KeyView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No active key has this id", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`request.invalid_field`, or `keys.undeclared_purpose`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn set_grants(
    State(state): State<AppState>,
    admin: AdminKey,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    Json(body): Json<GrantsBody>,
) -> Result<axum::Json<KeyView>, ApiError> {
    let record = keys::change_grants(&state, admin.of(&ctx), &id, &body.request()).await?;
    Ok(axum::Json(KeyView::from(&record)))
}

/// A break-glass raise of a key's quota.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RaiseBody {
    /// A purpose the key holds, or `data_subject_access` for a key holding `self_service`
    /// (its subject tokens' exports count there).
    pub purpose: String,
    /// The raised limits (`key`, `operator`), laid over the grant's while the raise lasts.
    pub quota: GrantQuota,
    /// Why, 1 to 500 characters, shown to officers in the console. Write no PI here: the
    /// trail keeps only its SHA-256.
    pub reason: String,
    /// For how long, 1 to 86400 seconds (a day; a longer need is a grant).
    pub seconds: u32,
}

/// Raise a service key's quota under a purpose for a while (break-glass), with a written
/// reason: audited as `key_quota_raise`, shown in the console while it lasts, and gone at
/// its end without anyone's help. A new raise of the same purpose replaces the old.
#[utoipa::path(post, path = "/v1/keys/{id}/quota-raises", tag = "keys", security(("bearer" = [])),
    params(("id" = String, Path, description = "The key's id")),
    request_body = RaiseBody,
    responses(
        (status = 200, description = "Raised; the key with its raises in force", body = KeyView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No active key has this id", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`request.invalid_field`, or `keys.purpose_not_held`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn raise_quota(
    State(state): State<AppState>,
    admin: AdminKey,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    Json(body): Json<RaiseBody>,
) -> Result<axum::Json<KeyView>, ApiError> {
    let asked = RaiseRequest {
        purpose: body.purpose,
        quota: body.quota,
        reason: body.reason,
        seconds: body.seconds,
    };
    let record = keys::raise_key_quota(&state, admin.of(&ctx), &id, &asked).await?;
    Ok(axum::Json(KeyView::from(&record)))
}

/// End a key's break-glass raise under a purpose before its time; audited as
/// `key_quota_raise` with `ended`.
#[utoipa::path(delete, path = "/v1/keys/{id}/quota-raises/{purpose}", tag = "keys", security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The key's id"),
        ("purpose" = String, Path, description = "The purpose whose raise ends"),
    ),
    responses(
        (status = 204, description = "Ended"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`keys.not_found`, or `keys.no_quota_raise`: none in force", body = Problem, content_type = "application/problem+json"),
    ))]
async fn end_raise(
    State(state): State<AppState>,
    admin: AdminKey,
    Extension(ctx): Extension<RequestContext>,
    Path((id, purpose)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    keys::end_key_quota_raise(&state, admin.of(&ctx), &id, &purpose).await?;
    Ok(StatusCode::NO_CONTENT)
}
