//! Baomi's audit domain: the tamper-evident trail of every access to personal information.
//!
//! Today it holds the validated descriptors that every request carries for the trail
//! ([`OperatorId`], the platform's staff member on whose behalf a backend acts, from the
//! `X-Baomi-Operator` header, and [`RequestId`]), the [`AccessEvent`] and the port the
//! server appends events through ([`AuditSink`]). The Merkle log, checkpoints, proofs and
//! queries grow here in their own issue.

mod actor;
mod error;
mod event;
mod store;

pub use actor::{OperatorId, RequestId};
pub use error::{Error, Result};
pub use event::{AccessEvent, Action, Actor, Outcome};
pub use store::{AuditFailure, AuditSink};
