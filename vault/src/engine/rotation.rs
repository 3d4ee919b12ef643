//! Rotation: adding KEK versions (on demand or when due), then moving what the older
//! versions sealed (subjects' data keys, stored fields) over to the newest.

use baomi_types::AccessEvent;

use super::Vault;
use super::data_keys::data_key_aad;
use crate::field::FieldName;
use crate::keyring::{Keyring, KeyringName, Suite};
use crate::store::{SealedDataKey, StoredField};
use crate::{Error, Result};

impl Vault {
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
    pub(super) async fn add_version(
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
}
