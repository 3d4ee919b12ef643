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

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};

use crate::app::Inner;
use crate::service::{ServiceError, now_ms, random_id};

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
    pool: PgPool,
    node_id: String,
    channel: String,
}

fn failed(e: sqlx::Error) -> ServiceError {
    ServiceError::Store(crate::store::StoreError::from(e))
}

impl Cluster {
    /// Joins the fleet on the PostgreSQL database at `url`: registers this node as having
    /// applied every invalidation so far (it has nothing cached yet).
    pub async fn join(url: &str) -> Result<Arc<Cluster>, ServiceError> {
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .connect(url)
            .await
            .map_err(failed)?;
        let (schema,): (String,) = sqlx::query_as("SELECT current_schema()")
            .fetch_one(&pool)
            .await
            .map_err(failed)?;
        let node_id = random_id("node", 8)?;
        sqlx::query(
            "INSERT INTO cluster_nodes (node_id, heartbeat_ms, applied_through) \
             VALUES ($1, $2, (SELECT COALESCE(MAX(id), 0) FROM cluster_invalidations))",
        )
        .bind(&node_id)
        .bind(now_ms())
        .execute(&pool)
        .await
        .map_err(failed)?;
        Ok(Arc::new(Cluster {
            pool,
            node_id,
            channel: format!("baomi_invalidate_{schema}"),
        }))
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// Records a change, notifies every node, and waits for the live ones to apply it.
    pub async fn publish(&self, kind: Kind, target: &str) -> Result<Propagation, ServiceError> {
        // The notification leaves when the row commits, in the same transaction.
        let mut tx = self.pool.begin().await.map_err(failed)?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO cluster_invalidations (kind, target, at_ms) VALUES ($1, $2, $3) \
             RETURNING id",
        )
        .bind(kind.as_str())
        .bind(target)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await
        .map_err(failed)?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.channel)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        let deadline = tokio::time::Instant::now() + CONFIRM_WITHIN;
        loop {
            let live_since = now_ms() - i64::try_from(LIVE_WITHIN.as_millis()).unwrap_or(0);
            let nodes: Vec<(String, i64)> = sqlx::query_as(
                "SELECT node_id, applied_through FROM cluster_nodes \
                 WHERE node_id <> $1 AND heartbeat_ms >= $2 ORDER BY node_id",
            )
            .bind(&self.node_id)
            .bind(live_since)
            .fetch_all(&self.pool)
            .await
            .map_err(failed)?;
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
        let _ = sqlx::query("DELETE FROM cluster_nodes WHERE node_id = $1")
            .bind(&self.node_id)
            .execute(&self.pool)
            .await;
    }

    /// Applies every invalidation after `applied` to `inner`'s caches; the new high mark.
    async fn catch_up(&self, inner: &Inner, applied: i64) -> Result<i64, sqlx::Error> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT id, kind, target FROM cluster_invalidations WHERE id > $1 ORDER BY id",
        )
        .bind(applied)
        .fetch_all(&self.pool)
        .await?;
        let mut through = applied;
        for (id, kind, target) in rows {
            apply(inner, &kind, &target).await;
            through = id;
        }
        sqlx::query(
            "UPDATE cluster_nodes SET applied_through = $2, heartbeat_ms = $3 WHERE node_id = $1",
        )
        .bind(&self.node_id)
        .bind(through)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(through)
    }

    /// Listens and applies until the application is gone: on every notification, and at
    /// least every [`POLL_EVERY`].
    pub async fn run(self: Arc<Self>, app: Weak<Inner>) {
        let mut applied: i64 = match sqlx::query_as::<_, (i64,)>(
            "SELECT applied_through FROM cluster_nodes WHERE node_id = $1",
        )
        .bind(&self.node_id)
        .fetch_one(&self.pool)
        .await
        {
            Ok((a,)) => a,
            Err(_) => 0,
        };
        let mut listener: Option<PgListener> = None;
        let mut last_prune = tokio::time::Instant::now();
        loop {
            let Some(inner) = app.upgrade() else {
                self.leave().await;
                return;
            };
            if listener.is_none() {
                listener = match PgListener::connect_with(&self.pool).await {
                    Ok(mut l) => match l.listen(&self.channel).await {
                        Ok(()) => Some(l),
                        Err(_) => None,
                    },
                    Err(_) => None,
                };
            }
            match self.catch_up(&inner, applied).await {
                Ok(through) => applied = through,
                Err(e) => tracing::warn!(error = %e, "cluster: cannot read invalidations"),
            }
            if last_prune.elapsed() > Duration::from_secs(60) {
                last_prune = tokio::time::Instant::now();
                let keep_since = now_ms() - i64::try_from(KEEP_ROWS.as_millis()).unwrap_or(0);
                let _ = sqlx::query("DELETE FROM cluster_invalidations WHERE at_ms < $1")
                    .bind(keep_since)
                    .execute(&self.pool)
                    .await;
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
async fn apply(inner: &Inner, kind: &str, target: &str) {
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
    inner: &Inner,
    kind: Kind,
    target: &str,
) -> Result<Option<Propagation>, ServiceError> {
    match &inner.cluster {
        None => Ok(None),
        Some(c) => c.publish(kind, target).await.map(Some),
    }
}

/// The options of the session that holds the integrator lock. The lock goes when the
/// session ends: at once when the leader's process dies (its socket closes), and, when its
/// host dies or is cut off without a word, once PostgreSQL's keepalives find the peer
/// silent (2 s idle, then 3 probes a second apart) or data it sent stays unacknowledged
/// for 5 s. Without these a dead host would hold the lock for the system's keepalive time,
/// two hours by default.
fn lock_session(url: &str) -> Result<sqlx::postgres::PgConnectOptions, sqlx::Error> {
    use std::str::FromStr;
    let options = sqlx::postgres::PgConnectOptions::from_str(url)?;
    Ok(options.options([
        ("tcp_keepalives_idle", "2"),
        ("tcp_keepalives_interval", "1"),
        ("tcp_keepalives_count", "3"),
        ("tcp_user_timeout", "5000"),
    ]))
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
        let options = match lock_session(url) {
            Ok(options) => options,
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
            use sqlx::Connection;
            let mut held: Option<sqlx::PgConnection> = None;
            loop {
                let Some(duty) = weak.upgrade() else {
                    if let Some(conn) = held.take() {
                        let _ = conn.close().await;
                    }
                    return;
                };
                match held.as_mut() {
                    // The leader checks that its session (and so its lock) is alive.
                    Some(conn) => {
                        let alive = tokio::time::timeout(
                            POLL_EVERY * 2,
                            sqlx::query("SELECT 1").execute(&mut *conn),
                        )
                        .await;
                        if !matches!(alive, Ok(Ok(_))) {
                            held = None;
                            duty.set(false);
                            tracing::warn!("cluster: lost the integrator role");
                        }
                    }
                    None => {
                        if let Ok(mut conn) = sqlx::PgConnection::connect_with(&options).await {
                            let won: Result<(bool,), _> = sqlx::query_as(
                                "SELECT pg_try_advisory_lock(hashtext('baomi-integrator/' || \
                                 current_schema())::bigint)",
                            )
                            .fetch_one(&mut conn)
                            .await;
                            if matches!(won, Ok((true,))) {
                                held = Some(conn);
                                duty.set(true);
                                tracing::info!("cluster: this node is the integrator");
                            } else {
                                let _ = conn.close().await;
                            }
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
