//! The audit trail as a Merkle log: integrating appended events into the tree, signing
//! checkpoints, and serving inclusion and consistency proofs. Reads of the trail are
//! themselves audited.

use std::sync::Arc;
use std::time::Duration;

use baomi_audit::checkpoint::{Checkpoint, CheckpointSigner};
use baomi_audit::merkle::{self, Hash, Needed, Nodes};
use baomi_audit::{AuditFailure, Leaf, LogStore, StoredCheckpoint};
use baomi_vault::RootKey;

use crate::service::ServiceError;

/// Events integrated per transaction: small enough that the transaction holds SQLite's
/// write lock only briefly while requests keep appending.
const BATCH: u32 = 500;

/// The Merkle log over `audit_events`.
pub struct AuditLog {
    store: Arc<dyn LogStore>,
    signer: CheckpointSigner,
    origin: String,
}

fn failure(e: AuditFailure) -> ServiceError {
    ServiceError::Store(crate::store::StoreError::Unavailable(e.0))
}

impl AuditLog {
    /// The log of `store`, signing checkpoints named `origin` with an Ed25519 key derived
    /// from the root key (so every node on one database signs with the same key).
    pub fn new(
        store: Arc<dyn LogStore>,
        root: &RootKey,
        origin: &str,
    ) -> Result<Self, ServiceError> {
        let seed = root
            .derive("audit-checkpoint/v1")
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        let signer = seed
            .with_bytes(|bytes| CheckpointSigner::new(origin, bytes))
            .map_err(|e| ServiceError::Internal(e.to_string()))?;
        Ok(Self {
            store,
            signer,
            origin: origin.to_owned(),
        })
    }

    /// The key to verify checkpoints with (`<name>+<id>+<key>`).
    pub fn verifier_key(&self) -> String {
        self.signer.verifier_key()
    }

    /// Adds pending events to the tree and signs a checkpoint of the new size. Returns how
    /// many were added (0 when there was nothing to do or another node did it first).
    pub async fn integrate_once(&self, now: i64) -> Result<u64, ServiceError> {
        let size = self.store.tree_size().await.map_err(failure)?;
        let pending = self.store.pending(BATCH).await.map_err(failure)?;
        if pending.is_empty() {
            return Ok(0);
        }
        let border_ids = merkle::border(size);
        let stored = self.store.nodes(&border_ids).await.map_err(failure)?;
        let mut border = Vec::with_capacity(border_ids.len());
        for id in border_ids {
            let hash = stored
                .get(&id)
                .ok_or_else(|| ServiceError::Internal("a stored subtree hash is missing".into()))?;
            border.push((id, *hash));
        }
        let hashes: Vec<Hash> = pending
            .iter()
            .map(|e| merkle::leaf_hash(e.body.as_bytes()))
            .collect();
        let (nodes, root) = merkle::append(size, &border, &hashes);
        let leaves: Vec<Leaf> = pending
            .iter()
            .zip(&hashes)
            .enumerate()
            .map(|(i, (e, h))| Leaf {
                index: size + i as u64,
                seq: e.seq,
                hash: *h,
            })
            .collect();
        let new_size = size + leaves.len() as u64;
        let note = self.signer.sign(&Checkpoint {
            origin: self.origin.clone(),
            size: new_size,
            root,
        });
        let checkpoint = StoredCheckpoint {
            tree_size: new_size,
            root,
            note,
            created_at: now,
        };
        if self
            .store
            .integrate(&leaves, &nodes, &checkpoint)
            .await
            .map_err(failure)?
        {
            Ok(leaves.len() as u64)
        } else {
            Ok(0)
        }
    }

    /// The newest signed checkpoint.
    pub async fn checkpoint(&self) -> Result<Option<StoredCheckpoint>, ServiceError> {
        self.store.latest_checkpoint().await.map_err(failure)
    }

    async fn fetch(&self, needed: Needed) -> Result<Nodes, ServiceError> {
        let ids = needed.0.into_inner();
        Ok(Nodes(self.store.nodes(&ids).await.map_err(failure)?))
    }

    /// The inclusion proof of event `seq` in the tree of `size` events (the newest
    /// checkpoint's size if `None`), with the event's leaf and stored text.
    pub async fn inclusion(
        &self,
        seq: i64,
        size: Option<u64>,
    ) -> Result<(Leaf, String, u64, Vec<Hash>), ServiceError> {
        let (leaf, body) =
            self.store
                .leaf_of(seq)
                .await
                .map_err(failure)?
                .ok_or(ServiceError::NotFound {
                    code: "audit.not_in_tree",
                })?;
        let size = self.size_or_latest(size).await?;
        if leaf.index >= size {
            return Err(ServiceError::invalid(
                "size",
                "the event is not in a tree of that size",
            ));
        }
        let needed = Needed::default();
        let _ = merkle::inclusion_proof(&needed, leaf.index, size);
        let nodes = self.fetch(needed).await?;
        let proof = merkle::inclusion_proof(&nodes, leaf.index, size)
            .map_err(|e| ServiceError::invalid("size", e))?;
        Ok((leaf, body, size, proof))
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
        let needed = Needed::default();
        let _ = merkle::consistency_proof(&needed, from, to);
        let nodes = self.fetch(needed).await?;
        merkle::consistency_proof(&nodes, from, to).map_err(|e| ServiceError::invalid("from", e))
    }

    /// The root of the tree of `size` events.
    pub async fn root(&self, size: u64) -> Result<Hash, ServiceError> {
        let needed = Needed::default();
        let _ = merkle::root(&needed, size);
        let nodes = self.fetch(needed).await?;
        Ok(merkle::root(&nodes, size))
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

/// Integrates new events every `every` until `stop` fires (on every node: the tree's unique
/// leaf positions make a second integrator's attempt a no-op).
pub async fn run(
    log: Arc<AuditLog>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        loop {
            match log.integrate_once(crate::service::now()).await {
                Ok(n) if n == u64::from(BATCH) => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "audit integration failed; will retry");
                    break;
                }
            }
        }
    }
}
