//! A [`VaultStore`] in memory, for tests and benchmarks: nothing survives the process.
//!
//! It keeps the port's promises as the server's SQL stores do (one lock stands for their
//! transactions): an erasure is recorded before the subject's keys and fields go, and no
//! key or field is written for an erased subject afterwards; a data key is stored once per
//! keyring version; a retired version takes no new keys or fields; rotations,
//! re-sealings and re-encryptions change a row only if it is still as read. It also keeps
//! the audit events each change came with, and can be told to report token clashes, so
//! that tests can watch what the vault asked for.
//!
//! Every call yields to the executor once before it acts, so that futures joined on one
//! task (`tokio::join!`) interleave at each store call, as requests on several nodes do.

use std::collections::{BTreeMap, HashSet};
use std::sync::Mutex;

use async_trait::async_trait;
use baomi_types::{AccessEvent, StoreFailure};

use crate::keyring::{Keyring, KeyringName, SealedKek};
use crate::store::{
    Erasure, ErasureCounts, IndexEntry, PolicyOutcome, PutOutcome, SealedDataKey, StoredField,
    VaultStore,
};
use crate::subject::SubjectId;

/// Keys of the subject-key map: keyring, subject, keyring version.
type SubjectKeyId = (String, String, u32);

#[derive(Default)]
struct State {
    keyrings: BTreeMap<String, Keyring>,
    keks: BTreeMap<(String, u32), SealedKek>,
    subject_keys: BTreeMap<SubjectKeyId, SealedDataKey>,
    erasures: BTreeMap<String, Erasure>,
    /// By subject, then field name.
    fields: BTreeMap<(String, String), StoredField>,
    index: Vec<IndexEntry>,
    events: Vec<AccessEvent>,
    clashes_to_report: usize,
    puts_attempted: usize,
}

impl State {
    fn erased(&self, subject: &SubjectId) -> bool {
        self.erasures.contains_key(subject.as_str())
    }

    fn min_version(&self, keyring: &KeyringName) -> Result<u32, StoreFailure> {
        self.keyrings
            .get(keyring.as_str())
            .map(|k| k.min_decryption_version)
            .ok_or_else(|| failure("no such keyring"))
    }

    /// The keyring with the suites its versions used, oldest first (as the SQL stores
    /// derive them from the KEK versions).
    fn keyring_as_read(&self, ring: &Keyring) -> Keyring {
        let mut used = Vec::new();
        for ((_, _), kek) in self
            .keks
            .range((ring.name.as_str().to_owned(), 0)..=(ring.name.as_str().to_owned(), u32::MAX))
        {
            if !used.contains(&kek.suite) {
                used.push(kek.suite);
            }
        }
        if !used.contains(&ring.suite) {
            used.push(ring.suite);
        }
        Keyring {
            suites_used: used,
            ..ring.clone()
        }
    }

    /// Deletes what `subject` has; counts of data keys, fields, index entries.
    fn destroy(&mut self, subject: &str) -> ErasureCounts {
        let keys_before = self.subject_keys.len();
        self.subject_keys.retain(|(_, s, _), _| s != subject);
        let fields_before = self.fields.len();
        self.fields.retain(|(s, _), _| s != subject);
        let index_before = self.index.len();
        self.index.retain(|e| e.subject.as_str() != subject);
        ErasureCounts {
            data_keys: (keys_before - self.subject_keys.len()) as u64,
            fields: (fields_before - self.fields.len()) as u64,
            index_entries: (index_before - self.index.len()) as u64,
        }
    }
}

/// Returns `Pending` once (waking itself at once), then `Ready`: lets other futures joined
/// with this one run up to their next store call.
async fn yield_once() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await;
}

fn failure(detail: &str) -> StoreFailure {
    StoreFailure {
        unavailable: false,
        detail: detail.to_owned(),
    }
}

/// The in-memory store. Cheap to make; share it between several [`crate::Vault`]s to play
/// several nodes on one database.
#[derive(Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore").finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Every audit event the store was handed with a change that committed, oldest first.
    pub fn events(&self) -> Vec<AccessEvent> {
        self.state().events.clone()
    }

    /// Makes the next `n` calls of [`VaultStore::put_fields`] report a token clash (as when
    /// a token is taken), writing nothing.
    pub fn report_token_clashes(&self, n: usize) {
        self.state().clashes_to_report = n;
    }

    /// How many times [`VaultStore::put_fields`] was called.
    pub fn puts_attempted(&self) -> usize {
        self.state().puts_attempted
    }
}

#[async_trait]
impl VaultStore for MemoryStore {
    async fn keyring(&self, name: &KeyringName) -> Result<Option<Keyring>, StoreFailure> {
        yield_once().await;
        let state = self.state();
        Ok(state
            .keyrings
            .get(name.as_str())
            .map(|k| state.keyring_as_read(k)))
    }

    async fn keyrings(&self) -> Result<Vec<Keyring>, StoreFailure> {
        yield_once().await;
        let state = self.state();
        Ok(state
            .keyrings
            .values()
            .map(|k| state.keyring_as_read(k))
            .collect())
    }

    async fn create_keyring(
        &self,
        keyring: &Keyring,
        first: &SealedKek,
        audit: &[AccessEvent],
    ) -> Result<bool, StoreFailure> {
        yield_once().await;
        let mut state = self.state();
        if state.keyrings.contains_key(keyring.name.as_str()) {
            return Ok(false);
        }
        state
            .keyrings
            .insert(keyring.name.as_str().to_owned(), keyring.clone());
        state.keks.insert(
            (first.keyring.as_str().to_owned(), first.version),
            first.clone(),
        );
        state.events.extend_from_slice(audit);
        Ok(true)
    }

    async fn kek(
        &self,
        keyring: &KeyringName,
        version: u32,
    ) -> Result<Option<SealedKek>, StoreFailure> {
        yield_once().await;
        Ok(self
            .state()
            .keks
            .get(&(keyring.as_str().to_owned(), version))
            .cloned())
    }

    async fn add_kek(&self, kek: &SealedKek, audit: &[AccessEvent]) -> Result<bool, StoreFailure> {
        yield_once().await;
        let mut state = self.state();
        let Some(ring) = state.keyrings.get_mut(kek.keyring.as_str()) else {
            return Ok(false);
        };
        if ring.latest_version.checked_add(1) != Some(kek.version) {
            return Ok(false);
        }
        ring.latest_version = kek.version;
        ring.rotated_at = kek.created_at;
        ring.suite = kek.suite;
        state
            .keks
            .insert((kek.keyring.as_str().to_owned(), kek.version), kek.clone());
        state.events.extend_from_slice(audit);
        Ok(true)
    }

    async fn set_policy(
        &self,
        keyring: &KeyringName,
        min_decryption_version: u32,
        rotation_period_secs: Option<u64>,
        audit: &[AccessEvent],
    ) -> Result<PolicyOutcome, StoreFailure> {
        yield_once().await;
        let mut state = self.state();
        if state.min_version(keyring)? > min_decryption_version {
            return Ok(PolicyOutcome::WouldLower);
        }
        if state
            .fields
            .values()
            .any(|f| &f.keyring == keyring && f.version < min_decryption_version)
        {
            return Ok(PolicyOutcome::StoredFieldsBelow);
        }
        if let Some(ring) = state.keyrings.get_mut(keyring.as_str()) {
            ring.min_decryption_version = min_decryption_version;
            ring.rotation_period_secs = rotation_period_secs;
        }
        state.events.extend_from_slice(audit);
        Ok(PolicyOutcome::Set)
    }

    async fn subject_key(
        &self,
        keyring: &KeyringName,
        subject: &SubjectId,
        version: u32,
    ) -> Result<Option<SealedDataKey>, StoreFailure> {
        yield_once().await;
        Ok(self
            .state()
            .subject_keys
            .get(&(
                keyring.as_str().to_owned(),
                subject.as_str().to_owned(),
                version,
            ))
            .cloned())
    }

    async fn insert_subject_key(
        &self,
        key: &SealedDataKey,
    ) -> Result<Option<SealedDataKey>, StoreFailure> {
        yield_once().await;
        let mut state = self.state();
        if state.erased(&key.subject) {
            return Ok(None);
        }
        let id = (
            key.keyring.as_str().to_owned(),
            key.subject.as_str().to_owned(),
            key.version,
        );
        let retired = state
            .keyrings
            .get(key.keyring.as_str())
            .is_none_or(|k| key.version < k.min_decryption_version);
        if !retired {
            state
                .subject_keys
                .entry(id.clone())
                .or_insert_with(|| key.clone());
        }
        Ok(state.subject_keys.get(&id).cloned())
    }

    async fn erasure(&self, subject: &SubjectId) -> Result<Option<Erasure>, StoreFailure> {
        yield_once().await;
        Ok(self.state().erasures.get(subject.as_str()).cloned())
    }

    async fn erase_subject(
        &self,
        erasure: &Erasure,
        audit: &[AccessEvent],
    ) -> Result<ErasureCounts, StoreFailure> {
        yield_once().await;
        let mut state = self.state();
        state
            .erasures
            .entry(erasure.subject.as_str().to_owned())
            .or_insert_with(|| erasure.clone());
        let counts = state.destroy(erasure.subject.as_str());
        state.events.extend_from_slice(audit);
        Ok(counts)
    }

    async fn subject_keys_sealed_below(
        &self,
        keyring: &KeyringName,
        kek_version: u32,
        limit: u32,
    ) -> Result<Vec<SealedDataKey>, StoreFailure> {
        yield_once().await;
        Ok(self
            .state()
            .subject_keys
            .values()
            .filter(|k| &k.keyring == keyring && k.kek_version < kek_version)
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn reseal_subject_key(
        &self,
        key: &SealedDataKey,
        previous_kek_version: u32,
    ) -> Result<bool, StoreFailure> {
        yield_once().await;
        let mut state = self.state();
        let id = (
            key.keyring.as_str().to_owned(),
            key.subject.as_str().to_owned(),
            key.version,
        );
        match state.subject_keys.get_mut(&id) {
            Some(stored) if stored.kek_version == previous_kek_version => {
                stored.kek_version = key.kek_version;
                stored.sealed = key.sealed.clone();
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn put_fields(
        &self,
        fields: &[StoredField],
        index: &[IndexEntry],
        audit: &[AccessEvent],
    ) -> Result<PutOutcome, StoreFailure> {
        yield_once().await;
        let mut state = self.state();
        state.puts_attempted += 1;
        let mut subjects: Vec<&SubjectId> = fields.iter().map(|f| &f.subject).collect();
        subjects.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        subjects.dedup();
        if let Some(erased) = subjects.iter().find(|s| state.erased(s)) {
            return Ok(PutOutcome::Erased((*erased).clone()));
        }
        for field in fields {
            if field.version < state.min_version(&field.keyring)? {
                return Ok(PutOutcome::VersionRetired);
            }
        }
        if state.clashes_to_report > 0 {
            state.clashes_to_report -= 1;
            return Ok(PutOutcome::TokenClash(vec![0]));
        }
        // The fields this call replaces give up their tokens; any other holder of one of the
        // new tokens, or a token given a second time here, is a clash.
        let replaced: HashSet<(&str, &str)> = fields
            .iter()
            .map(|f| (f.subject.as_str(), f.field.as_str()))
            .collect();
        if replaced.len() != fields.len() {
            return Err(failure("a subject's field is given twice"));
        }
        let held: HashSet<&str> = state
            .fields
            .values()
            .filter(|f| !replaced.contains(&(f.subject.as_str(), f.field.as_str())))
            .map(|f| f.token.as_str())
            .collect();
        let mut tokens = HashSet::new();
        let clashing: Vec<usize> = fields
            .iter()
            .enumerate()
            .filter(|(_, f)| held.contains(f.token.as_str()) || !tokens.insert(f.token.as_str()))
            .map(|(i, _)| i)
            .collect();
        if !clashing.is_empty() {
            return Ok(PutOutcome::TokenClash(clashing));
        }
        for field in fields {
            state.fields.insert(
                (field.subject.as_str().to_owned(), field.field.clone()),
                field.clone(),
            );
            state
                .index
                .retain(|e| !(e.subject == field.subject && e.field == field.field));
        }
        state.index.extend_from_slice(index);
        state.events.extend_from_slice(audit);
        Ok(PutOutcome::Stored)
    }

    async fn fields(&self, subject: &SubjectId) -> Result<Vec<StoredField>, StoreFailure> {
        yield_once().await;
        Ok(self
            .state()
            .fields
            .values()
            .filter(|f| &f.subject == subject)
            .cloned()
            .collect())
    }

    async fn field_by_token(&self, token: &str) -> Result<Option<StoredField>, StoreFailure> {
        yield_once().await;
        Ok(self
            .state()
            .fields
            .values()
            .find(|f| f.token == token)
            .cloned())
    }

    async fn stored_fields_below(
        &self,
        keyring: &KeyringName,
        version: u32,
        limit: u32,
    ) -> Result<Vec<StoredField>, StoreFailure> {
        yield_once().await;
        let state = self.state();
        let mut below: Vec<StoredField> = state
            .fields
            .values()
            .filter(|f| &f.keyring == keyring && f.version < version)
            .cloned()
            .collect();
        below.sort_by_key(|f| f.version);
        below.truncate(limit as usize);
        Ok(below)
    }

    async fn replace_ciphertext(
        &self,
        field: &StoredField,
        previous_ciphertext: &str,
    ) -> Result<bool, StoreFailure> {
        yield_once().await;
        let mut state = self.state();
        let id = (field.subject.as_str().to_owned(), field.field.clone());
        match state.fields.get_mut(&id) {
            Some(stored) if stored.ciphertext == previous_ciphertext => {
                stored.ciphertext = field.ciphertext.clone();
                stored.keyring = field.keyring.clone();
                stored.version = field.version;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn lowest_stored_version(
        &self,
        keyring: &KeyringName,
    ) -> Result<Option<u32>, StoreFailure> {
        yield_once().await;
        Ok(self
            .state()
            .fields
            .values()
            .filter(|f| &f.keyring == keyring)
            .map(|f| f.version)
            .min())
    }

    async fn sweep_erased(&self) -> Result<u64, StoreFailure> {
        yield_once().await;
        let mut state = self.state();
        let erased: Vec<String> = state.erasures.keys().cloned().collect();
        let mut swept = 0;
        for subject in erased {
            let c = state.destroy(&subject);
            swept += c.data_keys + c.fields + c.index_entries;
        }
        Ok(swept)
    }

    async fn search_index(
        &self,
        keyring: &str,
        field: &str,
        digests: [&[u8]; 2],
    ) -> Result<Vec<SubjectId>, StoreFailure> {
        yield_once().await;
        let state = self.state();
        let mut found: Vec<SubjectId> = state
            .index
            .iter()
            .filter(|e| {
                e.keyring == keyring && e.field == field && digests.contains(&e.digest.as_slice())
            })
            .map(|e| e.subject.clone())
            .collect();
        found.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        found.dedup();
        found.truncate(1000);
        Ok(found)
    }

    async fn delete_subject_keys_below(
        &self,
        keyring: &KeyringName,
        version: u32,
    ) -> Result<u64, StoreFailure> {
        yield_once().await;
        let mut state = self.state();
        let before = state.subject_keys.len();
        state
            .subject_keys
            .retain(|_, k| !(&k.keyring == keyring && k.version < version));
        Ok((before - state.subject_keys.len()) as u64)
    }
}
