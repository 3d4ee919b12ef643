//! Baomi's vault: the key hierarchy and the cryptography that protects personal information.
//!
//! The hierarchy is root key → keyring KEKs (versioned) → per-subject data keys:
//! - [`RootKey`]: 256 bits, in memory only; stored as a [`SealedRootKey`], sealed under the
//!   unseal passphrase with argon2id and AES-256-GCM ([`seal_root_key`], [`unseal_root_key`]).
//! - Keyrings ([`Keyring`]): named, with versions 1, 2, … of a KEK, each sealed under a key
//!   derived from the root key. The newest version encrypts; versions from
//!   `min_decryption_version` on decrypt.
//! - Data keys: one per subject and keyring version, created on first use, sealed under a
//!   KEK version, cached unwrapped in a bounded LRU with a time to live.
//! - Values are sealed with AES-256-GCM under the subject's data key, bound to (keyring,
//!   version, subject, field); the string form is documented in [`seal`].
//! - Stored fields: Baomi keeps the ciphertext and hands out a token ([`token`]); fields
//!   declared searchable get a blind index ([`index`]).
//! - Erasure destroys a subject's data keys (crypto-shredding), stored fields, tokens and
//!   index entries.
//!
//! The crate knows nothing of HTTP or of the database: [`VaultStore`] is the storage it
//! needs, implemented by the server for SQLite and PostgreSQL, and in memory for tests
//! and benchmarks ([`memory::MemoryStore`]).

mod aead;
mod cache;
mod engine;
mod error;
mod field;
#[cfg(feature = "hsm")]
pub mod hsm;
pub mod index;
mod keyring;
pub mod memory;
mod root;
pub mod seal;
pub mod self_test;
pub mod shangmi;
mod store;
mod subject;
pub mod token;
pub mod wrap;

pub use aead::{AeadKey, Algorithm};
pub use engine::{DEFAULT_KEY_CACHE_BYTES, Vault, VaultOptions};
pub use engine::{FieldWrite, ReadField, SubjectWrite};
pub use error::{Error, Result};
pub use field::{FieldName, FieldType};
pub use keyring::{Family, Keyring, KeyringName, SealedKek, Suite};
pub use root::{
    DerivedKey, KdfParams, Passphrase, RootKey, SealedRootKey, seal_root_key, unseal_root_key,
};
pub use seal::Ciphertext;
pub use store::{
    Erasure, ErasureCounts, IndexEntry, PolicyOutcome, PutOutcome, SealedDataKey, StoredField,
    VaultStore,
};
pub use subject::SubjectId;
pub use token::TokenFormat;
