//! The storage the vault needs (its port). The server implements it for SQLite and
//! PostgreSQL; nothing here knows which.

use async_trait::async_trait;

use crate::SubjectId;
use crate::keyring::{Keyring, KeyringName, SealedKek};

/// A failed storage call, as the vault sees it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{detail}")]
pub struct StoreFailure {
    /// The database could not be reached: worth retrying later.
    pub unavailable: bool,
    /// What failed (never a stored value).
    pub detail: String,
}

/// A subject's data key for one keyring version, sealed under a KEK version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedDataKey {
    /// The keyring.
    pub keyring: KeyringName,
    /// The subject.
    pub subject: SubjectId,
    /// The keyring version this data key belongs to (the `<version>` of its ciphertexts).
    pub version: u32,
    /// The KEK version that seals it now (rises when rewrapped after a rotation).
    pub kek_version: u32,
    /// `nonce ‖ sealed key ‖ tag`.
    pub sealed: Vec<u8>,
    /// Unix seconds.
    pub created_at: i64,
}

/// The record that a subject was erased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Erasure {
    /// The subject.
    pub subject: SubjectId,
    /// The receipt's id.
    pub receipt_id: String,
    /// Unix seconds.
    pub erased_at: i64,
}

/// What an erasure destroyed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ErasureCounts {
    /// Data keys destroyed (one per keyring version the subject had data under).
    pub data_keys: u64,
}

/// The vault's storage port.
#[async_trait]
pub trait VaultStore: Send + Sync {
    /// One keyring.
    async fn keyring(&self, name: &KeyringName) -> Result<Option<Keyring>, StoreFailure>;

    /// Every keyring, by name.
    async fn keyrings(&self) -> Result<Vec<Keyring>, StoreFailure>;

    /// Creates a keyring with its first KEK version, atomically. `false`, having written
    /// nothing, when the name is taken.
    async fn create_keyring(
        &self,
        keyring: &Keyring,
        first: &SealedKek,
    ) -> Result<bool, StoreFailure>;

    /// One KEK version.
    async fn kek(
        &self,
        keyring: &KeyringName,
        version: u32,
    ) -> Result<Option<SealedKek>, StoreFailure>;

    /// Adds KEK version `kek.version` and makes it the latest, if the latest is
    /// `kek.version - 1`; `false`, having written nothing, when another rotation won.
    async fn add_kek(&self, kek: &SealedKek) -> Result<bool, StoreFailure>;

    /// Sets the keyring's policy.
    async fn set_policy(
        &self,
        keyring: &KeyringName,
        min_decryption_version: u32,
        rotation_period_secs: Option<u64>,
    ) -> Result<(), StoreFailure>;

    /// A subject's data key for one keyring version.
    async fn subject_key(
        &self,
        keyring: &KeyringName,
        subject: &SubjectId,
        version: u32,
    ) -> Result<Option<SealedDataKey>, StoreFailure>;

    /// Stores a subject's data key unless one exists for that keyring version or the subject
    /// was erased. Returns the key now stored (this one, or the one that won a race), or
    /// `None` if the subject is erased. Concurrent calls on any number of nodes store one key.
    async fn insert_subject_key(
        &self,
        key: &SealedDataKey,
    ) -> Result<Option<SealedDataKey>, StoreFailure>;

    /// The erasure of a subject, if it was erased.
    async fn erasure(&self, subject: &SubjectId) -> Result<Option<Erasure>, StoreFailure>;

    /// Records an erasure and destroys every data key of the subject, in one transaction.
    /// Erasing an erased subject destroys whatever is left and keeps the first record.
    async fn erase_subject(&self, erasure: &Erasure) -> Result<ErasureCounts, StoreFailure>;

    /// Up to `limit` data keys of `keyring` sealed under a KEK version below `kek_version`.
    async fn subject_keys_sealed_below(
        &self,
        keyring: &KeyringName,
        kek_version: u32,
        limit: u32,
    ) -> Result<Vec<SealedDataKey>, StoreFailure>;

    /// Replaces a data key's sealing if it is still sealed under `previous_kek_version`.
    async fn reseal_subject_key(
        &self,
        key: &SealedDataKey,
        previous_kek_version: u32,
    ) -> Result<bool, StoreFailure>;

    /// Destroys the data keys of `keyring` versions below `version` (they can no longer
    /// decrypt anything). Returns how many.
    async fn delete_subject_keys_below(
        &self,
        keyring: &KeyringName,
        version: u32,
    ) -> Result<u64, StoreFailure>;
}
