//! The witness's HTTP interface: `POST /add-checkpoint` (C2SP `tlog-witness`) and
//! `GET /healthz`. Refusals are `application/problem+json` with a stable code, except the
//! protocol's 409, whose body is the held size as `text/x.tlog.size`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use baomi_audit::witness::{Refusal, SIZE_MEDIA_TYPE};

use super::{Witness, WitnessError};
use crate::http::error::ApiError;
use crate::service::ErrorCode;

/// The largest request: 63 proof lines and a checkpoint with a few signatures fit many times.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// The witness's routes.
pub fn router(witness: Arc<Witness>) -> Router {
    Router::new()
        .route("/add-checkpoint", post(add_checkpoint))
        .route("/healthz", get(|| async { "ok\n" }))
        .fallback(|| async {
            problem(
                StatusCode::NOT_FOUND,
                ErrorCode::RequestNotFound,
                "no such route".to_owned(),
            )
        })
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(witness)
}

async fn add_checkpoint(
    State(witness): State<Arc<Witness>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return problem(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::RequestTooLarge,
                format!("the body is larger than {MAX_BODY_BYTES} bytes"),
            );
        }
        Err(_) => {
            return problem(
                StatusCode::BAD_REQUEST,
                ErrorCode::RequestUnreadableBody,
                "the body could not be read".to_owned(),
            );
        }
    };
    let Ok(body) = std::str::from_utf8(&body) else {
        return refused(&Refusal::Malformed("the body is not UTF-8"));
    };
    match witness.add_checkpoint(body).await {
        Ok(cosignature) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            cosignature,
        )
            .into_response(),
        Err(WitnessError::Refused(refusal)) => refused(&refusal),
        Err(WitnessError::State(e)) => {
            tracing::error!(error = %e, "the witness state failed");
            problem(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::WitnessStateUnavailable,
                "the witness could not read or write its state; retry later".to_owned(),
            )
        }
    }
}

fn refused(refusal: &Refusal) -> Response {
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
    match refusal {
        Refusal::StaleOldSize { recorded } | Refusal::Fork { recorded } => (
            status,
            [(header::CONTENT_TYPE, SIZE_MEDIA_TYPE)],
            format!("{recorded}\n"),
        )
            .into_response(),
        _ => problem(status, refusal_code(refusal), refusal.to_string()),
    }
}

/// The code of a refusal, as the witness answers it.
fn refusal_code(refusal: &Refusal) -> ErrorCode {
    match refusal {
        Refusal::Malformed(_) => ErrorCode::WitnessMalformedRequest,
        Refusal::OldSizeTooLarge => ErrorCode::WitnessOldSizeTooLarge,
        Refusal::NotSigned => ErrorCode::WitnessNotSignedByTheLog,
        Refusal::UnknownLog => ErrorCode::WitnessUnknownLog,
        Refusal::StaleOldSize { .. } => ErrorCode::WitnessStaleOldSize,
        Refusal::Fork { .. } => ErrorCode::WitnessFork,
        Refusal::Inconsistent => ErrorCode::WitnessInconsistent,
    }
}

fn problem(status: StatusCode, code: ErrorCode, detail: String) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    ApiError::new(status, code, title, detail).into_response()
}
