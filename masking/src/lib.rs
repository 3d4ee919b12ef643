//! Baomi's masking domain: detection of personal information, masking operators and
//! role/purpose policies for JSON, free text and whole files.
//!
//! The crate depends on no other Baomi crate. It holds so far the validators that tell real
//! identifiers from lookalikes ([`validate`]); the detectors, operators and policies that
//! use them grow here in their own issue.

mod error;
pub mod validate;

pub use error::{Error, Result};
