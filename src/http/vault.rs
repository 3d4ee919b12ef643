//! `/v1/encrypt`, `/v1/decrypt`, `/v1/rewrap` (stateless vault, service role) and
//! `DELETE /v1/subjects/{id}` (erasure).
//!
//! Request and response types here carry PI: none of them derives `Debug`.

use axum::Extension;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::error::{ApiError, Problem};
use super::extract::{Json, Path, Query};
use crate::app::AppState;
use crate::auth::Caller;
use crate::auth::grant::ViewKind;
use crate::service::vault::{self, CiphertextItem, EncryptItem, ItemResult, ViewRequest};
use crate::service::{ErrorCode, RequestContext, erasure_certificates, rfc3339};

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(encrypt))
        .routes(routes!(decrypt))
        .routes(routes!(rewrap))
        .routes(routes!(erase))
        .routes(routes!(erasure_certificate))
}

/// Values to encrypt.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EncryptRequest {
    /// The keyring; `default` if absent.
    pub keyring: Option<String>,
    /// The purpose the values are encrypted for: required on a deterministic (`aes256siv`)
    /// keyring, whose ciphertexts tell equal values apart, and there it needs the `plain`
    /// view of the purpose granted. When given, each field must belong to the purpose's PI
    /// categories (`auth.field_not_granted` per item).
    pub purpose: Option<String>,
    /// Up to `max_batch_items` (1,000 by default) values.
    pub items: Vec<EncryptRequestItem>,
}

/// One value to encrypt.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EncryptRequestItem {
    /// Whose value it is (the platform's user id).
    pub subject_id: String,
    /// What it is: `id_number`, `mobile`, `landline`, `bank_card`, `name`, `email`, `address`,
    /// `passport`, `birth_date` or `text`, optionally `.label` (`mobile.emergency_contact`).
    /// The ciphertext only decrypts under the same subject and field.
    pub field: String,
    /// The value. A field of a type with a validator (`id_number`, `mobile`, `bank_card`,
    /// `email`) must hold a value of that type, written any usual way
    /// (`vault.invalid_value` otherwise), unless `free_form` is set.
    pub value: String,
    /// Keep the value as given, without checking it against the field's type.
    #[serde(default)]
    pub free_form: bool,
}

/// Ciphertexts to decrypt.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecryptRequest {
    /// Why: one of the purposes the calling key holds.
    pub purpose: String,
    /// `masked` (default: identifying middle characters hidden) or `plain`, which the key's
    /// grant must name for this purpose (`auth.view_not_granted`).
    pub view: Option<ViewKind>,
    /// The masking policy of the masked view (default: the policy `default`, else the
    /// display defaults); its rules are matched against the key's masking role (another of
    /// its masking roles when `X-Baomi-Operator-Role` names one) and `purpose`.
    pub policy: Option<String>,
    /// Up to `max_batch_items` ciphertexts.
    pub items: Vec<CiphertextRequestItem>,
}

/// Ciphertexts to re-seal under their keyrings' newest versions.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RewrapRequest {
    /// Up to `max_batch_items` ciphertexts.
    pub items: Vec<CiphertextRequestItem>,
}

/// One ciphertext, with the subject and field it was made for.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CiphertextRequestItem {
    /// The subject it was encrypted for.
    pub subject_id: String,
    /// The field it was encrypted as.
    pub field: String,
    /// `bm:v1:…`.
    pub ciphertext: String,
}

/// Why one item failed; the others are unaffected.
#[derive(Serialize, ToSchema)]
pub struct ItemProblem {
    /// Stable code: `vault.invalid_subject`, `vault.invalid_field`, `vault.value_too_long`,
    /// `vault.malformed_ciphertext`, `vault.decrypt_failed`, `vault.unknown_version`,
    /// `vault.version_retired`, `vault.subject_erased`, `vault.unknown_keyring`,
    /// `vault.invalid_value` (not of the field's type),
    /// `auth.field_not_granted` (the field is outside the purpose's PI categories), and the
    /// consent codes (`consent.not_given`, `consent.withdrawn`, …).
    #[schema(value_type = String)]
    pub code: ErrorCode,
    /// What went wrong (never the value).
    pub detail: String,
}

/// One item's result: `ciphertext` or `error`.
#[derive(Serialize, ToSchema)]
pub struct CiphertextResult {
    /// The ciphertext, on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ciphertext: Option<String>,
    /// The failure, otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ItemProblem>,
}

/// One item's result: `value` or `error`.
#[derive(Serialize, ToSchema)]
pub struct ValueResult {
    /// The value (plain or masked), on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The failure, otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ItemProblem>,
}

/// Results in the order of the request's items.
#[derive(Serialize, ToSchema)]
pub struct CiphertextResults {
    /// One per item.
    pub items: Vec<CiphertextResult>,
}

/// Results in the order of the request's items.
#[derive(Serialize, ToSchema)]
pub struct ValueResults {
    /// The view the values are in.
    pub view: ViewKind,
    /// One per item.
    pub items: Vec<ValueResult>,
}

/// The receipt of an erasure.
#[derive(Serialize, ToSchema)]
pub struct ErasureReceipt {
    /// The receipt's id (the first erasure's, if the subject was erased before).
    pub receipt_id: String,
    /// The subject.
    pub subject_id: String,
    /// When the subject was erased (RFC 3339).
    pub erased_at: String,
    /// Data keys destroyed by this call (0 when erased before).
    pub data_keys_destroyed: u64,
    /// Stored fields, with their tokens, deleted by this call.
    pub fields_deleted: u64,
    /// Blind-index entries deleted by this call.
    pub index_entries_deleted: u64,
    /// What erasure means here.
    pub effect: &'static str,
    /// Where its signed certificate is served (GET), once a checkpoint covers the erasure
    /// (within a second or two; `409 audit.not_yet_signed` until then).
    pub certificate: String,
    /// On a fleet of nodes sharing PostgreSQL: which other nodes forgot the subject's cached
    /// keys before this answer (absent on a single node).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation: Option<PropagationView>,
}

/// How far a change reached the other nodes of the fleet before the call returned.
#[derive(Serialize, ToSchema)]
pub struct PropagationView {
    /// Other live nodes that applied it.
    pub confirmed_nodes: usize,
    /// Other live nodes that had not confirmed within 2 seconds; each applies it within a
    /// second of reaching the database (and cannot serve reads without it).
    pub unconfirmed_nodes: Vec<String>,
}

impl From<crate::service::cluster::Propagation> for PropagationView {
    fn from(p: crate::service::cluster::Propagation) -> Self {
        Self {
            confirmed_nodes: p.confirmed_nodes,
            unconfirmed_nodes: p.unconfirmed_nodes,
        }
    }
}

impl From<vault::ItemError> for ItemProblem {
    fn from(e: vault::ItemError) -> Self {
        ItemProblem {
            code: e.code,
            detail: e.detail,
        }
    }
}

fn ciphertexts(results: Vec<ItemResult<String>>) -> CiphertextResults {
    CiphertextResults {
        items: results
            .into_iter()
            .map(|r| match r {
                Ok(c) => CiphertextResult {
                    ciphertext: Some(c),
                    error: None,
                },
                Err(e) => CiphertextResult {
                    ciphertext: None,
                    error: Some(e.into()),
                },
            })
            .collect(),
    }
}

fn targets(items: Vec<CiphertextRequestItem>) -> Vec<CiphertextItem> {
    items
        .into_iter()
        .map(|i| CiphertextItem {
            subject_id: i.subject_id,
            field: i.field,
            ciphertext: i.ciphertext,
        })
        .collect()
}

/// Encrypt a batch of values. Each answer is a ciphertext or an error of its own.
#[utoipa::path(post, path = "/v1/encrypt", tag = "vault", security(("bearer" = [])),
    request_body = EncryptRequest,
    responses(
        (status = 200, body = CiphertextResults),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown keyring", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn encrypt(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Json(body): Json<EncryptRequest>,
) -> Result<axum::Json<CiphertextResults>, ApiError> {
    let items = body
        .items
        .into_iter()
        .map(|i| EncryptItem {
            subject_id: i.subject_id,
            field: i.field,
            value: Zeroizing::new(i.value),
            free_form: i.free_form,
        })
        .collect();
    let results = vault::encrypt(
        &state,
        &caller,
        &ctx,
        body.keyring.as_deref(),
        body.purpose.as_deref(),
        items,
    )
    .await?;
    Ok(axum::Json(ciphertexts(results)))
}

/// Decrypt a batch under a purpose the calling key holds. Every subject touched is recorded
/// in the audit trail before anything is returned.
#[utoipa::path(post, path = "/v1/decrypt", tag = "vault", security(("bearer" = [])),
    request_body = DecryptRequest,
    responses(
        (status = 200, body = ValueResults),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`auth.purpose_not_allowed`, `auth.purpose_not_declared`, `auth.view_not_granted`, `auth.masking_role_not_granted`, or not a service key", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "The audit trail could not be written: nothing is returned", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`quota.exceeded` or `quota.rate_limited`: a quota of the calling key (or of the operator it names) ran out; `Retry-After` says when its window ends", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until the quota's window ends"))),
    ))]
async fn decrypt(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Json(body): Json<DecryptRequest>,
) -> Result<axum::Json<ValueResults>, ApiError> {
    let view = ViewRequest {
        kind: body.view,
        policy: body.policy,
    };
    let results = vault::decrypt(
        &state,
        &caller,
        &ctx,
        &body.purpose,
        &view,
        targets(body.items),
    )
    .await?;
    Ok(axum::Json(ValueResults {
        view: view.kind(),
        items: results
            .into_iter()
            .map(|r| match r {
                Ok(v) => ValueResult {
                    value: Some(v.as_str().to_owned()),
                    error: None,
                },
                Err(e) => ValueResult {
                    value: None,
                    error: Some(e.into()),
                },
            })
            .collect(),
    }))
}

/// Re-seal ciphertexts under their keyrings' newest versions, without exposing plaintext.
#[utoipa::path(post, path = "/v1/rewrap", tag = "vault", security(("bearer" = [])),
    request_body = RewrapRequest,
    responses(
        (status = 200, body = CiphertextResults),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn rewrap(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Json(body): Json<RewrapRequest>,
) -> Result<axum::Json<CiphertextResults>, ApiError> {
    let results = vault::rewrap(&state, &caller, &ctx, targets(body.items)).await?;
    Ok(axum::Json(ciphertexts(results)))
}

/// How an erasure is asked for.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EraseQuery {
    /// Erase even if Baomi holds nothing for the subject, leaving a tombstone that refuses
    /// the subject's data from now on (default `false`: such an erasure is refused with 404
    /// `vault.unknown_subject`).
    #[serde(default)]
    pub tombstone: bool,
}

/// Erase a subject (PIPL Art. 47): destroy its data keys, so every copy of its ciphertexts,
/// wherever kept, stops decrypting (`vault.subject_erased`). Idempotent. A service key needs
/// the `erase_subjects` permission; an admin key may erase too.
#[utoipa::path(delete, path = "/v1/subjects/{id}", tag = "vault", security(("bearer" = [])),
    params(("id" = String, Path, description = "The subject's id"), EraseQuery),
    responses(
        (status = 200, body = ErasureReceipt),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`auth.permission_not_granted`, or not a service or admin key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`vault.unknown_subject`: Baomi holds nothing for this subject and no tombstone was asked for", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn erase(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    Query(query): Query<EraseQuery>,
) -> Result<axum::Json<ErasureReceipt>, ApiError> {
    let receipt = vault::erase(&state, &caller, &ctx, &id, query.tombstone).await?;
    Ok(axum::Json(ErasureReceipt {
        receipt_id: receipt.receipt_id,
        subject_id: receipt.subject_id,
        erased_at: rfc3339(receipt.erased_at),
        data_keys_destroyed: receipt.data_keys_destroyed,
        fields_deleted: receipt.fields_deleted,
        index_entries_deleted: receipt.index_entries_deleted,
        effect: "the subject's data keys are destroyed: every ciphertext of this subject, \
                 including copies kept elsewhere, fails with vault.subject_erased; its stored \
                 fields, tokens and search entries are deleted; the erasure is journalled and \
                 re-applied after any restore",
        propagation: receipt.propagation.map(PropagationView::from),
        certificate: format!("/v1/subjects/{id}/erasure-certificate"),
    }))
}

/// The signed certificate of a subject's erasure (`baomi-erasure-certificate/1`): who was
/// erased, when, what was destroyed, and the erasure's audit event with its inclusion proof
/// in a signed checkpoint, cosigned by the log's witnesses when it has any. Anyone checks it
/// offline with `baomi audit verify-erasure` and the log's verifier keys. An officer, an
/// admin, or a service key with `erase_subjects` obtains it.
#[utoipa::path(get, path = "/v1/subjects/{id}/erasure-certificate", tag = "vault", security(("bearer" = [])),
    params(("id" = String, Path, description = "The subject's id")),
    responses(
        (status = 200, description = "A `baomi-erasure-certificate/1` JSON object with its `signature`", body = Object),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "`auth.permission_not_granted`, or not a service, officer or admin key", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`vault.not_erased`: the subject was not erased", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`audit.not_yet_signed`: no checkpoint (cosigned, with witnesses) covers the erasure yet; retry in a second", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`audit.event_pruned`: retention removed the erasure's audit event", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn erasure_certificate(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    Ok(axum::Json(
        erasure_certificates::certificate(&state, &caller, &ctx, &id).await?,
    ))
}
