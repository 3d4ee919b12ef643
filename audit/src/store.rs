//! Where events go (the audit port). The server implements it on its database.

use std::collections::HashMap;

use async_trait::async_trait;

use crate::merkle::{Hash, NodeId};
use baomi_types::AccessEvent;

/// The trail could not take the events.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the audit trail is unavailable: {0}")]
pub struct AuditFailure(pub String);

/// Appends events to the trail durably: when `append` returns `Ok`, they are committed, and
/// (in the server's stores) already leaves of the Merkle tree, in the same transaction.
///
/// State changes write their events into an outbox in their own transaction instead (so no
/// change commits without its record); `integrate_outbox` moves them into the trail.
#[async_trait]
pub trait AuditSink: Send + Sync {
    /// Appends `events`, all or none; with `drain_outbox`, the outbox's events first.
    async fn append_with(
        &self,
        events: &[AccessEvent],
        drain_outbox: bool,
    ) -> Result<(), AuditFailure>;

    /// Appends `events`, all or none.
    async fn append(&self, events: &[AccessEvent]) -> Result<(), AuditFailure> {
        self.append_with(events, false).await
    }

    /// Moves the events waiting in the outbox into the trail.
    async fn integrate_outbox(&self) -> Result<(), AuditFailure> {
        self.append_with(&[], true).await
    }
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

    /// The leaf of an event, once it is in the tree, with the event's stored text (`None`
    /// once retention pruned it).
    async fn leaf_of(&self, seq: i64) -> Result<Option<(Leaf, Option<String>)>, AuditFailure>;

    /// Up to `limit` leaves from position `from` on, in order, each with its event's text.
    async fn scan(&self, from: u64, limit: u32) -> Result<Vec<ScannedLeaf>, AuditFailure>;

    /// The signed checkpoints of sizes `after < size <= up_to`, smallest first.
    async fn checkpoints(
        &self,
        after: u64,
        up_to: u64,
    ) -> Result<Vec<StoredCheckpoint>, AuditFailure>;

    /// Events up to sequence number `up_to` that are in no leaf (at most `limit`); the
    /// server writes an event and its leaf in one transaction, so each is an insertion.
    async fn events_outside_tree(&self, up_to: i64, limit: u32) -> Result<Vec<i64>, AuditFailure>;

    /// The sequence number just before the first event at or after `at_ms` (by time), or
    /// the newest sequence number if there is none (0 for an empty trail).
    async fn seq_before(&self, at_ms: i64) -> Result<i64, AuditFailure>;

    /// Events after sequence number `after`, oldest first, at most `limit` (unpruned).
    async fn tail(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>, AuditFailure>;

    /// Retention: removes the body (and the columns naming people) of up to `limit` events
    /// older than `before_ms`, keeping their leaves. Returns how many were pruned.
    async fn prune(&self, before_ms: i64, now_ms: i64, limit: u32) -> Result<u64, AuditFailure>;

    /// Copies the officer-query keys (subject, actor, operator, purpose, action) of up to
    /// `limit` appended events not indexed yet, oldest first, and says how many. Queries
    /// find every event whether indexed or not; indexed ones, faster.
    async fn index_events(&self, limit: u32) -> Result<u64, AuditFailure>;

    /// Stores an alert; `false` if the same alert (rule, key, event) is stored already.
    async fn add_alert(&self, alert: &Alert) -> Result<bool, AuditFailure>;

    /// Alerts, newest first, with ids below `before` if set, at most `limit`.
    async fn alerts(&self, before: Option<i64>, limit: u32) -> Result<Vec<Alert>, AuditFailure>;

    /// Alerts not yet delivered to the webhook, oldest first, at most `limit`.
    async fn undelivered_alerts(&self, limit: u32) -> Result<Vec<Alert>, AuditFailure>;

    /// Records that an alert was delivered.
    async fn mark_alert_delivered(&self, id: i64, now: i64) -> Result<(), AuditFailure>;
}

/// An event's stored text, as a scan finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredBody {
    /// The text (the leaf data).
    Text(String),
    /// Pruned by retention.
    Pruned,
    /// The event row is gone although its leaf is there.
    Missing,
}

/// A leaf with its event, as a scan finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedLeaf {
    /// The leaf.
    pub leaf: Leaf,
    /// Its event's text.
    pub body: StoredBody,
    /// Its event's query columns as stored (`None` when the event row is gone).
    pub columns: Option<crate::EventColumns>,
}

/// An alert raised by a rule over the trail.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Its id once stored.
    pub id: Option<i64>,
    /// The rule: `bulk_access`, `off_hours`, `denial_spike`, `withdrawn_consent_read`,
    /// `quota_exceeded`, `witness_refused`, `witness_silent`.
    pub rule: String,
    /// Whom it is about: `actor:<id>`, `operator:<id>` or `witness:<name>`.
    pub key: String,
    /// The sequence number of the event that raised it.
    pub trigger_seq: i64,
    /// When that event happened (Unix milliseconds).
    pub at_ms: i64,
    /// The rule's figures (counts, window, threshold); never personal information.
    pub detail: serde_json::Value,
    /// When it was delivered to the webhook (Unix seconds).
    pub delivered_at: Option<i64>,
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
    /// Its query columns as stored.
    pub columns: crate::EventColumns,
}

impl StoredEvent {
    /// The columns stored for this event that its text does not give: edited on their own.
    pub fn edited_columns(&self) -> Vec<&'static str> {
        crate::EventColumns::of_text(&self.body).differing(&self.columns)
    }
}
