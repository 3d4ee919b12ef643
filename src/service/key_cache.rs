//! A short-lived cache of API key records, so that authenticating a request does not cost a
//! database round trip. The secret is still checked against the stored hash on every
//! request; what is cached is the record (id, role, purposes, hash, revocation).
//!
//! Revoking a key on this node evicts it at once. On other nodes sharing the database a
//! revoked key keeps working for at most `ttl` (5 s by default) — the documented bound until
//! cross-node invalidation lands with the scale-out issue.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::{ApiKeyRecord, KeyStore, StoreError};

/// Entries kept at most; past that the cache starts afresh (keys are few in practice).
const MAX_ENTRIES: usize = 10_000;

/// Cached API key records.
pub struct KeyRecordCache {
    entries: Mutex<HashMap<String, (Option<ApiKeyRecord>, Instant)>>,
    ttl: Duration,
}

impl KeyRecordCache {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// The record of key `id` (or its absence), from the cache or the store.
    pub async fn get(
        &self,
        store: &dyn KeyStore,
        id: &str,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((record, at)) = entries.get(id)
                && at.elapsed() < self.ttl
            {
                return Ok(record.clone());
            }
        }
        let record = store.key(id).await?;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(id.to_owned(), (record.clone(), Instant::now()));
        Ok(record)
    }

    /// Forgets key `id` (after it was revoked here).
    pub fn evict(&self, id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(id);
    }
}
