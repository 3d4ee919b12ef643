//! The fleet's tables and channels on PostgreSQL: `cluster_invalidations` (what one node
//! changed that others cache), `cluster_nodes` (each node's heartbeat and how far it has
//! applied them), the `NOTIFY` channel that announces a change, and the session that holds
//! the integrator's advisory lock. `crate::service::cluster` decides what to do with them.

use std::str::FromStr;

use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions};

use crate::store::StoreError;

/// One node's connection to the fleet's tables.
pub struct FleetTables {
    pool: PgPool,
    /// The `NOTIFY` channel, named after the database schema (one fleet per schema).
    channel: String,
}

impl FleetTables {
    /// Connects to the database at `url`.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new().max_connections(2).connect(url).await?;
        let (schema,): (String,) = sqlx::query_as("SELECT current_schema()")
            .fetch_one(&pool)
            .await?;
        Ok(Self {
            pool,
            channel: format!("baomi_invalidate_{schema}"),
        })
    }

    /// Registers `node` as live at `at_ms`, having applied every invalidation so far (a
    /// node that joins has nothing cached yet).
    pub async fn register(&self, node: &str, at_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO cluster_nodes (node_id, heartbeat_ms, applied_through) \
             VALUES ($1, $2, (SELECT COALESCE(MAX(id), 0) FROM cluster_invalidations))",
        )
        .bind(node)
        .bind(at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records an invalidation of `kind` for `target` and announces it; the notification
    /// leaves when the row commits, in the same transaction. Returns the row's id.
    pub async fn publish(&self, kind: &str, target: &str, at_ms: i64) -> Result<i64, StoreError> {
        let mut tx = self.pool.begin().await?;
        let (id,): (i64,) = sqlx::query_as(
            "INSERT INTO cluster_invalidations (kind, target, at_ms) VALUES ($1, $2, $3) \
             RETURNING id",
        )
        .bind(kind)
        .bind(target)
        .bind(at_ms)
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&self.channel)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The nodes other than `node` whose heartbeat is at `live_since_ms` or later, with how
    /// far each has applied, by node id.
    pub async fn live_others(
        &self,
        node: &str,
        live_since_ms: i64,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT node_id, applied_through FROM cluster_nodes \
             WHERE node_id <> $1 AND heartbeat_ms >= $2 ORDER BY node_id",
        )
        .bind(node)
        .bind(live_since_ms)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Removes `node` from the fleet.
    pub async fn leave(&self, node: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM cluster_nodes WHERE node_id = $1")
            .bind(node)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Invalidations after `applied`, oldest first: (id, kind, target).
    pub async fn after(&self, applied: i64) -> Result<Vec<(i64, String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT id, kind, target FROM cluster_invalidations WHERE id > $1 ORDER BY id",
        )
        .bind(applied)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Records that `node` has applied through `through`, and is live at `at_ms`.
    pub async fn beat(&self, node: &str, through: i64, at_ms: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE cluster_nodes SET applied_through = $2, heartbeat_ms = $3 WHERE node_id = $1",
        )
        .bind(node)
        .bind(through)
        .bind(at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// How far `node` has applied, as registered.
    pub async fn applied_through(&self, node: &str) -> Result<i64, StoreError> {
        let (applied,): (i64,) =
            sqlx::query_as("SELECT applied_through FROM cluster_nodes WHERE node_id = $1")
                .bind(node)
                .fetch_one(&self.pool)
                .await?;
        Ok(applied)
    }

    /// Deletes invalidations older than `before_ms`.
    pub async fn prune(&self, before_ms: i64) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM cluster_invalidations WHERE at_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A listener on the fleet's channel.
    pub async fn listen(&self) -> Result<PgListener, StoreError> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(&self.channel).await?;
        Ok(listener)
    }
}

/// The session that holds the integrator's advisory lock. The lock goes when the session
/// ends: at once when the leader's process dies (its socket closes), and, when its host
/// dies or is cut off without a word, once PostgreSQL's keepalives find the peer silent (2 s
/// idle, then 3 probes a second apart) or data it sent stays unacknowledged for 5 s.
/// Without these a dead host would hold the lock for the system's keepalive time, two hours
/// by default.
pub struct IntegratorLock {
    options: PgConnectOptions,
}

impl IntegratorLock {
    /// The lock of the database at `url`. (The error may quote the URL, password included:
    /// callers must not log it.)
    pub fn new(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.options([
            ("tcp_keepalives_idle", "2"),
            ("tcp_keepalives_interval", "1"),
            ("tcp_keepalives_count", "3"),
            ("tcp_user_timeout", "5000"),
        ]);
        Ok(Self { options })
    }

    /// Opens a session and tries the lock (one per schema): the session holding it if this
    /// node won, `None` if another node holds it or the database cannot be reached.
    pub async fn try_take(&self) -> Option<PgConnection> {
        let mut conn = PgConnection::connect_with(&self.options).await.ok()?;
        let won: Result<(bool,), _> = sqlx::query_as(
            "SELECT pg_try_advisory_lock(hashtext('baomi-integrator/' || current_schema())::bigint)",
        )
        .fetch_one(&mut conn)
        .await;
        if matches!(won, Ok((true,))) {
            Some(conn)
        } else {
            let _ = conn.close().await;
            None
        }
    }

    /// Whether the session holding the lock (and so the lock) is alive.
    pub async fn alive(held: &mut PgConnection) -> bool {
        sqlx::query("SELECT 1").execute(held).await.is_ok()
    }

    /// Ends the session, and with it the lock.
    pub async fn release(held: PgConnection) {
        let _ = held.close().await;
    }
}
