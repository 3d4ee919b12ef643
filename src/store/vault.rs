//! The vault's storage port and the audit port, written once for both backends
//! (`impl_vault_store!`), with their rows.

use baomi_vault::{Keyring, KeyringName, SealedDataKey, SealedKek, StoreFailure, SubjectId, Suite};

use super::StoreError;

impl From<StoreError> for StoreFailure {
    fn from(e: StoreError) -> Self {
        StoreFailure {
            unavailable: matches!(e, StoreError::Unavailable(_)),
            detail: e.to_string(),
        }
    }
}

/// Converts a sqlx error into the vault's failure type.
pub(super) fn failure(e: sqlx::Error) -> StoreFailure {
    StoreError::from(e).into()
}

fn corrupt(what: &'static str) -> StoreFailure {
    StoreError::Corrupt(what).into()
}

fn version(v: i64) -> Result<u32, StoreFailure> {
    u32::try_from(v).map_err(|_| corrupt("key version"))
}

#[derive(sqlx::FromRow)]
pub(super) struct KeyringRow {
    pub(crate) name: String,
    suite: String,
    latest_version: i64,
    min_decryption_version: i64,
    rotation_period_secs: Option<i64>,
    created_at: i64,
    rotated_at: i64,
}

impl KeyringRow {
    /// The keyring, with the suites of its versions (`suites_used`, oldest first; the
    /// keyring's own suite when none are given).
    pub(super) fn into_keyring(self, suites_used: &[String]) -> Result<Keyring, StoreFailure> {
        let suite = Suite::parse(&self.suite).map_err(|_| corrupt("keyring suite"))?;
        let mut used = suites_used
            .iter()
            .map(|s| Suite::parse(s).map_err(|_| corrupt("key version suite")))
            .collect::<Result<Vec<_>, _>>()?;
        if !used.contains(&suite) {
            used.push(suite);
        }
        Ok(Keyring {
            name: KeyringName::parse(&self.name).map_err(|_| corrupt("keyring name"))?,
            suite,
            suites_used: used,
            latest_version: version(self.latest_version)?,
            min_decryption_version: version(self.min_decryption_version)?,
            rotation_period_secs: self
                .rotation_period_secs
                .map(u64::try_from)
                .transpose()
                .map_err(|_| corrupt("rotation period"))?,
            created_at: self.created_at,
            rotated_at: self.rotated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct KekRow {
    keyring: String,
    version: i64,
    suite: String,
    sealed: Vec<u8>,
    created_at: i64,
}

impl KekRow {
    pub(super) fn into_kek(self) -> Result<SealedKek, StoreFailure> {
        Ok(SealedKek {
            keyring: KeyringName::parse(&self.keyring).map_err(|_| corrupt("keyring name"))?,
            version: version(self.version)?,
            suite: Suite::parse(&self.suite).map_err(|_| corrupt("key version suite"))?,
            sealed: self.sealed,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct SubjectKeyRow {
    keyring: String,
    subject: String,
    version: i64,
    kek_version: i64,
    sealed: Vec<u8>,
    created_at: i64,
}

impl SubjectKeyRow {
    pub(super) fn into_key(self) -> Result<SealedDataKey, StoreFailure> {
        Ok(SealedDataKey {
            keyring: KeyringName::parse(&self.keyring).map_err(|_| corrupt("keyring name"))?,
            subject: SubjectId::parse(&self.subject).map_err(|_| corrupt("subject id"))?,
            version: version(self.version)?,
            kek_version: version(self.kek_version)?,
            sealed: self.sealed,
            created_at: self.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct StoredFieldRow {
    subject: String,
    field: String,
    keyring: String,
    version: i64,
    ciphertext: String,
    token: String,
    updated_at: i64,
}

impl StoredFieldRow {
    pub(super) fn into_field(self) -> Result<baomi_vault::StoredField, StoreFailure> {
        Ok(baomi_vault::StoredField {
            subject: SubjectId::parse(&self.subject).map_err(|_| corrupt("subject id"))?,
            field: self.field,
            keyring: KeyringName::parse(&self.keyring).map_err(|_| corrupt("keyring name"))?,
            version: version(self.version)?,
            ciphertext: self.ciphertext,
            token: self.token,
            updated_at: self.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(super) struct ErasureRow {
    subject: String,
    receipt_id: String,
    erased_at: i64,
}

impl ErasureRow {
    pub(super) fn into_erasure(self) -> Result<baomi_vault::Erasure, StoreFailure> {
        Ok(baomi_vault::Erasure {
            subject: SubjectId::parse(&self.subject).map_err(|_| corrupt("subject id"))?,
            receipt_id: self.receipt_id,
            erased_at: self.erased_at,
        })
    }
}

/// Implements [`baomi_vault::VaultStore`] for `$store`, whose `pool` is an sqlx pool.
macro_rules! impl_vault_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl baomi_vault::VaultStore for $store {
            async fn keyring(
                &self,
                name: &baomi_vault::KeyringName,
            ) -> Result<Option<baomi_vault::Keyring>, baomi_vault::StoreFailure> {
                let row: Option<$crate::store::vault::KeyringRow> = sqlx::query_as(
                    "SELECT name, suite, latest_version, min_decryption_version, \
                     rotation_period_secs, created_at, rotated_at FROM keyrings WHERE name = $1",
                )
                .bind(name.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::store::vault::failure)?;
                let Some(row) = row else {
                    return Ok(None);
                };
                let suites: Vec<(String,)> = sqlx::query_as(
                    "SELECT suite FROM keyring_keks WHERE keyring = $1 \
                     GROUP BY suite ORDER BY MIN(version)",
                )
                .bind(name.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::vault::failure)?;
                let suites: Vec<String> = suites.into_iter().map(|(s,)| s).collect();
                row.into_keyring(&suites).map(Some)
            }

            async fn keyrings(
                &self,
            ) -> Result<Vec<baomi_vault::Keyring>, baomi_vault::StoreFailure> {
                let rows: Vec<$crate::store::vault::KeyringRow> = sqlx::query_as(
                    "SELECT name, suite, latest_version, min_decryption_version, \
                     rotation_period_secs, created_at, rotated_at FROM keyrings ORDER BY name",
                )
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::vault::failure)?;
                let pairs: Vec<(String, String)> = sqlx::query_as(
                    "SELECT keyring, suite FROM keyring_keks \
                     GROUP BY keyring, suite ORDER BY keyring, MIN(version)",
                )
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::vault::failure)?;
                let mut by_keyring: std::collections::HashMap<String, Vec<String>> =
                    std::collections::HashMap::new();
                for (keyring, suite) in pairs {
                    by_keyring.entry(keyring).or_default().push(suite);
                }
                rows.into_iter()
                    .map(|r| {
                        let suites = by_keyring.remove(&r.name).unwrap_or_default();
                        r.into_keyring(&suites)
                    })
                    .collect()
            }

            async fn create_keyring(
                &self,
                keyring: &baomi_vault::Keyring,
                first: &baomi_vault::SealedKek,
                audit: &[baomi_audit::AccessEvent],
            ) -> Result<bool, baomi_vault::StoreFailure> {
                let f = $crate::store::vault::failure;
                let mut tx = self.pool.begin().await.map_err(f)?;
                let created = sqlx::query(
                    "INSERT INTO keyrings (name, suite, latest_version, min_decryption_version, \
                     rotation_period_secs, created_at, rotated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING",
                )
                .bind(keyring.name.as_str())
                .bind(keyring.suite.as_str())
                .bind(i64::from(keyring.latest_version))
                .bind(i64::from(keyring.min_decryption_version))
                .bind(keyring.rotation_period_secs.map(|p| i64::try_from(p).unwrap_or(i64::MAX)))
                .bind(keyring.created_at)
                .bind(keyring.rotated_at)
                .execute(&mut *tx)
                .await
                .map_err(f)?
                .rows_affected();
                if created == 1 {
                    insert_kek(&mut tx, first).await.map_err(f)?;
                }
                finish_change(tx, created, audit).await.map_err(f)
            }

            async fn kek(
                &self,
                keyring: &baomi_vault::KeyringName,
                version: u32,
            ) -> Result<Option<baomi_vault::SealedKek>, baomi_vault::StoreFailure> {
                let row: Option<$crate::store::vault::KekRow> = sqlx::query_as(
                    "SELECT keyring, version, suite, sealed, created_at FROM keyring_keks \
                     WHERE keyring = $1 AND version = $2",
                )
                .bind(keyring.as_str())
                .bind(i64::from(version))
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::store::vault::failure)?;
                row.map(|r| r.into_kek()).transpose()
            }

            async fn add_kek(
                &self,
                kek: &baomi_vault::SealedKek,
                audit: &[baomi_audit::AccessEvent],
            ) -> Result<bool, baomi_vault::StoreFailure> {
                let f = $crate::store::vault::failure;
                let mut tx = self.pool.begin().await.map_err(f)?;
                let moved = sqlx::query(
                    "UPDATE keyrings SET latest_version = $2, rotated_at = $3, suite = $5 \
                     WHERE name = $1 AND latest_version = $4",
                )
                .bind(kek.keyring.as_str())
                .bind(i64::from(kek.version))
                .bind(kek.created_at)
                .bind(i64::from(kek.version) - 1)
                .bind(kek.suite.as_str())
                .execute(&mut *tx)
                .await
                .map_err(f)?
                .rows_affected();
                if moved == 1 {
                    insert_kek(&mut tx, kek).await.map_err(f)?;
                }
                finish_change(tx, moved, audit).await.map_err(f)
            }

            async fn set_policy(
                &self,
                keyring: &baomi_vault::KeyringName,
                min_decryption_version: u32,
                rotation_period_secs: Option<u64>,
                audit: &[baomi_audit::AccessEvent],
            ) -> Result<baomi_vault::PolicyOutcome, baomi_vault::StoreFailure> {
                let f = $crate::store::vault::failure;
                let mut tx = self
                    .write_locked(
                        <$store as $crate::store::common::Backend>::LOCK_KEYRING,
                        keyring.as_str(),
                    )
                    .await?;
                let (current,): (i64,) = sqlx::query_as(
                    "SELECT min_decryption_version FROM keyrings WHERE name = $1",
                )
                .bind(keyring.as_str())
                .fetch_one(&mut *tx)
                .await
                .map_err(f)?;
                let min = i64::from(min_decryption_version);
                // The minimum never goes down: a concurrent, higher value wins.
                if current > min {
                    tx.rollback().await.map_err(f)?;
                    return Ok(baomi_vault::PolicyOutcome::WouldLower);
                }
                let below: Option<(String,)> = sqlx::query_as(
                    "SELECT field FROM subject_fields WHERE keyring = $1 AND version < $2 LIMIT 1",
                )
                .bind(keyring.as_str())
                .bind(min)
                .fetch_optional(&mut *tx)
                .await
                .map_err(f)?;
                if below.is_some() {
                    tx.rollback().await.map_err(f)?;
                    return Ok(baomi_vault::PolicyOutcome::StoredFieldsBelow);
                }
                sqlx::query(
                    "UPDATE keyrings SET min_decryption_version = $2, rotation_period_secs = $3 \
                     WHERE name = $1",
                )
                .bind(keyring.as_str())
                .bind(min)
                .bind(rotation_period_secs.map(|p| i64::try_from(p).unwrap_or(i64::MAX)))
                .execute(&mut *tx)
                .await
                .map_err(f)?;
                commit_change(tx, audit).await.map_err(f)?;
                Ok(baomi_vault::PolicyOutcome::Set)
            }

            async fn subject_key(
                &self,
                keyring: &baomi_vault::KeyringName,
                subject: &baomi_vault::SubjectId,
                version: u32,
            ) -> Result<Option<baomi_vault::SealedDataKey>, baomi_vault::StoreFailure> {
                let row: Option<$crate::store::vault::SubjectKeyRow> = sqlx::query_as(
                    "SELECT keyring, subject, version, kek_version, sealed, created_at \
                     FROM subject_keys WHERE keyring = $1 AND subject = $2 AND version = $3",
                )
                .bind(keyring.as_str())
                .bind(subject.as_str())
                .bind(i64::from(version))
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::store::vault::failure)?;
                row.map(|r| r.into_key()).transpose()
            }

            async fn insert_subject_key(
                &self,
                key: &baomi_vault::SealedDataKey,
            ) -> Result<Option<baomi_vault::SealedDataKey>, baomi_vault::StoreFailure> {
                let f = $crate::store::vault::failure;
                let mut tx = self.write_for_subject(key.subject.as_str()).await?;
                if erased_in(&mut *tx, key.subject.as_str()).await? {
                    tx.rollback().await.map_err(f)?;
                    return Ok(None);
                }
                // Not for a version that was retired meanwhile (a node's keyring may be stale).
                sqlx::query(
                    "INSERT INTO subject_keys \
                     (keyring, subject, version, kek_version, sealed, created_at) \
                     SELECT $1, $2, $3, $4, $5, $6 \
                     WHERE $3 >= (SELECT min_decryption_version FROM keyrings WHERE name = $1) \
                     ON CONFLICT (keyring, subject, version) DO NOTHING",
                )
                .bind(key.keyring.as_str())
                .bind(key.subject.as_str())
                .bind(i64::from(key.version))
                .bind(i64::from(key.kek_version))
                .bind(&key.sealed)
                .bind(key.created_at)
                .execute(&mut *tx)
                .await
                .map_err(f)?;
                let row: Option<$crate::store::vault::SubjectKeyRow> = sqlx::query_as(
                    "SELECT keyring, subject, version, kek_version, sealed, created_at \
                     FROM subject_keys WHERE keyring = $1 AND subject = $2 AND version = $3",
                )
                .bind(key.keyring.as_str())
                .bind(key.subject.as_str())
                .bind(i64::from(key.version))
                .fetch_optional(&mut *tx)
                .await
                .map_err(f)?;
                tx.commit().await.map_err(f)?;
                row.map(|r| r.into_key()).transpose()
            }

            async fn erasure(
                &self,
                subject: &baomi_vault::SubjectId,
            ) -> Result<Option<baomi_vault::Erasure>, baomi_vault::StoreFailure> {
                let row: Option<$crate::store::vault::ErasureRow> = sqlx::query_as(
                    "SELECT subject, receipt_id, erased_at FROM erasures WHERE subject = $1",
                )
                .bind(subject.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::store::vault::failure)?;
                row.map(|r| r.into_erasure()).transpose()
            }

            async fn erase_subject(
                &self,
                erasure: &baomi_vault::Erasure,
                audit: &[baomi_audit::AccessEvent],
            ) -> Result<baomi_vault::ErasureCounts, baomi_vault::StoreFailure> {
                let f = $crate::store::vault::failure;
                // One transaction, serialised with every other write about this subject: the
                // record and the destruction happen together or not at all.
                let mut tx = self.write_for_subject(erasure.subject.as_str()).await?;
                sqlx::query(
                    "INSERT INTO erasures (subject, receipt_id, erased_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (subject) DO NOTHING",
                )
                .bind(erasure.subject.as_str())
                .bind(&erasure.receipt_id)
                .bind(erasure.erased_at)
                .execute(&mut *tx)
                .await
                .map_err(f)?;
                let mut deleted = [0u64; 3];
                for (n, table) in ["subject_keys", "subject_fields", "blind_index"]
                    .iter()
                    .enumerate()
                {
                    deleted[n] = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DELETE FROM {table} WHERE subject = $1"
                    )))
                    .bind(erasure.subject.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(f)?
                    .rows_affected();
                }
                commit_change(tx, audit).await.map_err(f)?;
                Ok(baomi_vault::ErasureCounts {
                    data_keys: deleted[0],
                    fields: deleted[1],
                    index_entries: deleted[2],
                })
            }

            async fn sweep_erased(&self) -> Result<u64, baomi_vault::StoreFailure> {
                let mut swept = 0;
                for table in ["subject_keys", "subject_fields", "blind_index"] {
                    swept += sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DELETE FROM {table} WHERE subject IN (SELECT subject FROM erasures)"
                    )))
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::vault::failure)?
                    .rows_affected();
                }
                Ok(swept)
            }

            async fn subject_keys_sealed_below(
                &self,
                keyring: &baomi_vault::KeyringName,
                kek_version: u32,
                limit: u32,
            ) -> Result<Vec<baomi_vault::SealedDataKey>, baomi_vault::StoreFailure> {
                let rows: Vec<$crate::store::vault::SubjectKeyRow> = sqlx::query_as(
                    "SELECT keyring, subject, version, kek_version, sealed, created_at \
                     FROM subject_keys WHERE keyring = $1 AND kek_version < $2 \
                     ORDER BY subject, version LIMIT $3",
                )
                .bind(keyring.as_str())
                .bind(i64::from(kek_version))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::vault::failure)?;
                rows.into_iter().map(|r| r.into_key()).collect()
            }

            async fn reseal_subject_key(
                &self,
                key: &baomi_vault::SealedDataKey,
                previous_kek_version: u32,
            ) -> Result<bool, baomi_vault::StoreFailure> {
                let changed = sqlx::query(
                    "UPDATE subject_keys SET kek_version = $4, sealed = $5 \
                     WHERE keyring = $1 AND subject = $2 AND version = $3 AND kek_version = $6",
                )
                .bind(key.keyring.as_str())
                .bind(key.subject.as_str())
                .bind(i64::from(key.version))
                .bind(i64::from(key.kek_version))
                .bind(&key.sealed)
                .bind(i64::from(previous_kek_version))
                .execute(&self.pool)
                .await
                .map_err($crate::store::vault::failure)?
                .rows_affected();
                Ok(changed == 1)
            }

            async fn put_fields(
                &self,
                subject: &baomi_vault::SubjectId,
                fields: &[baomi_vault::StoredField],
                index: &[baomi_vault::IndexEntry],
                audit: &[baomi_audit::AccessEvent],
            ) -> Result<baomi_vault::PutOutcome, baomi_vault::StoreFailure> {
                let f = $crate::store::vault::failure;
                let mut tx = self.write_for_subject(subject.as_str()).await?;
                if erased_in(&mut *tx, subject.as_str()).await? {
                    tx.rollback().await.map_err(f)?;
                    return Ok(baomi_vault::PutOutcome::Erased);
                }
                // No field below its keyring's minimum version (a policy change waits for
                // this transaction, and this one sees any change committed before it).
                let mut minimums: Vec<(&str, i64)> = Vec::new();
                for field in fields {
                    let ring = field.keyring.as_str();
                    let min = match minimums.iter().find(|(k, _)| *k == ring) {
                        Some((_, m)) => *m,
                        None => {
                            let (m,): (i64,) = sqlx::query_as(
                                <$store as $crate::store::common::Backend>::READ_MIN_VERSION,
                            )
                            .bind(ring)
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(f)?;
                            minimums.push((ring, m));
                            m
                        }
                    };
                    if i64::from(field.version) < min {
                        tx.rollback().await.map_err(f)?;
                        return Ok(baomi_vault::PutOutcome::VersionRetired);
                    }
                }
                for field in fields {
                    for table in ["subject_fields", "blind_index"] {
                        sqlx::query(sqlx::AssertSqlSafe(format!(
                            "DELETE FROM {table} WHERE subject = $1 AND field = $2"
                        )))
                        .bind(subject.as_str())
                        .bind(&field.field)
                        .execute(&mut *tx)
                        .await
                        .map_err(f)?;
                    }
                }
                if !fields.is_empty() {
                    let mut insert = sqlx::QueryBuilder::new(
                        "INSERT INTO subject_fields \
                         (subject, field, keyring, version, ciphertext, token, updated_at) ",
                    );
                    insert.push_values(fields, |mut row, field| {
                        row.push_bind(field.subject.as_str())
                            .push_bind(&field.field)
                            .push_bind(field.keyring.as_str())
                            .push_bind(i64::from(field.version))
                            .push_bind(&field.ciphertext)
                            .push_bind(&field.token)
                            .push_bind(field.updated_at);
                    });
                    match insert.build().execute(&mut *tx).await {
                        Ok(_) => {}
                        Err(e) => {
                            let err = $crate::store::StoreError::from(e);
                            let _ = tx.rollback().await;
                            return match err {
                                $crate::store::StoreError::Conflict => {
                                    Ok(baomi_vault::PutOutcome::TokenClash)
                                }
                                other => Err(other.into()),
                            };
                        }
                    }
                }
                if !index.is_empty() {
                    let mut insert = sqlx::QueryBuilder::new(
                        "INSERT INTO blind_index (keyring, field, digest, subject) ",
                    );
                    insert.push_values(index, |mut row, entry| {
                        row.push_bind(&entry.keyring)
                            .push_bind(&entry.field)
                            .push_bind(&entry.digest)
                            .push_bind(entry.subject.as_str());
                    });
                    insert.build().execute(&mut *tx).await.map_err(f)?;
                }
                commit_change(tx, audit).await.map_err(f)?;
                Ok(baomi_vault::PutOutcome::Stored)
            }

            async fn fields(
                &self,
                subject: &baomi_vault::SubjectId,
            ) -> Result<Vec<baomi_vault::StoredField>, baomi_vault::StoreFailure> {
                let rows: Vec<$crate::store::vault::StoredFieldRow> = sqlx::query_as(
                    "SELECT subject, field, keyring, version, ciphertext, token, updated_at \
                     FROM subject_fields \
                     WHERE subject = $1 ORDER BY field",
                )
                .bind(subject.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::vault::failure)?;
                rows.into_iter().map(|r| r.into_field()).collect()
            }

            async fn field_by_token(
                &self,
                token: &str,
            ) -> Result<Option<baomi_vault::StoredField>, baomi_vault::StoreFailure> {
                let row: Option<$crate::store::vault::StoredFieldRow> = sqlx::query_as(
                    "SELECT subject, field, keyring, version, ciphertext, token, updated_at \
                     FROM subject_fields \
                     WHERE token = $1",
                )
                .bind(token)
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::store::vault::failure)?;
                row.map(|r| r.into_field()).transpose()
            }

            async fn stored_fields_below(
                &self,
                keyring: &baomi_vault::KeyringName,
                version: u32,
                limit: u32,
            ) -> Result<Vec<baomi_vault::StoredField>, baomi_vault::StoreFailure> {
                let rows: Vec<$crate::store::vault::StoredFieldRow> = sqlx::query_as(
                    "SELECT subject, field, keyring, version, ciphertext, token, updated_at \
                     FROM subject_fields WHERE keyring = $1 AND version < $2 \
                     ORDER BY version LIMIT $3",
                )
                .bind(keyring.as_str())
                .bind(i64::from(version))
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::vault::failure)?;
                rows.into_iter().map(|r| r.into_field()).collect()
            }

            async fn replace_ciphertext(
                &self,
                field: &baomi_vault::StoredField,
                previous_ciphertext: &str,
            ) -> Result<bool, baomi_vault::StoreFailure> {
                let changed = sqlx::query(
                    "UPDATE subject_fields SET ciphertext = $3, keyring = $4, version = $5 \
                     WHERE subject = $1 AND field = $2 AND ciphertext = $6",
                )
                .bind(field.subject.as_str())
                .bind(&field.field)
                .bind(&field.ciphertext)
                .bind(field.keyring.as_str())
                .bind(i64::from(field.version))
                .bind(previous_ciphertext)
                .execute(&self.pool)
                .await
                .map_err($crate::store::vault::failure)?
                .rows_affected();
                Ok(changed == 1)
            }

            async fn lowest_stored_version(
                &self,
                keyring: &baomi_vault::KeyringName,
            ) -> Result<Option<u32>, baomi_vault::StoreFailure> {
                let row: Option<(i64,)> = sqlx::query_as(
                    "SELECT version FROM subject_fields WHERE keyring = $1 \
                     ORDER BY version LIMIT 1",
                )
                .bind(keyring.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err($crate::store::vault::failure)?;
                row.map(|(v,)| {
                    u32::try_from(v).map_err(|_| baomi_vault::StoreFailure {
                        unavailable: false,
                        detail: "corrupt record: key version".to_owned(),
                    })
                })
                .transpose()
            }

            async fn search_index(
                &self,
                keyring: &str,
                field: &str,
                digests: [&[u8]; 2],
            ) -> Result<Vec<baomi_vault::SubjectId>, baomi_vault::StoreFailure> {
                let rows: Vec<(String,)> = sqlx::query_as(
                    "SELECT DISTINCT subject FROM blind_index \
                     WHERE keyring = $1 AND field = $2 AND digest IN ($3, $4) \
                     ORDER BY subject LIMIT 1000",
                )
                .bind(keyring)
                .bind(field)
                .bind(digests[0])
                .bind(digests[1])
                .fetch_all(&self.pool)
                .await
                .map_err($crate::store::vault::failure)?;
                rows.into_iter()
                    .map(|(s,)| {
                        baomi_vault::SubjectId::parse(&s).map_err(|_| baomi_vault::StoreFailure {
                            unavailable: false,
                            detail: "corrupt record: subject id".to_owned(),
                        })
                    })
                    .collect()
            }

            async fn delete_subject_keys_below(
                &self,
                keyring: &baomi_vault::KeyringName,
                version: u32,
            ) -> Result<u64, baomi_vault::StoreFailure> {
                Ok(sqlx::query("DELETE FROM subject_keys WHERE keyring = $1 AND version < $2")
                    .bind(keyring.as_str())
                    .bind(i64::from(version))
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::vault::failure)?
                    .rows_affected())
            }
        }

        /// Whether `subject` has an erasure record, read inside a transaction.
        async fn erased_in<'e, E>(
            executor: E,
            subject: &str,
        ) -> Result<bool, baomi_vault::StoreFailure>
        where
            E: sqlx::Executor<'e, Database = <$store as $crate::store::common::Pooled>::Db>,
        {
            let found: Option<(String,)> =
                sqlx::query_as("SELECT subject FROM erasures WHERE subject = $1")
                    .bind(subject)
                    .fetch_optional(executor)
                    .await
                    .map_err($crate::store::vault::failure)?;
            Ok(found.is_some())
        }

        impl $store {
            /// A write transaction holding the subject's lock (see `Backend`).
            async fn write_for_subject(
                &self,
                subject: &str,
            ) -> Result<
                sqlx::Transaction<'static, <$store as $crate::store::common::Pooled>::Db>,
                baomi_vault::StoreFailure,
            > {
                self.write_locked(
                    <$store as $crate::store::common::Backend>::LOCK_SUBJECT,
                    subject,
                )
                .await
            }

            /// A write transaction that first runs `lock` (if the backend needs one) on `key`.
            async fn write_locked(
                &self,
                lock: Option<&'static str>,
                key: &str,
            ) -> Result<
                sqlx::Transaction<'static, <$store as $crate::store::common::Pooled>::Db>,
                baomi_vault::StoreFailure,
            > {
                let f = $crate::store::vault::failure;
                let mut tx = self
                    .pool
                    .begin_with(<$store as $crate::store::common::Backend>::BEGIN_WRITE)
                    .await
                    .map_err(f)?;
                if let Some(lock) = lock {
                    sqlx::query(lock).bind(key).execute(&mut *tx).await.map_err(f)?;
                }
                Ok(tx)
            }
        }


        /// Stores a KEK version, in `conn`'s transaction.
        async fn insert_kek(
            conn: &mut <<$store as $crate::store::common::Pooled>::Db as sqlx::Database>::Connection,
            kek: &baomi_vault::SealedKek,
        ) -> Result<(), sqlx::Error> {
            sqlx::query(
                "INSERT INTO keyring_keks (keyring, version, suite, sealed, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(kek.keyring.as_str())
            .bind(i64::from(kek.version))
            .bind(kek.suite.as_str())
            .bind(&kek.sealed)
            .bind(kek.created_at)
            .execute(&mut *conn)
            .await?;
            Ok(())
        }
    };
}
