//! Exporting the trail (JSON Lines, `baomi_audit::export`) and verifying the live store
//! the way `baomi audit verify` checks an export.

use std::sync::Arc;

use baomi_audit::export::{checkpoint_line, header_line, leaf_line, missing_leaf_line};
use baomi_audit::verify::{Finding, LeafData, Outside, Report, TrustedKey, Verifier};
use baomi_audit::{LogStore, StoredBody};

use crate::service::ServiceError;

/// Leaves read per query.
const PAGE: u32 = 5000;

/// Writes an export page by page: the header, then leaves with the checkpoints among them.
pub struct Exporter {
    store: Arc<dyn LogStore>,
    origin: String,
    size: u64,
    next: u64,
    header_sent: bool,
}

impl Exporter {
    /// An export of the tree of the newest signed checkpoint; `None` if there is none yet.
    pub async fn start(
        store: Arc<dyn LogStore>,
        origin: &str,
    ) -> Result<Option<Self>, ServiceError> {
        let Some(latest) = store.latest_checkpoint().await? else {
            return Ok(None);
        };
        Ok(Some(Self {
            store,
            origin: origin.to_owned(),
            size: latest.tree_size,
            next: 0,
            header_sent: false,
        }))
    }

    /// The number of events exported.
    pub fn tree_size(&self) -> u64 {
        self.size
    }

    /// The next lines (each ending in a newline), or `None` when the export is complete.
    pub async fn next_chunk(&mut self) -> Result<Option<String>, ServiceError> {
        let mut out = String::new();
        if !self.header_sent {
            self.header_sent = true;
            out.push_str(&header_line(&self.origin, self.size));
            out.push('\n');
        }
        if self.next >= self.size {
            return Ok((!out.is_empty()).then_some(out));
        }
        let mut leaves = self.store.scan(self.next, PAGE).await?;
        leaves.retain(|l| l.leaf.index < self.size);
        let Some(last) = leaves.last().map(|l| l.leaf.index) else {
            // Fewer leaves than the checkpoint says: end here; the verifier reports it.
            self.next = self.size;
            return Ok(Some(out));
        };
        let checkpoints = self.store.checkpoints(self.next, last + 1).await?;
        let mut checkpoints = checkpoints.iter().peekable();
        for scanned in &leaves {
            let leaf = &scanned.leaf;
            out.push_str(&match &scanned.body {
                StoredBody::Text(text) => leaf_line(leaf.index, leaf.seq, &leaf.hash, Some(text)),
                StoredBody::Pruned => leaf_line(leaf.index, leaf.seq, &leaf.hash, None),
                // Said as it is, so that the export does not verify where the store would not.
                StoredBody::Missing => missing_leaf_line(leaf.index, leaf.seq, &leaf.hash),
            });
            out.push('\n');
            while let Some(c) = checkpoints.next_if(|c| c.tree_size <= leaf.index + 1) {
                out.push_str(&checkpoint_line(&c.note));
                out.push('\n');
            }
        }
        self.next = last + 1;
        Ok(Some(out))
    }
}

/// Verifies the live store with `verifier_key`: every event's query columns derived again
/// from its text, every leaf hash recomputed from its event, the tree recomputed and checked
/// against every stored signed checkpoint, events outside the tree found. Safe while the
/// server appends (it checks the tree as it was at the start).
pub async fn verify_store(
    store: &dyn LogStore,
    verifier_key: &str,
) -> Result<Report, ServiceError> {
    verify_store_extending(
        store,
        &[TrustedKey::current(verifier_key)],
        &Outside {
            now_ms: Some(crate::service::now_ms()),
            ..Outside::default()
        },
    )
    .await
}

/// [`verify_store`] trusting any of `keys` within its bound (a log's key history), and
/// holding the trail to what `outside` brings: a signed checkpoint kept outside the
/// database (saved earlier, or a witness's), the one check that whoever holds the database
/// and the signing key cannot pass by cutting or rewriting the trail and signing it again;
/// and the time of the check, against which an event pruned younger than 180 days is a
/// finding (retention never prunes one).
pub async fn verify_store_extending(
    store: &dyn LogStore,
    keys: &[TrustedKey],
    outside: &Outside<'_>,
) -> Result<Report, ServiceError> {
    let mut verifier =
        Verifier::trusting(keys).map_err(|e| ServiceError::invalid("public_key", e))?;
    verifier.hold_to(outside);
    let size = store.tree_size().await?;
    let mut next = 0;
    while next < size {
        let mut leaves = store.scan(next, PAGE).await?;
        leaves.retain(|l| l.leaf.index < size);
        let Some(last) = leaves.last().map(|l| l.leaf.index) else {
            break;
        };
        for c in store.checkpoints(next, last + 1).await? {
            verifier.checkpoint(&c.note);
        }
        for scanned in &leaves {
            match (&scanned.body, &scanned.columns) {
                (StoredBody::Text(text), Some(columns)) => {
                    verifier.columns(scanned.leaf.seq, text, columns);
                }
                (StoredBody::Pruned, Some(columns)) => {
                    verifier.pruned(scanned.leaf.seq, columns.at_ms);
                }
                _ => {}
            }
            let data = match &scanned.body {
                StoredBody::Text(text) => LeafData::Event(text.as_bytes()),
                StoredBody::Pruned => LeafData::Pruned,
                StoredBody::Missing => LeafData::Missing,
            };
            verifier.leaf(
                scanned.leaf.index,
                scanned.leaf.seq,
                scanned.leaf.hash,
                data,
            );
        }
        next = last + 1;
    }
    // Checkpoints beyond the leaves found: leaves at the end were deleted (the tree as it is
    // now, so that events appended meanwhile are not mistaken for missing ones).
    let now = store.tree_size().await?;
    for c in store.checkpoints(now, u64::MAX >> 1).await? {
        verifier.find(Finding::Truncated {
            tree_size: c.tree_size,
            found: now,
        });
    }
    for seq in store.events_outside_tree(i64::MAX, 1000).await? {
        verifier.find(Finding::NotInTree { seq });
    }
    Ok(verifier.finish())
}
