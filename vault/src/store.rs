//! The storage the vault needs (its port). The server implements it for SQLite and
//! PostgreSQL; nothing here knows which.
//!
//! Every call that changes state takes the audit events that record the change (`audit`);
//! the store writes them in the change's own transaction, so that no change commits
//! without its record.

use async_trait::async_trait;
use baomi_types::{AccessEvent, StoreFailure};

use crate::SubjectId;
use crate::keyring::{Keyring, KeyringName, SealedKek};

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
    /// Stored fields deleted (with their tokens).
    pub fields: u64,
    /// Blind-index entries deleted.
    pub index_entries: u64,
}

/// A field Baomi stores for a subject: its ciphertext and its token.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredField {
    /// The subject.
    pub subject: SubjectId,
    /// The field's name.
    pub field: String,
    /// The keyring of its ciphertext.
    pub keyring: KeyringName,
    /// The keyring version of its ciphertext.
    pub version: u32,
    /// `bm:v1:…`.
    pub ciphertext: String,
    /// The token that stands for the value.
    pub token: String,
    /// Unix seconds.
    pub updated_at: i64,
}

impl std::fmt::Debug for StoredField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredField")
            .field("subject", &self.subject)
            .field("field", &self.field)
            .finish_non_exhaustive()
    }
}

/// A blind-index entry: HMAC of a normalised value, for exact-match search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// The keyring whose index key made it.
    pub keyring: String,
    /// The field's name.
    pub field: String,
    /// HMAC-SHA256 of the normalised value.
    pub digest: Vec<u8>,
    /// The subject.
    pub subject: SubjectId,
}

/// What setting a keyring's policy did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyOutcome {
    /// Set.
    Set,
    /// The stored minimum is higher than the one asked for; nothing was written.
    WouldLower,
    /// A stored field is below the new minimum; nothing was written.
    StoredFieldsBelow,
}

/// What storing fields did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// Stored.
    Stored,
    /// This subject (the first of them, if several) is erased; nothing was written.
    Erased(SubjectId),
    /// These fields' tokens (positions in the fields given) are taken already, or given
    /// twice; nothing was written (make new tokens for them and retry).
    TokenClash(Vec<usize>),
    /// A field's keyring version was retired meanwhile; nothing was written.
    VersionRetired,
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
        audit: &[AccessEvent],
    ) -> Result<bool, StoreFailure>;

    /// One KEK version.
    async fn kek(
        &self,
        keyring: &KeyringName,
        version: u32,
    ) -> Result<Option<SealedKek>, StoreFailure>;

    /// Adds KEK version `kek.version` and makes it the latest, if the latest is
    /// `kek.version - 1`; `false`, having written nothing, when another rotation won.
    async fn add_kek(&self, kek: &SealedKek, audit: &[AccessEvent]) -> Result<bool, StoreFailure>;

    /// Sets the keyring's policy, atomically against concurrent writes of stored fields:
    /// nothing is written if the stored minimum decryption version is already higher (it
    /// never goes down) or if a stored field is still below the new minimum.
    async fn set_policy(
        &self,
        keyring: &KeyringName,
        min_decryption_version: u32,
        rotation_period_secs: Option<u64>,
        audit: &[AccessEvent],
    ) -> Result<PolicyOutcome, StoreFailure>;

    /// A subject's data key for one keyring version.
    async fn subject_key(
        &self,
        keyring: &KeyringName,
        subject: &SubjectId,
        version: u32,
    ) -> Result<Option<SealedDataKey>, StoreFailure>;

    /// Stores a subject's data key unless one exists for that keyring version, the subject
    /// was erased, or the version was retired. Returns the key now stored (this one, or the
    /// one that won a race), or `None` if the subject is erased or the version retired.
    /// Concurrent calls on any number of nodes store one key; an erasure of the subject
    /// running at the same time is serialised with it.
    async fn insert_subject_key(
        &self,
        key: &SealedDataKey,
    ) -> Result<Option<SealedDataKey>, StoreFailure>;

    /// The data keys these subjects have for one keyring version, in no particular order
    /// (a subject without one is left out). A store answers them in one query where it can.
    async fn subject_keys(
        &self,
        keyring: &KeyringName,
        version: u32,
        subjects: &[&SubjectId],
    ) -> Result<Vec<SealedDataKey>, StoreFailure> {
        let mut out = Vec::new();
        for subject in subjects {
            out.extend(self.subject_key(keyring, subject, version).await?);
        }
        Ok(out)
    }

    /// [`VaultStore::insert_subject_key`] for each of these keys, answered in their order. A
    /// store writes them in one transaction where it can, so that a request's new subjects
    /// cost one durable write rather than one each; every guarantee of the single insert
    /// holds for each key.
    async fn insert_subject_keys(
        &self,
        keys: &[SealedDataKey],
    ) -> Result<Vec<Option<SealedDataKey>>, StoreFailure> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            out.push(self.insert_subject_key(key).await?);
        }
        Ok(out)
    }

    /// The erasure of a subject, if it was erased.
    async fn erasure(&self, subject: &SubjectId) -> Result<Option<Erasure>, StoreFailure>;

    /// Records an erasure (committed first, so no data key or field can be written for the
    /// subject afterwards), then destroys every data key, stored field, token and index entry
    /// of the subject. Erasing an erased subject destroys whatever is left and keeps the first
    /// record.
    async fn erase_subject(
        &self,
        erasure: &Erasure,
        audit: &[AccessEvent],
    ) -> Result<ErasureCounts, StoreFailure>;

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

    /// Stores fields of one or more subjects (each field names its own) in one transaction,
    /// replacing those fields' earlier values, tokens and index entries; writes nothing if a
    /// subject is erased or a token clashes. A subject's field appears at most once.
    async fn put_fields(
        &self,
        fields: &[StoredField],
        index: &[IndexEntry],
        audit: &[AccessEvent],
    ) -> Result<PutOutcome, StoreFailure>;

    /// The stored fields of a subject.
    async fn fields(&self, subject: &SubjectId) -> Result<Vec<StoredField>, StoreFailure>;

    /// The stored field a token stands for.
    async fn field_by_token(&self, token: &str) -> Result<Option<StoredField>, StoreFailure>;

    /// Up to `limit` stored fields of `keyring` whose ciphertexts are below `version`.
    async fn stored_fields_below(
        &self,
        keyring: &KeyringName,
        version: u32,
        limit: u32,
    ) -> Result<Vec<StoredField>, StoreFailure>;

    /// Replaces a stored field's ciphertext if it is still `previous_ciphertext` (the token
    /// stays). `false` if the field changed meanwhile.
    async fn replace_ciphertext(
        &self,
        field: &StoredField,
        previous_ciphertext: &str,
    ) -> Result<bool, StoreFailure>;

    /// The lowest keyring version any stored field of `keyring` is encrypted under.
    async fn lowest_stored_version(
        &self,
        keyring: &KeyringName,
    ) -> Result<Option<u32>, StoreFailure>;

    /// Deletes whatever data keys, fields and index entries erased subjects still have (none,
    /// unless an erasure was interrupted before erasures became one transaction, or rows
    /// were restored from a backup). Returns how many rows. Scans every erasure: run it at
    /// start-up, not on every maintenance pass.
    async fn sweep_erased(&self) -> Result<u64, StoreFailure>;

    /// The subjects (each once, by id, at most 1,000) with an index entry equal to either
    /// digest in `keyring` and `field`: the value's entry under each index algorithm.
    async fn search_index(
        &self,
        keyring: &str,
        field: &str,
        digests: [&[u8]; 2],
    ) -> Result<Vec<SubjectId>, StoreFailure>;

    /// Destroys the data keys of `keyring` versions below `version` (they can no longer
    /// decrypt anything). Returns how many.
    async fn delete_subject_keys_below(
        &self,
        keyring: &KeyringName,
        version: u32,
    ) -> Result<u64, StoreFailure>;
}
