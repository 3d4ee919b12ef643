//! What a storage port reports when the database fails.

/// A failed storage call: the one failure type of the vault's and consent's storage ports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct StoreFailure {
    /// The database could not be reached: worth retrying later.
    pub unavailable: bool,
    /// What failed (never a stored value).
    pub detail: String,
}
