//! The storage consent needs (its port); the server implements it for SQLite and PostgreSQL.

use async_trait::async_trait;
use baomi_types::{AccessEvent, StoreFailure};

use crate::definition::PurposeDefinition;
use crate::ledger::ConsentEvent;
use crate::requests::{Closing, RequestStatus, RightsRequest};

/// A purpose as stored: its newest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PurposeRecord {
    /// Its id.
    pub id: String,
    /// Its version, from 1.
    pub version: u32,
    /// Grants of versions below this one need renewal (PIPL Art. 14).
    pub renewal_from: u32,
    /// Its definition.
    pub definition: PurposeDefinition,
    /// Unix seconds of this version.
    pub updated_at: i64,
}

/// Purposes and the consent ledger. Changes take the audit events that record them and
/// write them in their own transaction.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// Stores a new version of a purpose (version 1 if it is new). A `material` change
    /// makes this version the one grants must be for. Returns the stored record.
    async fn put_purpose(
        &self,
        id: &str,
        definition: &PurposeDefinition,
        material: bool,
        now: i64,
        audit: &[AccessEvent],
    ) -> Result<PurposeRecord, StoreFailure>;

    /// One purpose's newest version.
    async fn purpose(&self, id: &str) -> Result<Option<PurposeRecord>, StoreFailure>;

    /// Every purpose, by id.
    async fn purposes(&self) -> Result<Vec<PurposeRecord>, StoreFailure>;

    /// Appends an event to the ledger.
    async fn append_consent(
        &self,
        event: &ConsentEvent,
        audit: &[AccessEvent],
    ) -> Result<(), StoreFailure>;

    /// One ledger event by id.
    async fn consent_event(&self, id: &str) -> Result<Option<ConsentEvent>, StoreFailure>;

    /// A purpose as it was at `version`.
    async fn purpose_version(
        &self,
        id: &str,
        version: u32,
    ) -> Result<Option<PurposeDefinition>, StoreFailure>;

    /// A subject's ledger events, oldest first (for one purpose, or all).
    async fn consent_events(
        &self,
        subject: &str,
        purpose: Option<&str>,
    ) -> Result<Vec<ConsentEvent>, StoreFailure>;

    /// Publishes a new version of a notice (1 if it is new); returns it.
    async fn put_notice(
        &self,
        id: &str,
        text: &crate::notice::NoticeText,
        text_sha256: &str,
        now: i64,
        audit: &[AccessEvent],
    ) -> Result<crate::notice::Notice, StoreFailure>;

    /// One version of a notice (the newest if `version` is `None`).
    async fn notice(
        &self,
        id: &str,
        version: Option<u32>,
    ) -> Result<Option<crate::notice::Notice>, StoreFailure>;

    /// Stores a new rights request; `false`, having written nothing, if the subject has an
    /// open request of the same kind.
    async fn add_request(
        &self,
        request: &RightsRequest,
        audit: &[AccessEvent],
    ) -> Result<bool, StoreFailure>;

    /// One request.
    async fn request(&self, id: &str) -> Result<Option<RightsRequest>, StoreFailure>;

    /// Requests by deadline: of one subject, or (`None`) of everyone; in one of `statuses`,
    /// or (empty) in any.
    async fn requests(
        &self,
        subject: Option<&str>,
        statuses: &[RequestStatus],
        limit: u32,
    ) -> Result<Vec<RightsRequest>, StoreFailure>;

    /// Approves an open request (status `approved`, with who and when); `false`, having
    /// written nothing, if it was not open.
    async fn approve_request(
        &self,
        id: &str,
        approved_by: &str,
        now: i64,
        audit: &[AccessEvent],
    ) -> Result<bool, StoreFailure>;

    /// Claims a pending (open or approved) request for closing (status `closing`); `false`
    /// if it was not pending.
    async fn claim_request(&self, id: &str) -> Result<bool, StoreFailure>;

    /// Returns a claimed request to the status it had (its closing failed).
    async fn release_request(&self, id: &str) -> Result<(), StoreFailure>;

    /// Closes a request: a pending one, or (`claimed`) one this caller claimed; `false` if
    /// it was not in that state (a claimed request is closed only by its claimant, so no one
    /// rejects a deletion while its subject is being erased).
    async fn close_request(
        &self,
        id: &str,
        claimed: bool,
        closing: &Closing<'_>,
        audit: &[AccessEvent],
    ) -> Result<bool, StoreFailure>;

    /// The newest ledger event of each of `subjects` for `purpose` (subjects without one are
    /// absent).
    async fn latest_consents(
        &self,
        purpose: &str,
        subjects: &[&str],
    ) -> Result<Vec<ConsentEvent>, StoreFailure>;

    /// The ledger of `purpose` day by day (UTC), oldest first, for days with any event (kept
    /// as events are appended, so this reads a row a day, not the ledger).
    async fn consent_days(&self, purpose: &str) -> Result<Vec<ConsentDay>, StoreFailure>;
}

/// One day of a purpose's ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConsentDay {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Grants recorded that day (renewals included).
    pub granted: i64,
    /// Withdrawals recorded that day.
    pub withdrawn: i64,
    /// The change that day in subjects whose latest event is a grant: +1 for a grant after
    /// none or after a withdrawal, −1 for a withdrawal after a grant.
    pub net: i64,
}
