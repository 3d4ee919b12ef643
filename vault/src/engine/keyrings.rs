//! Keyrings: creating them, reading them (through a short-lived cache), their policy, and
//! their KEK versions, sealed and opened by the KEK wrapper.

use std::sync::Arc;
use std::time::Instant;

use baomi_types::AccessEvent;
use zeroize::Zeroizing;

use super::Vault;
use super::data_keys::DataKeyId;
use crate::aead::AeadKey;
use crate::keyring::{Family, Keyring, KeyringName, SealedKek, Suite, kek_aad, legacy_kek_aad};
use crate::store::PolicyOutcome;
use crate::{Error, Result};

impl Vault {
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

    /// The suite new ciphertexts of `keyring` are sealed with (the keyring as encryption
    /// reads it, through the same short-lived cache).
    pub async fn current_suite(&self, keyring: &KeyringName) -> Result<Suite> {
        Ok(self.cached_keyring(keyring).await?.suite)
    }

    pub(super) async fn new_kek(
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

    pub(super) fn remember(&self, keyring: Keyring) {
        let mut map = self.keyrings.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(keyring.name.clone(), (Arc::new(keyring), Instant::now()));
    }

    pub(super) async fn cached_keyring(&self, name: &KeyringName) -> Result<Arc<Keyring>> {
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
    pub(super) async fn kek_material(
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

    pub(super) async fn kek(&self, keyring: &KeyringName, version: u32) -> Result<Arc<AeadKey>> {
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
}
