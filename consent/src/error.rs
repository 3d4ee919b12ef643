//! Errors of the consent domain.

/// Result type of the consent domain.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the consent domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A purpose id is malformed.
    #[error("invalid purpose id: {0}")]
    InvalidPurposeId(&'static str),
    /// A purpose definition is incomplete or inconsistent.
    #[error("invalid purpose: {0}")]
    InvalidPurpose(&'static str),
    /// A grant lacks separate consents the purpose needs (PIPL Art. 23, 29, 39).
    #[error("this purpose needs separate consent for: {}", .0.join(", "))]
    SeparateConsentMissing(Vec<&'static str>),
    /// A subject under 14 needs a guardian's consent (PIPL Art. 31).
    #[error("a subject under 14 needs a guardian's consent, with how the guardian was verified")]
    GuardianRequired,
    /// A grant is malformed.
    #[error("invalid consent: {0}")]
    InvalidGrant(&'static str),
    /// A notice is malformed.
    #[error("invalid notice: {0}")]
    InvalidNotice(&'static str),
}
