//! Stored fields: values Baomi keeps for a subject, with their tokens and blind-index
//! entries; reading them back, detokenising and searching.

use baomi_types::AccessEvent;
use zeroize::Zeroizing;

use super::{FieldWrite, ReadField, SubjectWrite, Vault};
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
        let one = [SubjectWrite {
            subject: subject.clone(),
            fields: writes.to_vec(),
        }];
        let mut stored = self
            .put_subjects(keyring, &one, now, |_| audit.to_vec())
            .await?;
        stored.pop().unwrap_or(Err(Error::SubjectErased))
    }

    /// Stores the fields of many subjects in one transaction, making their missing data keys
    /// together, and returns each subject's tokens (in the order of its fields) or why it
    /// was not stored: [`Error::SubjectErased`] or [`Error::ValueTooLong`]. `audit` makes the
    /// events of the write from the positions in `writes` of the subjects it stores, and
    /// they are committed with it. An error of the whole batch writes nothing.
    pub async fn put_subjects<F>(
        &self,
        keyring: &KeyringName,
        writes: &[SubjectWrite],
        now: i64,
        audit: F,
    ) -> Result<Vec<Result<Vec<String>>>>
    where
        F: Fn(&[usize]) -> Vec<AccessEvent> + Sync,
    {
        let subjects: Vec<&SubjectId> = writes.iter().map(|w| &w.subject).collect();
        self.prepare_data_keys(keyring, &subjects, now).await?;
        let mut out: Vec<Result<Vec<String>>> = writes.iter().map(|_| Ok(Vec::new())).collect();
        let mut pending: Vec<Sealed> = Vec::with_capacity(writes.len());
        for (at, write) in writes.iter().enumerate() {
            match self.seal_fields(keyring, write, now).await {
                Ok((fields, index)) => pending.push(Sealed { at, fields, index }),
                Err(e @ (Error::SubjectErased | Error::ValueTooLong { .. })) => out[at] = Err(e),
                Err(e) => return Err(e),
            }
        }
        for sealed in &mut pending {
            for (s, w) in sealed.fields.iter_mut().zip(&writes[sealed.at].fields) {
                s.token = new_token(w.field.kind(), &w.value, w.token_format);
            }
        }
        let mut clashes = 0;
        while !pending.is_empty() {
            let fields: Vec<StoredField> = pending
                .iter()
                .flat_map(|p| p.fields.iter().cloned())
                .collect();
            let index: Vec<IndexEntry> = pending
                .iter()
                .flat_map(|p| p.index.iter().cloned())
                .collect();
            let positions: Vec<usize> = pending.iter().map(|p| p.at).collect();
            match self
                .store
                .put_fields(&fields, &index, &audit(&positions))
                .await?
            {
                PutOutcome::Stored => {
                    for sealed in pending.drain(..) {
                        out[sealed.at] = Ok(sealed.fields.into_iter().map(|f| f.token).collect());
                    }
                }
                // Left out, and the others tried again.
                PutOutcome::Erased(subject) => pending.retain(|p| {
                    let erased = writes[p.at].subject == subject;
                    if erased {
                        out[p.at] = Err(Error::SubjectErased);
                    }
                    !erased
                }),
                // The version was retired while this request was encrypting: the caller
                // retries and encrypts under the current version.
                PutOutcome::VersionRetired => return Err(Error::RotationConflict),
                PutOutcome::TokenClash(clashing) => {
                    clashes += 1;
                    // Fresh tokens clashing again and again means the generator is broken.
                    if clashes == TOKEN_ATTEMPTS {
                        return Err(Error::Random);
                    }
                    // New tokens for the clashing fields only, found by their position in
                    // the fields sent.
                    let slots: Vec<(usize, usize)> = pending
                        .iter()
                        .enumerate()
                        .flat_map(|(p, sealed)| (0..sealed.fields.len()).map(move |f| (p, f)))
                        .collect();
                    for &(p, f) in clashing.iter().filter_map(|&at| slots.get(at)) {
                        let write = &writes[pending[p].at].fields[f];
                        pending[p].fields[f].token =
                            new_token(write.field.kind(), &write.value, write.token_format);
                    }
                }
            }
        }
        Ok(out)
    }

    /// A subject's fields encrypted for storing (tokens still to draw), with their
    /// blind-index entries.
    async fn seal_fields(
        &self,
        keyring: &KeyringName,
        write: &SubjectWrite,
        now: i64,
    ) -> Result<(Vec<StoredField>, Vec<IndexEntry>)> {
        let family = self.cached_keyring(keyring).await?.suite.family();
        let subject = &write.subject;
        let mut stored = Vec::with_capacity(write.fields.len());
        let mut index = Vec::new();
        for w in &write.fields {
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
        Ok((stored, index))
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

/// One subject's sealed fields, waiting to be stored, and its position in the batch.
struct Sealed {
    at: usize,
    fields: Vec<StoredField>,
    index: Vec<IndexEntry>,
}
