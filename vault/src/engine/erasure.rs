//! Erasure by crypto-shredding: destroying a subject's data keys, fields, tokens and index
//! entries, and keeping this node from serving or caching what it held of the subject.

use std::time::Instant;

use baomi_types::AccessEvent;

use super::Vault;
use super::data_keys::DataKeyId;
use crate::store::{Erasure, ErasureCounts};
use crate::{Result, SubjectId};

impl Vault {
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
    pub(super) async fn forget_cached_keys(&self, subject: &SubjectId) -> Result<()> {
        for ring in self.store.keyrings().await? {
            for version in 1..=ring.latest_version {
                self.data_keys
                    .remove(DataKeyId::new(&ring.name, subject, version).as_str());
            }
        }
        Ok(())
    }

    pub(super) fn mark_erased(&self, subject: &SubjectId) {
        use std::sync::atomic::Ordering;
        let mut erased = self.erased.lock().unwrap_or_else(|p| p.into_inner());
        erased.prune(self.options.key_cache_ttl);
        erased.at.insert(subject.clone(), Instant::now());
        self.any_erased.store(true, Ordering::SeqCst);
    }

    /// Whether this node erased `subject` within the cache lifetime.
    pub(super) fn recently_erased(&self, subject: &SubjectId) -> bool {
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

    /// Removes what interrupted erasures left behind (see [`crate::VaultStore::sweep_erased`]).
    pub async fn sweep_erased(&self) -> Result<u64> {
        Ok(self.store.sweep_erased().await?)
    }
}
