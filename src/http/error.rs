//! Errors as `application/problem+json` (RFC 9457), each with a stable `code`.
//!
//! Every error a client can see is built here. A 5xx body says nothing of internals; the
//! detail travels in the response's extensions to the request middleware, which logs it
//! with the request id and strips it.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::service::{AuthFailure, ErrorCode, ServiceError};

/// The media type of problem responses.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// A problem response body.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:baomi:problem:<code>`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: &'static str,
    /// The HTTP status code.
    pub status: u16,
    /// The stable, machine-readable error code, e.g. `auth.missing`.
    pub code: &'static str,
    /// What went wrong in this request; never contains personal information or secrets.
    pub detail: String,
    /// The request id (also in the `X-Request-Id` response header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Extra members some problems carry (e.g. `checks` of `/readyz`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

/// An error on its way to becoming a problem response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: ErrorCode,
    title: &'static str,
    detail: String,
    internal: Option<String>,
    extra: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The internal detail of a 5xx error, for the middleware to log; never sent.
#[derive(Debug, Clone)]
pub struct InternalDetail(pub String);

impl ApiError {
    /// A problem with the given status, code, title and detail.
    pub fn new(
        status: StatusCode,
        code: ErrorCode,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            internal: None,
            extra: None,
        }
    }

    /// 400 `request.<what>`.
    pub fn bad_request(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, "Bad request", detail)
    }

    /// 500 `internal`, logging `internal` and telling the client nothing more.
    pub fn internal(internal: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "Internal error",
            "the server failed to handle this request; the request id identifies it in the logs",
        );
        e.internal = Some(internal.into());
        e
    }

    /// Adds members to the problem body.
    pub fn with_extra(mut self, extra: serde_json::Map<String, serde_json::Value>) -> Self {
        self.extra = Some(extra);
        self
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Invalid { field, reason } => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                ErrorCode::RequestInvalidField,
                "Invalid field",
                format!("{field}: {reason}"),
            ),
            ServiceError::Unauthenticated(failure) => {
                let (code, detail) = match failure {
                    AuthFailure::Missing => (
                        ErrorCode::AuthMissing,
                        "send an Authorization: Bearer <API key or subject token> header",
                    ),
                    AuthFailure::Malformed => (
                        ErrorCode::AuthMalformed,
                        "the Authorization header must be Bearer bm_… or Bearer bmst_…",
                    ),
                    AuthFailure::InvalidKey => (
                        ErrorCode::AuthInvalidKey,
                        "the API key is unknown or revoked",
                    ),
                    AuthFailure::InvalidToken => (
                        ErrorCode::AuthInvalidToken,
                        "the subject token is invalid or revoked",
                    ),
                    AuthFailure::ExpiredToken => {
                        (ErrorCode::AuthTokenExpired, "the subject token has expired")
                    }
                    AuthFailure::ClientCertificateRequired => (
                        ErrorCode::AuthClientCertificateRequired,
                        "this key must be used over mutual TLS with the client certificate \
                         it is bound to, or one the platform's CA signed",
                    ),
                };
                Self::new(StatusCode::UNAUTHORIZED, code, "Unauthorized", detail)
            }
            ServiceError::Forbidden(detail) => Self::new(
                StatusCode::FORBIDDEN,
                ErrorCode::AuthForbidden,
                "Forbidden",
                detail,
            ),
            ServiceError::PurposeNotAllowed => Self::new(
                StatusCode::FORBIDDEN,
                ErrorCode::AuthPurposeNotAllowed,
                "Forbidden",
                "the calling key does not list this purpose",
            ),
            ServiceError::NotGranted { code, detail } => {
                Self::new(StatusCode::FORBIDDEN, code, "Forbidden", detail)
            }
            ServiceError::NotFound { code } => {
                Self::new(StatusCode::NOT_FOUND, code, "Not found", "no such resource")
            }
            ServiceError::Gone { code } => Self::new(
                StatusCode::GONE,
                code,
                "Gone",
                "the subject was erased; its data can never be read or written again",
            ),
            ServiceError::Conflict { code, detail } => {
                Self::new(StatusCode::CONFLICT, code, "Conflict", detail)
            }
            ServiceError::ConsentDenied { code } => Self::new(
                StatusCode::FORBIDDEN,
                code,
                "Refused by consent",
                "the subject's consent does not allow this purpose; see GET /v1/subjects/{id}/consents",
            ),
            ServiceError::Rejected { code, detail } => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, "Refused", detail)
            }
            ServiceError::Unavailable(reason) => {
                let mut err = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::ServiceDatabaseUnavailable,
                    "Service unavailable",
                    "the database is not reachable; retry later",
                );
                err.internal = Some(reason);
                err
            }
            ServiceError::HsmUnavailable(reason) => {
                let mut err = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::VaultHsmUnavailable,
                    "Service unavailable",
                    "the hardware security module that holds the root key is not answering; \
                     retry later",
                );
                err.internal = Some(reason);
                err
            }
            ServiceError::Busy { code } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                code,
                "Service unavailable",
                "the server is busy with requests like this one; retry in a few seconds",
            ),
            ServiceError::QuotaExceeded(refusal) => {
                let detail = match refusal.scope {
                    crate::service::quotas::Scope::Key => {
                        "the calling key has used its quota under this purpose for now; retry \
                         after the time in Retry-After"
                    }
                    crate::service::quotas::Scope::Operator => {
                        "the operator named in X-Baomi-Operator has used its quota under this \
                         purpose for now; retry after the time in Retry-After"
                    }
                };
                let mut extra = serde_json::Map::new();
                extra.insert("limit".to_owned(), refusal.limit.into());
                extra.insert("scope".to_owned(), refusal.scope.as_str().into());
                extra.insert("retry_after".to_owned(), refusal.retry_after_secs.into());
                Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    refusal.code(),
                    "Too many requests",
                    detail,
                )
                .with_extra(extra)
            }
            ServiceError::Internal(detail) => Self::internal(detail),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: format!("urn:baomi:problem:{}", self.code),
            title: self.title,
            status: self.status.as_u16(),
            code: self.code.as_str(),
            detail: self.detail,
            request_id: None,
            extra: self.extra,
        };
        let mut response = render(self.status, &problem);
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"baomi\""),
            );
        }
        // A problem that says when to retry says it in the header too.
        if let Some(secs) = problem
            .extra
            .as_ref()
            .and_then(|e| e.get("retry_after"))
            .and_then(serde_json::Value::as_u64)
        {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.extensions_mut().insert(problem);
        if let Some(internal) = self.internal {
            response.extensions_mut().insert(InternalDetail(internal));
        }
        response
    }
}

/// Serialises a problem with its status.
pub fn render(status: StatusCode, problem: &Problem) -> Response {
    let body = serde_json::to_vec(problem).unwrap_or_else(|_| b"{}".to_vec());
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
        body,
    )
        .into_response()
}
