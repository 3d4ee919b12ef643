//! Baomi's consent domain: purposes and their legal basis (PIPL Art. 13), the append-only
//! consent ledger and the state derived from it, PIPL's separate consents and guardians'
//! consent for minors, the decision that gates every read of PI under a purpose, signed
//! consent receipts, and data-subject rights requests.

mod decision;
mod definition;
mod error;
mod grant;
mod ledger;
mod notice;
mod purpose;
pub mod receipt;
mod requests;
mod store;

pub use decision::{Reason, decide};
pub use definition::{LegalBasis, Level, PiCategory, PurposeDefinition, Recipient, Scopes};
pub use error::{Error, Result};
pub use grant::Grant;
pub use ledger::{ConsentAction, ConsentEvent, ConsentState, Guardian, derive};
pub use notice::{Notice, NoticeRef, NoticeText};
pub use purpose::PurposeId;
pub use requests::{Closing, RequestKind, RequestStatus, RightsRequest, due_at};
pub use store::{ConsentDay, ConsentStore, PurposeRecord};
