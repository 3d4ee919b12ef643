//! The Merkle log's storage (`baomi_audit::LogStore`), written once for both backends.

use std::sync::{Arc, Mutex};

use baomi_audit::merkle::{Hash, NodeId};

/// The right border of the audit tree as this node last wrote it: `(tree size, border)`.
/// Appending needs the border's hashes; when the tree still has the size this node left it
/// at (always, with one node), they come from here instead of the database.
pub type BorderCache = Arc<Mutex<Option<(u64, Vec<(NodeId, Hash)>)>>>;

/// The border of the tree after `appended` were added to a tree of `size` with `border`.
pub fn next_border(
    size: u64,
    appended: u64,
    border: &[(NodeId, Hash)],
    created: &[(NodeId, Hash)],
) -> Option<Vec<(NodeId, Hash)>> {
    baomi_audit::merkle::border(size + appended)
        .into_iter()
        .map(|id| {
            created
                .iter()
                .chain(border)
                .find(|(n, _)| *n == id)
                .copied()
        })
        .collect()
}

/// How far apart the clocks of the nodes that append may be. An event appended more than
/// this before another has the smaller sequence number, so a time filter can bound
/// sequence numbers by append time (an event's own time may be far older than its append:
/// a state change's event waits in the outbox while no server runs).
pub const CLOCK_SKEW_MS: i64 = 5 * 60 * 1000;

/// Rows per multi-row INSERT (nine values each stays under SQLite's 32,766).
pub const ROWS_PER_STATEMENT: usize = 1000;

/// An event as appended: its query columns and its canonical text.
pub struct EventRow {
    /// The query columns, derived from the text (`EventColumns`, the one place that does).
    pub columns: baomi_audit::EventColumns,
    /// The canonical text (the leaf data).
    pub body: String,
}

impl EventRow {
    /// The row of an event.
    pub fn from_event(e: &baomi_audit::AccessEvent) -> Self {
        Self {
            columns: baomi_audit::EventColumns::of_event(e),
            body: e.to_json(),
        }
    }

    /// The row of an event's stored text (from the outbox). The text is kept as written,
    /// even if it no longer reads as an event: the trail then shows it as it is.
    pub fn from_text(body: String) -> Self {
        Self {
            columns: baomi_audit::EventColumns::of_text(&body),
            body,
        }
    }
}

/// An event's stored row: `seq, at_ms, action, subject, actor, operator, purpose, outcome,
/// body`.
pub(super) type StoredRow = (
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    String,
);

/// Implements [`baomi_audit::LogStore`] for `$store`, whose `pool` is an sqlx pool.
macro_rules! impl_log_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl baomi_audit::LogStore for $store {
            async fn tree_size(&self) -> Result<u64, baomi_audit::AuditFailure> {
                // Leaves are dense from 0, so the size is the highest index plus one: an index
                // lookup, where COUNT(*) would scan the whole table.
                let (n,): (Option<i64>,) =
                    sqlx::query_as("SELECT MAX(leaf_index) FROM audit_leaves")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(log_failure)?;
                Ok(n.and_then(|n| u64::try_from(n + 1).ok()).unwrap_or(0))
            }

            async fn nodes(
                &self,
                ids: &[baomi_audit::merkle::NodeId],
            ) -> Result<
                std::collections::HashMap<baomi_audit::merkle::NodeId, baomi_audit::merkle::Hash>,
                baomi_audit::AuditFailure,
            > {
                let mut conn = self.pool.acquire().await.map_err(log_failure)?;
                fetch_nodes(&mut conn, ids).await
            }

            async fn add_checkpoint(
                &self,
                checkpoint: &baomi_audit::StoredCheckpoint,
            ) -> Result<bool, baomi_audit::AuditFailure> {
                let done = sqlx::query(
                    "INSERT INTO audit_checkpoints (tree_size, root, note, created_at) \
                     VALUES ($1, $2, $3, $4) ON CONFLICT (tree_size) DO NOTHING",
                )
                .bind(i64::try_from(checkpoint.tree_size).unwrap_or(i64::MAX))
                .bind(checkpoint.root.to_vec())
                .bind(&checkpoint.note)
                .bind(checkpoint.created_at)
                .execute(&self.pool)
                .await
                .map_err(log_failure)?
                .rows_affected();
                Ok(done == 1)
            }

            async fn latest_checkpoint(
                &self,
            ) -> Result<Option<baomi_audit::StoredCheckpoint>, baomi_audit::AuditFailure> {
                let row: Option<(i64, Vec<u8>, String, i64)> = sqlx::query_as(
                    "SELECT tree_size, root, note, created_at FROM audit_checkpoints \
                     ORDER BY tree_size DESC LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await
                .map_err(log_failure)?;
                row.map(checkpoint).transpose()
            }

            async fn query(
                &self,
                filter: &baomi_audit::EventFilter,
                limit: u32,
            ) -> Result<Vec<baomi_audit::StoredEvent>, baomi_audit::AuditFailure> {
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT seq, at_ms, action, subject, actor, operator, purpose, outcome, \
                     body FROM audit_events WHERE pruned_at IS NULL",
                );
                for (column, value) in [
                    ("subject", &filter.subject),
                    ("actor", &filter.actor),
                    ("operator", &filter.operator),
                    ("purpose", &filter.purpose),
                    ("action", &filter.action),
                    ("outcome", &filter.outcome),
                ] {
                    if let Some(v) = value {
                        q.push(format!(" AND {column} = ")).push_bind(v.clone());
                    }
                }
                // The start of a time range also bounds the sequence numbers from below (found
                // on the append-time index): an event is appended after it happens, so every
                // event at or after `from` was appended after anything appended before
                // `from` (less the clock skew), and has a larger sequence number. A filter on
                // another column then scans only its own index's range. (No upper bound: an
                // event may be appended long after it happened.)
                if let Some(from) = filter.from_ms {
                    q.push(" AND at_ms >= ").push_bind(from);
                    let below: Option<(i64,)> = sqlx::query_as(
                        "SELECT seq FROM audit_events WHERE appended_ms < $1 \
                         ORDER BY appended_ms DESC LIMIT 1",
                    )
                    .bind(from.saturating_sub($crate::store::audit_log::CLOCK_SKEW_MS))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(log_failure)?;
                    if let Some((seq,)) = below {
                        q.push(" AND seq > ").push_bind(seq);
                    }
                }
                if let Some(to) = filter.to_ms {
                    q.push(" AND at_ms < ").push_bind(to);
                }
                if let Some(before) = filter.before {
                    q.push(" AND seq < ").push_bind(before);
                }
                q.push(" ORDER BY seq DESC LIMIT ").push_bind(i64::from(limit));
                let rows: Vec<$crate::store::audit_log::StoredRow> = q
                    .build_query_as()
                    .fetch_all(&self.pool)
                    .await
                    .map_err(log_failure)?;
                Ok(stored_events(rows))
            }

            async fn leaf_of(
                &self,
                seq: i64,
            ) -> Result<Option<(baomi_audit::Leaf, Option<String>)>, baomi_audit::AuditFailure>
            {
                let row: Option<(i64, Vec<u8>, String, Option<i64>)> = sqlx::query_as(
                    "SELECT l.leaf_index, l.hash, e.body, e.pruned_at FROM audit_leaves l \
                     JOIN audit_events e ON e.seq = l.seq WHERE l.seq = $1",
                )
                .bind(seq)
                .fetch_optional(&self.pool)
                .await
                .map_err(log_failure)?;
                row.map(|(index, hash, body, pruned)| {
                    Ok((leaf(index, seq, hash)?, pruned.is_none().then_some(body)))
                })
                .transpose()
            }

            async fn scan(
                &self,
                from: u64,
                limit: u32,
            ) -> Result<Vec<baomi_audit::ScannedLeaf>, baomi_audit::AuditFailure> {
                // The leaf, whether its event is pruned, and its stored row if there is one.
                type Row = (i64, Vec<u8>, Option<i64>, i64, Option<i64>, Option<String>,
                    Option<String>, Option<String>, Option<String>, Option<String>,
                    Option<String>, Option<String>);
                let rows: Vec<Row> = sqlx::query_as(
                    "SELECT l.leaf_index, l.hash, e.pruned_at, l.seq, e.at_ms, e.action, \
                     e.subject, e.actor, e.operator, e.purpose, e.outcome, e.body \
                     FROM audit_leaves l LEFT JOIN audit_events e ON e.seq = l.seq \
                     WHERE l.leaf_index >= $1 ORDER BY l.leaf_index LIMIT $2",
                )
                .bind(i64::try_from(from).unwrap_or(i64::MAX))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(log_failure)?;
                rows.into_iter()
                    .map(|(index, hash, pruned, seq, at_ms, action, subject, actor, operator,
                           purpose, outcome, body)| {
                        let columns = match (at_ms, action) {
                            (Some(at_ms), Some(action)) => Some(baomi_audit::EventColumns {
                                at_ms,
                                action,
                                subject,
                                actor,
                                operator,
                                purpose,
                                outcome,
                            }),
                            _ => None,
                        };
                        Ok(baomi_audit::ScannedLeaf {
                            leaf: leaf(index, seq, hash)?,
                            body: match (body, pruned) {
                                (_, Some(_)) => baomi_audit::StoredBody::Pruned,
                                (Some(text), None) => baomi_audit::StoredBody::Text(text),
                                (None, None) => baomi_audit::StoredBody::Missing,
                            },
                            columns,
                        })
                    })
                    .collect()
            }

            async fn checkpoints(
                &self,
                after: u64,
                up_to: u64,
            ) -> Result<Vec<baomi_audit::StoredCheckpoint>, baomi_audit::AuditFailure> {
                let rows: Vec<(i64, Vec<u8>, String, i64)> = sqlx::query_as(
                    "SELECT tree_size, root, note, created_at FROM audit_checkpoints \
                     WHERE tree_size > $1 AND tree_size <= $2 ORDER BY tree_size",
                )
                .bind(i64::try_from(after).unwrap_or(i64::MAX))
                .bind(i64::try_from(up_to).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await
                .map_err(log_failure)?;
                rows.into_iter().map(checkpoint).collect()
            }

            async fn events_outside_tree(
                &self,
                up_to: i64,
                limit: u32,
            ) -> Result<Vec<i64>, baomi_audit::AuditFailure> {
                let rows: Vec<(i64,)> = sqlx::query_as(
                    "SELECT e.seq FROM audit_events e LEFT JOIN audit_leaves l ON l.seq = e.seq \
                     WHERE l.seq IS NULL AND e.seq <= $1 ORDER BY e.seq LIMIT $2",
                )
                .bind(up_to)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(log_failure)?;
                Ok(rows.into_iter().map(|(s,)| s).collect())
            }

            async fn seq_before(&self, at_ms: i64) -> Result<i64, baomi_audit::AuditFailure> {
                let (seq,): (Option<i64>,) = sqlx::query_as(
                    "SELECT COALESCE(\
                       (SELECT seq - 1 FROM audit_events WHERE at_ms >= $1 \
                        ORDER BY at_ms LIMIT 1), \
                       (SELECT MAX(seq) FROM audit_events))",
                )
                .bind(at_ms)
                .fetch_one(&self.pool)
                .await
                .map_err(log_failure)?;
                Ok(seq.unwrap_or(0))
            }

            async fn tail(
                &self,
                after: i64,
                limit: u32,
            ) -> Result<Vec<baomi_audit::StoredEvent>, baomi_audit::AuditFailure> {
                let rows: Vec<$crate::store::audit_log::StoredRow> = sqlx::query_as(
                    "SELECT seq, at_ms, action, subject, actor, operator, purpose, outcome, \
                     body FROM audit_events WHERE seq > $1 AND pruned_at IS NULL \
                     ORDER BY seq LIMIT $2",
                )
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(log_failure)?;
                Ok(stored_events(rows))
            }

            async fn prune(
                &self,
                before_ms: i64,
                now_ms: i64,
                limit: u32,
            ) -> Result<u64, baomi_audit::AuditFailure> {
                let done = sqlx::query(
                    "UPDATE audit_events SET body = '', subject = NULL, actor = NULL, \
                     operator = NULL, purpose = NULL, pruned_at = $1 \
                     WHERE pruned_at IS NULL AND seq IN (SELECT seq FROM audit_events \
                                   WHERE at_ms < $2 AND pruned_at IS NULL \
                                   ORDER BY at_ms LIMIT $3)",
                )
                .bind(now_ms)
                .bind(before_ms)
                .bind(i64::from(limit))
                .execute(&self.pool)
                .await
                .map_err(log_failure)?;
                Ok(done.rows_affected())
            }

            async fn add_alert(
                &self,
                alert: &baomi_audit::Alert,
            ) -> Result<bool, baomi_audit::AuditFailure> {
                let done = sqlx::query(
                    "INSERT INTO audit_alerts (rule, alert_key, trigger_seq, at_ms, detail) \
                     VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (rule, alert_key, trigger_seq) DO NOTHING",
                )
                .bind(&alert.rule)
                .bind(&alert.key)
                .bind(alert.trigger_seq)
                .bind(alert.at_ms)
                .bind(alert.detail.to_string())
                .execute(&self.pool)
                .await
                .map_err(log_failure)?;
                Ok(done.rows_affected() == 1)
            }

            async fn alerts(
                &self,
                before: Option<i64>,
                limit: u32,
            ) -> Result<Vec<baomi_audit::Alert>, baomi_audit::AuditFailure> {
                alerts_where(&self.pool, "id < $1 ORDER BY id DESC", before.unwrap_or(i64::MAX), limit).await
            }

            async fn undelivered_alerts(
                &self,
                limit: u32,
            ) -> Result<Vec<baomi_audit::Alert>, baomi_audit::AuditFailure> {
                // Ids start at 1: `id > 0` keeps the shape both queries share.
                alerts_where(&self.pool, "delivered_at IS NULL AND id > $1 ORDER BY id", 0, limit).await
            }

            async fn mark_alert_delivered(
                &self,
                id: i64,
                now: i64,
            ) -> Result<(), baomi_audit::AuditFailure> {
                sqlx::query("UPDATE audit_alerts SET delivered_at = $1 WHERE id = $2")
                    .bind(now)
                    .bind(id)
                    .execute(&self.pool)
                    .await
                    .map_err(log_failure)?;
                Ok(())
            }
        }

        #[async_trait::async_trait]
        impl baomi_audit::AuditSink for $store {
            /// Appends the events and makes them leaves of the Merkle tree in the same
            /// transaction: one commit (one fsync) for the events, their leaves and the
            /// subtrees they complete. Appenders on several nodes take turns (an advisory
            /// lock on PostgreSQL, SQLite's single writer), so leaf positions stay dense.
            /// With `drain_outbox`, the events state changes left in the outbox come first
            /// and leave the outbox in the same transaction.
            async fn append_with(
                &self,
                events: &[baomi_audit::AccessEvent],
                drain_outbox: bool,
            ) -> Result<(), baomi_audit::AuditFailure> {
                if drain_outbox && events.is_empty() {
                    // Most of the time there is nothing to move: no write transaction then.
                    let waiting: Option<(i64,)> =
                        sqlx::query_as("SELECT id FROM audit_outbox LIMIT 1")
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(log_failure)?;
                    if waiting.is_none() {
                        return Ok(());
                    }
                } else if events.is_empty() {
                    return Ok(());
                }
                let mut tx = self
                    .write_locked(
                        <$store as $crate::store::common::Backend>::LOCK_SUBJECT,
                        "baomi-audit-append",
                    )
                    .await
                    .map_err(|e| baomi_audit::AuditFailure(e.detail))?;
                let remembered = self
                    .audit_border
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                let (size, cached) = match remembered {
                    Some((at, b))
                        if <$store as $crate::store::common::Backend>::SOLE_AUDIT_APPENDER =>
                    {
                        (at, Some(b))
                    }
                    other => {
                        let (max,): (Option<i64>,) =
                            sqlx::query_as("SELECT MAX(leaf_index) FROM audit_leaves")
                                .fetch_one(&mut *tx)
                                .await
                                .map_err(log_failure)?;
                        let size = max.and_then(|n| u64::try_from(n + 1).ok()).unwrap_or(0);
                        (size, other.filter(|(at, _)| *at == size).map(|(_, b)| b))
                    }
                };
                let border = match cached {
                    Some(b) => b,
                    None => {
                        let ids = baomi_audit::merkle::border(size);
                        let stored = fetch_nodes(&mut tx, &ids).await?;
                        ids.into_iter()
                            .map(|id| {
                                stored.get(&id).map(|h| (id, *h)).ok_or_else(|| {
                                    baomi_audit::AuditFailure("a subtree hash is missing".into())
                                })
                            })
                            .collect::<Result<Vec<_>, _>>()?
                    }
                };
                let outbox: Vec<(i64, String)> = if drain_outbox {
                    // With a full batch of events, still under SQLite's 32,766 bound values.
                    sqlx::query_as("SELECT id, body FROM audit_outbox ORDER BY id LIMIT 1000")
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(log_failure)?
                } else {
                    Vec::new()
                };
                // The outbox's events first (their changes committed earlier), each with the
                // text it was written with; then this call's.
                let rows: Vec<$crate::store::audit_log::EventRow> = outbox
                    .iter()
                    .map(|(_, body)| $crate::store::audit_log::EventRow::from_text(body.clone()))
                    .chain(events.iter().map($crate::store::audit_log::EventRow::from_event))
                    .collect();
                if rows.is_empty() {
                    return Ok(());
                }
                // In chunks, under SQLite's 32,766 bound values per statement.
                let chunk = $crate::store::audit_log::ROWS_PER_STATEMENT;
                let appended_ms = $crate::service::now_ms();
                let mut seqs: Vec<(i64,)> = Vec::with_capacity(rows.len());
                for part in rows.chunks(chunk) {
                    let mut insert = sqlx::QueryBuilder::new(
                        "INSERT INTO audit_events (at_ms, action, subject, actor, operator, \
                         purpose, outcome, body, appended_ms) ",
                    );
                    insert.push_values(part, |mut row, r| {
                        let c = &r.columns;
                        row.push_bind(c.at_ms)
                            .push_bind(c.action.clone())
                            .push_bind(c.subject.clone())
                            .push_bind(c.actor.clone())
                            .push_bind(c.operator.clone())
                            .push_bind(c.purpose.clone())
                            .push_bind(c.outcome.clone())
                            .push_bind(r.body.as_str())
                            .push_bind(appended_ms);
                    });
                    insert.push(" RETURNING seq");
                    let mut part_seqs: Vec<(i64,)> = insert
                        .build_query_as()
                        .fetch_all(&mut *tx)
                        .await
                        .map_err(log_failure)?;
                    // Rows are numbered in the order of the VALUES list.
                    part_seqs.sort_unstable();
                    seqs.append(&mut part_seqs);
                }
                let hashes: Vec<baomi_audit::merkle::Hash> = rows
                    .iter()
                    .map(|r| baomi_audit::merkle::leaf_hash(r.body.as_bytes()))
                    .collect();
                // Exactly the rows moved: on PostgreSQL a change that took a lower id may
                // commit after the read above, and its row must stay for the next drain.
                if !outbox.is_empty() {
                    let mut q = sqlx::QueryBuilder::new("DELETE FROM audit_outbox WHERE id IN (");
                    let mut ids = q.separated(", ");
                    for (id, _) in &outbox {
                        ids.push_bind(*id);
                    }
                    q.push(")");
                    q.build().execute(&mut *tx).await.map_err(log_failure)?;
                }
                let (nodes, _root) = baomi_audit::merkle::append(size, &border, &hashes);
                let numbered: Vec<_> = seqs.iter().zip(&hashes).enumerate().collect();
                for part in numbered.chunks(chunk) {
                    let mut leaves = sqlx::QueryBuilder::new(
                        "INSERT INTO audit_leaves (leaf_index, seq, hash) ",
                    );
                    leaves.push_values(part, |mut row, (i, ((seq,), h))| {
                        row.push_bind(i64::try_from(size + *i as u64).unwrap_or(i64::MAX))
                            .push_bind(*seq)
                            .push_bind(h.to_vec());
                    });
                    leaves.build().execute(&mut *tx).await.map_err(log_failure)?;
                }
                let inner: Vec<_> = nodes.iter().filter(|((l, _), _)| *l > 0).collect();
                for part in inner.chunks(chunk) {
                    let mut q = sqlx::QueryBuilder::new(
                        "INSERT INTO audit_nodes (level, node_index, hash) ",
                    );
                    q.push_values(part, |mut row, &&((level, index), hash)| {
                        row.push_bind(i64::from(level))
                            .push_bind(i64::try_from(index).unwrap_or(i64::MAX))
                            .push_bind(hash.to_vec());
                    });
                    q.build().execute(&mut *tx).await.map_err(log_failure)?;
                }
                let appended = hashes.len() as u64;
                let after = $crate::store::audit_log::next_border(size, appended, &border, &nodes);
                let committed = tx.commit().await.map_err(log_failure);
                let mut cache = self.audit_border.lock().unwrap_or_else(|p| p.into_inner());
                *cache = match (&committed, after) {
                    (Ok(()), Some(b)) => Some((size + appended, b)),
                    _ => None,
                };
                committed
            }
        }

        /// Writes the events of a state change to the outbox, in the change's transaction.
        async fn write_outbox(
            conn: &mut <<$store as $crate::store::common::Pooled>::Db as sqlx::Database>::Connection,
            events: &[baomi_audit::AccessEvent],
        ) -> Result<(), sqlx::Error> {
            if events.is_empty() {
                return Ok(());
            }
            let mut q = sqlx::QueryBuilder::new("INSERT INTO audit_outbox (body) ");
            q.push_values(events, |mut row, e| {
                row.push_bind(e.to_json());
            });
            q.build().execute(&mut *conn).await?;
            Ok(())
        }

        /// Ends a change's transaction: if the change touched a row, writes its audit events
        /// and commits (`true`); otherwise rolls back, having written nothing (`false`).
        async fn finish_change(
            tx: sqlx::Transaction<'static, <$store as $crate::store::common::Pooled>::Db>,
            changed: u64,
            audit: &[baomi_audit::AccessEvent],
        ) -> Result<bool, sqlx::Error> {
            if changed == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            commit_change(tx, audit).await?;
            Ok(true)
        }

        /// Ends a change's transaction: writes its audit events and commits.
        async fn commit_change(
            mut tx: sqlx::Transaction<'static, <$store as $crate::store::common::Pooled>::Db>,
            audit: &[baomi_audit::AccessEvent],
        ) -> Result<(), sqlx::Error> {
            write_outbox(&mut tx, audit).await?;
            tx.commit().await
        }

        /// The stored hashes of these complete subtrees (leaves from `audit_leaves`, the
        /// rest from `audit_nodes`), read on `conn`.
        async fn fetch_nodes(
            conn: &mut <<$store as $crate::store::common::Pooled>::Db as sqlx::Database>::Connection,
            ids: &[baomi_audit::merkle::NodeId],
        ) -> Result<
            std::collections::HashMap<baomi_audit::merkle::NodeId, baomi_audit::merkle::Hash>,
            baomi_audit::AuditFailure,
        > {
            let mut out = std::collections::HashMap::new();
            // Leaves (level 0) live in audit_leaves; audit_nodes holds levels 1 and up.
            let (leaves, inner): (Vec<_>, Vec<_>) = ids.iter().partition(|(l, _)| *l == 0);
            for chunk in leaves.chunks(200) {
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT leaf_index, hash FROM audit_leaves WHERE leaf_index IN ",
                );
                q.push_tuples(chunk, |mut t, (_, index)| {
                    t.push_bind(i64::try_from(*index).unwrap_or(i64::MAX));
                });
                let rows: Vec<(i64, Vec<u8>)> = q
                    .build_query_as()
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(log_failure)?;
                for (index, hash) in rows {
                    let hash: baomi_audit::merkle::Hash = hash
                        .try_into()
                        .map_err(|_| baomi_audit::AuditFailure("corrupt leaf hash".into()))?;
                    out.insert((0, u64::try_from(index).unwrap_or(u64::MAX)), hash);
                }
            }
            for chunk in inner.chunks(200) {
                let mut q = sqlx::QueryBuilder::new(
                    "SELECT level, node_index, hash FROM audit_nodes WHERE (level, node_index) IN ",
                );
                q.push_tuples(chunk, |mut t, (level, index)| {
                    t.push_bind(i64::from(*level))
                        .push_bind(i64::try_from(*index).unwrap_or(i64::MAX));
                });
                let rows: Vec<(i64, i64, Vec<u8>)> = q
                    .build_query_as()
                    .fetch_all(&mut *conn)
                    .await
                    .map_err(log_failure)?;
                for (level, index, hash) in rows {
                    let hash: baomi_audit::merkle::Hash = hash
                        .try_into()
                        .map_err(|_| baomi_audit::AuditFailure("corrupt node hash".into()))?;
                    out.insert(
                        (
                            u32::try_from(level).unwrap_or(u32::MAX),
                            u64::try_from(index).unwrap_or(u64::MAX),
                        ),
                        hash,
                    );
                }
            }
            Ok(out)
        }

        fn stored_events(
            rows: Vec<$crate::store::audit_log::StoredRow>,
        ) -> Vec<baomi_audit::StoredEvent> {
            rows.into_iter()
                .map(
                    |(seq, at_ms, action, subject, actor, operator, purpose, outcome, body)| {
                        baomi_audit::StoredEvent {
                            seq,
                            body,
                            columns: baomi_audit::EventColumns {
                                at_ms,
                                action,
                                subject,
                                actor,
                                operator,
                                purpose,
                                outcome,
                            },
                        }
                    },
                )
                .collect()
        }

        type AlertRow = (i64, String, String, i64, i64, String, Option<i64>);

        /// Alerts matching `condition` (on `$1` = `value`), at most `limit`.
        async fn alerts_where(
            pool: &sqlx::Pool<<$store as $crate::store::common::Pooled>::Db>,
            condition: &'static str,
            value: i64,
            limit: u32,
        ) -> Result<Vec<baomi_audit::Alert>, baomi_audit::AuditFailure> {
            let rows: Vec<AlertRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id, rule, alert_key, trigger_seq, at_ms, detail, delivered_at \
                 FROM audit_alerts WHERE {condition} LIMIT $2"
            )))
            .bind(value)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .map_err(log_failure)?;
            Ok(rows.into_iter().map(alert).collect())
        }

        fn alert(
            (id, rule, key, trigger_seq, at_ms, detail, delivered_at): AlertRow,
        ) -> baomi_audit::Alert {
            baomi_audit::Alert {
                id: Some(id),
                rule,
                key,
                trigger_seq,
                at_ms,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
                delivered_at,
            }
        }

        fn leaf(
            index: i64,
            seq: i64,
            hash: Vec<u8>,
        ) -> Result<baomi_audit::Leaf, baomi_audit::AuditFailure> {
            Ok(baomi_audit::Leaf {
                index: u64::try_from(index).unwrap_or(u64::MAX),
                seq,
                hash: hash
                    .try_into()
                    .map_err(|_| baomi_audit::AuditFailure("corrupt leaf hash".into()))?,
            })
        }

        fn checkpoint(
            (size, root, note, created_at): (i64, Vec<u8>, String, i64),
        ) -> Result<baomi_audit::StoredCheckpoint, baomi_audit::AuditFailure> {
            Ok(baomi_audit::StoredCheckpoint {
                tree_size: u64::try_from(size).unwrap_or(0),
                root: root
                    .try_into()
                    .map_err(|_| baomi_audit::AuditFailure("corrupt root".into()))?,
                note,
                created_at,
            })
        }

        fn log_failure(e: sqlx::Error) -> baomi_audit::AuditFailure {
            baomi_audit::AuditFailure($crate::store::StoreError::from(e).to_string())
        }
    };
}
