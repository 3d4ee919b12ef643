//! Errors of the audit domain.

/// Result type of the audit domain.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the audit domain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An operator id is malformed.
    #[error("invalid operator id: {0}")]
    InvalidOperator(&'static str),
    /// A request id is malformed.
    #[error("invalid request id: {0}")]
    InvalidRequestId(&'static str),
}
