//! Where events go (the audit port). The server implements it on its database.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::AccessEvent;
use crate::merkle::{Hash, NodeId};

/// The trail could not take the events.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the audit trail is unavailable: {0}")]
pub struct AuditFailure(pub String);

/// Appends events to the trail durably: when `append` returns `Ok`, they are committed, and
/// (in the server's stores) already leaves of the Merkle tree, in the same transaction.
#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Appends `events`, all or none.
    async fn append(&self, events: &[AccessEvent]) -> Result<(), AuditFailure>;
}

/// A signed checkpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCheckpoint {
    /// Events in the tree.
    pub tree_size: u64,
    /// The root over them.
    pub root: Hash,
    /// The signed note.
    pub note: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A leaf: an event's place in the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leaf {
    /// Position in the tree.
    pub index: u64,
    /// The event's sequence number.
    pub seq: i64,
    /// `SHA-256(0x00 ‖ event)`.
    pub hash: Hash,
}

/// The storage of the Merkle log (the audit port for integration and proofs).
#[async_trait]
pub trait LogStore: Send + Sync {
    /// Number of events in the tree.
    async fn tree_size(&self) -> Result<u64, AuditFailure>;

    /// The stored hashes of these complete subtrees (those that exist).
    async fn nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, AuditFailure>;

    /// Stores a signed checkpoint; `false` if one of that size exists already.
    async fn add_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<bool, AuditFailure>;

    /// The newest checkpoint.
    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, AuditFailure>;

    /// Events matching `filter`, newest first, at most `limit`, below `filter.before` if set.
    async fn query(
        &self,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, AuditFailure>;

    /// The leaf of an event, once it is in the tree, with the event's stored text.
    async fn leaf_of(&self, seq: i64) -> Result<Option<(Leaf, String)>, AuditFailure>;
}

/// What an officer's query asks for; every field set narrows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Whose data.
    pub subject: Option<String>,
    /// Which API key or subject token.
    pub actor: Option<String>,
    /// For which staff member of the platform.
    pub operator: Option<String>,
    /// Under which purpose.
    pub purpose: Option<String>,
    /// Which action (`decrypt`, `erase`, …).
    pub action: Option<String>,
    /// `allowed` or `denied`.
    pub outcome: Option<String>,
    /// From this time on (Unix milliseconds, inclusive).
    pub from_ms: Option<i64>,
    /// Before this time (Unix milliseconds, exclusive).
    pub to_ms: Option<i64>,
    /// Only events older than this sequence number (the cursor of the next page).
    pub before: Option<i64>,
}

/// An event as stored, with its sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Its sequence number.
    pub seq: i64,
    /// Its stored text (the leaf data of the Merkle tree).
    pub body: String,
}
