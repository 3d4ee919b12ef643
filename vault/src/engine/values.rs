//! Values: sealing and opening them under a subject's data key (or a deterministic
//! keyring's field key), and rewrapping a ciphertext under the latest version.

use std::sync::Arc;

use zeroize::Zeroizing;

use super::Vault;
use crate::field::FieldName;
use crate::keyring::{Family, Keyring, KeyringName};
use crate::seal::{
    Ciphertext, SivKey, open_deterministic, open_parsed, open_value, seal_deterministic, seal_value,
};
use crate::{Error, Result, SubjectId};

impl Vault {
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
    pub(super) async fn encrypt_versioned(
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
    pub(super) async fn seal_deterministic_for(
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
    pub(super) async fn open_deterministic_for(
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
    pub(super) async fn siv_key(
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
    pub(super) async fn rewrap_versioned(
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
}
