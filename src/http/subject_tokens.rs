//! `/v1/subject-tokens` (service role) and `/v1/me` (subject tokens).

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
use super::extract::{Json, ServiceKey};
use crate::app::AppState;
use crate::auth::Caller;
use crate::service::{RequestContext, rfc3339, subject_tokens};

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(mint))
        .routes(routes!(revoke))
        .routes(routes!(me))
}

/// A request for a subject token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MintToken {
    /// The platform's id of the user (pseudonymous; letters, digits, `.`, `_`, `:`, `-`).
    pub subject_id: String,
    /// Lifetime in seconds; the configured default (15 minutes) if absent.
    pub ttl_seconds: Option<u64>,
}

/// A minted subject token.
#[derive(Serialize, ToSchema)]
pub struct MintedToken {
    /// The token, for the user's app to send as `Authorization: Bearer <token>`.
    pub token: String,
    /// The token's id.
    pub token_id: String,
    /// The subject it is bound to.
    pub subject_id: String,
    /// When it stops working (RFC 3339).
    pub expires_at: String,
}

impl std::fmt::Debug for MintedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MintedToken")
            .field("token_id", &self.token_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// A request to revoke a subject token.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeToken {
    /// The token to revoke.
    pub token: String,
}

impl std::fmt::Debug for RevokeToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RevokeToken(<redacted>)")
    }
}

/// Who a subject token speaks for.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// The subject.
    pub subject_id: String,
    /// The token's id.
    pub token_id: String,
    /// When the token stops working (RFC 3339).
    pub expires_at: String,
}

/// Mint a short-lived token bound to one subject, for the self-service calls (a service key
/// holding `mint_subject_tokens`; audited). The token acts within its issuer's grants, and
/// every event it causes names the issuer and the operator of this call.
#[utoipa::path(post, path = "/v1/subject-tokens", tag = "subject tokens",
    security(("bearer" = [])), request_body = MintToken,
    responses(
        (status = 201, body = MintedToken),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn mint(
    State(state): State<AppState>,
    ServiceKey(caller): ServiceKey,
    Extension(ctx): Extension<RequestContext>,
    Json(body): Json<MintToken>,
) -> Result<impl IntoResponse, ApiError> {
    let (token, claims) =
        subject_tokens::mint(&state, &caller, &ctx, &body.subject_id, body.ttl_seconds).await?;
    let minted = MintedToken {
        token: token.expose_secret().to_owned(),
        token_id: claims.jti,
        subject_id: claims.sub,
        expires_at: rfc3339(claims.exp),
    };
    Ok((StatusCode::CREATED, axum::Json(minted)))
}

/// Revoke a subject token before it expires (the service key that minted it, or an admin).
#[utoipa::path(post, path = "/v1/subject-tokens/revoke", tag = "subject tokens",
    security(("bearer" = [])), request_body = RevokeToken,
    responses(
        (status = 204, description = "Revoked (or already expired)"),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<RevokeToken>,
) -> Result<StatusCode, ApiError> {
    subject_tokens::revoke(&state, &caller, &body.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The subject a subject token is bound to.
#[utoipa::path(get, path = "/v1/me", tag = "self-service", security(("bearer" = [])),
    responses(
        (status = 200, body = Me),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Called with an API key", body = Problem, content_type = "application/problem+json"),
    ))]
async fn me(caller: Caller) -> Result<axum::Json<Me>, ApiError> {
    let subject = crate::service::authenticate::require_subject(&caller)?;
    let Caller::Subject {
        token_id,
        expires_at,
        ..
    } = &caller
    else {
        return Err(ApiError::internal("subject caller without token"));
    };
    Ok(axum::Json(Me {
        subject_id: subject.as_str().to_owned(),
        token_id: token_id.clone(),
        expires_at: rfc3339(*expires_at),
    }))
}
