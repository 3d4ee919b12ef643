//! Where events go (the audit port). The server implements it on its database.

use async_trait::async_trait;

use crate::AccessEvent;

/// The trail could not take the events.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the audit trail is unavailable: {0}")]
pub struct AuditFailure(pub String);

/// Appends events to the trail durably: when `append` returns `Ok`, they are committed.
#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Appends `events`, all or none.
    async fn append(&self, events: &[AccessEvent]) -> Result<(), AuditFailure>;
}
