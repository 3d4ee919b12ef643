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

/// Tuning of the vault's caches.
#[derive(Clone, Debug)]
pub struct VaultOptions {
    /// Most unwrapped subject data keys kept in memory.
    pub key_cache_capacity: usize,
    /// Longest an unwrapped data key stays in memory.
    pub key_cache_ttl: Duration,
    /// Longest a keyring's policy (latest and minimum version) is served from memory; a
    /// change made on another node is seen within this time.
    pub keyring_refresh: Duration,
}

impl Default for VaultOptions {
    fn default() -> Self {
        Self {
            key_cache_capacity: 100_000,
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
            data_keys: KeyCache::new(options.key_cache_capacity, options.key_cache_ttl),
            siv_keys: KeyCache::new(4096, options.key_cache_ttl),
            keyrings: Mutex::new(HashMap::new()),
            erased: Mutex::new(ErasedSet::default()),
            any_erased: std::sync::atomic::AtomicBool::new(false),
            options,
        })
    }
}
