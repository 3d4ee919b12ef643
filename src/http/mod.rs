//! The HTTP API: routes per area, extractors, errors and the request middleware.

pub mod audit;
pub mod catalogue;
pub mod consent;
pub mod context;
pub mod contract;
pub mod docs;
pub mod error;
pub mod extract;
pub mod keyrings;
pub mod keys;
pub mod masking;
pub mod ops;
pub mod requests;
pub mod strict_json;
pub mod subject_tokens;
pub mod subjects;
pub mod vault;

use axum::http::StatusCode;

use error::ApiError;

/// Formats Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// Formats Unix milliseconds as RFC 3339 (UTC), with milliseconds.
pub fn rfc3339_ms(unix_ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix_ms.to_string())
}

/// 404 for every path no route matches.
pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "request.not_found",
        "Not found",
        "no such route; see /openapi.json",
    )
}

/// 405 for a known path called with a method it does not have.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "request.method_not_allowed",
        "Method not allowed",
        "this route does not accept that method; see /openapi.json",
    )
}
