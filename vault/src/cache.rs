//! A bounded cache of unwrapped keys: least recently used entries go first, and no entry
//! outlives its time to live. A hot subject costs no database read; a million subjects cost
//! at most the cache's budget of memory. Evicted keys are wiped as they drop.
//!
//! The budget is counted in whatever unit the cache's cost function gives: bytes for the
//! subjects' data keys (so an operator sizes the cache in memory, whatever a key weighs),
//! one per entry for the small caches of keyring keys.

use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;

/// What an entry of a cache costs against its budget.
pub type Cost<K, V> = fn(&K, &V) -> usize;

/// An LRU cache with a time to live and a budget.
pub struct KeyCache<K: Hash + Eq, V> {
    inner: Mutex<Entries<K, V>>,
    ttl: Duration,
    budget: usize,
    cost: Cost<K, V>,
}

/// The entries, each with when it came and what it costs, and their total cost.
struct Entries<K: Hash + Eq, V> {
    lru: LruCache<K, Entry<V>>,
    spent: usize,
}

struct Entry<V> {
    value: Arc<V>,
    at: Instant,
    cost: usize,
}

impl<K: Hash + Eq, V> Entries<K, V> {
    fn pop<Q>(&mut self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if let Some(gone) = self.lru.pop(key) {
            self.spent -= gone.cost;
        }
    }
}

impl<K: Hash + Eq, V> KeyCache<K, V> {
    /// A cache of at most `capacity` entries (at least one), each kept at most `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self::with_budget(capacity.max(1), ttl, |_, _| 1)
    }

    /// A cache whose entries cost at most `budget` together, each as `cost` says, each
    /// kept at most `ttl`. An entry costing more than the whole budget is not kept.
    pub fn with_budget(budget: usize, ttl: Duration, cost: Cost<K, V>) -> Self {
        Self {
            inner: Mutex::new(Entries {
                lru: LruCache::unbounded(),
                spent: 0,
            }),
            ttl,
            budget,
            cost,
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries<K, V>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The entry for `key`, if present and fresh.
    pub fn get<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut entries = self.entries();
        match entries.lru.get(key) {
            Some(entry) if entry.at.elapsed() < self.ttl => Some(Arc::clone(&entry.value)),
            Some(_) => {
                entries.pop(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value` for `key`, making room by dropping the least recently used entries.
    pub fn insert(&self, key: K, value: Arc<V>) {
        let cost = (self.cost)(&key, &value);
        let mut entries = self.entries();
        entries.pop(&key);
        if cost > self.budget {
            return;
        }
        while entries.spent + cost > self.budget {
            match entries.lru.pop_lru() {
                Some((_, gone)) => entries.spent -= gone.cost,
                None => break,
            }
        }
        entries.spent += cost;
        entries.lru.put(
            key,
            Entry {
                value,
                at: Instant::now(),
                cost,
            },
        );
    }

    /// Drops the entry for `key`, if any.
    pub fn remove<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries().pop(key);
    }

    /// Drops every entry whose key matches (O(entries); used on erasure, which is rare).
    pub fn remove_where(&self, matches: impl Fn(&K) -> bool) {
        let mut entries = self.entries();
        let mut kept = Vec::with_capacity(entries.lru.len());
        // Oldest first, so re-inserting in this order keeps the recency order.
        while let Some((k, entry)) = entries.lru.pop_lru() {
            if matches(&k) {
                entries.spent -= entry.cost;
            } else {
                kept.push((k, entry));
            }
        }
        for (k, entry) in kept {
            entries.lru.put(k, entry);
        }
    }

    /// Number of entries (fresh or not).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries().lru.len()
    }

    /// What the entries cost together.
    #[cfg(test)]
    pub fn spent(&self) -> usize {
        self.entries().spent
    }

    /// Whether the cache is empty.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_expiring_and_selectively_cleared() {
        let cache = KeyCache::new(2, Duration::from_secs(60));
        cache.insert(1, Arc::new("a"));
        cache.insert(2, Arc::new("b"));
        assert!(cache.get(&1).is_some());
        cache.insert(3, Arc::new("c"));
        assert!(cache.get(&2).is_none(), "least recently used goes first");
        assert_eq!(cache.len(), 2);
        cache.remove_where(|k| *k == 1);
        assert!(cache.get(&1).is_none());
        assert!(cache.get(&3).is_some());

        let short = KeyCache::new(4, Duration::from_millis(0));
        short.insert(1, Arc::new("a"));
        assert!(short.get(&1).is_none(), "expired entries are not served");
        assert!(short.is_empty());
    }

    #[test]
    fn a_budget_bounds_what_the_entries_cost_together() {
        let cache: KeyCache<u32, String> =
            KeyCache::with_budget(10, Duration::from_secs(60), |_, v| v.len());
        cache.insert(1, Arc::new("aaaa".to_owned()));
        cache.insert(2, Arc::new("bbbb".to_owned()));
        assert_eq!(cache.spent(), 8);
        assert!(cache.get(&1).is_some());
        // 8 + 5 > 10: the least recently used (2) makes room, and one is enough.
        cache.insert(3, Arc::new("ccccc".to_owned()));
        assert!(cache.get(&2).is_none());
        assert!(cache.get(&1).is_some());
        assert_eq!(cache.spent(), 9);
        // Replacing an entry counts its new cost only.
        cache.insert(1, Arc::new("a".to_owned()));
        assert_eq!((cache.len(), cache.spent()), (2, 6));
        // Larger than the whole budget: not kept, and nothing else dropped for it.
        cache.insert(4, Arc::new("x".repeat(11)));
        assert!(cache.get(&4).is_none());
        assert_eq!((cache.len(), cache.spent()), (2, 6));
        cache.remove(&3);
        cache.remove_where(|k| *k == 1);
        assert_eq!((cache.len(), cache.spent()), (0, 0));
        let expiring: KeyCache<u32, String> =
            KeyCache::with_budget(10, Duration::from_millis(0), |_, v| v.len());
        expiring.insert(1, Arc::new("aaaa".to_owned()));
        assert!(expiring.get(&1).is_none());
        assert_eq!(expiring.spent(), 0, "an expired entry gives its cost back");
    }
}
