//! Errors of the masking domain.

use crate::pi_type::PiType;

/// Result type of the masking domain.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the masking domain. No message carries a value that
/// was being masked.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The operator does not fit the type or the value (`generalize` to a year of something
    /// that is not a date).
    #[error("operator {op} does not apply to this {pi_type} value")]
    NotApplicable {
        /// The operator.
        op: &'static str,
        /// The type.
        pi_type: PiType,
    },
    /// The operator needs something this caller did not give (a key, the vault).
    #[error("operator {op} is not available here")]
    OperatorUnavailable {
        /// The operator.
        op: &'static str,
    },
    /// `date_shift` needs the subject the data is about.
    #[error("date_shift needs the subject the data is about")]
    SubjectRequired,
    /// The vault refused to encrypt or tokenize.
    #[error("the vault refused: {reason}")]
    Vault {
        /// Why (no value).
        reason: String,
    },
    /// A policy is not valid.
    #[error("invalid policy: {0}")]
    InvalidPolicy(String),
    /// The secret a consistent pseudonym key is derived from is too short.
    #[error("the key holds {len} bytes; it needs at least {min} random bytes")]
    KeyTooShort {
        /// Its length.
        len: usize,
        /// The least it must hold.
        min: usize,
    },
    /// A JSON document nests deeper than allowed.
    #[error("the document nests deeper than {max} levels")]
    TooDeep {
        /// The limit.
        max: usize,
    },
}
