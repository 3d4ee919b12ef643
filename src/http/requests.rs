//! Data-subject rights: `/v1/me/requests` and `/v1/me/export` (subject token), and the
//! officers' queue `/v1/requests` (officer, admin).

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use baomi_consent::{RequestKind, RequestStatus, RightsRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use zeroize::Zeroizing;

use super::audit::{AccessLogPage, access_log_page};
use super::consent::ConsentView;
use super::error::{ApiError, Problem};
use super::extract::{Json, Path, Query};
use crate::app::AppState;
use crate::auth::Caller;
use crate::service::{RequestContext, ServiceError, now, requests};

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, mine))
        .routes(routes!(export))
        .routes(routes!(list))
        .routes(routes!(get_one))
        .routes(routes!(approve))
        .routes(routes!(close))
}

/// A rights request.
#[derive(Serialize, ToSchema)]
pub struct RequestView {
    /// Its id (`req_…`).
    pub id: String,
    /// Whose.
    pub subject_id: String,
    /// `access`, `portability`, `correction`, `deletion` or `explanation`.
    pub kind: RequestKind,
    /// `open`, `approved` (accepted by an officer, being handled), `closing` (a deletion
    /// being carried out), `completed` or `rejected`.
    pub status: RequestStatus,
    /// When it was made.
    pub created_at: String,
    /// When it must be answered.
    pub due_at: String,
    /// Open or approved past its deadline.
    pub overdue: bool,
    /// Whether the subject wrote a note (officers read it at `GET /v1/requests/{id}`).
    pub has_note: bool,
    /// When an officer approved it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_at: Option<String>,
    /// When it was closed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_at: Option<String>,
    /// The answer given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resolution: Option<String>,
}

impl From<RightsRequest> for RequestView {
    fn from(r: RightsRequest) -> Self {
        Self {
            overdue: r.is_overdue(now()),
            id: r.id,
            subject_id: r.subject,
            kind: r.kind,
            status: r.status,
            created_at: crate::service::rfc3339(r.created_at),
            due_at: crate::service::rfc3339(r.due_at),
            has_note: r.note_ciphertext.is_some(),
            approved_at: r.approved_at.map(crate::service::rfc3339),
            closed_at: r.closed_at.map(crate::service::rfc3339),
            resolution: r.resolution,
        }
    }
}

/// A new request.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// What for.
    pub kind: RequestKind,
    /// What to correct, what to explain, … (kept encrypted; at most 2000 characters).
    pub note: Option<String>,
}

/// Requests.
#[derive(Serialize, ToSchema)]
pub struct RequestList {
    /// By deadline.
    pub requests: Vec<RequestView>,
}

/// Ask to see, copy, move, correct or delete my data, or for an explanation (subject
/// token). One open request of each kind at a time.
#[utoipa::path(post, path = "/v1/me/requests", tag = "self-service", security(("bearer" = [])),
    request_body = NewRequest,
    responses(
        (status = 201, body = RequestView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`requests.duplicate`", body = Problem, content_type = "application/problem+json"),
        (status = 410, description = "`vault.subject_erased`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Json(body): Json<NewRequest>,
) -> Result<(StatusCode, axum::Json<RequestView>), ApiError> {
    let note = body.note.map(Zeroizing::new);
    let request = requests::create(&state, &caller, &ctx, body.kind, note).await?;
    Ok((StatusCode::CREATED, axum::Json(request.into())))
}

/// My requests (subject token).
#[utoipa::path(get, path = "/v1/me/requests", tag = "self-service", security(("bearer" = [])),
    responses(
        (status = 200, body = RequestList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn mine(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<RequestList>, ApiError> {
    let found = requests::mine(&state, &caller).await?;
    Ok(axum::Json(RequestList {
        requests: found.into_iter().map(RequestView::from).collect(),
    }))
}

/// A copy of my data.
#[derive(Serialize, ToSchema)]
pub struct ExportView {
    /// Whose.
    pub subject_id: String,
    /// When it was made.
    pub generated_at: String,
    /// Stored fields, decrypted (or the error code of a field that cannot be read).
    #[schema(value_type = Object)]
    pub data: BTreeMap<String, serde_json::Value>,
    /// Consents with their history.
    pub consents: Vec<ConsentView>,
    /// Rights requests.
    pub requests: Vec<RequestView>,
    /// The newest 500 entries of the access log.
    pub access_log: AccessLogPage,
}

/// Everything Baomi holds about me, decrypted for me (subject token; machine-readable, for
/// access, copy and portability requests). The read is audited.
#[utoipa::path(get, path = "/v1/me/export", tag = "self-service", security(("bearer" = [])),
    responses(
        (status = 200, body = ExportView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 410, body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "`quota.exceeded` or `quota.rate_limited`: a quota of the calling key (or of the operator it names) ran out; `Retry-After` says when its window ends", body = Problem, content_type = "application/problem+json", headers(("Retry-After" = u64, description = "Seconds until the quota's window ends"))),
    ))]
async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
) -> Result<axum::Json<ExportView>, ApiError> {
    let found = requests::export(&state, &caller, &ctx).await?;
    let data = found
        .fields
        .into_iter()
        .map(|(field, value)| {
            let shown = match value {
                Ok(plain) => serde_json::Value::String(plain.as_str().to_owned()),
                Err(code) => serde_json::json!({"error": code}),
            };
            (field, shown)
        })
        .collect();
    let access_log = access_log_page(&state, found.subject.as_str().to_owned(), None, 500).await?;
    Ok(axum::Json(ExportView {
        subject_id: found.subject.as_str().to_owned(),
        generated_at: crate::service::rfc3339(now()),
        data,
        consents: super::consent::consent_list(found.consents).consents,
        requests: found.requests.into_iter().map(RequestView::from).collect(),
        access_log,
    }))
}

/// The officers' queue.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `open`, `approved`, `closing`, `completed` or `rejected`; all if absent.
    pub status: Option<String>,
    /// Only open or approved requests past their deadline.
    #[serde(default)]
    pub overdue: bool,
    /// At most this many (1 to 500, default 100).
    pub limit: Option<u32>,
}

/// Rights requests by deadline (officer, admin).
#[utoipa::path(get, path = "/v1/requests", tag = "consent", security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = 200, body = RequestList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> Result<axum::Json<RequestList>, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            RequestStatus::parse(s).ok_or_else(|| {
                ServiceError::invalid("status", "open, approved, closing, completed or rejected")
            })
        })
        .transpose()?;
    let statuses = match (status, q.overdue) {
        (_, true) => vec![RequestStatus::Open, RequestStatus::Approved],
        (None, false) => Vec::new(),
        (Some(s), false) => vec![s],
    };
    let limit = q.limit.unwrap_or(100);
    if !(1..=requests::MAX_LIST).contains(&limit) {
        return Err(ServiceError::invalid("limit", "must be 1 to 500").into());
    }
    let found = requests::list(&state, &caller, &statuses, limit).await?;
    let at = now();
    Ok(axum::Json(RequestList {
        requests: found
            .into_iter()
            .filter(|r| !q.overdue || r.is_overdue(at))
            .map(RequestView::from)
            .collect(),
    }))
}

/// A request with the subject's note.
#[derive(Serialize, ToSchema)]
pub struct RequestDetail {
    /// The request.
    #[serde(flatten)]
    pub request: RequestView,
    /// The subject's note, decrypted (absent if none, or if the subject was erased).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One request, with the subject's note (officer, admin; the read of the note is audited).
#[utoipa::path(get, path = "/v1/requests/{id}", tag = "consent", security(("bearer" = [])),
    params(("id" = String, Path, description = "The request id")),
    responses(
        (status = 200, body = RequestDetail),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`requests.not_found`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_one(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> Result<axum::Json<RequestDetail>, ApiError> {
    let (request, note) = requests::get(&state, &caller, &ctx, &id).await?;
    Ok(axum::Json(RequestDetail {
        request: request.into(),
        note: note.map(|n| n.as_str().to_owned()),
    }))
}

/// Approve a request (officer, admin): the platform accepts it for handling (受理), and the
/// subject sees it as `approved`. It must still be closed by its deadline; approval is
/// optional (a request can be closed while open).
#[utoipa::path(post, path = "/v1/requests/{id}/approve", tag = "consent", security(("bearer" = [])),
    params(("id" = String, Path, description = "The request id")),
    responses(
        (status = 200, body = RequestView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`requests.not_found`", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`requests.not_open`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn approve(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> Result<axum::Json<RequestView>, ApiError> {
    let approved = requests::approve(&state, &caller, &ctx, &id).await?;
    Ok(axum::Json(approved.into()))
}

/// How a request ends.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    /// `completed` or `rejected`.
    pub status: RequestStatus,
    /// What was done, or why not (shown to the subject; no PI).
    pub resolution: String,
}

/// Close a request (officer, admin). Completing a deletion request erases the subject
/// (crypto-shredding, with an erasure receipt in the trail).
#[utoipa::path(post, path = "/v1/requests/{id}/close", tag = "consent", security(("bearer" = [])),
    params(("id" = String, Path, description = "The request id")),
    request_body = CloseRequest,
    responses(
        (status = 200, body = RequestView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`requests.closed`", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn close(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    Json(body): Json<CloseRequest>,
) -> Result<axum::Json<RequestView>, ApiError> {
    let closed = requests::close(&state, &caller, &ctx, &id, body.status, &body.resolution).await?;
    Ok(axum::Json(closed.into()))
}
