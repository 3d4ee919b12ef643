//! Purposes (`/v1/purposes`), the consent ledger for a subject (`/v1/subjects/{id}/consents`,
//! service key; `/v1/me/consents`, subject token) and consent decisions.

use axum::Extension;
use axum::extract::State;
use axum::http::StatusCode;
use baomi_consent::{ConsentEvent, ConsentState, Grant, PurposeDefinition, PurposeRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, Problem};
use super::extract::{Json, Path};
use crate::app::AppState;
use crate::auth::Caller;
use crate::service::authenticate::require_subject;
use crate::service::{RequestContext, consent};

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(put_purpose))
        .routes(routes!(list_purposes))
        .routes(routes!(grant, list_consents))
        .routes(routes!(withdraw))
        .routes(routes!(my_consents, grant_mine))
        .routes(routes!(withdraw_mine))
        .routes(routes!(decide))
        .routes(routes!(receipt))
        .routes(routes!(put_notice))
}

/// Publish a new version of a privacy notice (admin). Grants may name the version the
/// subject was shown.
#[utoipa::path(put, path = "/v1/notices/{id}", tag = "consent", security(("bearer" = [])),
    params(("id" = String, Path, description = "The notice id, e.g. `privacy-policy`")),
    request_body = baomi_consent::NoticeText,
    responses(
        (status = 200, body = baomi_consent::Notice),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`consent.invalid_notice`, `consent.unknown_purpose`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn put_notice(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    Json(body): Json<baomi_consent::NoticeText>,
) -> Result<axum::Json<baomi_consent::Notice>, ApiError> {
    Ok(axum::Json(
        consent::put_notice(&state, &caller, &ctx, &id, body).await?,
    ))
}

/// The signed receipt of a grant or withdrawal (service, officer, or the subject's token):
/// keep it; check it with `baomi consent verify-receipt` and Baomi's verifier key (the one
/// `GET /v1/audit/checkpoint` shows).
#[utoipa::path(get, path = "/v1/consent/receipts/{id}", tag = "consent", security(("bearer" = [])),
    params(("id" = String, Path, description = "The ledger event id (`cev_…`)")),
    responses(
        (status = 200, description = "A `baomi-consent-receipt/1` JSON object with its `signature`", body = Object),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`consent.unknown_receipt`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn receipt(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    Ok(axum::Json(
        consent::receipt(&state, &caller, &ctx, &id).await?,
    ))
}

/// A purpose's newest version.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurposeView {
    /// Its id.
    pub id: String,
    /// Its version, from 1.
    pub version: u32,
    /// Grants of versions below this one need renewal.
    pub renewal_from: u32,
    /// Unix seconds of this version, as RFC 3339.
    pub updated_at: String,
    /// Its definition.
    pub definition: PurposeDefinition,
}

impl From<PurposeRecord> for PurposeView {
    fn from(r: PurposeRecord) -> Self {
        Self {
            id: r.id,
            version: r.version,
            renewal_from: r.renewal_from,
            updated_at: crate::service::rfc3339(r.updated_at),
            definition: r.definition,
        }
    }
}

/// A purpose stored, and whether the change needs fresh consent.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurposeChanged {
    /// The purpose as stored now.
    #[serde(flatten)]
    pub purpose: PurposeView,
    /// What changed materially (PIPL Art. 14), making earlier grants need renewal; empty
    /// for a new purpose or a change of wording.
    pub renewal_required_by: Vec<&'static str>,
}

/// Declare a purpose, or publish a new version of it (admin).
#[utoipa::path(put, path = "/v1/purposes/{id}", tag = "consent", security(("bearer" = [])),
    params(("id" = String, Path, description = "The purpose id, e.g. `loan_underwriting`")),
    request_body = PurposeDefinition,
    responses(
        (status = 200, body = PurposeChanged),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`consent.invalid_purpose`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn put_purpose(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    Json(body): Json<PurposeDefinition>,
) -> Result<axum::Json<PurposeChanged>, ApiError> {
    let (record, changes) = consent::put_purpose(&state, &caller, &ctx, &id, body).await?;
    Ok(axum::Json(PurposeChanged {
        purpose: record.into(),
        renewal_required_by: changes,
    }))
}

/// Every purpose.
#[derive(Debug, Serialize, ToSchema)]
pub struct PurposeList {
    /// By id.
    pub purposes: Vec<PurposeView>,
}

/// List purposes (admin, service, officer).
#[utoipa::path(get, path = "/v1/purposes", tag = "consent", security(("bearer" = [])),
    responses(
        (status = 200, body = PurposeList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_purposes(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<PurposeList>, ApiError> {
    let purposes = consent::purposes(&state, &caller).await?;
    Ok(axum::Json(PurposeList {
        purposes: purposes.into_iter().map(PurposeView::from).collect(),
    }))
}

/// Record a subject's consent (service key).
#[utoipa::path(post, path = "/v1/subjects/{id}/consents", tag = "consent", security(("bearer" = [])),
    params(("id" = String, Path, description = "The subject id")),
    request_body = Grant,
    responses(
        (status = 201, body = ConsentEvent),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`consent.unknown_purpose`, `consent.separate_consent_missing`, `consent.guardian_required`, `consent.invalid_grant`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn grant(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Path(subject): Path<String>,
    Json(body): Json<Grant>,
) -> Result<(StatusCode, axum::Json<ConsentEvent>), ApiError> {
    let event = consent::grant(&state, &caller, &ctx, &subject, body).await?;
    Ok((StatusCode::CREATED, axum::Json(event)))
}

/// Withdraw a subject's consent to a purpose (service key).
#[utoipa::path(delete, path = "/v1/subjects/{id}/consents/{purpose}", tag = "consent", security(("bearer" = [])),
    params(
        ("id" = String, Path, description = "The subject id"),
        ("purpose" = String, Path, description = "The purpose id"),
    ),
    responses(
        (status = 200, description = "The withdrawal as recorded", body = ConsentEvent),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`consent.not_active`: nothing in force to withdraw", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn withdraw(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Path((subject, purpose)): Path<(String, String)>,
) -> Result<axum::Json<ConsentEvent>, ApiError> {
    Ok(axum::Json(
        consent::withdraw(&state, &caller, &ctx, &subject, &purpose).await?,
    ))
}

/// A subject's consent to one purpose.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentView {
    /// The purpose.
    pub purpose: String,
    /// Its state now.
    pub state: ConsentState,
    /// Every ledger event, oldest first.
    pub history: Vec<ConsentEvent>,
}

/// A subject's consents.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsentList {
    /// Per purpose that has any.
    pub consents: Vec<ConsentView>,
}

/// The view of a subject's consents.
pub(crate) fn consent_list(found: Vec<consent::PurposeConsent>) -> ConsentList {
    ConsentList {
        consents: found
            .into_iter()
            .map(|c| ConsentView {
                purpose: c.purpose,
                state: c.state,
                history: c.history,
            })
            .collect(),
    }
}

/// A subject's consents, their state and history (service, officer).
#[utoipa::path(get, path = "/v1/subjects/{id}/consents", tag = "consent", security(("bearer" = [])),
    params(("id" = String, Path, description = "The subject id")),
    responses(
        (status = 200, body = ConsentList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`request.invalid_field`: not a subject id", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_consents(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Path(subject): Path<String>,
) -> Result<axum::Json<ConsentList>, ApiError> {
    Ok(axum::Json(consent_list(
        consent::consents(&state, &caller, &ctx, &subject).await?,
    )))
}

/// My consents, their state and history (subject token).
#[utoipa::path(get, path = "/v1/me/consents", tag = "self-service", security(("bearer" = [])),
    responses(
        (status = 200, body = ConsentList),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn my_consents(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
) -> Result<axum::Json<ConsentList>, ApiError> {
    let subject = require_subject(&caller)?.as_str().to_owned();
    Ok(axum::Json(consent_list(
        consent::consents(&state, &caller, &ctx, &subject).await?,
    )))
}

/// Consent to a purpose (subject token).
#[utoipa::path(post, path = "/v1/me/consents", tag = "self-service", security(("bearer" = [])),
    request_body = Grant,
    responses(
        (status = 201, body = ConsentEvent),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn grant_mine(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Json(body): Json<Grant>,
) -> Result<(StatusCode, axum::Json<ConsentEvent>), ApiError> {
    let subject = require_subject(&caller)?.as_str().to_owned();
    let event = consent::grant(&state, &caller, &ctx, &subject, body).await?;
    Ok((StatusCode::CREATED, axum::Json(event)))
}

/// Withdraw my consent to a purpose (subject token).
#[utoipa::path(delete, path = "/v1/me/consents/{purpose}", tag = "self-service", security(("bearer" = [])),
    params(("purpose" = String, Path, description = "The purpose id")),
    responses(
        (status = 200, body = ConsentEvent),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`consent.invalid_purpose` (not a purpose id), `consent.unknown_purpose`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn withdraw_mine(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Path(purpose): Path<String>,
) -> Result<axum::Json<ConsentEvent>, ApiError> {
    let subject = require_subject(&caller)?.as_str().to_owned();
    Ok(axum::Json(
        consent::withdraw(&state, &caller, &ctx, &subject, &purpose).await?,
    ))
}

/// A decision to ask for.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Whose data.
    pub subject_id: String,
    /// Under which purpose.
    pub purpose: String,
}

/// Whether a read would be allowed now, and why.
#[derive(Debug, Serialize, ToSchema)]
pub struct DecisionView {
    /// Allowed or not.
    pub allowed: bool,
    /// `purpose_not_declared`, `other_legal_basis`, `consent_active`, `no_consent`,
    /// `consent_withdrawn`, `consent_expired`, `renewal_required`,
    /// `separate_consent_missing`.
    pub reason: baomi_consent::Reason,
    /// The error code a refused read gets (`consent.withdrawn`, …), or `consent.allowed`.
    pub code: &'static str,
    /// The ledger event the decision rests on (the decision's reference, also written in
    /// the audit event of a read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consent_event: Option<String>,
}

/// Ask whether a read of a subject's data under a purpose would be allowed (service).
#[utoipa::path(post, path = "/v1/consent/decisions", tag = "consent", security(("bearer" = [])),
    request_body = DecisionRequest,
    responses(
        (status = 200, body = DecisionView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn decide(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<DecisionRequest>,
) -> Result<axum::Json<DecisionView>, ApiError> {
    let d = consent::decide(&state, &caller, &body.subject_id, &body.purpose).await?;
    Ok(axum::Json(DecisionView {
        allowed: d.reason.allows(),
        code: d.reason.code(),
        reason: d.reason,
        consent_event: d.event_id,
    }))
}
