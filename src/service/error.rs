//! Errors of the use cases. `src/http/error.rs` maps each to a status and a stable code.

use crate::service::ErrorCode;
use crate::store::StoreError;

/// Why a caller could not be authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// An `Authorization` header that is not `Bearer <credential>` of a known form.
    Malformed,
    /// An unknown, revoked or wrong API key.
    InvalidKey,
    /// A subject token that does not verify, or was revoked, or whose issuing key was.
    InvalidToken,
    /// A subject token past its lifetime.
    ExpiredToken,
    /// A right API key without the client certificate it needs: none, or not the one it
    /// is bound to.
    ClientCertificateRequired,
}

/// What can go wrong in a use case.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request names something invalid; `field` says which part, `reason` says why
    /// (never quoting the value).
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The offending field.
        field: &'static str,
        /// Why it is invalid.
        reason: String,
    },
    /// The caller is not authenticated.
    #[error("not authenticated")]
    Unauthenticated(AuthFailure),
    /// The caller may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The calling key does not hold the purpose it declared.
    #[error("the calling key may not use this purpose")]
    PurposeNotAllowed,
    /// The caller's grants do not allow this (the code says what is missing, e.g.
    /// `auth.view_not_granted`).
    #[error("not granted: {code}")]
    NotGranted {
        /// Stable error code.
        code: ErrorCode,
        /// What is missing (never a value).
        detail: String,
    },
    /// The named thing does not exist; the code says what kind of thing.
    #[error("not found")]
    NotFound {
        /// Stable error code, e.g. `keys.not_found`.
        code: ErrorCode,
    },
    /// The thing is gone for good (an erased subject).
    #[error("gone")]
    Gone {
        /// Stable error code, e.g. `vault.subject_erased`.
        code: ErrorCode,
    },
    /// The request conflicts with the current state.
    #[error("conflict: {detail}")]
    Conflict {
        /// Stable error code.
        code: ErrorCode,
        /// What conflicts.
        detail: String,
    },
    /// The subject's consent does not allow this read (the code says why, e.g.
    /// `consent.withdrawn`).
    #[error("refused by the subject's consent: {code}")]
    ConsentDenied {
        /// Stable error code.
        code: ErrorCode,
    },
    /// Well-formed input the domain refuses, with its own code (e.g.
    /// `consent.separate_consent_missing`).
    #[error("{code}: {detail}")]
    Rejected {
        /// Stable error code.
        code: ErrorCode,
        /// Why (never quoting a value).
        detail: String,
    },
    /// The database (or the audit trail in it, or the erasure journal) cannot be reached
    /// or did not answer in time: retry later. The text is logged, never sent.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The HSM that holds the root key failed even after a new session (the detail names
    /// the PKCS#11 function and return value; it is logged, not sent).
    #[error("hardware security module: {0}")]
    HsmUnavailable(String),
    /// Too much of a bounded resource is in use right now (`code` says which); retry.
    #[error("busy: {code}")]
    Busy {
        /// The stable error code, e.g. `console.busy`.
        code: ErrorCode,
    },
    /// A quota of the calling key ran out (429, with `Retry-After`).
    #[error("quota: {}", .0.limit)]
    QuotaExceeded(crate::service::quotas::Refusal),
    /// Something that should not happen did; the text is logged, never sent.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<baomi_audit::AuditFailure> for ServiceError {
    /// The trail could not be read or written: the request fails as unavailable (and a read
    /// of PI returns nothing: no access without its record).
    fn from(e: baomi_audit::AuditFailure) -> Self {
        Self::Unavailable(format!("audit trail: {}", e.0))
    }
}

impl From<StoreError> for ServiceError {
    /// A database that cannot be reached is worth retrying; anything else is a bug, or a
    /// database someone edited.
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(reason) => Self::Unavailable(reason),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<baomi_types::StoreFailure> for ServiceError {
    /// A domain crate's storage port failed.
    fn from(e: baomi_types::StoreFailure) -> Self {
        if e.unavailable {
            Self::Unavailable(e.detail)
        } else {
            Self::Internal(e.detail)
        }
    }
}

impl ServiceError {
    /// An [`ServiceError::Invalid`] for `field`.
    pub fn invalid(field: &'static str, reason: impl std::fmt::Display) -> Self {
        Self::Invalid {
            field,
            reason: reason.to_string(),
        }
    }
}
