//! Masking: policies (`/v1/policies`), detection (`/v1/detect`) and masking (`/v1/mask`)
//! of caller-supplied text, JSON documents and values.

use axum::Extension;
use axum::extract::State;
use baomi_masking::{Finding, JsonFinding, PiType, Policy};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, Problem};
use super::extract::{Json, Path};
use crate::app::AppState;
use crate::auth::Caller;
use crate::service::masking::{self, Input, MaskOptions, Output};
use crate::service::{ErrorCode, RequestContext, ServiceError};
use baomi_masking::PolicyVersion;

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_policy, get_policy))
        .routes(routes!(list_policies))
        .routes(routes!(detect))
        .routes(routes!(mask))
}

/// A stored policy.
#[derive(Serialize, ToSchema)]
pub struct PolicyView {
    /// Its name.
    pub name: String,
    /// Its version, from 1; every version is kept.
    pub version: u32,
    /// When this version was stored.
    pub updated_at: String,
    /// The key that stored it.
    pub updated_by: String,
    /// The policy: `description` and `rules` (each with `roles`, `purposes`, `scan`,
    /// `types` mapping PI types to operators, and `fields` naming JSON paths).
    #[schema(value_type = Object)]
    pub policy: serde_json::Value,
}

impl From<PolicyVersion> for PolicyView {
    fn from(p: PolicyVersion) -> Self {
        Self {
            policy: serde_json::from_str(&p.body).unwrap_or_default(),
            name: p.name,
            version: p.version,
            updated_at: crate::service::rfc3339_ms(p.updated_at),
            updated_by: p.updated_by,
        }
    }
}

/// Policies.
#[derive(Serialize, ToSchema)]
pub struct PolicyList {
    /// The latest version of each, by name.
    pub policies: Vec<PolicyView>,
}

/// Store a new version of a masking policy (admin). Unknown PI types or operators, an
/// operator that does not fit its type, a bad JSON path, or a rule that would leave JR/T
/// 0171 C3 data readable for a role not listed in `masking.clear_c3_roles` get 422
/// `masking.invalid_policy`, naming the rule.
#[utoipa::path(put, path = "/v1/policies/{name}", tag = "masking", security(("bearer" = [])),
    params(("name" = String, Path, description = "1 to 64 of a-z, 0-9, `_`, `-`, `.`; `default` applies when a call names none")),
    request_body(content = Object, description = "The policy: `description`, `rules`"),
    responses(
        (status = 200, body = PolicyView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`masking.invalid_policy`, `masking.invalid_policy_name`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn put_policy(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Path(name): Path<String>,
    Json(body): Json<serde_json::Value>,
) -> Result<axum::Json<PolicyView>, ApiError> {
    let policy: Policy = super::extract::parse_value(body, ErrorCode::MaskingInvalidPolicy)?;
    let stored = masking::put_policy(&state, &caller, &ctx, &name, &policy).await?;
    Ok(axum::Json(stored.into()))
}

/// A masking policy's latest version (any key).
#[utoipa::path(get, path = "/v1/policies/{name}", tag = "masking", security(("bearer" = [])),
    params(("name" = String, Path, description = "The policy's name")),
    responses(
        (status = 200, body = PolicyView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A subject token", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`masking.unknown_policy`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<axum::Json<PolicyView>, ApiError> {
    Ok(axum::Json(
        masking::policy(&state, &caller, &name).await?.into(),
    ))
}

/// Every masking policy (any key).
#[utoipa::path(get, path = "/v1/policies", tag = "masking", security(("bearer" = [])),
    responses(
        (status = 200, body = PolicyList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A subject token", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_policies(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<PolicyList>, ApiError> {
    let found = masking::policies(&state, &caller).await?;
    Ok(axum::Json(PolicyList {
        policies: found.into_iter().map(PolicyView::from).collect(),
    }))
}

/// What to detect in: exactly one of `text`, `json` or `value`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DetectRequest {
    /// Free text.
    pub text: Option<String>,
    /// A JSON document: every string in it is scanned.
    #[schema(value_type = Option<Object>)]
    pub json: Option<serde_json::Value>,
    /// One value.
    pub value: Option<String>,
}

/// A piece of PI found.
#[derive(Serialize, ToSchema)]
pub struct FindingView {
    /// `CN_ID`, `CN_MOBILE`, `BANK_CARD`, `EMAIL`, `IPV4`, … (see docs/masking.md).
    #[serde(rename = "type")]
    pub pi_type: String,
    /// Start, in characters.
    pub start: usize,
    /// End (exclusive), in characters.
    pub end: usize,
    /// Start, in UTF-8 bytes.
    pub byte_start: usize,
    /// End (exclusive), in UTF-8 bytes.
    pub byte_end: usize,
    /// Confidence from 0 to 1.
    pub score: f32,
    /// The check that passed (`gb11643`, `luhn`, `dictionary+context`, …).
    pub validator: String,
    /// For JSON input: the string's location, such as `$.customer.mobile`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

impl FindingView {
    fn of(f: Finding, path: Option<String>) -> Self {
        Self {
            pi_type: f.pi_type.as_str().to_owned(),
            start: f.start,
            end: f.end,
            byte_start: f.byte_start,
            byte_end: f.byte_end,
            score: f.score,
            validator: f.validator.to_owned(),
            path,
        }
    }
}

fn text_findings(found: Vec<Finding>) -> Vec<FindingView> {
    found
        .into_iter()
        .map(|f| FindingView::of(f, None))
        .collect()
}

fn json_findings(found: Vec<JsonFinding>) -> Vec<FindingView> {
    found
        .into_iter()
        .map(|f| FindingView::of(f.finding, Some(f.path)))
        .collect()
}

/// What was found.
#[derive(Serialize, ToSchema)]
pub struct DetectResponse {
    /// In order of position (for JSON: in document order).
    pub findings: Vec<FindingView>,
}

fn one_input(
    text: Option<String>,
    json: Option<serde_json::Value>,
    value: Option<String>,
    pi_type: Option<PiType>,
) -> Result<Input, ServiceError> {
    match (text, json, value) {
        (Some(t), None, None) => Ok(Input::Text(t)),
        (None, Some(j), None) => Ok(Input::Json(j)),
        (None, None, Some(v)) => Ok(Input::Value(pi_type.unwrap_or(PiType::Text), v)),
        _ => Err(ServiceError::Invalid {
            field: "body",
            reason: "give exactly one of text, json and value".to_owned(),
        }),
    }
}

/// Find personal information in a text, a JSON document or a value (any key). Nothing
/// sent is stored or logged.
#[utoipa::path(post, path = "/v1/detect", tag = "masking", security(("bearer" = [])),
    request_body = DetectRequest,
    responses(
        (status = 200, body = DetectResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "A subject token", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`masking.too_deep`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn detect(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<DetectRequest>,
) -> Result<axum::Json<DetectResponse>, ApiError> {
    let input = one_input(body.text, body.json, body.value, None)?;
    let findings = match masking::detect(&state, &caller, input).await? {
        Output::Text(_, f) => text_findings(f),
        Output::Json(_, f) => json_findings(f),
        Output::Value(_) => Vec::new(),
    };
    Ok(axum::Json(DetectResponse { findings }))
}

/// What to mask and how: exactly one of `text`, `json` or `value`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MaskRequest {
    /// Free text: every finding is masked with its type's operator.
    pub text: Option<String>,
    /// A JSON document: fields named by the rule get their operator, other strings are
    /// scanned (unless the rule scans only its paths).
    #[schema(value_type = Option<Object>)]
    pub json: Option<serde_json::Value>,
    /// One value of a known `type`.
    pub value: Option<String>,
    /// The type of `value` (default `TEXT`).
    #[serde(rename = "type")]
    #[schema(value_type = Option<String>)]
    pub pi_type: Option<PiType>,
    /// The policy (default: the stored `default` policy, or every type's display default).
    pub policy: Option<String>,
    /// The role to match the policy's rules against: the platform's staff role (default:
    /// the `X-Baomi-Operator-Role` header, else the key's role).
    pub role: Option<String>,
    /// The purpose to match the policy's rules against.
    pub purpose: Option<String>,
    /// The subject the data is about (needed by `date_shift`).
    pub subject_id: Option<String>,
}

/// The masked input.
#[derive(Serialize, ToSchema)]
pub struct MaskResponse {
    /// The masked text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The masked document.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub json: Option<serde_json::Value>,
    /// The masked value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// What was masked, with offsets into the input.
    pub findings: Vec<FindingView>,
}

/// Mask personal information in a text, a JSON document or a value under a policy, for a
/// role and purpose (any key). Nothing sent is stored or logged.
#[utoipa::path(post, path = "/v1/mask", tag = "masking", security(("bearer" = [])),
    request_body = MaskRequest,
    responses(
        (status = 200, body = MaskResponse),
        (status = 400, body = Problem, content_type = "application/problem+json"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin, service or officer key (a subject token), or a masking role the key is not granted", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`masking.unknown_policy`, `masking.too_deep`, `masking.subject_required`, `masking.not_applicable`, `masking.operator_unavailable`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn mask(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Json(body): Json<MaskRequest>,
) -> Result<axum::Json<MaskResponse>, ApiError> {
    let input = one_input(body.text, body.json, body.value, body.pi_type)?;
    let options = MaskOptions {
        policy: body.policy,
        role: body.role.or_else(|| ctx.operator_role.clone()),
        purpose: body.purpose,
        subject_id: body.subject_id,
    };
    let out = match masking::mask(&state, &caller, &ctx, input, options).await? {
        Output::Text(text, f) => MaskResponse {
            text: Some(text),
            json: None,
            value: None,
            findings: text_findings(f),
        },
        Output::Json(doc, f) => MaskResponse {
            text: None,
            json: Some(doc),
            value: None,
            findings: json_findings(f),
        },
        Output::Value(v) => MaskResponse {
            text: None,
            json: None,
            value: Some(v),
            findings: Vec::new(),
        },
    };
    Ok(axum::Json(out))
}
