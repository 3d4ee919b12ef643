//! The console's form extractor: axum's `Form`, after refusing NUL characters, which
//! PostgreSQL cannot store (the API's JSON bodies refuse them the same way).

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// A URL-encoded form without NUL characters.
pub struct Form<T>(pub T);

impl<T, S> FromRequest<S> for Form<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let bytes = Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        if holds_nul(&bytes) {
            return Err((
                StatusCode::BAD_REQUEST,
                "a form field contains a NUL character",
            )
                .into_response());
        }
        let req = Request::from_parts(parts, Body::from(bytes));
        let axum::Form(value) = axum::Form::<T>::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        Ok(Self(value))
    }
}

/// Whether a URL-encoded body decodes to text holding a NUL, raw or escaped.
fn holds_nul(body: &[u8]) -> bool {
    body.contains(&0) || crate::http::context::has_nul(&String::from_utf8_lossy(body))
}

#[cfg(test)]
mod tests {
    use super::holds_nul;

    #[test]
    fn nul_raw_or_escaped() {
        assert!(holds_nul(b"comment=a%00b"));
        assert!(holds_nul(b"comment=a\0b"));
        assert!(!holds_nul(b"comment=a%2500b&x=100"));
    }
}
