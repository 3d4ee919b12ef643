//! Errors of the masking domain.

/// Result type of the masking domain.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the masking domain. It has no variants yet because the
/// crate has no fallible operation yet; they arrive with the detectors and policies.
#[derive(Debug, thiserror::Error)]
pub enum Error {}
