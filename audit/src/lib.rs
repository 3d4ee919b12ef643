//! Baomi's audit domain: the tamper-evident trail of every access to personal information.
//!
//! It holds the ports the server appends and reads the trail through ([`AuditSink`],
//! [`LogStore`]); the RFC 9162 Merkle tree with its proofs ([`merkle`]); signed
//! checkpoints ([`checkpoint`]); erasure certificates ([`erasure`]); the export format ([`export`]) and its offline
//! verification ([`verify`]); witnessing, C2SP's `tlog-witness` and cosignatures
//! ([`witness`]); and the alert rules evaluated over the trail ([`alerts`]).

pub mod alerts;
pub mod checkpoint;
mod columns;
pub mod erasure;
pub mod export;
pub mod merkle;
pub mod self_test;
mod store;
pub mod verify;
pub mod witness;

pub use columns::EventColumns;
pub use store::{
    Alert, AuditFailure, AuditSink, EventFilter, Leaf, LogStore, ScannedLeaf, StoredBody,
    StoredCheckpoint, StoredEvent,
};
