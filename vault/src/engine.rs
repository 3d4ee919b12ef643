//! [`Vault`]: the use of the key hierarchy — keyrings, subjects' data keys, sealing and
//! opening values, rotation and erasure — over a [`VaultStore`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use baomi_types::AccessEvent;
use zeroize::Zeroizing;

use crate::aead::{AeadKey, Algorithm, open_key};
use crate::cache::KeyCache;
use crate::field::FieldName;
use crate::index::{key_label, normalize};
use crate::keyring::{Family, Keyring, KeyringName, SealedKek, Suite, kek_aad, legacy_kek_aad};
use crate::seal::{
    Ciphertext, SivKey, open_deterministic, open_parsed, open_value, seal_deterministic, seal_value,
};
use crate::store::{Erasure, ErasureCounts, SealedDataKey, VaultStore};
use crate::store::{IndexEntry, PolicyOutcome, PutOutcome, StoredField};
use crate::token::{TokenFormat, new_token};
use crate::wrap::{DerivedKekWrapper, KekWrapper};
use crate::{DerivedKey, Error, Result, RootKey, SubjectId};

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

/// The cache key of a subject's data key, `keyring|subject|version` (neither name can hold
/// a `|`), built on the stack so that a cache hit allocates nothing.
struct DataKeyId {
    buf: [u8; 256],
    len: usize,
}

impl DataKeyId {
    fn new(keyring: &KeyringName, subject: &SubjectId, version: u32) -> Self {
        use std::io::Write;
        let mut buf = [0u8; 256];
        let mut cursor = &mut buf[..];
        // Names are at most 64 and 128 bytes: this always fits.
        let _ = write!(
            cursor,
            "{}|{}|{version}",
            keyring.as_str(),
            subject.as_str()
        );
        let len = 256 - cursor.len();
        Self { buf, len }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    /// Splits a cache key back into keyring, subject and version.
    fn parts(key: &str) -> Option<(&str, &str, u32)> {
        let mut it = key.split('|');
        let (keyring, subject, version) = (it.next()?, it.next()?, it.next()?);
        Some((keyring, subject, version.parse().ok()?))
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

/// Attempts at storing fields when freshly drawn tokens clash with existing ones.
const TOKEN_ATTEMPTS: usize = 4;

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

fn data_key_aad(keyring: &KeyringName, subject: &SubjectId, version: u32, kek: u32) -> Vec<u8> {
    format!(
        "bm:dek:v1|{}|{}|{version}|{kek}",
        keyring.as_str(),
        subject.as_str()
    )
    .into_bytes()
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

    /// Creates a keyring with its first KEK version (recorded by `audit`).
    pub async fn create_keyring(
        &self,
        name: &KeyringName,
        suite: Suite,
        rotation_period_secs: Option<u64>,
        now: i64,
        audit: &[AccessEvent],
    ) -> Result<Keyring> {
        let keyring = Keyring {
            name: name.clone(),
            suite,
            suites_used: vec![suite],
            latest_version: 1,
            min_decryption_version: 1,
            rotation_period_secs,
            created_at: now,
            rotated_at: now,
        };
        let first = self.new_kek(name, 1, suite, now).await?;
        if !self.store.create_keyring(&keyring, &first, audit).await? {
            return Err(Error::KeyringExists);
        }
        self.remember(keyring.clone());
        Ok(keyring)
    }

    /// Creates the keyring if it does not exist yet (recorded by `audit`); either way
    /// returns it.
    pub async fn ensure_keyring(
        &self,
        name: &KeyringName,
        now: i64,
        audit: &[AccessEvent],
    ) -> Result<Keyring> {
        match self
            .create_keyring(name, Suite::Aes256Gcm, None, now, audit)
            .await
        {
            Err(Error::KeyringExists) => self.keyring(name).await,
            other => other,
        }
    }

    /// A keyring, read from the store.
    pub async fn keyring(&self, name: &KeyringName) -> Result<Keyring> {
        let keyring = self
            .store
            .keyring(name)
            .await?
            .ok_or(Error::UnknownKeyring)?;
        self.remember(keyring.clone());
        Ok(keyring)
    }

    /// Every keyring.
    pub async fn keyrings(&self) -> Result<Vec<Keyring>> {
        Ok(self.store.keyrings().await?)
    }

    /// Adds a new KEK version (recorded by the events `audit` makes for the new version
    /// number); new ciphertexts use it from now on. With `suite`, the new version uses that
    /// suite: the keyring moves to it, its older versions keep decrypting in theirs, and
    /// [`Vault::reencrypt_stored_fields`] and [`Vault::rewrap`] move ciphertexts over. A
    /// keyring cannot move to or from the deterministic suite, whose keys belong to fields
    /// rather than subjects.
    pub async fn rotate(
        &self,
        name: &KeyringName,
        suite: Option<Suite>,
        now: i64,
        audit: &(dyn Fn(u32) -> Vec<AccessEvent> + Send + Sync),
    ) -> Result<Keyring> {
        let current = self.keyring(name).await?;
        let suite = suite.unwrap_or(current.suite);
        if suite.is_deterministic() != current.suite.is_deterministic() {
            return Err(Error::InvalidPolicy(
                "a keyring cannot move to or from the deterministic suite aes256siv",
            ));
        }
        if !self.add_version(&current, suite, now, audit).await? {
            return Err(Error::RotationConflict);
        }
        self.keyring(name).await
    }

    /// Adds the KEK version after `current`'s latest; `false` if another rotation won.
    async fn add_version(
        &self,
        current: &Keyring,
        suite: Suite,
        now: i64,
        audit: &(dyn Fn(u32) -> Vec<AccessEvent> + Send + Sync),
    ) -> Result<bool> {
        let next = current
            .latest_version
            .checked_add(1)
            .ok_or(Error::InvalidPolicy("version limit reached"))?;
        let kek = self.new_kek(&current.name, next, suite, now).await?;
        Ok(self.store.add_kek(&kek, &audit(next)).await?)
    }

    /// Changes the minimum decryption version and the automatic rotation period. Raising
    /// the minimum destroys the subjects' data keys of the versions below it: their
    /// ciphertexts can never be decrypted again.
    pub async fn set_policy(
        &self,
        name: &KeyringName,
        min_decryption_version: Option<u32>,
        rotation_period_secs: Option<Option<u64>>,
        audit: &[AccessEvent],
    ) -> Result<Keyring> {
        let current = self.keyring(name).await?;
        let min = min_decryption_version.unwrap_or(current.min_decryption_version);
        if min == 0 || min > current.latest_version {
            return Err(Error::InvalidPolicy(
                "min_decryption_version must be between 1 and the latest version",
            ));
        }
        if min < current.min_decryption_version {
            return Err(Error::InvalidPolicy(
                "min_decryption_version cannot be lowered: the older data keys are destroyed",
            ));
        }
        let period = rotation_period_secs.unwrap_or(current.rotation_period_secs);
        if period.is_some_and(|p| p < 3600) {
            return Err(Error::InvalidPolicy(
                "the rotation period must be at least one hour",
            ));
        }
        match self.store.set_policy(name, min, period, audit).await? {
            PolicyOutcome::Set => {}
            PolicyOutcome::StoredFieldsBelow => return Err(Error::StoredFieldsBelow),
            PolicyOutcome::WouldLower => {
                return Err(Error::InvalidPolicy(
                    "min_decryption_version cannot be lowered: the older data keys are destroyed",
                ));
            }
        }
        if min > current.min_decryption_version {
            self.store.delete_subject_keys_below(name, min).await?;
            self.data_keys.remove_where(|id| {
                DataKeyId::parts(id).is_some_and(|(k, _, v)| k == name.as_str() && v < min)
            });
        }
        self.keyring(name).await
    }

    /// Seals `value` as `field` of `subject` under the keyring's latest version, creating the
    /// subject's data key on first use.
    pub async fn encrypt(
        &self,
        keyring: &KeyringName,
        subject: &SubjectId,
        field: &FieldName,
        value: &str,
        now: i64,
    ) -> Result<String> {
        let (ciphertext, _) = self
            .encrypt_versioned(keyring, subject, field, value, now)
            .await?;
        Ok(ciphertext)
    }

    /// [`Vault::encrypt`], also telling the keyring version it sealed under.
    async fn encrypt_versioned(
        &self,
        keyring: &KeyringName,
        subject: &SubjectId,
        field: &FieldName,
        value: &str,
        now: i64,
    ) -> Result<(String, u32)> {
        let max = field.kind().max_len();
        if value.len() > max {
            return Err(Error::ValueTooLong { max });
        }
        let ring = self.cached_keyring(keyring).await?;
        let version = ring.latest_version;
        let ciphertext = if ring.suite.is_deterministic() {
            // Boxed: the rare branch should not grow every encrypt's future.
            Box::pin(self.seal_deterministic_for(&ring, subject, field, value)).await?
        } else {
            let key = self
                .data_key_for_writing(&ring, subject, version, now)
                .await?;
            seal_value(&key, ring.suite, keyring, version, subject, field, value)?
        };
        Ok((ciphertext, version))
    }

    /// Opens a ciphertext of `field` of `subject`.
    pub async fn decrypt(
        &self,
        subject: &SubjectId,
        field: &FieldName,
        ciphertext: &str,
    ) -> Result<Zeroizing<String>> {
        let parsed = Ciphertext::parse(ciphertext)?;
        if parsed.suite.is_deterministic() {
            // Boxed: the rare branch should not grow every decrypt's future.
            return Box::pin(self.open_deterministic_for(&parsed, subject, field)).await;
        }
        let key = self.data_key_for_reading(&parsed, subject).await?;
        open_parsed(&key, parsed, subject, field)
    }

    /// Seals deterministically, refusing an erased subject.
    async fn seal_deterministic_for(
        &self,
        ring: &Keyring,
        subject: &SubjectId,
        field: &FieldName,
        value: &str,
    ) -> Result<String> {
        if self.store.erasure(subject).await?.is_some() {
            return Err(Error::SubjectErased);
        }
        let key = self.siv_key(&ring.name, ring.latest_version, field).await?;
        seal_deterministic(&key, &ring.name, ring.latest_version, field, value)
    }

    /// Opens a deterministic ciphertext, refusing it for an erased subject.
    async fn open_deterministic_for(
        &self,
        parsed: &Ciphertext,
        subject: &SubjectId,
        field: &FieldName,
    ) -> Result<Zeroizing<String>> {
        self.usable_version(parsed).await?;
        if self.store.erasure(subject).await?.is_some() {
            return Err(Error::SubjectErased);
        }
        let key = self.siv_key(&parsed.keyring, parsed.version, field).await?;
        open_deterministic(&key, parsed, field)
    }

    /// The AES-256-SIV key of one keyring version and field: HKDF-SHA256 of the version's
    /// KEK, labelled `siv/v1|<field>|1` and `…|2` for the two halves.
    async fn siv_key(
        &self,
        keyring: &KeyringName,
        version: u32,
        field: &FieldName,
    ) -> Result<Arc<SivKey>> {
        let id = format!("{}|{version}|{}", keyring.as_str(), field.as_str());
        if let Some(k) = self.siv_keys.get(id.as_str()) {
            return Ok(k);
        }
        let (material, _) = self.kek_material(keyring, version).await?;
        let mut bytes = Zeroizing::new([0u8; 64]);
        for (half, out) in bytes.chunks_mut(32).enumerate() {
            let label = format!("siv/v1|{}|{}", field.as_str(), half + 1);
            let derived = Zeroizing::new(crate::root::hkdf32(Family::Nist, &material, &label)?);
            out.copy_from_slice(derived.as_slice());
        }
        let key = Arc::new(SivKey::from_bytes(bytes));
        self.siv_keys.insert(id, Arc::clone(&key));
        Ok(key)
    }

    /// Re-seals a ciphertext under the keyring's latest version without returning the
    /// plaintext; a ciphertext already at the latest version is returned as it is.
    pub async fn rewrap(
        &self,
        subject: &SubjectId,
        field: &FieldName,
        ciphertext: &str,
        now: i64,
    ) -> Result<String> {
        let (rewrapped, _) = self
            .rewrap_versioned(subject, field, ciphertext, now)
            .await?;
        Ok(rewrapped)
    }

    /// [`Vault::rewrap`], also telling the keyring version of the result.
    async fn rewrap_versioned(
        &self,
        subject: &SubjectId,
        field: &FieldName,
        ciphertext: &str,
        now: i64,
    ) -> Result<(String, u32)> {
        let parsed = Ciphertext::parse(ciphertext)?;
        let plain = if parsed.suite.is_deterministic() {
            self.open_deterministic_for(&parsed, subject, field).await?
        } else {
            let key = self.data_key_for_reading(&parsed, subject).await?;
            open_value(&key, &parsed, subject, field)?
        };
        let ring = self.cached_keyring(&parsed.keyring).await?;
        if parsed.version == ring.latest_version {
            return Ok((ciphertext.to_owned(), parsed.version));
        }
        self.encrypt_versioned(&parsed.keyring, subject, field, &plain, now)
            .await
    }

    /// Erases a subject by destroying every data key it has (crypto-shredding): every copy
    /// of its ciphertexts, wherever kept, stops decrypting. Returns the erasure record (the
    /// first one, if the subject was erased before) and what was destroyed now.
    pub async fn erase(
        &self,
        subject: &SubjectId,
        receipt_id: &str,
        now: i64,
        audit: &[AccessEvent],
    ) -> Result<(Erasure, ErasureCounts)> {
        let erasure = Erasure {
            subject: subject.clone(),
            receipt_id: receipt_id.to_owned(),
            erased_at: now,
        };
        self.mark_erased(subject);
        let counts = self.store.erase_subject(&erasure, audit).await?;
        self.forget_cached_keys(subject).await?;
        let recorded = self.store.erasure(subject).await?.unwrap_or(erasure);
        Ok((recorded, counts))
    }

    /// The suite new ciphertexts of `keyring` are sealed with (the keyring as encryption
    /// reads it, through the same short-lived cache).
    pub async fn current_suite(&self, keyring: &KeyringName) -> Result<Suite> {
        Ok(self.cached_keyring(keyring).await?.suite)
    }

    /// Whether Baomi holds anything of `subject`: a stored field, a data key under any
    /// version of any keyring, or the record of an earlier erasure.
    pub async fn knows_subject(&self, subject: &SubjectId) -> Result<bool> {
        if self.store.erasure(subject).await?.is_some()
            || !self.store.fields(subject).await?.is_empty()
        {
            return Ok(true);
        }
        for ring in self.store.keyrings().await? {
            for version in 1..=ring.latest_version {
                if self
                    .store
                    .subject_key(&ring.name, subject, version)
                    .await?
                    .is_some()
                {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// Re-applies an erasure from the journal at start-up (nothing is cached yet, so the
    /// in-memory bookkeeping of [`Vault::erase`] is skipped).
    pub async fn replay_erasure(
        &self,
        erasure: &Erasure,
        audit: &[AccessEvent],
    ) -> Result<ErasureCounts> {
        Ok(self.store.erase_subject(erasure, audit).await?)
    }

    /// Forgets a subject that another node erased: its cached data keys are wiped and are
    /// not cached again by an operation that read them just before.
    pub async fn forget_erased(&self, subject: &SubjectId) -> Result<()> {
        self.mark_erased(subject);
        self.forget_cached_keys(subject).await
    }

    /// Drops every cached key, KEKs included (after a node may have missed invalidations).
    pub fn clear_cached_keys(&self) {
        self.keks.remove_where(|_| true);
        self.data_keys.remove_where(|_| true);
        self.siv_keys.remove_where(|_| true);
    }

    /// Wipes the subject's unwrapped data keys from the cache: one lookup per keyring
    /// version, not a scan of the cache.
    async fn forget_cached_keys(&self, subject: &SubjectId) -> Result<()> {
        for ring in self.store.keyrings().await? {
            for version in 1..=ring.latest_version {
                self.data_keys
                    .remove(DataKeyId::new(&ring.name, subject, version).as_str());
            }
        }
        Ok(())
    }

    /// Stores fields of a subject (encrypted under `keyring`'s latest version) and returns
    /// each field's new token, in the order given. All or nothing: a subject that is erased
    /// gets [`Error::SubjectErased`] and nothing is written.
    pub async fn put_fields(
        &self,
        keyring: &KeyringName,
        subject: &SubjectId,
        writes: &[FieldWrite],
        now: i64,
        audit: &[AccessEvent],
    ) -> Result<Vec<String>> {
        let mut stored = Vec::with_capacity(writes.len());
        let mut index = Vec::new();
        let family = self.cached_keyring(keyring).await?.suite.family();
        for w in writes {
            let max = w.field.kind().max_len();
            if w.value.len() > max {
                return Err(Error::ValueTooLong { max });
            }
            let (ciphertext, version) = self
                .encrypt_versioned(keyring, subject, &w.field, &w.value, now)
                .await?;
            stored.push(StoredField {
                subject: subject.clone(),
                field: w.field.as_str().to_owned(),
                keyring: keyring.clone(),
                version,
                ciphertext,
                token: String::new(),
                updated_at: now,
            });
            if w.searchable {
                index.push(IndexEntry {
                    keyring: keyring.as_str().to_owned(),
                    field: w.field.as_str().to_owned(),
                    digest: self.index_digest(family, keyring, &w.field, &w.value)?,
                    subject: subject.clone(),
                });
            }
        }
        for _ in 0..TOKEN_ATTEMPTS {
            for (s, w) in stored.iter_mut().zip(writes) {
                s.token = new_token(w.field.kind(), &w.value, w.token_format);
            }
            match self
                .store
                .put_fields(subject, &stored, &index, audit)
                .await?
            {
                PutOutcome::Stored => return Ok(stored.into_iter().map(|s| s.token).collect()),
                PutOutcome::Erased => return Err(Error::SubjectErased),
                // The version was retired while this request was encrypting: the caller
                // retries and encrypts under the current version.
                PutOutcome::VersionRetired => return Err(Error::RotationConflict),
                PutOutcome::TokenClash => continue,
            }
        }
        // Fresh 128-bit tokens clashing again and again means the generator is broken.
        Err(Error::Random)
    }

    /// Reads a subject's stored fields (all, or those named), decrypting each.
    pub async fn read_fields(
        &self,
        subject: &SubjectId,
        names: Option<&[FieldName]>,
    ) -> Result<Vec<ReadField>> {
        let stored = self.store.fields(subject).await?;
        if stored.is_empty() && self.store.erasure(subject).await?.is_some() {
            return Err(Error::SubjectErased);
        }
        let mut out = Vec::new();
        for s in stored {
            let field = FieldName::parse(&s.field)?;
            if names.is_some_and(|n| !n.contains(&field)) {
                continue;
            }
            let value = self.decrypt(subject, &field, &s.ciphertext).await;
            out.push(ReadField {
                field,
                token: s.token,
                value,
            });
        }
        Ok(out)
    }

    /// The subject, field and value a token stands for.
    pub async fn detokenize(
        &self,
        token: &str,
    ) -> Result<(SubjectId, FieldName, Zeroizing<String>)> {
        let stored = self
            .store
            .field_by_token(token)
            .await?
            .ok_or(Error::UnknownToken)?;
        let field = FieldName::parse(&stored.field)?;
        let value = self
            .decrypt(&stored.subject, &field, &stored.ciphertext)
            .await?;
        Ok((stored.subject, field, value))
    }

    /// The subjects whose searchable `field` (stored under `keyring`) equals `value` once
    /// both are normalised.
    pub async fn search(
        &self,
        keyring: &KeyringName,
        field: &FieldName,
        value: &str,
    ) -> Result<Vec<SubjectId>> {
        // Both index algorithms, always: a keyring that moved suites on another node a
        // moment ago has entries of both, whatever this node's cached view of it says.
        let nist = self.index_digest(Family::Nist, keyring, field, value)?;
        let sm = self.index_digest(Family::ShangMi, keyring, field, value)?;
        Ok(self
            .store
            .search_index(keyring.as_str(), field.as_str(), [&nist, &sm])
            .await?)
    }

    /// The blind-index entry of a value: HMAC-SHA256, or HMAC-SM3 for the SM family.
    fn index_digest(
        &self,
        family: Family,
        keyring: &KeyringName,
        field: &FieldName,
        value: &str,
    ) -> Result<Vec<u8>> {
        let master = match family {
            Family::Nist => &self.index_master_nist,
            Family::ShangMi => &self.index_master_sm,
        };
        let key = master.derive(&key_label(keyring.as_str(), field.as_str()))?;
        Ok(key.sign(normalize(field.kind(), value).as_bytes()).to_vec())
    }

    fn mark_erased(&self, subject: &SubjectId) {
        use std::sync::atomic::Ordering;
        let mut erased = self.erased.lock().unwrap_or_else(|p| p.into_inner());
        erased.prune(self.options.key_cache_ttl);
        erased.at.insert(subject.clone(), Instant::now());
        self.any_erased.store(true, Ordering::SeqCst);
    }

    /// Whether this node erased `subject` within the cache lifetime.
    fn recently_erased(&self, subject: &SubjectId) -> bool {
        use std::sync::atomic::Ordering;
        if !self.any_erased.load(Ordering::SeqCst) {
            return false;
        }
        let ttl = self.options.key_cache_ttl;
        let mut erased = self.erased.lock().unwrap_or_else(|p| p.into_inner());
        if erased.at.get(subject).is_some_and(|at| at.elapsed() < ttl) {
            return true;
        }
        erased.prune(ttl);
        if erased.at.is_empty() {
            self.any_erased.store(false, Ordering::SeqCst);
        }
        false
    }

    /// The erasure record of a subject, if erased.
    pub async fn erasure(&self, subject: &SubjectId) -> Result<Option<Erasure>> {
        Ok(self.store.erasure(subject).await?)
    }

    /// Re-seals up to `limit` data keys of `keyring` still sealed under an older KEK version
    /// under the latest one (the data keys themselves do not change). Returns how many were
    /// re-sealed; call again until it returns 0.
    pub async fn reseal_data_keys(&self, keyring: &KeyringName, limit: u32) -> Result<u64> {
        let ring = self.keyring(keyring).await?;
        let latest = ring.latest_version;
        let newest_kek = self.kek(keyring, latest).await?;
        let stale = self
            .store
            .subject_keys_sealed_below(keyring, latest, limit)
            .await?;
        let mut done = 0;
        for key in stale {
            let old_kek = self.kek(keyring, key.kek_version).await?;
            let material = old_kek
                .open(
                    &data_key_aad(keyring, &key.subject, key.version, key.kek_version),
                    &key.sealed,
                )
                .map_err(|_| Error::Corrupt("a data key does not open under its KEK"))?;
            let sealed = newest_kek.seal(
                &data_key_aad(keyring, &key.subject, key.version, latest),
                &material,
            )?;
            let resealed = SealedDataKey {
                kek_version: latest,
                sealed,
                ..key.clone()
            };
            if self
                .store
                .reseal_subject_key(&resealed, key.kek_version)
                .await?
            {
                done += 1;
            }
        }
        Ok(done)
    }

    /// Rotates `name` if, read afresh, its rotation period is over at `now`; `false` if it
    /// was not due (another node may have rotated it a moment ago).
    pub async fn rotate_if_due(
        &self,
        name: &KeyringName,
        now: i64,
        audit: &(dyn Fn(u32) -> Vec<AccessEvent> + Send + Sync),
    ) -> Result<bool> {
        let ring = self.keyring(name).await?;
        if !ring.is_due(now) || !self.add_version(&ring, ring.suite, now, audit).await? {
            return Ok(false);
        }
        self.keyring(name).await?;
        Ok(true)
    }

    /// Re-encrypts up to `limit` stored fields of `keyring` under its latest version, so that
    /// older versions can be retired without losing them. Returns how many; call again until
    /// it returns 0. The plaintext never leaves this function.
    pub async fn reencrypt_stored_fields(
        &self,
        keyring: &KeyringName,
        limit: u32,
        now: i64,
    ) -> Result<u64> {
        let ring = self.keyring(keyring).await?;
        let stale = self
            .store
            .stored_fields_below(keyring, ring.latest_version, limit)
            .await?;
        let mut done = 0;
        for old in stale {
            let field = FieldName::parse(&old.field)?;
            let (ciphertext, version) = match self
                .rewrap_versioned(&old.subject, &field, &old.ciphertext, now)
                .await
            {
                Ok(c) => c,
                Err(Error::Store(e)) => return Err(Error::Store(e)),
                // One unreadable row (erased meanwhile, or its key lost) must not stop the
                // others; it stays below the latest version, and so blocks retiring it.
                Err(_) => continue,
            };
            let updated = StoredField {
                version,
                ciphertext,
                ..old.clone()
            };
            if self
                .store
                .replace_ciphertext(&updated, &old.ciphertext)
                .await?
            {
                done += 1;
            }
        }
        Ok(done)
    }

    /// Removes what interrupted erasures left behind (see [`VaultStore::sweep_erased`]).
    pub async fn sweep_erased(&self) -> Result<u64> {
        Ok(self.store.sweep_erased().await?)
    }

    /// Keyrings due for automatic rotation at `now`.
    pub async fn due_for_rotation(&self, now: i64) -> Result<Vec<KeyringName>> {
        Ok(self
            .store
            .keyrings()
            .await?
            .into_iter()
            .filter(|k| k.is_due(now))
            .map(|k| k.name)
            .collect())
    }

    async fn new_kek(
        &self,
        keyring: &KeyringName,
        version: u32,
        suite: Suite,
        now: i64,
    ) -> Result<SealedKek> {
        let material = suite.key_algorithm().random_material();
        let sealed = self
            .kek_wrap
            .seal(
                suite.family(),
                &kek_aad(keyring, version, suite),
                material.as_slice(),
            )
            .await?;
        Ok(SealedKek {
            keyring: keyring.clone(),
            version,
            suite,
            sealed,
            created_at: now,
        })
    }

    fn remember(&self, keyring: Keyring) {
        let mut map = self.keyrings.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(keyring.name.clone(), (Arc::new(keyring), Instant::now()));
    }

    async fn cached_keyring(&self, name: &KeyringName) -> Result<Arc<Keyring>> {
        {
            let map = self.keyrings.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((ring, at)) = map.get(name)
                && at.elapsed() < self.options.keyring_refresh
            {
                return Ok(Arc::clone(ring));
            }
        }
        Ok(Arc::new(self.keyring(name).await?))
    }

    /// The raw key material of a KEK version and the version's suite, unsealed with the
    /// root-derived key of the suite's family.
    async fn kek_material(
        &self,
        keyring: &KeyringName,
        version: u32,
    ) -> Result<(Zeroizing<Vec<u8>>, Suite)> {
        let sealed = self
            .store
            .kek(keyring, version)
            .await?
            .ok_or(Error::UnknownVersion)?;
        let family = sealed.suite.family();
        let aad = kek_aad(keyring, version, sealed.suite);
        let mut opened = self.kek_wrap.open(family, &aad, &sealed.sealed).await;
        if matches!(opened, Err(Error::Crypto)) && family == Family::Nist {
            // Sealed before versions recorded their suite (every such KEK is of an AES suite).
            let legacy = legacy_kek_aad(keyring, version);
            opened = self.kek_wrap.open(family, &legacy, &sealed.sealed).await;
        }
        let material = opened.map_err(|e| match e {
            Error::Hsm(detail) => Error::Hsm(detail),
            _ => Error::Corrupt("a keyring key does not open under the root key"),
        })?;
        Ok((material, sealed.suite))
    }

    async fn kek(&self, keyring: &KeyringName, version: u32) -> Result<Arc<AeadKey>> {
        let id = (keyring.clone(), version);
        if let Some(k) = self.keks.get(&id) {
            return Ok(k);
        }
        let (material, suite) = self.kek_material(keyring, version).await?;
        let key = Arc::new(
            AeadKey::new(suite.key_algorithm(), &material)
                .map_err(|_| Error::Corrupt("a keyring key has the wrong length"))?,
        );
        self.keks.insert(id, Arc::clone(&key));
        Ok(key)
    }

    fn open_data_key(
        &self,
        kek: &AeadKey,
        algorithm: Algorithm,
        sealed: &SealedDataKey,
    ) -> Result<AeadKey> {
        open_key(
            kek,
            algorithm,
            &data_key_aad(
                &sealed.keyring,
                &sealed.subject,
                sealed.version,
                sealed.kek_version,
            ),
            &sealed.sealed,
        )
        .map_err(|_| Error::Corrupt("a data key does not open under its KEK"))
    }

    /// Checks a ciphertext's suite and version against its keyring.
    async fn usable_version(&self, ciphertext: &Ciphertext) -> Result<()> {
        let ring = self.cached_keyring(&ciphertext.keyring).await?;
        if ciphertext.suite.is_deterministic() != ring.suite.is_deterministic() {
            return Err(Error::DecryptFailed);
        }
        if ciphertext.version > ring.latest_version {
            // Perhaps rotated on another node moments ago.
            let fresh = self.keyring(&ciphertext.keyring).await?;
            if ciphertext.version > fresh.latest_version {
                return Err(Error::UnknownVersion);
            }
        }
        if ciphertext.version < ring.min_decryption_version {
            return Err(Error::VersionRetired);
        }
        Ok(())
    }

    async fn data_key_for_reading(
        &self,
        ciphertext: &Ciphertext,
        subject: &SubjectId,
    ) -> Result<Arc<AeadKey>> {
        self.usable_version(ciphertext).await?;
        let algorithm = ciphertext.suite.key_algorithm();
        let id = DataKeyId::new(&ciphertext.keyring, subject, ciphertext.version);
        if let Some(k) = self.data_keys.get(id.as_str())
            && !self.recently_erased(subject)
        {
            return if k.algorithm() == algorithm {
                Ok(k)
            } else {
                Err(Error::DecryptFailed)
            };
        }
        // The version's own suite, which a ciphertext naming another one does not have.
        if self
            .kek(&ciphertext.keyring, ciphertext.version)
            .await?
            .algorithm()
            != algorithm
        {
            return Err(Error::DecryptFailed);
        }
        let Some(sealed) = self
            .store
            .subject_key(&ciphertext.keyring, subject, ciphertext.version)
            .await?
        else {
            return Err(if self.store.erasure(subject).await?.is_some() {
                Error::SubjectErased
            } else {
                Error::DecryptFailed
            });
        };
        let kek = self.kek(&ciphertext.keyring, sealed.kek_version).await?;
        let key = Arc::new(self.open_data_key(&kek, algorithm, &sealed)?);
        if !self.recently_erased(subject) {
            self.data_keys
                .insert(id.as_str().to_owned(), Arc::clone(&key));
        }
        Ok(key)
    }

    async fn data_key_for_writing(
        &self,
        ring: &Keyring,
        subject: &SubjectId,
        version: u32,
        now: i64,
    ) -> Result<Arc<AeadKey>> {
        let id = DataKeyId::new(&ring.name, subject, version);
        if let Some(k) = self.data_keys.get(id.as_str())
            && !self.recently_erased(subject)
        {
            return Ok(k);
        }
        let kek = self.kek(&ring.name, version).await?;
        let sealed = match self.store.subject_key(&ring.name, subject, version).await? {
            Some(sealed) => sealed,
            None => {
                let material = ring.suite.key_algorithm().random_material();
                let candidate = SealedDataKey {
                    keyring: ring.name.clone(),
                    subject: subject.clone(),
                    version,
                    kek_version: version,
                    sealed: kek.seal(
                        &data_key_aad(&ring.name, subject, version, version),
                        material.as_slice(),
                    )?,
                    created_at: now,
                };
                match self.store.insert_subject_key(&candidate).await? {
                    Some(stored) => stored,
                    None if self.store.erasure(subject).await?.is_some() => {
                        return Err(Error::SubjectErased);
                    }
                    None => return Err(Error::VersionRetired),
                }
            }
        };
        let kek = if sealed.kek_version == version {
            kek
        } else {
            self.kek(&ring.name, sealed.kek_version).await?
        };
        let key = Arc::new(self.open_data_key(&kek, ring.suite.key_algorithm(), &sealed)?);
        if !self.recently_erased(subject) {
            self.data_keys
                .insert(id.as_str().to_owned(), Arc::clone(&key));
        }
        Ok(key)
    }
}
