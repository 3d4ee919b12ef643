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

use crate::service::ErrorCode;

/// 404 for every path no route matches.
pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        ErrorCode::RequestNotFound,
        "Not found",
        "no such route; see /openapi.json",
    )
}

/// 405 for a known path called with a method it does not have.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::RequestMethodNotAllowed,
        "Method not allowed",
        "this route does not accept that method; see /openapi.json",
    )
}
