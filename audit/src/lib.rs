//! Baomi's audit domain: the tamper-evident trail of every access to personal information.
//!
//! Today it holds the validated descriptors that every request carries for the trail:
//! [`OperatorId`] (the platform's staff member on whose behalf a backend acts, from the
//! `X-Baomi-Operator` header) and [`RequestId`]. Events, the Merkle log, checkpoints and
//! proofs grow here in their own issue.

mod actor;
mod error;

pub use actor::{OperatorId, RequestId};
pub use error::{Error, Result};
