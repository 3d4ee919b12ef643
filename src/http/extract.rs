//! Extractors whose rejections are problem responses: JSON bodies, path segments, query
//! strings and the authenticated caller.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::strict_json::Strict;
use crate::app::AppState;
use crate::auth::client_certificate::VerifiedCertificate;
use crate::auth::{Caller, Role};
use crate::service::authenticate::{Channel, authenticate, require_role};
use crate::service::{AuthFailure, ErrorCode, ServiceError};

/// A JSON request body. Rejections: 415 `request.unsupported_media_type`, 413
/// `request.too_large`, 400 `request.malformed_json`, 422 `request.invalid_body`. Messages
/// name the place in the document, never the value found there.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::RequestUnsupportedMediaType,
                "Unsupported media type",
                "send the body as Content-Type: application/json",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes).map(Json)
    }
}

fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|m| {
            let m = m.trim().to_ascii_lowercase();
            m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
        })
        .unwrap_or(false)
}

/// 413 `request.too_large`.
pub fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::RequestTooLarge,
        "Payload too large",
        "the request body is larger than this server accepts (max_body_bytes)",
    )
}

fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        ApiError::bad_request(
            ErrorCode::RequestUnreadableBody,
            "the request body could not be read",
        )
    }
}

/// Parses a JSON document into `T`, with errors that locate the problem without quoting it.
/// Text holding a NUL character is refused (422, naming where), as PostgreSQL cannot store
/// it: both backends answer alike.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(Strict(&mut de)).map_err(|e| {
        let path = safe_path(e.path());
        let inner = e.into_inner();
        match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                ApiError::bad_request(
                    ErrorCode::RequestMalformedJson,
                    format!(
                        "the body is not valid JSON (line {}, column {})",
                        inner.line(),
                        inner.column()
                    ),
                )
            }
            _ => invalid_body(ErrorCode::RequestInvalidBody, &path, &inner.to_string()),
        }
    })?;
    de.end().map_err(|_| {
        ApiError::bad_request(
            ErrorCode::RequestMalformedJson,
            "the body has trailing characters after the JSON document",
        )
    })?;
    // A NUL can only be written as an escape: look closer only when one may be there.
    if may_hold_nul(bytes)
        && let Ok(doc) = serde_json::from_slice::<serde_json::Value>(bytes)
        && let Some(path) = nul_at(&doc, String::new())
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::RequestInvalidBody,
            "Invalid body",
            format!("the text at `{path}` contains a NUL character"),
        ));
    }
    Ok(value)
}

/// Deserialises a JSON value into `T`, refusing it with `code` (422) and a detail that
/// names the place, never the value found there.
pub fn parse_value<T: DeserializeOwned>(
    value: serde_json::Value,
    code: ErrorCode,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(Strict(value)).map_err(|e| {
        let path = safe_path(e.path());
        invalid_body(code, &path, &e.into_inner().to_string())
    })
}

/// Whether the body may hold an escaped NUL (`\u0000`).
fn may_hold_nul(bytes: &[u8]) -> bool {
    // Compared only where a backslash starts an escape: one pass, no work per byte else.
    bytes.split(|b| *b == b'\\').skip(1).any(|rest| {
        rest.get(..5)
            .is_some_and(|e| e.eq_ignore_ascii_case(b"u0000"))
    })
}

/// Where in `doc` a string (or a key) holds a NUL character, as a safe path.
fn nul_at(doc: &serde_json::Value, at: String) -> Option<String> {
    use serde_json::Value;
    let here = || {
        if at.is_empty() {
            ".".to_owned()
        } else {
            at.clone()
        }
    };
    match doc {
        Value::String(s) if s.contains('\0') => Some(here()),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_at(v, format!("{at}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let name = if looks_like_field_name(k) {
                k.as_str()
            } else {
                "?"
            };
            let path = if at.is_empty() {
                name.to_owned()
            } else {
                format!("{at}.{name}")
            };
            if k.contains('\0') {
                Some(path)
            } else {
                nul_at(v, path)
            }
        }),
        _ => None,
    }
}

/// serde's messages for unknown and missing fields name only fields; all other messages may
/// quote the offending value, so they are replaced by the path alone.
fn invalid_body(code: ErrorCode, path: &str, message: &str) -> ApiError {
    let detail = if let Some(rest) = message.strip_prefix("unknown field `") {
        // A caller's key could itself be a value (`{"<ID number>": …}`): only names that
        // look like field names are repeated.
        let field = rest.split('`').next().unwrap_or("");
        if looks_like_field_name(field) {
            format!("unknown field `{field}` at `{path}`")
        } else {
            format!("unknown field at `{path}`")
        }
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        let field = rest.split('`').next().unwrap_or("");
        format!("missing field `{field}` at `{path}`")
    } else if let Some((_, expected)) = message
        .strip_prefix("unknown variant `")
        .and_then(|rest| rest.rsplit_once("`, expected "))
    {
        // What was sent is left out; what is expected is this server's own vocabulary (the
        // last `, expected` is serde's, whatever the value held).
        format!("unknown value at `{path}`; expected {expected}")
    } else {
        format!("wrong type or value at `{path}`")
    };
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        code,
        "Invalid body",
        detail,
    )
}

/// The place of an error in the document, as `a.b[2].c`; a map key that does not look like
/// a field name (it could be a value) is shown as `?`.
fn safe_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(if looks_like_field_name(key) { key } else { "?" });
            }
            Segment::Unknown => out.push_str(".?"),
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

fn looks_like_field_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// A path segment. Rejection: 400 `request.invalid_path`.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|_: PathRejection| {
                ApiError::bad_request(ErrorCode::RequestInvalidPath, "a path segment is malformed")
            })
    }
}

/// A query string. Rejection: 400 `request.invalid_query`.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|_: QueryRejection| {
                ApiError::bad_request(
                    ErrorCode::RequestInvalidQuery,
                    "the query string has an unknown, missing or malformed parameter",
                )
            })
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let header = match parts.headers.get(header::AUTHORIZATION) {
            None => None,
            Some(value) => Some(value.to_str().map_err(|_| {
                ApiError::from(ServiceError::Unauthenticated(AuthFailure::Malformed))
            })?),
        };
        let certificate = VerifiedCertificate::of(&parts.extensions);
        Ok(authenticate(state, header, certificate, Channel::Api).await?)
    }
}

async fn caller_with_role(
    parts: &mut Parts,
    state: &AppState,
    roles: &[Role],
) -> Result<Caller, ApiError> {
    let caller = Caller::from_request_parts(parts, state).await?;
    require_role(&caller, roles)?;
    Ok(caller)
}

/// A caller with an admin key, checked before the body is read (401, then 403).
pub struct AdminKey {
    /// The caller.
    pub caller: Caller,
    /// The admin key's id.
    pub id: String,
}

impl AdminKey {
    /// This admin, in the request `ctx`, as the key-administration use cases name it.
    pub fn of<'a>(
        &'a self,
        ctx: &'a crate::service::RequestContext,
    ) -> crate::service::keys::Admin<'a> {
        crate::service::keys::Admin {
            caller: &self.caller,
            key_id: &self.id,
            ctx,
        }
    }
}

impl FromRequestParts<AppState> for AdminKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = caller_with_role(parts, state, &[Role::Admin]).await?;
        match &caller {
            Caller::Key { id, .. } => Ok(AdminKey {
                id: id.clone(),
                caller,
            }),
            Caller::Subject { .. } => Err(ApiError::internal("role check let a subject in")),
        }
    }
}

/// A caller with a service key, checked before the body is read (401, then 403).
pub struct ServiceKey(pub Caller);

impl FromRequestParts<AppState> for ServiceKey {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        caller_with_role(parts, state, &[Role::Service])
            .await
            .map(ServiceKey)
    }
}
