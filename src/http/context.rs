//! The request middleware: request id and operator, time limit, metrics, access log, and
//! the final touch on problem responses.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use baomi_types::{OperatorId, RequestId};
use ring::rand::{SecureRandom, SystemRandom};

use super::error::{ApiError, InternalDetail, Problem, render};
use crate::app::AppState;
use crate::service::ErrorCode;

/// `X-Request-Id`: taken from the request when valid, made otherwise; always answered.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// `X-Baomi-Operator`: the platform staff member a backend acts for.
pub static OPERATOR: HeaderName = HeaderName::from_static("x-baomi-operator");
/// `X-Baomi-Operator-Role`: that staff member's role, which masking policies match.
pub static OPERATOR_ROLE: HeaderName = HeaderName::from_static("x-baomi-operator-role");

pub use crate::service::RequestContext;

/// Runs every request: validates the context headers, applies the time limit, records
/// metrics, writes the access log line (route template, never the raw path or query, which
/// may hold ids), and puts the request id into problem bodies.
pub async fn middleware(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method()).to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());

    let checked = refuse_up_front(&req, &state).and_then(|()| read_context(&req));
    let (request_id, context) = match checked {
        Ok(ctx) => (ctx.request_id.clone(), Ok(ctx)),
        Err(e) => (new_request_id(), Err(e)),
    };
    let response = match context {
        Ok(ctx) => {
            req.extensions_mut().insert(ctx);
            let limit = Duration::from_secs(state.limits.request_timeout_secs);
            match tokio::time::timeout(limit, next.run(req)).await {
                Ok(response) => response,
                Err(_) => ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::RequestTimeout,
                    "Request timed out",
                    "the request took longer than this server allows; retry later",
                )
                .into_response(),
            }
        }
        Err(e) => e.into_response(),
    };
    finish(response, &request_id, &method, &route, started)
}

fn finish(
    mut response: Response,
    request_id: &RequestId,
    method: &str,
    route: &str,
    started: Instant,
) -> Response {
    let status = response.status();
    let elapsed = started.elapsed();
    let labels = [
        ("method", method.to_owned()),
        ("route", route.to_owned()),
        ("status", status.as_u16().to_string()),
    ];
    metrics::counter!("baomi_http_requests_total", &labels).increment(1);
    metrics::histogram!(
        "baomi_http_request_duration_seconds",
        "method" => method.to_owned(),
        "route" => route.to_owned()
    )
    .record(elapsed.as_secs_f64());

    let internal = response.extensions_mut().remove::<InternalDetail>();
    if let Some(mut problem) = response.extensions_mut().remove::<Problem>() {
        metrics::counter!("baomi_http_errors_total", "code" => problem.code).increment(1);
        if let Some(InternalDetail(detail)) = &internal {
            tracing::error!(request_id = request_id.as_str(), route, code = problem.code, error = %detail, "request failed");
        }
        problem.request_id = Some(request_id.as_str().to_owned());
        let headers = std::mem::take(response.headers_mut());
        response = render(status, &problem);
        // The new body has a type and a length of its own; every other header stays.
        for (name, value) in headers.iter() {
            if name != axum::http::header::CONTENT_LENGTH
                && name != axum::http::header::CONTENT_TYPE
            {
                response.headers_mut().append(name, value.clone());
            }
        }
    }
    if let Ok(value) = HeaderValue::from_str(request_id.as_str()) {
        response.headers_mut().insert(REQUEST_ID.clone(), value);
    }
    tracing::info!(
        request_id = request_id.as_str(),
        method,
        route,
        status = status.as_u16(),
        elapsed_us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX),
        "request"
    );
    response
}

/// The method as a metrics and log label: the standard ones by name, anything else
/// `other` (hyper accepts any token as a method; it must not reach labels or logs).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The longest path and query string taken together: room for the longest parameter, a
/// kept checkpoint of 2048 characters percent-encoded, and below hyper's own limit
/// (64 KiB), whose refusal has no body.
pub const MAX_URI_BYTES: usize = 32 * 1024;

/// The most header bytes (names, values and their separators) a request may carry. Far
/// above what a client sends, and below hyper's buffer, whose refusal has no body.
pub const MAX_HEADER_BYTES: usize = 32 * 1024;

/// What is refused before any work: a path and query or headers longer than the server
/// takes (414, 431), a body declared larger than the limit (413 at once, not after reading
/// it), and a NUL character in the path or the query string, which no identifier or filter
/// holds (PostgreSQL cannot store it; SQLite would): both backends answer alike.
fn refuse_up_front(req: &Request, state: &AppState) -> Result<(), ApiError> {
    let uri_bytes = req.uri().path().len() + req.uri().query().map_or(0, |q| q.len() + 1);
    if uri_bytes > MAX_URI_BYTES {
        return Err(ApiError::new(
            StatusCode::URI_TOO_LONG,
            ErrorCode::RequestUriTooLong,
            "URI too long",
            "the path and query string are longer than this server accepts (32 KiB)",
        ));
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ErrorCode::RequestHeadersTooLarge,
            "Request headers too large",
            "the request's headers are larger than this server accepts (32 KiB)",
        ));
    }
    let declared = req
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > state.limits.max_body_bytes as u64) {
        return Err(super::extract::too_large());
    }
    if has_nul(req.uri().path()) {
        return Err(ApiError::bad_request(
            ErrorCode::RequestInvalidPath,
            "a path segment contains a NUL character",
        ));
    }
    if let Some(query) = req.uri().query()
        && has_nul(query)
    {
        return Err(ApiError::bad_request(
            ErrorCode::RequestInvalidQuery,
            "a query parameter contains a NUL character",
        ));
    }
    Ok(())
}

/// Whether percent-encoded text decodes to a NUL character.
pub(crate) fn has_nul(encoded: &str) -> bool {
    encoded.contains("%00")
}

fn read_context(req: &Request) -> Result<RequestContext, ApiError> {
    let request_id = match req.headers().get(&REQUEST_ID) {
        None => new_request_id(),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|v| RequestId::parse(v).ok())
            .ok_or_else(|| {
                ApiError::bad_request(
                    ErrorCode::RequestInvalidRequestId,
                    "X-Request-Id must be 1 to 64 ASCII letters, digits, '-', '_' or '.'",
                )
            })?,
    };
    let operator = match req.headers().get(&OPERATOR) {
        None => None,
        Some(value) => Some(
            std::str::from_utf8(value.as_bytes())
                .ok()
                .and_then(|v| OperatorId::parse(v).ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        ErrorCode::RequestInvalidOperator,
                        "X-Baomi-Operator must be 1 to 128 characters of UTF-8 text \
                         without control characters",
                    )
                })?,
        ),
    };
    let operator_role = match req.headers().get(&OPERATOR_ROLE) {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .filter(|v| {
                    !v.is_empty()
                        && v.len() <= 64
                        && v.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
                })
                .map(str::to_owned)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        ErrorCode::RequestInvalidOperatorRole,
                        "X-Baomi-Operator-Role must be 1 to 64 ASCII letters, digits, '-', '_' \
                         or '.'",
                    )
                })?,
        ),
    };
    Ok(RequestContext {
        request_id,
        operator,
        operator_role,
    })
}

fn new_request_id() -> RequestId {
    let mut bytes = [0u8; 12];
    // A failing RNG leaves zeros: request ids are correlation handles, not secrets.
    let _ = SystemRandom::new().fill(&mut bytes);
    RequestId::from_random(bytes)
}
