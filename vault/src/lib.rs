//! Baomi's vault: the key hierarchy and the cryptography that protects personal information.
//!
//! The hierarchy is root key → keyring KEKs (versioned) → per-subject data keys. This crate
//! holds the domain only: it knows nothing of HTTP or of the database; storage it needs is
//! declared as ports and implemented by the server.
//!
//! What is here today:
//! - [`RootKey`]: the 256-bit root of the hierarchy, kept in memory in a zeroizing type;
//!   [`SealedRootKey`] is the form stored in the database, sealed under a passphrase with
//!   argon2id and AES-256-GCM ([`seal_root_key`], [`unseal_root_key`]).
//! - [`DerivedKey`]: purpose-separated keys derived from the root key with HKDF-SHA256, with
//!   HMAC-SHA256 signing and constant-time verification.
//! - [`SubjectId`]: the validated identifier of a data subject.

mod error;
mod root;
mod subject;

pub use error::{Error, Result};
pub use root::{
    DerivedKey, KdfParams, Passphrase, RootKey, SealedRootKey, seal_root_key, unseal_root_key,
};
pub use subject::SubjectId;
