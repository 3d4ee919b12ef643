//! Baomi's consent domain: purposes, notices, the consent ledger and data-subject requests.
//!
//! Today it holds [`PurposeId`], the validated name of a processing purpose, which API keys
//! already list (a service key may act only under its purposes). The ledger, notices and
//! enforcement grow here in their own issue.

mod error;
mod purpose;

pub use error::{Error, Result};
pub use purpose::PurposeId;
