//! The stored vault: `PUT/GET /v1/subjects/{id}/data`, `POST /v1/detokenize`,
//! `POST /v1/search` (service role). Types here carry PI: none derives `Debug`.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::error::{ApiError, Problem};
use super::extract::{Json, Path, Query};
use super::vault::ItemProblem;
use crate::app::AppState;
use crate::auth::Caller;
use crate::auth::grant::ViewKind;
use crate::service::RequestContext;
use crate::service::stored::{self, BulkStoreRequest, StoreRequest};
use crate::service::vault::ViewRequest;

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_data, get_data))
        .routes(routes!(store_many))
        .routes(routes!(detokenize))
        .routes(routes!(search))
}

/// Fields to store for a subject.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutData {
    /// Keyring; `default` if absent.
    pub keyring: Option<String>,
    /// Field name → value, e.g. `{"mobile": "13800138000", "name": "张三"}`. Fields not
    /// named keep their earlier values; a field named again gets a new value and a new token.
    pub fields: BTreeMap<String, String>,
    /// Fields to index for `POST /v1/search` (exact match after normalisation).
    #[serde(default)]
    pub searchable: Vec<String>,
    /// Bank cards and mobile numbers get tokens of their own shape (default `true`); `false`
    /// gives every field a random `tok_…` token.
    pub format_preserving_tokens: Option<bool>,
    /// Fields kept as given. Every other field of a type with a validator (`id_number`,
    /// `mobile`, `bank_card`, `email`) must hold a value of that type, written any usual
    /// way, or the request is refused whole (422 `vault.invalid_value`, naming the field).
    #[serde(default)]
    pub free_form: Vec<String>,
}

/// The tokens of the stored fields.
#[derive(Serialize, ToSchema)]
pub struct Tokens {
    /// The subject.
    pub subject_id: String,
    /// Field name → token. Keep tokens instead of values.
    pub tokens: BTreeMap<String, String>,
}

/// Fields to store for many subjects at once: a bulk import, one transaction and one audit
/// event per request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreManyRequest {
    /// Keyring; `default` if absent.
    pub keyring: Option<String>,
    /// Up to `max_batch_items` subjects. A subject named again is answered with
    /// `request.invalid_field` in its later places.
    pub subjects: Vec<SubjectFields>,
    /// Fields to index for `POST /v1/search`, wherever a subject has them.
    #[serde(default)]
    pub searchable: Vec<String>,
    /// As in `PUT /v1/subjects/{id}/data` (default `true`).
    pub format_preserving_tokens: Option<bool>,
    /// Fields kept as given, as in `PUT /v1/subjects/{id}/data`.
    #[serde(default)]
    pub free_form: Vec<String>,
}

/// One subject's fields in a bulk store. Its id and fields are checked subject by subject:
/// an invalid one is answered in its place, not by refusing the request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubjectFields {
    /// The subject.
    pub subject_id: String,
    /// Field name → value; fields not named keep their earlier values.
    pub fields: BTreeMap<String, String>,
}

/// One subject's result in a bulk store.
#[derive(Serialize, ToSchema)]
pub struct StoredSubject {
    /// The subject.
    pub subject_id: String,
    /// Field name → token, when stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens: Option<BTreeMap<String, String>>,
    /// Why it was not stored (`vault.invalid_subject`, `vault.invalid_field`,
    /// `vault.invalid_value`, `vault.value_too_long`, `vault.subject_erased`,
    /// `request.invalid_field`: no fields, too many, or the subject named earlier in the
    /// batch); the others are stored regardless.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ItemProblem>,
}

/// The results of a bulk store, in the order of its subjects.
#[derive(Serialize, ToSchema)]
pub struct StoredSubjects {
    /// One per subject.
    pub items: Vec<StoredSubject>,
}

/// Query of a read.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ReadQuery {
    /// Why: one of the calling key's purposes.
    pub purpose: String,
    /// Comma-separated field names; all fields if absent.
    pub fields: Option<String>,
    /// `masked` (default) or `plain`, which the key's grant must name for this purpose.
    #[param(value_type = Option<String>)]
    pub view: Option<ViewKind>,
    /// The masking policy of the masked view (default: `default`, else the display
    /// defaults).
    pub policy: Option<String>,
}

/// One stored field read back.
#[derive(Serialize, ToSchema)]
pub struct FieldValue {
    /// Its token (absent for a field the purpose does not cover).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The value, on success.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The failure, otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ItemProblem>,
}

/// A subject's stored fields.
#[derive(Serialize, ToSchema)]
pub struct SubjectData {
    /// The subject.
    pub subject_id: String,
    /// The view the values are in.
    pub view: ViewKind,
    /// Field name → value.
    pub fields: BTreeMap<String, FieldValue>,
}

/// Tokens to exchange for values.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetokenizeRequest {
    /// Why: one of the calling key's purposes.
    pub purpose: String,
    /// `masked` (default) or `plain`, which the key's grant must name for this purpose.
    pub view: Option<ViewKind>,
    /// The masking policy of the masked view (default: `default`, else the display
    /// defaults).
    pub policy: Option<String>,
    /// Up to `max_batch_items` tokens.
    pub tokens: Vec<String>,
}

/// One token's result.
#[derive(Serialize, ToSchema)]
pub struct DetokenizedItem {
    /// The token asked about.
    pub token: String,
    /// Whose value it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject_id: Option<String>,
    /// Which field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// The failure (`vault.unknown_token`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ItemProblem>,
}

/// Results in the order of the tokens.
#[derive(Serialize, ToSchema)]
pub struct Detokenized {
    /// The view the values are in.
    pub view: ViewKind,
    /// One per token.
    pub items: Vec<DetokenizedItem>,
}

/// An exact-match search.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    /// Why: one of the calling key's purposes.
    pub purpose: String,
    /// Keyring the field was stored under; `default` if absent.
    pub keyring: Option<String>,
    /// A field stored as searchable.
    pub field: String,
    /// The value to find; written any usual way (`+86 138-0013-8000` finds `13800138000`).
    pub value: String,
}

/// The subjects found.
#[derive(Serialize, ToSchema)]
pub struct SearchResult {
    /// At most 1,000 subject ids.
    pub subject_ids: Vec<String>,
}

/// Store fields of a subject and get a token for each (all or nothing).
#[utoipa::path(put, path = "/v1/subjects/{id}/data", tag = "vault", security(("bearer" = [])),
    params(("id" = String, Path, description = "The subject's id")),
    request_body = PutData,
    responses(
        (status = 200, body = Tokens),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`vault.unknown_keyring`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`vault.subject_erased`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`request.invalid_field`, `vault.invalid_value` (a value not of its field's type)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn put_data(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    Json(body): Json<PutData>,
) -> Result<axum::Json<Tokens>, ApiError> {
    let request = StoreRequest {
        keyring: body.keyring,
        fields: body
            .fields
            .into_iter()
            .map(|(k, v)| (k, Zeroizing::new(v)))
            .collect(),
        searchable: body.searchable,
        format_preserving_tokens: body.format_preserving_tokens.unwrap_or(true),
        free_form: body.free_form,
    };
    let tokens = stored::put(&state, &caller, &ctx, &id, request).await?;
    Ok(axum::Json(Tokens {
        subject_id: id,
        tokens,
    }))
}

/// Store fields of many subjects in one transaction (a bulk import): each subject is stored
/// or has an error of its own, and the request is one audit event.
#[utoipa::path(post, path = "/v1/store", tag = "vault", security(("bearer" = [])),
    request_body = StoreManyRequest,
    responses(
        (status = 200, body = StoredSubjects),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`vault.unknown_keyring`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`request.invalid_field` (no subjects, or too many)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn store_many(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Json(body): Json<StoreManyRequest>,
) -> Result<axum::Json<StoredSubjects>, ApiError> {
    let ids: Vec<String> = body.subjects.iter().map(|s| s.subject_id.clone()).collect();
    let request = BulkStoreRequest {
        keyring: body.keyring,
        subjects: body
            .subjects
            .into_iter()
            .map(|s| {
                let fields = s
                    .fields
                    .into_iter()
                    .map(|(k, v)| (k, Zeroizing::new(v)))
                    .collect();
                (s.subject_id, fields)
            })
            .collect(),
        searchable: body.searchable,
        format_preserving_tokens: body.format_preserving_tokens.unwrap_or(true),
        free_form: body.free_form,
    };
    let results = stored::put_many(&state, &caller, &ctx, request).await?;
    Ok(axum::Json(StoredSubjects {
        items: ids
            .into_iter()
            .zip(results)
            .map(|(subject_id, result)| match result {
                Ok(tokens) => StoredSubject {
                    subject_id,
                    tokens: Some(tokens),
                    error: None,
                },
                Err(e) => StoredSubject {
                    subject_id,
                    tokens: None,
                    error: Some(e.into()),
                },
            })
            .collect(),
    }))
}

/// Read a subject's stored fields under a purpose (audited).
#[utoipa::path(get, path = "/v1/subjects/{id}/data", tag = "vault", security(("bearer" = [])),
    params(("id" = String, Path, description = "The subject's id"), ReadQuery),
    responses(
        (status = 200, body = SubjectData),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`vault.subject_erased`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`quota.exceeded` or `quota.rate_limited`: a quota of the calling key (or of the operator it names) ran out; `Retry-After` says when its window ends", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until the quota's window ends"))),
    ))]
async fn get_data(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    Query(query): Query<ReadQuery>,
) -> Result<axum::Json<SubjectData>, ApiError> {
    let view = ViewRequest {
        kind: query.view,
        policy: query.policy,
    };
    let read = stored::get(
        &state,
        &caller,
        &ctx,
        &id,
        &query.purpose,
        query.fields.as_deref(),
        &view,
    )
    .await?;
    let fields = read
        .into_iter()
        .map(|(name, out)| {
            let (value, error) = match out.value {
                Ok(v) => (Some(v.as_str().to_owned()), None),
                Err(e) => (None, Some(e.into())),
            };
            (
                name,
                FieldValue {
                    token: out.token,
                    value,
                    error,
                },
            )
        })
        .collect();
    Ok(axum::Json(SubjectData {
        subject_id: id,
        view: view.kind(),
        fields,
    }))
}

/// Exchange tokens for values under a purpose (audited per subject).
#[utoipa::path(post, path = "/v1/detokenize", tag = "vault", security(("bearer" = [])),
    request_body = DetokenizeRequest,
    responses(
        (status = 200, body = Detokenized),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`quota.exceeded` or `quota.rate_limited`: a quota of the calling key (or of the operator it names) ran out; `Retry-After` says when its window ends", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until the quota's window ends"))),
    ))]
async fn detokenize(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Json(body): Json<DetokenizeRequest>,
) -> Result<axum::Json<Detokenized>, ApiError> {
    let view = ViewRequest {
        kind: body.view,
        policy: body.policy,
    };
    let results =
        stored::detokenize(&state, &caller, &ctx, &body.purpose, &view, &body.tokens).await?;
    let items = body
        .tokens
        .into_iter()
        .zip(results)
        .map(|(token, r)| match r {
            Ok(d) => DetokenizedItem {
                token,
                subject_id: Some(d.subject_id),
                field: Some(d.field),
                value: Some(d.value.as_str().to_owned()),
                error: None,
            },
            Err(e) => DetokenizedItem {
                token,
                subject_id: None,
                field: None,
                value: None,
                error: Some(e.into()),
            },
        })
        .collect();
    Ok(axum::Json(Detokenized {
        view: view.kind(),
        items,
    }))
}

/// Find subjects by a searchable field's value, without decrypting anything (audited).
#[utoipa::path(post, path = "/v1/search", tag = "vault", security(("bearer" = [])),
    request_body = SearchRequest,
    responses(
        (status = 200, body = SearchResult),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`vault.unknown_keyring`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`quota.exceeded` or `quota.rate_limited`: a quota of the calling key (or of the operator it names) ran out; `Retry-After` says when its window ends", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until the quota's window ends"))),
    ))]
async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Json(body): Json<SearchRequest>,
) -> Result<axum::Json<SearchResult>, ApiError> {
    let subject_ids = stored::search(
        &state,
        &caller,
        &ctx,
        &body.purpose,
        body.keyring.as_deref(),
        &body.field,
        &body.value,
    )
    .await?;
    Ok(axum::Json(SearchResult { subject_ids }))
}
