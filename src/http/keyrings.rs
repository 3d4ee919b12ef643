//! `/v1/keyrings`: versioned key-encryption keys (admin; services may read).

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use baomi_vault::Keyring;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, Problem};
use super::extract::{AdminKey, Json, Path};
use crate::app::AppState;
use crate::auth::Caller;
use crate::service::{RequestContext, keyrings, rfc3339};

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(get, update))
        .routes(routes!(rotate))
}

/// A new keyring.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyring {
    /// 1 to 64 of `a-z 0-9 _ -`.
    pub name: String,
    /// `aes256gcm` (default: random nonces, per-subject keys, erasable by crypto-shredding),
    /// `sm4gcm` (the same with SM4-GCM, HMAC-SM3 blind indexes and HKDF-SM3 derivations,
    /// for GB/T 39786-2021), or `aes256siv` (deterministic: equal values of a field give
    /// equal ciphertexts, for equality joins; not bound to a subject, so erasure cannot
    /// shred copies kept elsewhere).
    pub suite: Option<String>,
    /// Rotate automatically every so many days.
    pub rotation_period_days: Option<u32>,
}

/// A change of policy. Absent fields are left as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyring {
    /// Versions below this stop decrypting, and their subject data keys are destroyed.
    /// Can only rise, up to the latest version.
    pub min_decryption_version: Option<u32>,
    /// Days between automatic rotations; `null` turns automatic rotation off.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub rotation_period_days: Option<Option<u32>>,
}

/// A rotation (the body is optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateKeyring {
    /// Move the keyring to this suite (`aes256gcm` or `sm4gcm`): the new version uses it,
    /// older versions keep decrypting in theirs, and rewrap (or the background
    /// re-encryption of stored fields) moves ciphertexts over without exposing them.
    pub suite: Option<String>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

/// A keyring.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyringView {
    /// Its name.
    pub name: String,
    /// Its algorithm suite (that of its latest version).
    pub suite: &'static str,
    /// Every suite its versions use, oldest first: more than one while it moves from one
    /// suite to another.
    pub suites_used: Vec<&'static str>,
    /// The version new ciphertexts use.
    pub latest_version: u32,
    /// The oldest version that still decrypts.
    pub min_decryption_version: u32,
    /// Days between automatic rotations, if set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotation_period_days: Option<u64>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When its latest version was made (RFC 3339).
    pub rotated_at: String,
}

impl From<Keyring> for KeyringView {
    fn from(k: Keyring) -> Self {
        Self {
            name: k.name.as_str().to_owned(),
            suite: k.suite.as_str(),
            suites_used: k.suites_used.iter().map(|s| s.as_str()).collect(),
            latest_version: k.latest_version,
            min_decryption_version: k.min_decryption_version,
            rotation_period_days: k.rotation_period_secs.map(|s| s / 86_400),
            created_at: rfc3339(k.created_at),
            rotated_at: rfc3339(k.rotated_at),
        }
    }
}

/// The keyrings.
#[derive(Debug, Serialize, ToSchema)]
pub struct KeyringList {
    /// By name.
    pub keyrings: Vec<KeyringView>,
}

/// Create a keyring.
#[utoipa::path(post, path = "/v1/keyrings", tag = "keyrings", security(("bearer" = [])),
    request_body = CreateKeyring,
    responses(
        (status = 201, body = KeyringView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`vault.keyring_exists`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    admin: AdminKey,
    Extension(ctx): Extension<RequestContext>,
    Json(body): Json<CreateKeyring>,
) -> Result<impl IntoResponse, ApiError> {
    let keyring = keyrings::create(
        &state,
        &admin.caller,
        &ctx,
        &body.name,
        body.suite.as_deref(),
        body.rotation_period_days,
    )
    .await?;
    Ok((StatusCode::CREATED, axum::Json(KeyringView::from(keyring))))
}

/// List keyrings.
#[utoipa::path(get, path = "/v1/keyrings", tag = "keyrings", security(("bearer" = [])),
    responses(
        (status = 200, body = KeyringList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<KeyringList>, ApiError> {
    let keyrings = keyrings::list(&state, &caller).await?;
    Ok(axum::Json(KeyringList {
        keyrings: keyrings.into_iter().map(KeyringView::from).collect(),
    }))
}

/// One keyring.
#[utoipa::path(get, path = "/v1/keyrings/{name}", tag = "keyrings", security(("bearer" = [])),
    params(("name" = String, Path, description = "The keyring's name")),
    responses(
        (status = 200, body = KeyringView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<axum::Json<KeyringView>, ApiError> {
    Ok(axum::Json(
        keyrings::get(&state, &caller, &name).await?.into(),
    ))
}

/// Change the minimum decryption version or the rotation period.
#[utoipa::path(patch, path = "/v1/keyrings/{name}", tag = "keyrings", security(("bearer" = [])),
    params(("name" = String, Path, description = "The keyring's name")),
    request_body = UpdateKeyring,
    responses(
        (status = 200, body = KeyringView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn update(
    State(state): State<AppState>,
    admin: AdminKey,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Json(body): Json<UpdateKeyring>,
) -> Result<axum::Json<KeyringView>, ApiError> {
    let keyring = keyrings::set_policy(
        &state,
        &admin.caller,
        &ctx,
        &name,
        body.min_decryption_version,
        body.rotation_period_days,
    )
    .await?;
    Ok(axum::Json(keyring.into()))
}

/// Rotate: add a KEK version that new ciphertexts use. Older versions keep decrypting until
/// `min_decryption_version` passes them; subject data keys are re-sealed in the background.
/// With a `suite`, the keyring moves to that suite.
#[utoipa::path(post, path = "/v1/keyrings/{name}/rotate", tag = "keyrings", security(("bearer" = [])),
    params(("name" = String, Path, description = "The keyring's name")),
    request_body(content = RotateKeyring, description = "Optional: without a body, the keyring's suite is kept"),
    responses(
        (status = 200, body = KeyringView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`vault.rotation_conflict`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An unknown suite, or a move to or from `aes256siv`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn rotate(
    State(state): State<AppState>,
    admin: AdminKey,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    body: axum::body::Bytes,
) -> Result<axum::Json<KeyringView>, ApiError> {
    let body: RotateKeyring = if body.iter().all(u8::is_ascii_whitespace) {
        RotateKeyring::default()
    } else {
        crate::http::extract::parse_json(&body)?
    };
    Ok(axum::Json(
        keyrings::rotate(&state, &admin.caller, &ctx, &name, body.suite.as_deref())
            .await?
            .into(),
    ))
}
