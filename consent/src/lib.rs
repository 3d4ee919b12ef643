//! Baomi's consent domain: purposes and their legal basis (PIPL Art. 13), the append-only
//! consent ledger and the state derived from it, PIPL's separate consents and guardians'
//! consent for minors, and the decision that gates every read of PI under a purpose.

mod decision;
mod definition;
mod error;
mod grant;
mod ledger;
mod purpose;
pub mod receipt;
mod store;

pub use decision::{Reason, decide};
pub use definition::{LegalBasis, Level, PiCategory, PurposeDefinition, Recipient, Scopes};
pub use error::{Error, Result};
pub use grant::Grant;
pub use ledger::{ConsentAction, ConsentEvent, ConsentState, Guardian, derive};
pub use purpose::PurposeId;
pub use store::{ConsentStore, ConsentStoreFailure, PurposeRecord};
