//! Errors of the consent domain.

/// Result type of the consent domain.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the consent domain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A purpose id is malformed.
    #[error("invalid purpose id: {0}")]
    InvalidPurposeId(&'static str),
}
