//! Baomi's audit domain: the tamper-evident trail of every access to personal information.
//!
//! It holds the validated descriptors that every request carries for the trail
//! ([`OperatorId`], the platform's staff member on whose behalf a backend acts, from the
//! `X-Baomi-Operator` header, and [`RequestId`]); the [`AccessEvent`] and its canonical
//! text; the ports the server appends and reads the trail through ([`AuditSink`],
//! [`LogStore`]); the RFC 9162 Merkle tree with its proofs ([`merkle`]); signed
//! checkpoints ([`checkpoint`]); signed JSON documents ([`signed_json`]) and erasure
//! certificates ([`erasure`]); the export format ([`export`]) and its offline
//! verification ([`verify`]); witnessing, C2SP's `tlog-witness` and cosignatures
//! ([`witness`]); and the alert rules evaluated over the trail ([`alerts`]).

mod actor;
pub mod alerts;
pub mod checkpoint;
mod columns;
pub mod erasure;
mod error;
mod event;
pub mod export;
pub mod merkle;
pub mod self_test;
pub mod signed_json;
mod store;
pub mod verify;
pub mod witness;

pub use actor::{OperatorId, RequestId};
pub use columns::EventColumns;
pub use error::{Error, Result};
pub use event::{AccessEvent, Action, Actor, ClientCertificate, Outcome};
pub use store::{
    Alert, AuditFailure, AuditSink, EventFilter, Leaf, LogStore, ScannedLeaf, StoredBody,
    StoredCheckpoint, StoredEvent,
};
