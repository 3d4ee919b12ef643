//! Short-lived caches of records that are read on every request and change rarely: API key
//! records (authentication) and purpose definitions (the consent gate).
//!
//! An API key's secret is still checked against the stored hash on every request; what is
//! cached is the record. A change made on this node evicts the entry at once; on other
//! nodes sharing the database it shows within the TTL (5 s by default) — the documented
//! bound until cross-node invalidation lands with the scale-out issue. Consent itself (the
//! ledger) is never cached: a withdrawal counts from the very next read on every node.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; past that the cache starts afresh (keys and purposes are few).
const MAX_ENTRIES: usize = 10_000;

/// Records (or their absence) by id, each for at most `ttl`.
pub struct TtlCache<T> {
    entries: Mutex<HashMap<String, (Option<T>, Instant)>>,
    ttl: Duration,
}

impl<T: Clone> TtlCache<T> {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ttl,
        }
    }

    /// The record of `id` (or its absence), from the cache or from `load`.
    pub async fn get<E, F>(&self, id: &str, load: F) -> Result<Option<T>, E>
    where
        F: Future<Output = Result<Option<T>, E>>,
    {
        {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((record, at)) = entries.get(id)
                && at.elapsed() < self.ttl
            {
                return Ok(record.clone());
            }
        }
        let record = load.await?;
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(id.to_owned(), (record.clone(), Instant::now()));
        Ok(record)
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }

    /// Forgets `id` (after it changed here).
    pub fn evict(&self, id: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(id);
    }
}
