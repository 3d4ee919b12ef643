//! Baomi's audit domain: the tamper-evident trail of every access to personal information.
//!
//! Today it holds the validated descriptors that every request carries for the trail
//! ([`OperatorId`], the platform's staff member on whose behalf a backend acts, from the
//! `X-Baomi-Operator` header, and [`RequestId`]), the [`AccessEvent`] and the port the
//! server appends events through ([`AuditSink`]), and the RFC 9162 Merkle tree with its
//! inclusion and consistency proofs ([`merkle`]). Storing the tree, checkpoints and queries
//! grow here in their own issue.

mod actor;
pub mod checkpoint;
mod error;
mod event;
pub mod merkle;
mod store;

pub use actor::{OperatorId, RequestId};
pub use error::{Error, Result};
pub use event::{AccessEvent, Action, Actor, Outcome};
pub use store::{
    AuditFailure, AuditSink, EventFilter, Leaf, LogStore, StoredCheckpoint, StoredEvent,
};
