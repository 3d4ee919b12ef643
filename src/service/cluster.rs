//! Several nodes on one PostgreSQL database: the caches one node keeps (subjects' data keys,
//! API key records, purposes, masking policies) are invalidated on every node when another
//! node changes what they hold.
//!
//! A change is a row of `cluster_invalidations` and a `NOTIFY` on a channel named after the
//! database schema. Every node listens, applies each new row, and records how far it has
//! applied in `cluster_nodes` (with a heartbeat each second). The node that made the change
//! waits, up to [`CONFIRM_WITHIN`], until every other live node (heartbeat in the last
//! [`LIVE_WITHIN`]) has applied it, and tells its caller which did not. Besides the
//! notifications, each node reads new rows every [`POLL_EVERY`], so a lost notification or
//! a dropped listener costs at most that long; a node that cannot reach the database cannot
//! serve reads either (every read is audited before it returns).

use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::postgres::PgListener;

use crate::service::{Dependencies, ServiceError, now_ms, random_id};
use crate::store::postgres::cluster::{FleetTables, IntegratorLock};

/// How long the node that made a change waits for the others to confirm it.
pub const CONFIRM_WITHIN: Duration = Duration::from_secs(2);
/// How recent a node's heartbeat must be for it to count as live.
pub const LIVE_WITHIN: Duration = Duration::from_secs(3);
/// How often each node reads new invalidations even without a notification, and beats.
pub const POLL_EVERY: Duration = Duration::from_secs(1);
/// How long invalidation rows are kept.
const KEEP_ROWS: Duration = Duration::from_secs(3600);

/// What a change invalidates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A subject was erased: its cached data keys.
    Erase,
    /// An API key was revoked: its cached record.
    Key,
    /// A purpose changed.
    Purpose,
    /// A masking policy changed.
    Policy,
    /// The field catalogue changed.
    Catalogue,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Erase => "erase",
            Kind::Key => "key",
            Kind::Purpose => "purpose",
            Kind::Policy => "policy",
            Kind::Catalogue => "catalogue",
        }
    }
}

/// Which live nodes confirmed a change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Propagation {
    /// Other live nodes that applied it before the call returned.
    pub confirmed_nodes: usize,
    /// Other live nodes that had not applied it within [`CONFIRM_WITHIN`]; each applies it
    /// within [`POLL_EVERY`] of being able to reach the database.
    pub unconfirmed_nodes: Vec<String>,
}

/// This node's membership of the fleet.
pub struct Cluster {
    tables: FleetTables,
    node_id: String,
}

impl Cluster {
    /// Joins the fleet on the PostgreSQL database at `url`: registers this node as having
    /// applied every invalidation so far (it has nothing cached yet).
    pub async fn join(url: &str) -> Result<Arc<Cluster>, ServiceError> {
        let tables = FleetTables::connect(url).await?;
        let node_id = random_id("node", 8)?;
        tables.register(&node_id, now_ms()).await?;
        Ok(Arc::new(Cluster { tables, node_id }))
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Records a change, notifies every node, and waits for the live ones to apply it.
    pub async fn publish(&self, kind: Kind, target: &str) -> Result<Propagation, ServiceError> {
        let id = self.tables.publish(kind.as_str(), target, now_ms()).await?;
        let deadline = tokio::time::Instant::now() + CONFIRM_WITHIN;
        loop {
            let live_since = now_ms() - i64::try_from(LIVE_WITHIN.as_millis()).unwrap_or(0);
            let nodes = self.tables.live_others(&self.node_id, live_since).await?;
            let behind: Vec<String> = nodes
                .iter()
                .filter(|(_, applied)| *applied < id)
                .map(|(node, _)| node.clone())
                .collect();
            if behind.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(Propagation {
                    confirmed_nodes: nodes.len() - behind.len(),
                    unconfirmed_nodes: behind,
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Leaves the fleet (on shutdown): other nodes stop waiting for this one.
    pub async fn leave(&self) {
        let _ = self.tables.leave(&self.node_id).await;
    }

    /// Applies every invalidation after `applied` to `inner`'s caches; the new high mark.
    async fn catch_up(&self, inner: &Dependencies, applied: i64) -> Result<i64, ServiceError> {
        let mut through = applied;
        for (id, kind, target) in self.tables.after(applied).await? {
            apply(inner, &kind, &target).await;
            through = id;
        }
        self.tables.beat(&self.node_id, through, now_ms()).await?;
        Ok(through)
    }

    /// Listens and applies until the application is gone: on every notification, and at
    /// least every [`POLL_EVERY`].
    pub async fn run(self: Arc<Self>, app: Weak<Dependencies>) {
        let mut applied = self
            .tables
            .applied_through(&self.node_id)
            .await
            .unwrap_or(0);
        let mut listener: Option<PgListener> = None;
        let mut last_prune = tokio::time::Instant::now();
        loop {
            let Some(inner) = app.upgrade() else {
                self.leave().await;
                return;
            };
            if listener.is_none() {
                listener = self.tables.listen().await.ok();
            }
            match self.catch_up(&inner, applied).await {
                Ok(through) => applied = through,
                Err(e) => tracing::warn!(error = %e, "cluster: cannot read invalidations"),
            }
            if last_prune.elapsed() > Duration::from_secs(60) {
                last_prune = tokio::time::Instant::now();
                let keep_since = now_ms() - i64::try_from(KEEP_ROWS.as_millis()).unwrap_or(0);
                let _ = self.tables.prune(keep_since).await;
            }
            drop(inner);
            match listener.as_mut() {
                Some(l) => match tokio::time::timeout(POLL_EVERY, l.try_recv()).await {
                    // A notification or the poll interval: read new rows either way.
                    Ok(Ok(Some(_))) | Err(_) => {}
                    // The connection dropped: notifications may have been missed; the next
                    // round reads every row after the high mark, and reconnects.
                    Ok(Ok(None)) | Ok(Err(_)) => listener = None,
                },
                None => tokio::time::sleep(POLL_EVERY).await,
            }
        }
    }
}

/// Applies one invalidation to this node's caches.
async fn apply(inner: &Dependencies, kind: &str, target: &str) {
    match kind {
        "erase" => {
            if let Ok(subject) = baomi_vault::SubjectId::parse(target)
                && let Err(e) = inner.vault.forget_erased(&subject).await
            {
                // Without the keyring list the keys cannot be found one by one: drop all.
                tracing::warn!(error = %e, "cluster: dropping every cached key");
                inner.vault.clear_cached_keys();
            }
        }
        "key" => inner.key_records.evict(target),
        "purpose" => inner.purposes.evict(target),
        "policy" => inner.masking.policies.evict(target),
        "catalogue" => inner.catalogue.evict(target),
        _ => {}
    }
}

/// Publishes a change when this node is part of a fleet; `None` on a single node.
pub async fn publish(
    inner: &Dependencies,
    kind: Kind,
    target: &str,
) -> Result<Option<Propagation>, ServiceError> {
    match &inner.cluster {
        None => Ok(None),
        Some(c) => c.publish(kind, target).await.map(Some),
    }
}

/// Which node of a fleet does the background duties that one node should do: signing
/// checkpoints of the audit tree and moving left-over outbox events into it, evaluating
/// alerts, retention and scheduled key rotation. Elected through a PostgreSQL advisory lock
/// held by a session of its own: when the leader dies its session ends, the lock is free,
/// and another node takes it within [`POLL_EVERY`]. A single node (SQLite) always leads.
pub struct Duty {
    leading: std::sync::atomic::AtomicBool,
}

impl Duty {
    /// A node alone: it always leads.
    pub fn alone() -> Arc<Duty> {
        Arc::new(Duty {
            leading: std::sync::atomic::AtomicBool::new(true),
        })
    }

    /// A node of a fleet on the PostgreSQL database at `url`; it campaigns in the
    /// background until it is dropped.
    pub async fn campaign(url: &str) -> Arc<Duty> {
        let duty = Arc::new(Duty {
            leading: std::sync::atomic::AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&duty);
        let lock = match IntegratorLock::new(url) {
            Ok(lock) => lock,
            Err(_) => {
                // The pool opened with this URL already, so this is not expected; the node
                // serves, and leaves the duties to the others. (The error may quote the
                // URL, password included: it is not logged.)
                tracing::error!(
                    "cluster: the database URL does not parse; not campaigning for the \
                     integrator role"
                );
                return duty;
            }
        };
        tokio::spawn(async move {
            let mut held = None;
            loop {
                let Some(duty) = weak.upgrade() else {
                    if let Some(conn) = held.take() {
                        IntegratorLock::release(conn).await;
                    }
                    return;
                };
                match held.as_mut() {
                    // The leader checks that its session (and so its lock) is alive.
                    Some(conn) => {
                        let alive =
                            tokio::time::timeout(POLL_EVERY * 2, IntegratorLock::alive(conn)).await;
                        if !matches!(alive, Ok(true)) {
                            held = None;
                            duty.set(false);
                            tracing::warn!("cluster: lost the integrator role");
                        }
                    }
                    None => {
                        held = lock.try_take().await;
                        if held.is_some() {
                            duty.set(true);
                            tracing::info!("cluster: this node is the integrator");
                        }
                    }
                }
                drop(duty);
                tokio::time::sleep(POLL_EVERY).await;
            }
        });
        duty
    }

    fn set(&self, leading: bool) {
        self.leading
            .store(leading, std::sync::atomic::Ordering::SeqCst);
    }

    /// Whether this node does the fleet's background duties now.
    pub fn leads(&self) -> bool {
        self.leading.load(std::sync::atomic::Ordering::SeqCst)
    }
}
