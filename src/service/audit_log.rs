//! The audit trail as a Merkle log: events become leaves as they are appended (the stores'
//! `AuditSink` does it in the append's own transaction); here, checkpoints are signed and
//! inclusion and consistency proofs served. Reads of the trail are themselves audited.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use baomi_audit::checkpoint::{Checkpoint, CheckpointError};
use baomi_audit::merkle::{self, Hash, Needed, Nodes};
use baomi_audit::verify::{self, Finding, TrustedKey};
use baomi_audit::{Leaf, LogStore, StoredCheckpoint};
use baomi_types::SignatureAlgorithm;
use baomi_vault::RootKey;

use crate::config::OperatorDisplay;
use crate::service::signing_keys::SigningKeys;
use crate::service::{ErrorCode, ServiceError};

/// A signing key that did not sign: one held in the HSM is unavailable (503, retry);
/// anything else is a bug.
fn signing_failed(e: CheckpointError) -> ServiceError {
    match e {
        CheckpointError::Signer(reason) => ServiceError::HsmUnavailable(reason),
        other => ServiceError::Internal(format!("audit signing: {other}")),
    }
}

/// The Merkle log over `audit_events`, and how its events are shown to subjects.
pub struct AuditLog {
    store: Arc<dyn LogStore>,
    keys: Arc<SigningKeys>,
    origin: String,
    /// Keys the stable pseudonyms of operators in subjects' views.
    pseudonyms: ring::hmac::Key,
    operator_display: OperatorDisplay,
    /// The last sequence number the alert rules evaluated.
    alerts_through: Arc<AtomicI64>,
}

impl AuditLog {
    /// The log of `store`, signing checkpoints named `origin` with `keys` (see
    /// [`SigningKeys`]); operators' pseudonyms in subjects' views are keyed from the root
    /// key.
    pub fn new(
        store: Arc<dyn LogStore>,
        keys: Arc<SigningKeys>,
        root: &RootKey,
        origin: &str,
        operator_display: OperatorDisplay,
    ) -> Result<Self, ServiceError> {
        let pseudonyms = root
            .derive("audit-operator-pseudonym/v1")
            .map_err(|e| ServiceError::Internal(e.to_string()))?
            .with_bytes(|bytes| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, bytes));
        Ok(Self {
            store,
            keys,
            origin: origin.to_owned(),
            pseudonyms,
            operator_display,
            alerts_through: Arc::new(AtomicI64::new(0)),
        })
    }

    /// How an operator id is shown to a subject, as configured: a stable keyed pseudonym
    /// (`op-` and 16 hex digits), the id itself, or nothing.
    pub fn operator_for_subject(&self, operator: &str) -> Option<String> {
        match self.operator_display {
            OperatorDisplay::Raw => Some(operator.to_owned()),
            OperatorDisplay::Hidden => None,
            OperatorDisplay::Pseudonymous => {
                let tag = ring::hmac::sign(&self.pseudonyms, operator.as_bytes());
                Some(format!(
                    "op-{}",
                    data_encoding::HEXLOWER.encode(&tag.as_ref()[..8])
                ))
            }
        }
    }

    /// Where the alert watch reports the last sequence number it evaluated.
    pub fn alerts_progress(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.alerts_through)
    }

    /// The last sequence number the alert rules evaluated on this node.
    pub fn alerts_evaluated_through(&self) -> i64 {
        self.alerts_through.load(Ordering::Acquire)
    }

    /// The log's name.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The store the log lives in.
    pub fn store(&self) -> &Arc<dyn LogStore> {
        &self.store
    }

    /// Retention: prunes the bodies of events older than `retention_days` before `now_ms`
    /// (in batches), keeping their leaves. Returns how many were pruned.
    pub async fn prune(&self, now_ms: i64, retention_days: u32) -> Result<u64, ServiceError> {
        const BATCH: u32 = 10_000;
        let before = now_ms - i64::from(retention_days) * 86_400_000;
        let mut total = 0;
        loop {
            let n = self.store.prune(before, now_ms, BATCH).await?;
            total += n;
            if n < u64::from(BATCH) {
                return Ok(total);
            }
        }
    }

    /// Signs a document of kind `context` with each of Baomi's signing keys (the
    /// checkpoints' keys; see `CheckpointSigner::sign_detached_all`): (algorithm, verifier
    /// key, signature), primary first.
    pub fn sign_detached(
        &self,
        context: &str,
        message: &[u8],
    ) -> Result<Vec<(SignatureAlgorithm, String, String)>, ServiceError> {
        self.keys
            .with_signer(|s| s.sign_detached_all(context, message))
            .map_err(signing_failed)
    }

    /// The primary key to verify checkpoints with (`<name>+<id>+<key>`).
    pub fn verifier_key(&self) -> String {
        self.keys.with_signer(|s| s.verifier_key())
    }

    /// Every key that signs checkpoints now, with its algorithm, primary first.
    pub fn verifier_keys(&self) -> Vec<(SignatureAlgorithm, String)> {
        self.keys.with_signer(|s| s.verifier_keys())
    }

    /// The signing keys, with their history.
    pub fn signing_keys(&self) -> &Arc<SigningKeys> {
        &self.keys
    }

    /// Signs a checkpoint of the tree as it stands, if it grew since the last one. Events
    /// become leaves as they are appended (in the same transaction); this only publishes
    /// the tree head. Returns the new checkpoint's size, or `None` if nothing changed.
    pub async fn checkpoint_now(&self, now: i64) -> Result<Option<u64>, ServiceError> {
        let size = self.store.tree_size().await?;
        let latest = self.checkpoint().await?.map(|c| c.tree_size);
        if size == 0 || latest == Some(size) {
            return Ok(None);
        }
        // After the size is read: a rotation another node made since took over at a size
        // no smaller, so whichever generation signs here may sign this size.
        self.keys.refresh().await?;
        let root = self.root(size).await?;
        let checkpoint = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
        };
        let note = self
            .keys
            .with_signer(|s| s.sign(&checkpoint))
            .map_err(signing_failed)?;
        let checkpoint = StoredCheckpoint {
            tree_size: size,
            root,
            note,
            created_at: now,
        };
        self.store.add_checkpoint(&checkpoint).await?;
        Ok(Some(size))
    }

    /// A page of events matching `filter`, newest first.
    pub async fn events(
        &self,
        filter: &baomi_audit::EventFilter,
        limit: u32,
    ) -> Result<Vec<baomi_audit::StoredEvent>, ServiceError> {
        Ok(self.store.query(filter, limit).await?)
    }

    /// The newest signed checkpoint.
    pub async fn checkpoint(&self) -> Result<Option<StoredCheckpoint>, ServiceError> {
        Ok(self.store.latest_checkpoint().await?)
    }

    /// The newest signed checkpoint, or `audit.no_checkpoint` when nothing is signed yet.
    pub async fn signed_checkpoint(&self) -> Result<StoredCheckpoint, ServiceError> {
        self.checkpoint().await?.ok_or(ServiceError::NotFound {
            code: ErrorCode::AuditNoCheckpoint,
        })
    }

    /// Runs a tree computation twice: first to learn which stored subtree hashes it reads,
    /// then on those hashes, fetched in one query (O(log n) of them).
    async fn on_stored_tree<T>(
        &self,
        compute: impl Fn(&dyn merkle::HashSource) -> T,
    ) -> Result<T, ServiceError> {
        let needed = Needed::default();
        let _ = compute(&needed);
        let ids = needed.0.into_inner();
        let nodes = Nodes(self.store.nodes(&ids).await?);
        Ok(compute(&nodes))
    }

    /// The inclusion proof of event `seq` in the tree of `size` events (the newest
    /// checkpoint's size if `None`), with the event's leaf and stored text (`None` once
    /// pruned).
    pub async fn inclusion(
        &self,
        seq: i64,
        size: Option<u64>,
    ) -> Result<(Leaf, Option<String>, u64, Vec<Hash>), ServiceError> {
        let (leaf, body) = self
            .store
            .leaf_of(seq)
            .await?
            .ok_or(ServiceError::NotFound {
                code: ErrorCode::AuditNotInTree,
            })?;
        let asked = size;
        let size = self.size_or_latest(size).await?;
        if leaf.index >= size {
            // Against the newest checkpoint, an event it does not cover yet is not in a
            // signed tree (the next checkpoint, within a second, takes it); against a size
            // the caller named, the size is wrong.
            return Err(match asked {
                None => ServiceError::NotFound {
                    code: ErrorCode::AuditNotInTree,
                },
                Some(_) => ServiceError::invalid("size", "the event is not in a tree of that size"),
            });
        }
        let proof = self.inclusion_at(leaf.index, size).await?;
        Ok((leaf, body, size, proof))
    }

    /// The inclusion proof of the leaf at `index` in the tree of `size` leaves.
    pub async fn inclusion_at(&self, index: u64, size: u64) -> Result<Vec<Hash>, ServiceError> {
        self.on_stored_tree(|tree| merkle::inclusion_proof(tree, index, size))
            .await?
            .map_err(|e| ServiceError::invalid("size", e))
    }

    /// The consistency proof between the trees of `from` and `to` events.
    pub async fn consistency(&self, from: u64, to: u64) -> Result<Vec<Hash>, ServiceError> {
        let latest = self.size_or_latest(None).await?;
        if from == 0 || from > to || to > latest {
            return Err(ServiceError::invalid(
                "from",
                "sizes must satisfy 1 <= from <= to <= the newest checkpoint's size",
            ));
        }
        self.on_stored_tree(|tree| merkle::consistency_proof(tree, from, to))
            .await?
            .map_err(|e| ServiceError::invalid("from", e))
    }

    /// Checks that the trail extends `note`, a signed checkpoint of this log kept outside
    /// it (saved earlier, or a witness's), and proves it: the consistency proof from the
    /// kept tree to the tree of `to` events (the newest checkpoint's if `None`). A note no
    /// key of the log's history signed within its bound is invalid; a genuine one that the
    /// trail no longer extends (events removed from the end, or history rewritten) is
    /// `audit.not_extended`, with the finding.
    pub async fn extending(
        &self,
        note: &str,
        to: Option<u64>,
    ) -> Result<(Checkpoint, u64, Vec<Hash>), ServiceError> {
        let keys: Vec<TrustedKey> = self
            .keys
            .history()
            .await?
            .into_iter()
            .map(|k| TrustedKey {
                verifier_key: k.verifier_key,
                until_size: k.until_size,
            })
            .collect();
        let kept = verify::trusted_checkpoint(note, &keys)
            .map_err(|finding| ServiceError::invalid("note", finding))?;
        let latest = self.size_or_latest(None).await?;
        let to = self.size_or_latest(to).await?;
        let not_extended = |finding: Finding| ServiceError::Conflict {
            code: ErrorCode::AuditNotExtended,
            detail: finding.to_string(),
        };
        if kept.size == 0 {
            return Err(ServiceError::invalid(
                "note",
                "a checkpoint of an empty tree",
            ));
        }
        if kept.size > latest {
            let found = self.store.tree_size().await?;
            return Err(if kept.size > found {
                not_extended(Finding::KeptCut {
                    tree_size: kept.size,
                    found,
                })
            } else {
                ServiceError::Conflict {
                    code: ErrorCode::AuditNotExtended,
                    detail: format!(
                        "the kept checkpoint of size {} is newer than every signed checkpoint \
                         the log holds (the newest is of size {latest}): checkpoints were removed",
                        kept.size
                    ),
                }
            });
        }
        if kept.size > to {
            return Err(ServiceError::invalid(
                "to",
                "smaller than the kept checkpoint's tree",
            ));
        }
        if self.root(kept.size).await? != kept.root {
            let through_seq = self
                .store
                .scan(kept.size - 1, 1)
                .await?
                .first()
                .map(|l| l.leaf.seq);
            return Err(not_extended(Finding::KeptNotExtended {
                tree_size: kept.size,
                through_seq,
            }));
        }
        let proof = self.consistency(kept.size, to).await?;
        Ok((kept, to, proof))
    }

    /// The root of the tree of `size` events.
    pub async fn root(&self, size: u64) -> Result<Hash, ServiceError> {
        self.on_stored_tree(|tree| merkle::root(tree, size)).await
    }

    async fn size_or_latest(&self, size: Option<u64>) -> Result<u64, ServiceError> {
        let latest = self.checkpoint().await?.map(|c| c.tree_size).unwrap_or(0);
        match size {
            None => Ok(latest),
            Some(s) if s <= latest => Ok(s),
            Some(_) => Err(ServiceError::invalid(
                "size",
                "larger than the newest checkpoint's tree",
            )),
        }
    }
}

/// Every `every`, until `stop` fires, on the node that holds the fleet's duty: moves
/// state-change events left in the outbox into the trail (those of a node that stopped
/// between its change and that move, or of the command line), and signs a checkpoint if
/// the tree grew.
pub async fn run(
    log: Arc<AuditLog>,
    sink: Arc<dyn baomi_audit::AuditSink>,
    every: Duration,
    duty: Arc<crate::service::cluster::Duty>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    while crate::service::wait_or_stop(every, &mut stop).await {
        if !duty.leads() {
            // Every node takes up a rotation within a second: consent receipts are signed
            // on every node. The leader does so before each checkpoint, and a rotation's
            // own event grows the tree.
            if let Err(e) = log.signing_keys().refresh().await {
                tracing::warn!(error = %e, "reading the audit signing keys failed; will retry");
            }
            continue;
        }
        if let Err(e) = sink.integrate_outbox().await {
            tracing::warn!(error = %e, "moving state-change events into the trail failed; will retry");
        }
        if let Err(e) = log.checkpoint_now(crate::service::now()).await {
            tracing::warn!(error = %e, "signing an audit checkpoint failed; will retry");
        }
    }
}

/// Events whose officer-query keys one transaction copies. A few thousand keep each pass
/// to a few milliseconds of the write lock (SQLite has one writer) while sharing index pages
/// among many events.
const INDEX_BATCH: u32 = 4000;

/// How long the indexer rests once it has caught up.
const INDEX_REST: Duration = Duration::from_millis(250);

/// Copies the officer-query keys of appended events behind the append, on the node that
/// holds the fleet's duty, until `stop` fires: batches back to back while it is behind,
/// then a rest. (Queries never depend on it: they read unindexed events directly.)
pub async fn keep_indexing(
    log: Arc<AuditLog>,
    duty: Arc<crate::service::cluster::Duty>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    while crate::service::wait_or_stop(INDEX_REST, &mut stop).await {
        if !duty.leads() {
            continue;
        }
        loop {
            match log.store.index_events(INDEX_BATCH).await {
                Ok(n) => {
                    metrics::counter!("baomi_audit_indexed_events_total").increment(n);
                    if n < u64::from(INDEX_BATCH) || *stop.borrow() {
                        break;
                    }
                    // Let the appender's next batch in between two of ours.
                    tokio::task::yield_now().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "indexing audit events failed; will retry");
                    break;
                }
            }
        }
    }
}

/// The newest signed checkpoint as an officer or admin reads it
/// (`GET /v1/audit/checkpoint`).
pub struct CheckpointStatus {
    /// The checkpoint.
    pub checkpoint: StoredCheckpoint,
    /// The key that verifies it (the primary one).
    pub verifier_key: String,
    /// Every key that signs checkpoints now, with its algorithm, primary first.
    pub verifier_keys: Vec<(SignatureAlgorithm, String)>,
    /// Each configured witness's newest cosignature, for those that cosigned one.
    pub witnessed: Vec<Witnessed>,
}

/// A witness's newest cosignature.
pub struct Witnessed {
    /// The witness's name.
    pub witness: String,
    /// The tree size it cosigned.
    pub tree_size: i64,
    /// When it cosigned, by its clock (Unix seconds).
    pub cosigned_at: i64,
    /// The checkpoint's note with the witness's cosignature line.
    pub note: String,
}

/// Reads the newest signed checkpoint, its keys and its witnesses' cosignatures; the read
/// is audited first (and refused for any role but officer and admin).
pub async fn checkpoint_status(
    services: &crate::service::Services,
    caller: &crate::auth::Caller,
    ctx: &crate::service::RequestContext,
) -> Result<CheckpointStatus, ServiceError> {
    crate::service::audit::audited_read(services, caller, ctx, "checkpoint").await?;
    let checkpoint = services.audit_reads.signed_checkpoint().await?;
    let witnessed = services
        .store
        .newest_cosignatures(&services.limits.witnesses)
        .await?
        .into_iter()
        .map(|c| Witnessed {
            witness: c.witness,
            tree_size: c.tree_size,
            cosigned_at: c.cosigned_at,
            note: c.note,
        })
        .collect();
    Ok(CheckpointStatus {
        checkpoint,
        verifier_key: services.audit_reads.verifier_key(),
        verifier_keys: services.audit_reads.verifier_keys(),
        witnessed,
    })
}
