//! Storage: the ports the server needs, and their two implementations (SQLite, the embedded
//! default, and PostgreSQL for production), chosen once at start-up from the database URL.
//!
//! Both implementations pass one conformance suite (`tests/api/store_conformance.rs`).

mod audit_log;
pub mod backup;
mod common;
mod consent;
pub mod console;
pub mod cosignatures;
mod error;
pub mod group_commit;
mod policies;
pub mod postgres;
pub mod quotas;
mod records;
pub mod second_factors;
pub mod signing_keys;
pub mod sqlite;
mod vault;

use std::sync::Arc;

use async_trait::async_trait;
use baomi_audit::{AuditSink, LogStore};
use baomi_consent::ConsentStore;
use baomi_vault::{SealedRootKey, VaultStore};

pub use console::ConsoleStore;
pub use cosignatures::CosignatureStore;
pub use error::StoreError;
pub use policies::{CatalogueStore, PolicyStore, StoredCatalogue};
pub use quotas::QuotaStore;
pub use records::RevokeOutcome;
pub use second_factors::SecondFactorStore;
pub use signing_keys::SigningKeyStore;

use crate::auth::api_key::ApiKeyRecord;
use crate::config::{Config, Database};

/// The root key as the database keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoredRoot {
    /// Sealed under the unseal passphrase (argon2id and AES-256-GCM).
    Passphrase(SealedRootKey),
    /// Sealed by the key labelled `key_label` in an HSM: `iv ‖ ciphertext ‖ tag`.
    Hsm {
        /// The label of the HSM's key.
        key_label: String,
        /// The sealed root secret.
        sealed: Vec<u8>,
    },
}

/// Root-key set-up and liveness.
#[async_trait]
pub trait SetupStore: Send + Sync {
    /// The sealed root key, if this database has been initialised.
    async fn sealed_root_key(&self) -> Result<Option<StoredRoot>, StoreError>;

    /// Initialises an empty database: stores the sealed root key and the bootstrap admin key
    /// in one transaction. Returns `false`, having written nothing, when another node or
    /// process initialised it first.
    async fn initialize(
        &self,
        sealed: &StoredRoot,
        admin: &ApiKeyRecord,
        now: i64,
    ) -> Result<bool, StoreError>;

    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes every connection, waiting for statements in flight.
    async fn close(&self);
}

/// API keys and subject-token revocations. Changes take the audit events that record them
/// and write them in their own transaction (see `baomi_audit::AuditSink`).
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores a new API key. Ids are random; a clash is reported as [`StoreError::Conflict`].
    async fn insert_key(
        &self,
        key: &ApiKeyRecord,
        audit: &[baomi_types::AccessEvent],
    ) -> Result<(), StoreError>;

    /// One key by id, revoked or not.
    async fn key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError>;

    /// Every key, oldest first.
    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;

    /// Revokes a key, unless it is the last active admin key. Atomic against concurrent
    /// revocations on any number of nodes.
    async fn revoke_key(
        &self,
        id: &str,
        now: i64,
        audit: &[baomi_types::AccessEvent],
    ) -> Result<RevokeOutcome, StoreError>;

    /// Replaces an active key's purposes and grants with `key`'s, with the events that
    /// record the change; `false` (nothing written) if no active key has its id.
    async fn set_key_grants(
        &self,
        key: &ApiKeyRecord,
        audit: &[baomi_types::AccessEvent],
    ) -> Result<bool, StoreError>;

    /// Records that a subject token is revoked (idempotent).
    async fn revoke_subject_token(
        &self,
        token_id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError>;

    /// Whether a subject token was revoked.
    async fn subject_token_revoked(&self, token_id: &str) -> Result<bool, StoreError>;
}

/// Everything the server stores, behind one object.
pub trait Store:
    SetupStore
    + KeyStore
    + VaultStore
    + AuditSink
    + LogStore
    + ConsentStore
    + PolicyStore
    + CatalogueStore
    + ConsoleStore
    + QuotaStore
    + SecondFactorStore
    + SigningKeyStore
    + CosignatureStore
{
}

impl<T> Store for T where
    T: SetupStore
        + KeyStore
        + VaultStore
        + AuditSink
        + LogStore
        + ConsentStore
        + PolicyStore
        + CatalogueStore
        + ConsoleStore
        + QuotaStore
        + SecondFactorStore
        + SigningKeyStore
        + CosignatureStore
{
}

/// Opens the database named by the configuration, creating it if it is SQLite, and runs the
/// migrations of its backend.
pub async fn open(config: &Config) -> Result<Arc<dyn Store>, StoreError> {
    let connections = config.database_max_connections;
    let synchronous = config.sqlite_synchronous;
    Ok(match config.database() {
        Some(Database::Embedded) => Arc::new(
            sqlite::SqliteStore::open_file(&config.sqlite_path(), connections, synchronous).await?,
        ),
        Some(Database::Sqlite(url)) => {
            Arc::new(sqlite::SqliteStore::connect(url, connections, synchronous).await?)
        }
        Some(Database::Postgres(url)) => {
            Arc::new(postgres::PgStore::connect(url, connections).await?)
        }
        None => {
            return Err(StoreError::Config(
                "database_url must start with sqlite: or postgres://".to_owned(),
            ));
        }
    })
}
