//! Subjects' data keys: found in the cache, or opened from the store under their KEK, or
//! made on first write; one per subject and keyring version.

use std::sync::Arc;

use super::Vault;
use crate::aead::{AeadKey, Algorithm, open_key};
use crate::keyring::{Keyring, KeyringName};
use crate::seal::Ciphertext;
use crate::store::SealedDataKey;
use crate::{Error, Result, SubjectId};

/// The cache key of a subject's data key, `keyring|subject|version` (neither name can hold
/// a `|`), built on the stack so that a cache hit allocates nothing.
pub(super) struct DataKeyId {
    buf: [u8; 256],
    len: usize,
}

impl DataKeyId {
    pub(super) fn new(keyring: &KeyringName, subject: &SubjectId, version: u32) -> Self {
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

    pub(super) fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or("")
    }

    /// Splits a cache key back into keyring, subject and version.
    pub(super) fn parts(key: &str) -> Option<(&str, &str, u32)> {
        let mut it = key.split('|');
        let (keyring, subject, version) = (it.next()?, it.next()?, it.next()?);
        Some((keyring, subject, version.parse().ok()?))
    }
}

/// The associated data that binds a sealed data key to its keyring, subject, version and
/// KEK version.
pub(super) fn data_key_aad(
    keyring: &KeyringName,
    subject: &SubjectId,
    version: u32,
    kek: u32,
) -> Vec<u8> {
    format!(
        "bm:dek:v1|{}|{}|{version}|{kek}",
        keyring.as_str(),
        subject.as_str()
    )
    .into_bytes()
}

impl Vault {
    pub(super) fn open_data_key(
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
    pub(super) async fn usable_version(&self, ciphertext: &Ciphertext) -> Result<()> {
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

    pub(super) async fn data_key_for_reading(
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

    /// Brings the data keys of `subjects` under the keyring's latest version into the
    /// cache, making the missing ones together: a request's new subjects then cost one
    /// durable write rather than one each, and [`Vault::encrypt`] finds their keys cached.
    /// A subject it cannot prepare (erased, or the version retired meanwhile) is left for
    /// `encrypt` to refuse; a deterministic keyring has no data keys.
    pub async fn prepare_data_keys(
        &self,
        keyring: &KeyringName,
        subjects: &[&SubjectId],
        now: i64,
    ) -> Result<()> {
        let ring = self.cached_keyring(keyring).await?;
        if ring.suite.is_deterministic() {
            return Ok(());
        }
        let version = ring.latest_version;
        let mut missing: Vec<&SubjectId> = subjects
            .iter()
            .copied()
            .filter(|s| {
                !self.recently_erased(s)
                    && self
                        .data_keys
                        .get(DataKeyId::new(&ring.name, s, version).as_str())
                        .is_none()
            })
            .collect();
        missing.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        missing.dedup_by(|a, b| a.as_str() == b.as_str());
        if missing.is_empty() {
            return Ok(());
        }
        let kek = self.kek(&ring.name, version).await?;
        let mut found = self
            .store
            .subject_keys(&ring.name, version, &missing)
            .await?;
        let have: std::collections::HashSet<&str> =
            found.iter().map(|k| k.subject.as_str()).collect();
        let candidates = missing
            .iter()
            .filter(|s| !have.contains(s.as_str()))
            .map(|subject| new_data_key(&ring, &kek, subject, version, now))
            .collect::<Result<Vec<_>>>()?;
        found.extend(
            self.store
                .insert_subject_keys(&candidates)
                .await?
                .into_iter()
                .flatten(),
        );
        for sealed in found {
            let kek = if sealed.kek_version == version {
                Arc::clone(&kek)
            } else {
                self.kek(&ring.name, sealed.kek_version).await?
            };
            let key = self.open_data_key(&kek, ring.suite.key_algorithm(), &sealed)?;
            if !self.recently_erased(&sealed.subject) {
                let id = DataKeyId::new(&ring.name, &sealed.subject, version);
                self.data_keys.insert(id.as_str().to_owned(), Arc::new(key));
            }
        }
        Ok(())
    }

    pub(super) async fn data_key_for_writing(
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
                let candidate = new_data_key(ring, &kek, subject, version, now)?;
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

/// A new random data key for `subject` under `ring`'s `version`, sealed under that
/// version's KEK, as the store keeps it.
fn new_data_key(
    ring: &Keyring,
    kek: &AeadKey,
    subject: &SubjectId,
    version: u32,
    now: i64,
) -> Result<SealedDataKey> {
    let material = ring.suite.key_algorithm().random_material();
    Ok(SealedDataKey {
        keyring: ring.name.clone(),
        subject: subject.clone(),
        version,
        kek_version: version,
        sealed: kek.seal(
            &data_key_aad(&ring.name, subject, version, version),
            material.as_slice(),
        )?,
        created_at: now,
    })
}
