//! Baomi's masking domain: detection of personal information, masking operators and
//! role/purpose policies for JSON, free text and whole files.
//!
//! - [`detect`]: one detector per kind of PI, each with its validator, and a
//!   [`Scanner`] that runs them and settles overlaps.
//! - [`operator`]: what replaces a finding, and the display defaults per type.
//! - [`policy`]: operators per type and JSON path, per role and purpose.
//! - [`mask`]: masking a value, a text or a JSON document under a policy's rule.
//! - [`validate`]: the check-character and numbering-plan rules of the standards.
//! - `batch` (the `arrow` feature): masking Arrow record batches, a row as a table's row.
//!
//! The crate depends on no other Baomi crate: where an operator needs the vault (encrypt,
//! tokenize), it calls the [`Reversible`] trait that the server
//! implements.

#[cfg(feature = "arrow")]
pub mod batch;
pub mod detect;
mod error;
pub mod json_path;
pub mod mask;
pub mod operator;
pub mod pi_type;
pub mod policy;
pub mod validate;

pub use detect::{Finding, Scanner};
pub use error::{Error, Result};
pub use mask::{Column, JsonFinding, Masked, Masker};
pub use operator::{Context, Operator, PseudonymKey, Reversible};
pub use pi_type::{Level, PiType};
pub use policy::{Policy, PolicyVersion, Rule};
