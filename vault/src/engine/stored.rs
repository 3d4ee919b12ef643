//! Stored fields: values Baomi keeps for a subject, with their tokens and blind-index
//! entries; reading them back, detokenising and searching.

use baomi_types::AccessEvent;
use zeroize::Zeroizing;

use super::{FieldWrite, ReadField, Vault};
use crate::field::FieldName;
use crate::index::{key_label, normalize};
use crate::keyring::{Family, KeyringName};
use crate::store::{IndexEntry, PutOutcome, StoredField};
use crate::token::new_token;
use crate::{Error, Result, SubjectId};

/// Attempts at storing fields when freshly drawn tokens clash with existing ones.
const TOKEN_ATTEMPTS: usize = 4;

impl Vault {
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
    pub(super) fn index_digest(
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
}
