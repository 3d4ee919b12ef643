//! The Merkle log's storage (`baomi_audit::LogStore`) and its appender
//! (`baomi_audit::AuditSink`), written once for both backends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use baomi_audit::merkle::{Hash, NodeId};
use baomi_audit::{
    Alert, AuditFailure, AuditSink, EventColumns, EventFilter, Leaf, LogStore, ScannedLeaf,
    StoredBody, StoredCheckpoint, StoredEvent,
};
use baomi_types::AccessEvent;
use sqlx::{Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::StoreError;
use super::common::{Backend, Pooled, SqlStore, one_at_a_time};

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
    pub columns: EventColumns,
    /// The canonical text (the leaf data).
    pub body: String,
}

impl EventRow {
    /// The row of an event.
    pub fn from_event(e: &AccessEvent) -> Self {
        Self {
            columns: EventColumns::of_event(e),
            body: e.to_json(),
        }
    }

    /// The row of an event's stored text (from the outbox). The text is kept as written,
    /// even if it no longer reads as an event: the trail then shows it as it is.
    pub fn from_text(body: String) -> Self {
        Self {
            columns: EventColumns::of_text(&body),
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

/// A checkpoint's stored row: `tree_size, root, note, created_at`.
type CheckpointRow = (i64, Vec<u8>, String, i64);

/// A leaf, whether its event is pruned, and its event's stored row if there is one.
type ScannedRow = (
    i64,
    Vec<u8>,
    Option<i64>,
    i64,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// An alert's stored row: `id, rule, alert_key, trigger_seq, at_ms, detail, delivered_at`.
type AlertRow = (i64, String, String, i64, i64, String, Option<i64>);

/// Leaves are dense from 0, so the size is the highest index plus one: an index lookup,
/// where `COUNT(*)` would scan the whole table.
const HIGHEST_LEAF: &str = "SELECT MAX(leaf_index) FROM audit_leaves";
const ADD_CHECKPOINT: &str = "INSERT INTO audit_checkpoints (tree_size, root, note, \
     created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (tree_size) DO NOTHING RETURNING tree_size";
const LATEST_CHECKPOINT: &str = "SELECT tree_size, root, note, created_at \
     FROM audit_checkpoints ORDER BY tree_size DESC LIMIT 1";
const CHECKPOINTS_BETWEEN: &str = "SELECT tree_size, root, note, created_at \
     FROM audit_checkpoints WHERE tree_size > $1 AND tree_size <= $2 ORDER BY tree_size";
/// The start of a query's filter on the events themselves; the conditions are appended.
const QUERY_EVENTS: &str = "SELECT e.seq, e.at_ms, e.action, e.subject, e.actor, e.operator, \
     e.purpose, e.outcome, e.body FROM audit_events e WHERE e.pruned_at IS NULL";
/// The same, through the keys of the events already indexed.
const QUERY_INDEXED_EVENTS: &str = "SELECT e.seq, e.at_ms, e.action, e.subject, e.actor, \
     e.operator, e.purpose, e.outcome, e.body FROM audit_event_keys k \
     JOIN audit_events e ON e.seq = k.seq WHERE e.pruned_at IS NULL";
/// The newest event whose keys are in `audit_event_keys` (0 when none is).
const INDEXED_UP_TO: &str = "SELECT COALESCE(MAX(seq), 0) FROM audit_event_keys";
/// Copies the keys of up to `$1` events not yet indexed. Events are appended one
/// transaction at a time (the appenders' turn), so every event below the newest indexed one
/// was committed before it and is indexed already.
const INDEX_EVENTS: &str = "INSERT INTO audit_event_keys (seq, action, subject, actor, \
     operator, purpose) SELECT seq, action, subject, actor, operator, purpose \
     FROM audit_events WHERE seq > (SELECT COALESCE(MAX(seq), 0) FROM audit_event_keys) \
     ORDER BY seq LIMIT $1";
/// The last event appended before `$1`.
const LAST_APPENDED_BEFORE: &str = "SELECT seq FROM audit_events WHERE appended_ms < $1 \
     ORDER BY appended_ms DESC LIMIT 1";
const LEAF_OF: &str = "SELECT l.leaf_index, l.hash, e.body, e.pruned_at FROM audit_leaves l \
     JOIN audit_events e ON e.seq = l.seq WHERE l.seq = $1";
const SCAN: &str = "SELECT l.leaf_index, l.hash, e.pruned_at, l.seq, e.at_ms, e.action, \
     e.subject, e.actor, e.operator, e.purpose, e.outcome, e.body \
     FROM audit_leaves l LEFT JOIN audit_events e ON e.seq = l.seq \
     WHERE l.leaf_index >= $1 ORDER BY l.leaf_index LIMIT $2";
const EVENTS_OUTSIDE_TREE: &str = "SELECT e.seq FROM audit_events e \
     LEFT JOIN audit_leaves l ON l.seq = e.seq \
     WHERE l.seq IS NULL AND e.seq <= $1 ORDER BY e.seq LIMIT $2";
const SEQ_BEFORE: &str = "SELECT COALESCE(\
       (SELECT seq - 1 FROM audit_events WHERE at_ms >= $1 ORDER BY at_ms LIMIT 1), \
       (SELECT MAX(seq) FROM audit_events))";
const TAIL: &str = "SELECT seq, at_ms, action, subject, actor, operator, purpose, outcome, \
     body FROM audit_events WHERE seq > $1 AND pruned_at IS NULL ORDER BY seq LIMIT $2";
/// Empties the text and the identifying columns of up to `$3` events older than `$2`; the
/// leaves stay, so the tree still verifies.
const PRUNE: &str = "UPDATE audit_events SET body = '', subject = NULL, actor = NULL, \
     operator = NULL, purpose = NULL, pruned_at = $1 \
     WHERE pruned_at IS NULL AND seq IN (SELECT seq FROM audit_events \
       WHERE at_ms < $2 AND pruned_at IS NULL ORDER BY at_ms LIMIT $3) RETURNING seq";
/// Empties the identifying keys of the events listed after it (closed by the caller).
const FORGET_KEYS: &str = "UPDATE audit_event_keys SET subject = NULL, actor = NULL, \
     operator = NULL, purpose = NULL WHERE seq IN (";
/// The turn of the indexer and of pruning: an event pruned while its keys are being copied
/// must not keep them.
const INDEX_TURN: &str = "baomi-audit-index";
const ADD_ALERT: &str = "INSERT INTO audit_alerts (rule, alert_key, trigger_seq, at_ms, \
     detail) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (rule, alert_key, trigger_seq) DO NOTHING RETURNING id";
const ALERTS_BEFORE: &str = "SELECT id, rule, alert_key, trigger_seq, at_ms, detail, \
     delivered_at FROM audit_alerts WHERE id < $1 ORDER BY id DESC LIMIT $2";
const UNDELIVERED_ALERTS: &str = "SELECT id, rule, alert_key, trigger_seq, at_ms, detail, \
     delivered_at FROM audit_alerts WHERE delivered_at IS NULL ORDER BY id LIMIT $1";
const MARK_DELIVERED: &str = "UPDATE audit_alerts SET delivered_at = $1 WHERE id = $2";
const ANY_QUEUED: &str = "SELECT id FROM audit_outbox LIMIT 1";
/// The outbox's oldest events: with a full batch of this call's, still under SQLite's
/// 32,766 bound values.
const QUEUED: &str = "SELECT id, body FROM audit_outbox ORDER BY id LIMIT 1000";
/// The key of the appenders' turn (an advisory lock on PostgreSQL; SQLite has one writer).
const APPEND_TURN: &str = "baomi-audit-append";

/// Converts a database failure into the trail's.
fn log_failure(e: sqlx::Error) -> AuditFailure {
    store_failure(StoreError::from(e))
}

/// Converts a store failure into the trail's.
fn store_failure(e: StoreError) -> AuditFailure {
    AuditFailure(e.to_string())
}

/// A count or position as stored.
fn stored(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// The tree size from the highest leaf index.
fn size_after(highest: Option<i64>) -> u64 {
    highest.and_then(|n| u64::try_from(n + 1).ok()).unwrap_or(0)
}

fn stored_events(rows: Vec<StoredRow>) -> Vec<StoredEvent> {
    rows.into_iter()
        .map(
            |(seq, at_ms, action, subject, actor, operator, purpose, outcome, body)| StoredEvent {
                seq,
                body,
                columns: EventColumns {
                    at_ms,
                    action,
                    subject,
                    actor,
                    operator,
                    purpose,
                    outcome,
                },
            },
        )
        .collect()
}

fn scanned(row: ScannedRow) -> Result<ScannedLeaf, AuditFailure> {
    let (index, hash, pruned, seq, at_ms, action, subject, actor, operator, purpose, outcome, body) =
        row;
    let columns = match (at_ms, action) {
        (Some(at_ms), Some(action)) => Some(EventColumns {
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
    Ok(ScannedLeaf {
        leaf: leaf(index, seq, hash)?,
        body: match (body, pruned) {
            (_, Some(_)) => StoredBody::Pruned,
            (Some(text), None) => StoredBody::Text(text),
            (None, None) => StoredBody::Missing,
        },
        columns,
    })
}

fn alert((id, rule, key, trigger_seq, at_ms, detail, delivered_at): AlertRow) -> Alert {
    Alert {
        id: Some(id),
        rule,
        key,
        trigger_seq,
        at_ms,
        detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
        delivered_at,
    }
}

fn hash(bytes: Vec<u8>, what: &str) -> Result<Hash, AuditFailure> {
    bytes
        .try_into()
        .map_err(|_| AuditFailure(format!("corrupt {what} hash")))
}

fn leaf(index: i64, seq: i64, bytes: Vec<u8>) -> Result<Leaf, AuditFailure> {
    Ok(Leaf {
        index: u64::try_from(index).unwrap_or(u64::MAX),
        seq,
        hash: hash(bytes, "leaf")?,
    })
}

fn checkpoint(
    (size, root, note, created_at): CheckpointRow,
) -> Result<StoredCheckpoint, AuditFailure> {
    Ok(StoredCheckpoint {
        tree_size: u64::try_from(size).unwrap_or(0),
        root: root
            .try_into()
            .map_err(|_| AuditFailure("corrupt root".into()))?,
        note,
        created_at,
    })
}

/// Levels of the tree whose subtree hashes `audit_nodes` keeps: every fourth (4, 8, 12, …).
/// A subtree in between is hashed from at most eight stored ones below it when a proof
/// needs it, and an append writes one node row for every sixteen leaves instead of one per
/// leaf. (Trails written when every level was kept still read the same: those rows are
/// simply not read.)
const STORED_LEVEL_STRIDE: u32 = 4;

/// Whether `audit_nodes` keeps the subtree hashes of `level` (level 0, the leaves, is in
/// `audit_leaves`).
fn is_stored_level(level: u32) -> bool {
    level > 0 && level.is_multiple_of(STORED_LEVEL_STRIDE)
}

/// The hashes of these complete subtrees, read on `conn`: stored ones as they are, the others
/// hashed from the stored level below them. A subtree that is not complete in the stored
/// tree is left out of the answer.
async fn fetch_nodes<DB>(
    conn: &mut DB::Connection,
    ids: &[NodeId],
) -> Result<HashMap<NodeId, Hash>, AuditFailure>
where
    DB: Database,
    <DB as Database>::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'r> (i64, Vec<u8>): FromRow<'r, DB::Row>,
    for<'r> (i64, i64, Vec<u8>): FromRow<'r, DB::Row>,
{
    // Each subtree as the run of stored subtrees under it: (its level, the run's level, the
    // run's first index, its length).
    let runs: Vec<(NodeId, u32, u64, u64)> = ids
        .iter()
        .map(|&(level, index)| {
            let below = level % STORED_LEVEL_STRIDE;
            ((level, index), level - below, index << below, 1u64 << below)
        })
        .collect();
    let mut wanted: Vec<NodeId> = runs
        .iter()
        .flat_map(|&(_, base, first, len)| (first..first + len).map(move |i| (base, i)))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    let stored = fetch_stored_nodes::<DB>(conn, &wanted).await?;
    let mut out = HashMap::with_capacity(ids.len());
    for (id, base, first, len) in runs {
        let run: Option<Vec<Hash>> = (first..first + len)
            .map(|i| stored.get(&(base, i)).copied())
            .collect();
        let Some(mut hashes) = run else { continue };
        while hashes.len() > 1 {
            hashes = hashes
                .chunks_exact(2)
                .map(|pair| baomi_audit::merkle::node_hash(&pair[0], &pair[1]))
                .collect();
        }
        out.insert(id, hashes[0]);
    }
    Ok(out)
}

/// The stored hashes of these complete subtrees (leaves from `audit_leaves`, the rest from
/// `audit_nodes`, which holds only the levels [`is_stored_level`] names), read on `conn`.
async fn fetch_stored_nodes<DB>(
    conn: &mut DB::Connection,
    ids: &[NodeId],
) -> Result<HashMap<NodeId, Hash>, AuditFailure>
where
    DB: Database,
    <DB as Database>::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'r> (i64, Vec<u8>): FromRow<'r, DB::Row>,
    for<'r> (i64, i64, Vec<u8>): FromRow<'r, DB::Row>,
{
    let mut out = HashMap::new();
    // Leaves (level 0) live in audit_leaves; audit_nodes holds levels 1 and up.
    let (leaves, inner): (Vec<_>, Vec<_>) = ids.iter().partition(|(l, _)| *l == 0);
    for chunk in leaves.chunks(200) {
        let mut q = sqlx::QueryBuilder::<DB>::new(
            "SELECT leaf_index, hash FROM audit_leaves WHERE leaf_index IN ",
        );
        q.push_tuples(chunk, |mut t, (_, index)| {
            t.push_bind(stored(*index));
        });
        let rows: Vec<(i64, Vec<u8>)> = q
            .build_query_as()
            .fetch_all(&mut *conn)
            .await
            .map_err(log_failure)?;
        for (index, bytes) in rows {
            out.insert(
                (0, u64::try_from(index).unwrap_or(u64::MAX)),
                hash(bytes, "leaf")?,
            );
        }
    }
    for chunk in inner.chunks(200) {
        let mut q = sqlx::QueryBuilder::<DB>::new(
            "SELECT level, node_index, hash FROM audit_nodes WHERE (level, node_index) IN ",
        );
        q.push_tuples(chunk, |mut t, (level, index)| {
            t.push_bind(i64::from(*level)).push_bind(stored(*index));
        });
        let rows: Vec<(i64, i64, Vec<u8>)> = q
            .build_query_as()
            .fetch_all(&mut *conn)
            .await
            .map_err(log_failure)?;
        for (level, index, bytes) in rows {
            out.insert(
                (
                    u32::try_from(level).unwrap_or(u32::MAX),
                    u64::try_from(index).unwrap_or(u64::MAX),
                ),
                hash(bytes, "node")?,
            );
        }
    }
    Ok(out)
}

/// The events one part of an officer query reads.
#[derive(Clone, Copy)]
enum Part {
    /// Those appended after the newest indexed event, read from `audit_events` itself.
    Recent,
    /// The indexed ones, found through `audit_event_keys` when the filter names a key.
    Indexed,
}

/// One part of a query for `filter`: newest first, at most `limit` events, above sequence
/// number `above` when given.
fn part_of_query<DB>(
    filter: &EventFilter,
    part: Part,
    indexed: i64,
    above: Option<i64>,
    limit: u32,
) -> sqlx::QueryBuilder<DB>
where
    DB: Database,
    <DB as Database>::Arguments: IntoArguments<DB> + Default,
    for<'b> i64: Encode<'b, DB> + Type<DB>,
    for<'b> &'b str: Encode<'b, DB> + Type<DB>,
{
    let keyed = [
        ("subject", &filter.subject),
        ("actor", &filter.actor),
        ("operator", &filter.operator),
        ("purpose", &filter.purpose),
        ("action", &filter.action),
    ];
    let through_keys =
        matches!(part, Part::Indexed) && keyed.iter().any(|(_, value)| value.is_some());
    // The table whose index a filter on a key (and the order) goes through.
    let (mut q, keys) = if through_keys {
        (sqlx::QueryBuilder::<DB>::new(QUERY_INDEXED_EVENTS), "k")
    } else {
        (sqlx::QueryBuilder::<DB>::new(QUERY_EVENTS), "e")
    };
    match part {
        Part::Recent => q.push(format!(" AND {keys}.seq > ")).push_bind(indexed),
        Part::Indexed => q.push(format!(" AND {keys}.seq <= ")).push_bind(indexed),
    };
    for (column, value) in keyed {
        if let Some(v) = value {
            q.push(format!(" AND {keys}.{column} = "))
                .push_bind(v.as_str());
        }
    }
    if let Some(outcome) = &filter.outcome {
        q.push(" AND e.outcome = ").push_bind(outcome.as_str());
    }
    if let Some(from) = filter.from_ms {
        q.push(" AND e.at_ms >= ").push_bind(from);
        if let Some(seq) = above {
            q.push(format!(" AND {keys}.seq > ")).push_bind(seq);
        }
    }
    if let Some(to) = filter.to_ms {
        q.push(" AND e.at_ms < ").push_bind(to);
    }
    if let Some(before) = filter.before {
        q.push(format!(" AND {keys}.seq < ")).push_bind(before);
    }
    q.push(format!(" ORDER BY {keys}.seq DESC LIMIT "))
        .push_bind(i64::from(limit));
    q
}

/// (sqlx states what a database can bind and decode as bounds per type, which cannot be
/// bundled into one trait: hence the list, here and on [`AuditSink`]'s implementation.)
#[async_trait]
impl<DB> LogStore for SqlStore<DB>
where
    DB: Database,
    SqlStore<DB>: Backend + Pooled<Db = DB>,
    <DB as Database>::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> &'a [u8]: Encode<'a, DB> + Type<DB>,
    for<'a> String: Encode<'a, DB> + Type<DB> + Decode<'a, DB>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
    for<'r> (Option<i64>,): FromRow<'r, DB::Row>,
    for<'r> (i64, Vec<u8>): FromRow<'r, DB::Row>,
    for<'r> (i64, i64, Vec<u8>): FromRow<'r, DB::Row>,
    for<'r> (i64, Vec<u8>, String, Option<i64>): FromRow<'r, DB::Row>,
    for<'r> CheckpointRow: FromRow<'r, DB::Row>,
    for<'r> StoredRow: FromRow<'r, DB::Row>,
    for<'r> ScannedRow: FromRow<'r, DB::Row>,
    for<'r> AlertRow: FromRow<'r, DB::Row>,
{
    async fn tree_size(&self) -> Result<u64, AuditFailure> {
        let (highest,): (Option<i64>,) = sqlx::query_as::<DB, _>(HIGHEST_LEAF)
            .fetch_one(self.pool())
            .await
            .map_err(log_failure)?;
        Ok(size_after(highest))
    }

    async fn nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, AuditFailure> {
        let mut conn = self.pool().acquire().await.map_err(log_failure)?;
        fetch_nodes::<DB>(&mut conn, ids).await
    }

    async fn add_checkpoint(&self, checkpoint: &StoredCheckpoint) -> Result<bool, AuditFailure> {
        let added: Option<(i64,)> = sqlx::query_as::<DB, _>(ADD_CHECKPOINT)
            .bind(stored(checkpoint.tree_size))
            .bind(checkpoint.root.as_slice())
            .bind(checkpoint.note.as_str())
            .bind(checkpoint.created_at)
            .fetch_optional(self.pool())
            .await
            .map_err(log_failure)?;
        Ok(added.is_some())
    }

    async fn latest_checkpoint(&self) -> Result<Option<StoredCheckpoint>, AuditFailure> {
        let row: Option<CheckpointRow> = sqlx::query_as::<DB, _>(LATEST_CHECKPOINT)
            .fetch_optional(self.pool())
            .await
            .map_err(log_failure)?;
        row.map(checkpoint).transpose()
    }

    async fn query(
        &self,
        filter: &EventFilter,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, AuditFailure> {
        let (indexed,): (i64,) = sqlx::query_as::<DB, _>(INDEXED_UP_TO)
            .fetch_one(self.pool())
            .await
            .map_err(log_failure)?;
        // The start of a time range also bounds the sequence numbers from below (found on
        // the append-time index): an event is appended after it happens, so every event at
        // or after `from` was appended after anything appended before `from` (less the
        // clock skew), and has a larger sequence number. A filter on another column then
        // scans only its own index's range. (No upper bound: an event may be appended long
        // after it happened.)
        let above = match filter.from_ms {
            Some(from) => sqlx::query_as::<DB, (i64,)>(LAST_APPENDED_BEFORE)
                .bind(from.saturating_sub(CLOCK_SKEW_MS))
                .fetch_optional(self.pool())
                .await
                .map_err(log_failure)?
                .map(|(seq,)| seq),
            None => None,
        };
        // Newest first: the events not indexed yet are all newer than the indexed ones.
        let mut found = Vec::new();
        if filter.before.is_none_or(|before| before > indexed + 1) {
            let rows: Vec<StoredRow> =
                part_of_query::<DB>(filter, Part::Recent, indexed, above, limit)
                    .build_query_as()
                    .fetch_all(self.pool())
                    .await
                    .map_err(log_failure)?;
            found = stored_events(rows);
        }
        let left = limit.saturating_sub(u32::try_from(found.len()).unwrap_or(u32::MAX));
        if left > 0 && indexed > 0 {
            let rows: Vec<StoredRow> =
                part_of_query::<DB>(filter, Part::Indexed, indexed, above, left)
                    .build_query_as()
                    .fetch_all(self.pool())
                    .await
                    .map_err(log_failure)?;
            found.extend(stored_events(rows));
        }
        Ok(found)
    }

    async fn leaf_of(&self, seq: i64) -> Result<Option<(Leaf, Option<String>)>, AuditFailure> {
        let row: Option<(i64, Vec<u8>, String, Option<i64>)> = sqlx::query_as::<DB, _>(LEAF_OF)
            .bind(seq)
            .fetch_optional(self.pool())
            .await
            .map_err(log_failure)?;
        row.map(|(index, hash, body, pruned)| {
            Ok((leaf(index, seq, hash)?, pruned.is_none().then_some(body)))
        })
        .transpose()
    }

    async fn scan(&self, from: u64, limit: u32) -> Result<Vec<ScannedLeaf>, AuditFailure> {
        let rows: Vec<ScannedRow> = sqlx::query_as::<DB, _>(SCAN)
            .bind(stored(from))
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .map_err(log_failure)?;
        rows.into_iter().map(scanned).collect()
    }

    async fn checkpoints(
        &self,
        after: u64,
        up_to: u64,
    ) -> Result<Vec<StoredCheckpoint>, AuditFailure> {
        let rows: Vec<CheckpointRow> = sqlx::query_as::<DB, _>(CHECKPOINTS_BETWEEN)
            .bind(stored(after))
            .bind(stored(up_to))
            .fetch_all(self.pool())
            .await
            .map_err(log_failure)?;
        rows.into_iter().map(checkpoint).collect()
    }

    async fn events_outside_tree(&self, up_to: i64, limit: u32) -> Result<Vec<i64>, AuditFailure> {
        let rows: Vec<(i64,)> = sqlx::query_as::<DB, _>(EVENTS_OUTSIDE_TREE)
            .bind(up_to)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .map_err(log_failure)?;
        Ok(rows.into_iter().map(|(s,)| s).collect())
    }

    async fn seq_before(&self, at_ms: i64) -> Result<i64, AuditFailure> {
        let (seq,): (Option<i64>,) = sqlx::query_as::<DB, _>(SEQ_BEFORE)
            .bind(at_ms)
            .fetch_one(self.pool())
            .await
            .map_err(log_failure)?;
        Ok(seq.unwrap_or(0))
    }

    async fn tail(&self, after: i64, limit: u32) -> Result<Vec<StoredEvent>, AuditFailure> {
        let rows: Vec<StoredRow> = sqlx::query_as::<DB, _>(TAIL)
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .map_err(log_failure)?;
        Ok(stored_events(rows))
    }

    async fn prune(&self, before_ms: i64, now_ms: i64, limit: u32) -> Result<u64, AuditFailure> {
        let mut tx = one_at_a_time(self, INDEX_TURN)
            .await
            .map_err(store_failure)?;
        let pruned: Vec<(i64,)> = sqlx::query_as::<DB, _>(PRUNE)
            .bind(now_ms)
            .bind(before_ms)
            .bind(i64::from(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err(log_failure)?;
        // Their keys go too: a pruned event is found by nothing that identifies anyone. The
        // rows stay, emptied like the events', so the newest indexed event is still known.
        for part in pruned.chunks(ROWS_PER_STATEMENT) {
            let mut q = sqlx::QueryBuilder::<DB>::new(FORGET_KEYS);
            let mut seqs = q.separated(", ");
            for (seq,) in part {
                seqs.push_bind(*seq);
            }
            q.push(")");
            q.build().execute(&mut *tx).await.map_err(log_failure)?;
        }
        tx.commit().await.map_err(log_failure)?;
        Ok(pruned.len() as u64)
    }

    async fn index_events(&self, limit: u32) -> Result<u64, AuditFailure> {
        let mut tx = one_at_a_time(self, INDEX_TURN)
            .await
            .map_err(store_failure)?;
        let done = sqlx::query::<DB>(INDEX_EVENTS)
            .bind(i64::from(limit))
            .execute(&mut *tx)
            .await
            .map_err(log_failure)?;
        tx.commit().await.map_err(log_failure)?;
        Ok(Self::rows_affected(&done))
    }

    async fn add_alert(&self, alert: &Alert) -> Result<bool, AuditFailure> {
        let added: Option<(i64,)> = sqlx::query_as::<DB, _>(ADD_ALERT)
            .bind(alert.rule.as_str())
            .bind(alert.key.as_str())
            .bind(alert.trigger_seq)
            .bind(alert.at_ms)
            .bind(alert.detail.to_string())
            .fetch_optional(self.pool())
            .await
            .map_err(log_failure)?;
        Ok(added.is_some())
    }

    async fn alerts(&self, before: Option<i64>, limit: u32) -> Result<Vec<Alert>, AuditFailure> {
        let rows: Vec<AlertRow> = sqlx::query_as::<DB, _>(ALERTS_BEFORE)
            .bind(before.unwrap_or(i64::MAX))
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .map_err(log_failure)?;
        Ok(rows.into_iter().map(alert).collect())
    }

    async fn undelivered_alerts(&self, limit: u32) -> Result<Vec<Alert>, AuditFailure> {
        let rows: Vec<AlertRow> = sqlx::query_as::<DB, _>(UNDELIVERED_ALERTS)
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .map_err(log_failure)?;
        Ok(rows.into_iter().map(alert).collect())
    }

    async fn mark_alert_delivered(&self, id: i64, now: i64) -> Result<(), AuditFailure> {
        sqlx::query::<DB>(MARK_DELIVERED)
            .bind(now)
            .bind(id)
            .execute(self.pool())
            .await
            .map_err(log_failure)?;
        Ok(())
    }
}

#[async_trait]
impl<DB> AuditSink for SqlStore<DB>
where
    DB: Database,
    SqlStore<DB>: Backend + Pooled<Db = DB>,
    <DB as Database>::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> Option<String>: Encode<'a, DB> + Type<DB>,
    for<'a> String: Encode<'a, DB> + Type<DB> + Decode<'a, DB>,
    for<'a> Vec<u8>: Encode<'a, DB> + Type<DB>,
    for<'r> (i64,): FromRow<'r, DB::Row>,
    for<'r> (Option<i64>,): FromRow<'r, DB::Row>,
    for<'r> (i64, String): FromRow<'r, DB::Row>,
    for<'r> (i64, Vec<u8>): FromRow<'r, DB::Row>,
    for<'r> (i64, i64, Vec<u8>): FromRow<'r, DB::Row>,
{
    /// Appends the events and makes them leaves of the Merkle tree in the same transaction:
    /// one commit (one fsync) for the events, their leaves and the subtrees they complete.
    /// Appenders on several nodes take turns (an advisory lock on PostgreSQL, SQLite's
    /// single writer), so leaf positions stay dense. With `drain_outbox`, the events state
    /// changes left in the outbox come first and leave the outbox in the same transaction.
    async fn append_with(
        &self,
        events: &[AccessEvent],
        drain_outbox: bool,
    ) -> Result<(), AuditFailure> {
        if drain_outbox && events.is_empty() {
            // Most of the time there is nothing to move: no write transaction then.
            let waiting: Option<(i64,)> = sqlx::query_as::<DB, _>(ANY_QUEUED)
                .fetch_optional(self.pool())
                .await
                .map_err(log_failure)?;
            if waiting.is_none() {
                return Ok(());
            }
        } else if events.is_empty() {
            return Ok(());
        }
        let mut tx = one_at_a_time(self, APPEND_TURN)
            .await
            .map_err(store_failure)?;
        let remembered = self
            .audit_border
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let (size, cached) = match remembered {
            Some((at, b)) if Self::SOLE_AUDIT_APPENDER => (at, Some(b)),
            other => {
                let (highest,): (Option<i64>,) = sqlx::query_as::<DB, _>(HIGHEST_LEAF)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(log_failure)?;
                let size = size_after(highest);
                (size, other.filter(|(at, _)| *at == size).map(|(_, b)| b))
            }
        };
        let border = match cached {
            Some(b) => b,
            None => {
                let ids = baomi_audit::merkle::border(size);
                let known = fetch_nodes::<DB>(&mut tx, &ids).await?;
                ids.into_iter()
                    .map(|id| {
                        known
                            .get(&id)
                            .map(|h| (id, *h))
                            .ok_or_else(|| AuditFailure("a subtree hash is missing".into()))
                    })
                    .collect::<Result<Vec<_>, _>>()?
            }
        };
        let outbox: Vec<(i64, String)> = if drain_outbox {
            sqlx::query_as::<DB, _>(QUEUED)
                .fetch_all(&mut *tx)
                .await
                .map_err(log_failure)?
        } else {
            Vec::new()
        };
        // The outbox's events first (their changes committed earlier), each with the text
        // it was written with; then this call's.
        let rows: Vec<EventRow> = outbox
            .iter()
            .map(|(_, body)| EventRow::from_text(body.clone()))
            .chain(events.iter().map(EventRow::from_event))
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let appended_ms = crate::service::now_ms();
        let mut seqs: Vec<(i64,)> = Vec::with_capacity(rows.len());
        for part in rows.chunks(ROWS_PER_STATEMENT) {
            let mut insert = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO audit_events (at_ms, action, subject, actor, operator, purpose, \
                 outcome, body, appended_ms) ",
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
        let hashes: Vec<Hash> = rows
            .iter()
            .map(|r| baomi_audit::merkle::leaf_hash(r.body.as_bytes()))
            .collect();
        // Exactly the rows moved: on PostgreSQL a change that took a lower id may commit
        // after the read above, and its row must stay for the next drain.
        if !outbox.is_empty() {
            let mut q = sqlx::QueryBuilder::<DB>::new("DELETE FROM audit_outbox WHERE id IN (");
            let mut ids = q.separated(", ");
            for (id, _) in &outbox {
                ids.push_bind(*id);
            }
            q.push(")");
            q.build().execute(&mut *tx).await.map_err(log_failure)?;
        }
        let (nodes, _root) = baomi_audit::merkle::append(size, &border, &hashes);
        let numbered: Vec<_> = seqs.iter().zip(&hashes).enumerate().collect();
        for part in numbered.chunks(ROWS_PER_STATEMENT) {
            let mut leaves =
                sqlx::QueryBuilder::<DB>::new("INSERT INTO audit_leaves (leaf_index, seq, hash) ");
            leaves.push_values(part, |mut row, (i, ((seq,), h))| {
                row.push_bind(stored(size + *i as u64))
                    .push_bind(*seq)
                    .push_bind(h.to_vec());
            });
            leaves
                .build()
                .execute(&mut *tx)
                .await
                .map_err(log_failure)?;
        }
        let inner: Vec<_> = nodes
            .iter()
            .filter(|((level, _), _)| is_stored_level(*level))
            .collect();
        for part in inner.chunks(ROWS_PER_STATEMENT) {
            let mut q =
                sqlx::QueryBuilder::<DB>::new("INSERT INTO audit_nodes (level, node_index, hash) ");
            q.push_values(part, |mut row, &&((level, index), hash)| {
                row.push_bind(i64::from(level))
                    .push_bind(stored(index))
                    .push_bind(hash.to_vec());
            });
            q.build().execute(&mut *tx).await.map_err(log_failure)?;
        }
        let appended = hashes.len() as u64;
        let after = next_border(size, appended, &border, &nodes);
        let committed = tx.commit().await.map_err(log_failure);
        let mut cache = self.audit_border.lock().unwrap_or_else(|p| p.into_inner());
        *cache = match (&committed, after) {
            (Ok(()), Some(b)) => Some((size + appended, b)),
            _ => None,
        };
        committed
    }
}
