//! A bounded cache of unwrapped keys: least recently used entries go first, and no entry
//! outlives its time to live. A hot subject costs no database read; a million subjects cost
//! at most `capacity` keys of memory. Evicted keys are wiped as they drop.

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;

/// An LRU cache with a time to live.
pub struct KeyCache<K: Hash + Eq, V> {
    inner: Mutex<LruCache<K, (Arc<V>, Instant)>>,
    ttl: Duration,
}

impl<K: Hash + Eq, V> KeyCache<K, V> {
    /// A cache of at most `capacity` entries (at least one), each kept at most `ttl`.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self {
            inner: Mutex::new(LruCache::new(capacity)),
            ttl,
        }
    }

    /// The entry for `key`, if present and fresh.
    pub fn get<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        match inner.get(key) {
            Some((value, at)) if at.elapsed() < self.ttl => Some(Arc::clone(value)),
            Some(_) => {
                inner.pop(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value` for `key`.
    pub fn insert(&self, key: K, value: Arc<V>) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.put(key, (value, Instant::now()));
    }

    /// Drops the entry for `key`, if any.
    pub fn remove<Q>(&self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.pop(key);
    }

    /// Drops every entry whose key matches (O(entries); used on erasure, which is rare).
    pub fn remove_where(&self, matches: impl Fn(&K) -> bool) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let mut kept = Vec::with_capacity(inner.len());
        // Oldest first, so re-inserting in this order keeps the recency order.
        while let Some((k, v)) = inner.pop_lru() {
            if !matches(&k) {
                kept.push((k, v));
            }
        }
        for (k, v) in kept {
            inner.put(k, v);
        }
    }

    /// Number of entries (fresh or not).
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).len()
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
}
