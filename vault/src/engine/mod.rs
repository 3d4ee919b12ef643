//! [`Vault`]: the use of the key hierarchy — keyrings, subjects' data keys, sealing and
//! opening values, rotation and erasure — over a [`VaultStore`].
//!
//! One type, written along its seams: `keyrings` (their cache, policy and KEK versions),
//! `data_keys` (subjects' keys: cached, opened or made), `values` (sealing and opening),
//! `stored` (fields Baomi keeps, tokens, search), `erasure`, and `rotation` (new versions
//! and moving older ciphertexts and keys over). The races between them are tested over the
//! in-memory store in `vault/tests/engine.rs`.

mod data_keys;
mod erasure;
mod keyrings;
mod rotation;
mod stored;
mod values;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::aead::AeadKey;
use crate::cache::KeyCache;
use crate::field::FieldName;
use crate::keyring::{Family, Keyring, KeyringName};
use crate::seal::SivKey;
use crate::store::VaultStore;
use crate::token::TokenFormat;
use crate::wrap::{DerivedKekWrapper, KekWrapper};
use crate::{DerivedKey, Result, RootKey, SubjectId};

/// The data-key cache's default budget: 32 MiB, about 41,000 AES-256-GCM keys.
pub const DEFAULT_KEY_CACHE_BYTES: usize = 32 << 20;

/// What a cached data key costs besides its key schedule: its name, the cache's node and
/// hash slot for it, the shared pointer's counts, and the allocator's headers on each.
const CACHE_ENTRY_OVERHEAD: usize = 160;

/// A cached data key's cost against the cache's budget, in bytes.
fn data_key_cost(id: &String, key: &AeadKey) -> usize {
    id.capacity() + key.memory() + CACHE_ENTRY_OVERHEAD
}

/// Tuning of the vault's caches.
#[derive(Clone, Debug)]
pub struct VaultOptions {
    /// Memory, in bytes, the unwrapped subject data keys kept in memory may take together:
    /// each key's expanded schedule, its name and its place in the cache.
    pub key_cache_bytes: usize,
    /// Longest an unwrapped data key stays in memory.
    pub key_cache_ttl: Duration,
    /// Longest a keyring's policy (latest and minimum version) is served from memory; a
    /// change made on another node is seen within this time.
    pub keyring_refresh: Duration,
}

impl Default for VaultOptions {
    fn default() -> Self {
        Self {
            key_cache_bytes: DEFAULT_KEY_CACHE_BYTES,
            key_cache_ttl: Duration::from_secs(300),
            keyring_refresh: Duration::from_secs(5),
        }
    }
}

/// Subjects this node erased recently, pruned at most once a second.
#[derive(Default)]
struct ErasedSet {
    at: HashMap<SubjectId, Instant>,
    pruned: Option<Instant>,
}

impl ErasedSet {
    fn prune(&mut self, ttl: Duration) {
        if self
            .pruned
            .is_some_and(|p| p.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        self.at.retain(|_, at| at.elapsed() < ttl);
        self.pruned = Some(Instant::now());
    }
}

/// A field to store for a subject.
#[derive(Clone)]
pub struct FieldWrite {
    /// The field.
    pub field: FieldName,
    /// The value (PI).
    pub value: Zeroizing<String>,
    /// Whether to keep a blind index of it for search.
    pub searchable: bool,
    /// How its token is made.
    pub token_format: TokenFormat,
}

/// The fields to store for one subject of a batch.
pub struct SubjectWrite {
    /// The subject.
    pub subject: SubjectId,
    /// Its fields, each named once.
    pub fields: Vec<FieldWrite>,
}

/// A stored field read back.
pub struct ReadField {
    /// The field.
    pub field: FieldName,
    /// Its token.
    pub token: String,
    /// The value, or why it could not be read.
    pub value: Result<Zeroizing<String>>,
}

/// The vault.
pub struct Vault {
    store: Arc<dyn VaultStore>,
    /// Seals KEKs: keys derived from the root, or the HSM's key.
    kek_wrap: Arc<dyn KekWrapper>,
    index_master_nist: DerivedKey,
    index_master_sm: DerivedKey,
    keks: KeyCache<(KeyringName, u32), AeadKey>,
    data_keys: KeyCache<String, AeadKey>,
    siv_keys: KeyCache<String, SivKey>,
    keyrings: Mutex<HashMap<KeyringName, (Arc<Keyring>, Instant)>>,
    /// Subjects erased by this node within the last cache lifetime: their cached keys must
    /// not be served, nor cached again by an operation that read them just before.
    erased: Mutex<ErasedSet>,
    /// Whether `erased` may hold anything: the hot path skips its lock when not.
    any_erased: std::sync::atomic::AtomicBool,
    options: VaultOptions,
}

impl Vault {
    /// A vault whose KEKs are sealed under keys derived from `root`.
    pub fn new(root: &RootKey, store: Arc<dyn VaultStore>, options: VaultOptions) -> Result<Self> {
        let wrapper = Arc::new(DerivedKekWrapper::new(root)?);
        Self::with_kek_wrapper(root, wrapper, store, options)
    }

    /// A vault whose KEKs are sealed by `kek_wrap` (an HSM); its blind-index keys still
    /// derive from `root`.
    pub fn with_kek_wrapper(
        root: &RootKey,
        kek_wrap: Arc<dyn KekWrapper>,
        store: Arc<dyn VaultStore>,
        options: VaultOptions,
    ) -> Result<Self> {
        Ok(Self {
            store,
            kek_wrap,
            index_master_nist: root.derive("blind-index/v1")?,
            index_master_sm: root.derive_in(Family::ShangMi, "blind-index/v1")?,
            keks: KeyCache::new(1024, Duration::from_secs(3600)),
            data_keys: KeyCache::with_budget(
                options.key_cache_bytes,
                options.key_cache_ttl,
                data_key_cost,
            ),
            siv_keys: KeyCache::new(4096, options.key_cache_ttl),
            keyrings: Mutex::new(HashMap::new()),
            erased: Mutex::new(ErasedSet::default()),
            any_erased: std::sync::atomic::AtomicBool::new(false),
            options,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::Suite;
    use crate::memory::MemoryStore;

    #[test]
    fn a_cached_aes_key_costs_what_the_settings_say() {
        // The configuration documents about 800 bytes a key; this fails if that drifts.
        let key = AeadKey::from_bytes(&[7; 32]).unwrap();
        let cost = data_key_cost(&"default|u1|1".to_owned(), &key);
        assert!((700..=900).contains(&cost), "{cost} bytes");
    }

    #[tokio::test]
    async fn the_data_key_cache_holds_what_its_budget_pays_for() {
        let key = AeadKey::from_bytes(&[7; 32]).unwrap();
        let each = data_key_cost(&"cards|s0|1".to_owned(), &key);
        let root = RootKey::generate().unwrap();
        let options = VaultOptions {
            key_cache_bytes: 3 * each + each / 2,
            ..VaultOptions::default()
        };
        let vault = Vault::new(&root, Arc::new(MemoryStore::new()), options).unwrap();
        let ring = KeyringName::parse("cards").unwrap();
        vault
            .create_keyring(&ring, Suite::Aes256Gcm, None, 1_700_000_000, &[])
            .await
            .unwrap();
        let field = FieldName::parse("bank_card").unwrap();
        for i in 0..10 {
            let subject = SubjectId::parse(&format!("s{i}")).unwrap();
            vault
                .encrypt(&ring, &subject, &field, "6222021234567890", 1_700_000_000)
                .await
                .unwrap();
        }
        assert_eq!(vault.data_keys.len(), 3, "three keys' worth of budget");
        assert_eq!(vault.data_keys.spent(), 3 * each);
    }
}
