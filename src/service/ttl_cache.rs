//! Short-lived caches of records that are read on every request and change rarely: API key
//! records (authentication) and purpose definitions (the consent gate).
//!
//! An API key's secret is still checked against the stored hash on every request; what is
//! cached is the record. A change made on this node evicts the entry at once; other nodes
//! sharing a PostgreSQL database are told at once (`cluster_invalidations`), and see it
//! within the TTL (5 s by default) at the latest. Consent itself (the ledger) is never
//! cached: a withdrawal counts from the very next read on every node.
//!
//! Records and absences are kept apart: ids that exist are few, while anyone can present
//! ids that do not. A flood of unknown ids churns the absences only, and never pushes a
//! real key's record out.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Records kept at most; past that the expired ones go, then all (keys and purposes are
/// few, and only ids that exist get here).
const MAX_RECORDS: usize = 10_000;

/// Absences kept at most; past that they are all forgotten.
const MAX_ABSENCES: usize = 10_000;

/// Records (or their absence) by id, each for at most `ttl`.
pub struct TtlCache<T> {
    entries: Mutex<Entries<T>>,
    ttl: Duration,
}

struct Entries<T> {
    records: HashMap<String, (T, Instant)>,
    absences: HashMap<String, Instant>,
}

impl<T: Clone> TtlCache<T> {
    /// A cache whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: Mutex::new(Entries {
                records: HashMap::new(),
                absences: HashMap::new(),
            }),
            ttl,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries<T>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The record of `id` (or its absence), from the cache or from `load`.
    pub async fn get<E, F>(&self, id: &str, load: F) -> Result<Option<T>, E>
    where
        F: Future<Output = Result<Option<T>, E>>,
    {
        {
            let entries = self.lock();
            if let Some((record, at)) = entries.records.get(id)
                && at.elapsed() < self.ttl
            {
                return Ok(Some(record.clone()));
            }
            if let Some(at) = entries.absences.get(id)
                && at.elapsed() < self.ttl
            {
                return Ok(None);
            }
        }
        let record = load.await?;
        let mut entries = self.lock();
        let now = Instant::now();
        match &record {
            Some(found) => {
                if entries.records.len() >= MAX_RECORDS {
                    let ttl = self.ttl;
                    entries.records.retain(|_, (_, at)| at.elapsed() < ttl);
                    if entries.records.len() >= MAX_RECORDS {
                        entries.records.clear();
                    }
                }
                entries.absences.remove(id);
                entries.records.insert(id.to_owned(), (found.clone(), now));
            }
            None => {
                if entries.absences.len() >= MAX_ABSENCES {
                    entries.absences.clear();
                }
                entries.records.remove(id);
                entries.absences.insert(id.to_owned(), now);
            }
        }
        Ok(record)
    }

    /// Forgets everything.
    pub fn clear(&self) {
        let mut entries = self.lock();
        entries.records.clear();
        entries.absences.clear();
    }

    /// Forgets `id` (after it changed here).
    pub fn evict(&self, id: &str) {
        let mut entries = self.lock();
        entries.records.remove(id);
        entries.absences.remove(id);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    async fn get(cache: &TtlCache<u32>, id: &str, value: Option<u32>, loads: &AtomicUsize) {
        let got = cache
            .get(id, async {
                loads.fetch_add(1, Ordering::Relaxed);
                Ok::<_, ()>(value)
            })
            .await
            .unwrap();
        assert_eq!(got, value);
    }

    #[tokio::test]
    async fn a_flood_of_unknown_ids_does_not_push_a_real_record_out() {
        let cache = TtlCache::new(Duration::from_secs(60));
        let loads = AtomicUsize::new(0);
        get(&cache, "real", Some(7), &loads).await;
        for i in 0..3 * MAX_ABSENCES {
            get(&cache, &format!("unknown-{i}"), None, &loads).await;
        }
        let before = loads.load(Ordering::Relaxed);
        get(&cache, "real", Some(7), &loads).await;
        assert_eq!(
            loads.load(Ordering::Relaxed),
            before,
            "served from the cache"
        );
        // An absence is cached too, so that the flood does not reach the store twice.
        get(&cache, "unknown-29999", None, &loads).await;
        assert_eq!(loads.load(Ordering::Relaxed), before);
    }

    #[tokio::test]
    async fn entries_expire_and_evictions_take_effect() {
        let cache = TtlCache::new(Duration::from_millis(50));
        let loads = AtomicUsize::new(0);
        get(&cache, "a", Some(1), &loads).await;
        get(&cache, "a", Some(1), &loads).await;
        assert_eq!(loads.load(Ordering::Relaxed), 1);
        cache.evict("a");
        get(&cache, "a", None, &loads).await;
        assert_eq!(loads.load(Ordering::Relaxed), 2, "evicted: read again");
        tokio::time::sleep(Duration::from_millis(60)).await;
        get(&cache, "a", Some(2), &loads).await;
        assert_eq!(loads.load(Ordering::Relaxed), 3, "expired: read again");
    }
}
