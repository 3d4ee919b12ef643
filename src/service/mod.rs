//! Use cases: what the server does, without HTTP types. Handlers call one function here.

pub mod authenticate;
mod error;
pub mod keys;
pub mod setup;
pub mod subject_tokens;

pub use error::{AuthFailure, ServiceError};

/// The current time in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
