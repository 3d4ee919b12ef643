//! Baomi's masking domain: detection of personal information, masking operators and
//! role/purpose policies for JSON, free text and whole files.
//!
//! The crate is part of the workspace from the start so that the dependency direction is
//! fixed (the server depends on it; it depends on no other Baomi crate). Its detectors,
//! operators and policies grow here in their own issue; nothing in it is used yet.

mod error;

pub use error::{Error, Result};
