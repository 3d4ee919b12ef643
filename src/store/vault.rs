//! The vault's storage port (`baomi_vault::VaultStore`), written once for both backends,
//! with its rows.

use async_trait::async_trait;
use baomi_types::{AccessEvent, StoreFailure};
use baomi_vault::{
    Erasure, ErasureCounts, IndexEntry, Keyring, KeyringName, PolicyOutcome, PutOutcome,
    SealedDataKey, SealedKek, StoredField, SubjectId, Suite, VaultStore,
};
use sqlx::{Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::audit_log::ROWS_PER_STATEMENT;
use super::common::{
    Backend, Pooled, SqlStore, all_at_a_time, commit_change, finish_change, one_at_a_time,
    write_locked,
};
use super::error::{corrupt, failure};

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
    pub(super) fn into_field(self) -> Result<StoredField, StoreFailure> {
        Ok(StoredField {
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
    pub(super) fn into_erasure(self) -> Result<Erasure, StoreFailure> {
        Ok(Erasure {
            subject: SubjectId::parse(&self.subject).map_err(|_| corrupt("subject id"))?,
            receipt_id: self.receipt_id,
            erased_at: self.erased_at,
        })
    }
}

const SELECT_KEYRING: &str = "SELECT name, suite, latest_version, min_decryption_version, \
     rotation_period_secs, created_at, rotated_at FROM keyrings WHERE name = $1";
const SELECT_KEYRINGS: &str = "SELECT name, suite, latest_version, min_decryption_version, \
     rotation_period_secs, created_at, rotated_at FROM keyrings ORDER BY name";
/// The suites keyring `$1`'s versions used, oldest first.
const SUITES_OF_KEYRING: &str = "SELECT suite FROM keyring_keks WHERE keyring = $1 \
     GROUP BY suite ORDER BY MIN(version)";
const SUITES_OF_KEYRINGS: &str = "SELECT keyring, suite FROM keyring_keks \
     GROUP BY keyring, suite ORDER BY keyring, MIN(version)";
const INSERT_KEYRING: &str = "INSERT INTO keyrings (name, suite, latest_version, \
     min_decryption_version, rotation_period_secs, created_at, rotated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name) DO NOTHING RETURNING name";
const INSERT_KEK: &str = "INSERT INTO keyring_keks (keyring, version, suite, sealed, \
     created_at) VALUES ($1, $2, $3, $4, $5)";
const SELECT_KEK: &str = "SELECT keyring, version, suite, sealed, created_at FROM keyring_keks \
     WHERE keyring = $1 AND version = $2";
/// Moves keyring `$1` from version `$4` to `$2`: no change when another node rotated first.
const ADVANCE_KEYRING: &str = "UPDATE keyrings SET latest_version = $2, rotated_at = $3, \
     suite = $5 WHERE name = $1 AND latest_version = $4 RETURNING name";
const MIN_VERSION: &str = "SELECT min_decryption_version FROM keyrings WHERE name = $1";
const FIELD_BELOW: &str =
    "SELECT field FROM subject_fields WHERE keyring = $1 AND version < $2 LIMIT 1";
const SET_POLICY: &str = "UPDATE keyrings SET min_decryption_version = $2, \
     rotation_period_secs = $3 WHERE name = $1";
const SELECT_SUBJECT_KEY: &str = "SELECT keyring, subject, version, kek_version, sealed, \
     created_at FROM subject_keys WHERE keyring = $1 AND subject = $2 AND version = $3";
/// Not for a version that was retired meanwhile (a node's keyring may be stale).
const INSERT_SUBJECT_KEY: &str = "INSERT INTO subject_keys \
     (keyring, subject, version, kek_version, sealed, created_at) \
     SELECT $1, $2, $3, $4, $5, $6 \
     WHERE $3 >= (SELECT min_decryption_version FROM keyrings WHERE name = $1) \
     ON CONFLICT (keyring, subject, version) DO NOTHING";
/// The start of [`keys_of`]'s query; the keyring, version and subjects are appended.
const SUBJECT_KEYS_OF: &str = "SELECT keyring, subject, version, kek_version, sealed, \
     created_at FROM subject_keys WHERE keyring = ";
/// The subjects among those listed after it (closed by the caller) that were erased.
const ERASED_AMONG: &str = "SELECT subject FROM erasures WHERE subject IN (";
const SELECT_ERASURE: &str =
    "SELECT subject, receipt_id, erased_at FROM erasures WHERE subject = $1";
const INSERT_ERASURE: &str = "INSERT INTO erasures (subject, receipt_id, erased_at) \
     VALUES ($1, $2, $3) ON CONFLICT (subject) DO NOTHING";
/// The tables that hold a subject's keys, values and index entries, in the order
/// [`ErasureCounts`] reports them.
const SUBJECT_TABLES: [&str; 3] = ["subject_keys", "subject_fields", "blind_index"];
const SUBJECT_KEYS_SEALED_BELOW: &str = "SELECT keyring, subject, version, kek_version, \
     sealed, created_at FROM subject_keys WHERE keyring = $1 AND kek_version < $2 \
     ORDER BY subject, version LIMIT $3";
/// Reseals a subject key unless another node resealed it first (`$6`, the KEK version read).
const RESEAL_SUBJECT_KEY: &str = "UPDATE subject_keys SET kek_version = $4, sealed = $5 \
     WHERE keyring = $1 AND subject = $2 AND version = $3 AND kek_version = $6 \
     RETURNING subject";
const SELECT_FIELDS: &str = "SELECT subject, field, keyring, version, ciphertext, token, \
     updated_at FROM subject_fields WHERE subject = $1 ORDER BY field";
const FIELD_BY_TOKEN: &str = "SELECT subject, field, keyring, version, ciphertext, token, \
     updated_at FROM subject_fields WHERE token = $1";
const FIELDS_BELOW: &str = "SELECT subject, field, keyring, version, ciphertext, token, \
     updated_at FROM subject_fields WHERE keyring = $1 AND version < $2 \
     ORDER BY version LIMIT $3";
/// Re-encrypts a value unless it changed since it was read (`$6`, the ciphertext read).
const REPLACE_CIPHERTEXT: &str = "UPDATE subject_fields SET ciphertext = $3, keyring = $4, \
     version = $5 WHERE subject = $1 AND field = $2 AND ciphertext = $6 RETURNING subject";
const LOWEST_STORED_VERSION: &str =
    "SELECT version FROM subject_fields WHERE keyring = $1 ORDER BY version LIMIT 1";
const SEARCH_INDEX: &str = "SELECT DISTINCT subject FROM blind_index \
     WHERE keyring = $1 AND field = $2 AND digest IN ($3, $4) ORDER BY subject LIMIT 1000";
const DELETE_SUBJECT_KEYS_BELOW: &str =
    "DELETE FROM subject_keys WHERE keyring = $1 AND version < $2";

/// Deletes the rows of `table` (`subject_fields` or `blind_index`) of each field's subject
/// and name.
fn delete_pairs<DB>(table: &str, fields: &[StoredField], each: bool) -> sqlx::QueryBuilder<DB>
where
    DB: Database,
    <DB as Database>::Arguments: IntoArguments<DB> + Default,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
{
    if each {
        // One index lookup per pair, fenced (OFFSET 0) as in `keys_of`, and the rows found
        // deleted by their physical ids: a join the planner chose on a table not analysed
        // yet scanned the whole table once per batch.
        let subjects: Vec<&str> = fields.iter().map(|f| f.subject.as_str()).collect();
        let names: Vec<&str> = fields.iter().map(|f| f.field.as_str()).collect();
        let mut q = sqlx::QueryBuilder::<DB>::new(format!(
            "DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT found.ctid FROM \
             unnest(string_to_array("
        ));
        q.push_bind(subjects.join(" "))
            .push(", ' '), string_to_array(")
            .push_bind(names.join(" "))
            .push(format!(
                ", ' ')) AS pairs (subject, field), LATERAL (SELECT ctid FROM {table} \
                 WHERE subject = pairs.subject AND field = pairs.field OFFSET 0) AS found))"
            ));
        return q;
    }
    // The pairs as a subquery: a bare `IN (VALUES …)` of row values makes SQLite scan the
    // whole table, the subquery lets it probe the index for each pair.
    let mut q = sqlx::QueryBuilder::<DB>::new(format!(
        "DELETE FROM {table} WHERE (subject, field) IN (SELECT column1, column2 FROM (VALUES "
    ));
    let mut pairs = q.separated(", ");
    for field in fields {
        pairs.push("(");
        pairs.push_bind_unseparated(field.subject.as_str());
        pairs.push_unseparated(", ");
        pairs.push_bind_unseparated(field.field.as_str());
        pairs.push_unseparated(")");
    }
    q.push(") AS pairs)");
    q
}

/// The data keys of `subjects` for one keyring version.
fn keys_of<DB>(
    keyring: &KeyringName,
    version: u32,
    subjects: &[&SubjectId],
    each: bool,
) -> sqlx::QueryBuilder<DB>
where
    DB: Database,
    <DB as Database>::Arguments: IntoArguments<DB> + Default,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
{
    if each {
        // One index lookup per subject, the subquery fenced (OFFSET 0) so that the planner
        // cannot turn it back into one scan of the keyring's keys.
        let ids: Vec<&str> = subjects.iter().map(|s| s.as_str()).collect();
        let mut q = sqlx::QueryBuilder::<DB>::new(
            "SELECT k.keyring, k.subject, k.version, k.kek_version, k.sealed, k.created_at \
             FROM unnest(string_to_array(",
        );
        q.push_bind(ids.join(" "))
            .push(", ' ')) AS s (subject), LATERAL (SELECT * FROM subject_keys WHERE keyring = ")
            .push_bind(keyring.as_str())
            .push(" AND version = ")
            .push_bind(i64::from(version))
            .push(" AND subject = s.subject OFFSET 0) AS k");
        return q;
    }
    let mut q = sqlx::QueryBuilder::<DB>::new(SUBJECT_KEYS_OF);
    q.push_bind(keyring.as_str())
        .push(" AND version = ")
        .push_bind(i64::from(version))
        .push(" AND subject IN (");
    let mut list = q.separated(", ");
    for subject in subjects {
        list.push_bind(subject.as_str());
    }
    q.push(")");
    q
}

/// Which of `subjects` are erased, in `conn`'s transaction.
async fn erased_among<DB>(
    conn: &mut DB::Connection,
    subjects: &[&SubjectId],
) -> Result<std::collections::HashSet<String>, StoreFailure>
where
    DB: Database,
    <DB as Database>::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'r> (String,): FromRow<'r, DB::Row>,
{
    let mut erased = std::collections::HashSet::new();
    for part in subjects.chunks(ROWS_PER_STATEMENT) {
        let mut q = sqlx::QueryBuilder::<DB>::new(ERASED_AMONG);
        let mut list = q.separated(", ");
        for subject in part {
            list.push_bind(subject.as_str());
        }
        q.push(")");
        let rows: Vec<(String,)> = q
            .build_query_as()
            .fetch_all(&mut *conn)
            .await
            .map_err(failure)?;
        erased.extend(rows.into_iter().map(|(s,)| s));
    }
    Ok(erased)
}

/// Stores a KEK version, in `conn`'s transaction.
async fn insert_kek<DB>(conn: &mut DB::Connection, kek: &SealedKek) -> Result<(), StoreFailure>
where
    DB: Database,
    <DB as Database>::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> &'a [u8]: Encode<'a, DB> + Type<DB>,
{
    sqlx::query::<DB>(INSERT_KEK)
        .bind(kek.keyring.as_str())
        .bind(i64::from(kek.version))
        .bind(kek.suite.as_str())
        .bind(kek.sealed.as_slice())
        .bind(kek.created_at)
        .execute(&mut *conn)
        .await
        .map_err(failure)?;
    Ok(())
}

/// A rotation period as stored.
fn period(secs: Option<u64>) -> Option<i64> {
    secs.map(|p| i64::try_from(p).unwrap_or(i64::MAX))
}

/// (sqlx states what a database can bind and decode as bounds per type, which cannot be
/// bundled into one trait: hence the list.)
#[async_trait]
impl<DB> VaultStore for SqlStore<DB>
where
    DB: Database,
    SqlStore<DB>: Backend + Pooled<Db = DB>,
    <DB as Database>::Arguments: IntoArguments<DB> + Default,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'c> &'c mut <DB as Database>::Connection: Executor<'c, Database = DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> Option<i64>: Encode<'a, DB> + Type<DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> &'a [u8]: Encode<'a, DB> + Type<DB>,
    for<'a> String: Encode<'a, DB> + Type<DB> + Decode<'a, DB>,
    for<'r> (String,): FromRow<'r, <DB as Database>::Row>,
    for<'r> (String, String): FromRow<'r, <DB as Database>::Row>,
    for<'r> (i64,): FromRow<'r, <DB as Database>::Row>,
    for<'r> KeyringRow: FromRow<'r, <DB as Database>::Row>,
    for<'r> KekRow: FromRow<'r, <DB as Database>::Row>,
    for<'r> SubjectKeyRow: FromRow<'r, <DB as Database>::Row>,
    for<'r> StoredFieldRow: FromRow<'r, <DB as Database>::Row>,
    for<'r> ErasureRow: FromRow<'r, <DB as Database>::Row>,
{
    async fn keyring(&self, name: &KeyringName) -> Result<Option<Keyring>, StoreFailure> {
        let row: Option<KeyringRow> = sqlx::query_as::<DB, _>(SELECT_KEYRING)
            .bind(name.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(failure)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let suites: Vec<(String,)> = sqlx::query_as::<DB, _>(SUITES_OF_KEYRING)
            .bind(name.as_str())
            .fetch_all(self.pool())
            .await
            .map_err(failure)?;
        let suites: Vec<String> = suites.into_iter().map(|(s,)| s).collect();
        row.into_keyring(&suites).map(Some)
    }

    async fn keyrings(&self) -> Result<Vec<Keyring>, StoreFailure> {
        let rows: Vec<KeyringRow> = sqlx::query_as::<DB, _>(SELECT_KEYRINGS)
            .fetch_all(self.pool())
            .await
            .map_err(failure)?;
        let pairs: Vec<(String, String)> = sqlx::query_as::<DB, _>(SUITES_OF_KEYRINGS)
            .fetch_all(self.pool())
            .await
            .map_err(failure)?;
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
        keyring: &Keyring,
        first: &SealedKek,
        audit: &[AccessEvent],
    ) -> Result<bool, StoreFailure> {
        let mut tx = self.pool().begin().await.map_err(failure)?;
        let created: Option<(String,)> = sqlx::query_as::<DB, _>(INSERT_KEYRING)
            .bind(keyring.name.as_str())
            .bind(keyring.suite.as_str())
            .bind(i64::from(keyring.latest_version))
            .bind(i64::from(keyring.min_decryption_version))
            .bind(period(keyring.rotation_period_secs))
            .bind(keyring.created_at)
            .bind(keyring.rotated_at)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failure)?;
        if created.is_some() {
            insert_kek::<DB>(&mut tx, first).await?;
        }
        Ok(finish_change(tx, created, audit).await?)
    }

    async fn kek(
        &self,
        keyring: &KeyringName,
        version: u32,
    ) -> Result<Option<SealedKek>, StoreFailure> {
        let row: Option<KekRow> = sqlx::query_as::<DB, _>(SELECT_KEK)
            .bind(keyring.as_str())
            .bind(i64::from(version))
            .fetch_optional(self.pool())
            .await
            .map_err(failure)?;
        row.map(KekRow::into_kek).transpose()
    }

    async fn add_kek(&self, kek: &SealedKek, audit: &[AccessEvent]) -> Result<bool, StoreFailure> {
        let mut tx = self.pool().begin().await.map_err(failure)?;
        let moved: Option<(String,)> = sqlx::query_as::<DB, _>(ADVANCE_KEYRING)
            .bind(kek.keyring.as_str())
            .bind(i64::from(kek.version))
            .bind(kek.created_at)
            .bind(i64::from(kek.version) - 1)
            .bind(kek.suite.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(failure)?;
        if moved.is_some() {
            insert_kek::<DB>(&mut tx, kek).await?;
        }
        Ok(finish_change(tx, moved, audit).await?)
    }

    async fn set_policy(
        &self,
        keyring: &KeyringName,
        min_decryption_version: u32,
        rotation_period_secs: Option<u64>,
        audit: &[AccessEvent],
    ) -> Result<PolicyOutcome, StoreFailure> {
        let mut tx = write_locked(self, Self::LOCK_KEYRING, keyring.as_str()).await?;
        let (current,): (i64,) = sqlx::query_as::<DB, _>(MIN_VERSION)
            .bind(keyring.as_str())
            .fetch_one(&mut *tx)
            .await
            .map_err(failure)?;
        let min = i64::from(min_decryption_version);
        // The minimum never goes down: a concurrent, higher value wins.
        if current > min {
            tx.rollback().await.map_err(failure)?;
            return Ok(PolicyOutcome::WouldLower);
        }
        let below: Option<(String,)> = sqlx::query_as::<DB, _>(FIELD_BELOW)
            .bind(keyring.as_str())
            .bind(min)
            .fetch_optional(&mut *tx)
            .await
            .map_err(failure)?;
        if below.is_some() {
            tx.rollback().await.map_err(failure)?;
            return Ok(PolicyOutcome::StoredFieldsBelow);
        }
        sqlx::query::<DB>(SET_POLICY)
            .bind(keyring.as_str())
            .bind(min)
            .bind(period(rotation_period_secs))
            .execute(&mut *tx)
            .await
            .map_err(failure)?;
        commit_change(tx, audit).await?;
        Ok(PolicyOutcome::Set)
    }

    async fn subject_key(
        &self,
        keyring: &KeyringName,
        subject: &SubjectId,
        version: u32,
    ) -> Result<Option<SealedDataKey>, StoreFailure> {
        let row: Option<SubjectKeyRow> = sqlx::query_as::<DB, _>(SELECT_SUBJECT_KEY)
            .bind(keyring.as_str())
            .bind(subject.as_str())
            .bind(i64::from(version))
            .fetch_optional(self.pool())
            .await
            .map_err(failure)?;
        row.map(SubjectKeyRow::into_key).transpose()
    }

    async fn insert_subject_key(
        &self,
        key: &SealedDataKey,
    ) -> Result<Option<SealedDataKey>, StoreFailure> {
        let mut tx = one_at_a_time(self, key.subject.as_str()).await?;
        if !erased_among::<DB>(&mut tx, &[&key.subject])
            .await?
            .is_empty()
        {
            tx.rollback().await.map_err(failure)?;
            return Ok(None);
        }
        sqlx::query::<DB>(INSERT_SUBJECT_KEY)
            .bind(key.keyring.as_str())
            .bind(key.subject.as_str())
            .bind(i64::from(key.version))
            .bind(i64::from(key.kek_version))
            .bind(key.sealed.as_slice())
            .bind(key.created_at)
            .execute(&mut *tx)
            .await
            .map_err(failure)?;
        // The key this version has now: ours, or the one another node stored first.
        let row: Option<SubjectKeyRow> = sqlx::query_as::<DB, _>(SELECT_SUBJECT_KEY)
            .bind(key.keyring.as_str())
            .bind(key.subject.as_str())
            .bind(i64::from(key.version))
            .fetch_optional(&mut *tx)
            .await
            .map_err(failure)?;
        tx.commit().await.map_err(failure)?;
        row.map(SubjectKeyRow::into_key).transpose()
    }

    async fn subject_keys(
        &self,
        keyring: &KeyringName,
        version: u32,
        subjects: &[&SubjectId],
    ) -> Result<Vec<SealedDataKey>, StoreFailure> {
        let mut out = Vec::with_capacity(subjects.len());
        for part in subjects.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<SubjectKeyRow> =
                keys_of::<DB>(keyring, version, part, Self::LOOKUP_EACH_SUBJECT)
                    .build_query_as()
                    .fetch_all(self.pool())
                    .await
                    .map_err(failure)?;
            for row in rows {
                out.push(row.into_key()?);
            }
        }
        Ok(out)
    }

    async fn insert_subject_keys(
        &self,
        keys: &[SealedDataKey],
    ) -> Result<Vec<Option<SealedDataKey>>, StoreFailure> {
        let Some(first) = keys.first() else {
            return Ok(Vec::new());
        };
        let (keyring, version) = (&first.keyring, first.version);
        if keys
            .iter()
            .any(|k| k.keyring != *keyring || k.version != version)
        {
            // One keyring version per call is what the vault asks; anything else, one by one.
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                out.push(self.insert_subject_key(key).await?);
            }
            return Ok(out);
        }
        let subjects: Vec<&SubjectId> = keys.iter().map(|k| &k.subject).collect();
        // Serialised with each subject's erasure, as the single insert is.
        let mut tx = all_at_a_time(self, &subjects).await?;
        let erased = erased_among::<DB>(&mut tx, &subjects).await?;
        // Not for a version retired meanwhile (a node's keyring may be stale); on PostgreSQL
        // the keyring's row is held against a retirement until this commits.
        let min: Option<(i64,)> = sqlx::query_as::<DB, _>(Self::READ_MIN_VERSION)
            .bind(keyring.as_str())
            .fetch_optional(&mut *tx)
            .await
            .map_err(failure)?;
        let retired = min.is_none_or(|(min,)| i64::from(version) < min);
        let live: Vec<&SealedDataKey> = keys
            .iter()
            .filter(|k| !erased.contains(k.subject.as_str()))
            .collect();
        if !retired {
            for part in live.chunks(ROWS_PER_STATEMENT) {
                let mut q = sqlx::QueryBuilder::<DB>::new(
                    "INSERT INTO subject_keys (keyring, subject, version, kek_version, sealed, \
                     created_at) ",
                );
                q.push_values(part, |mut row, k| {
                    row.push_bind(k.keyring.as_str())
                        .push_bind(k.subject.as_str())
                        .push_bind(i64::from(k.version))
                        .push_bind(i64::from(k.kek_version))
                        .push_bind(k.sealed.as_slice())
                        .push_bind(k.created_at);
                });
                q.push(" ON CONFLICT (keyring, subject, version) DO NOTHING");
                q.build().execute(&mut *tx).await.map_err(failure)?;
            }
        }
        // The keys these subjects have now: ours, or those another node stored first.
        let mut stored = std::collections::HashMap::new();
        let live_subjects: Vec<&SubjectId> = live.iter().map(|k| &k.subject).collect();
        for part in live_subjects.chunks(ROWS_PER_STATEMENT) {
            let rows: Vec<SubjectKeyRow> =
                keys_of::<DB>(keyring, version, part, Self::LOOKUP_EACH_SUBJECT)
                    .build_query_as()
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(failure)?;
            for row in rows {
                let key = row.into_key()?;
                stored.insert(key.subject.as_str().to_owned(), key);
            }
        }
        tx.commit().await.map_err(failure)?;
        Ok(keys
            .iter()
            .map(|k| {
                if erased.contains(k.subject.as_str()) {
                    None
                } else {
                    stored.get(k.subject.as_str()).cloned()
                }
            })
            .collect())
    }

    async fn erasure(&self, subject: &SubjectId) -> Result<Option<Erasure>, StoreFailure> {
        let row: Option<ErasureRow> = sqlx::query_as::<DB, _>(SELECT_ERASURE)
            .bind(subject.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(failure)?;
        row.map(ErasureRow::into_erasure).transpose()
    }

    async fn erase_subject(
        &self,
        erasure: &Erasure,
        audit: &[AccessEvent],
    ) -> Result<ErasureCounts, StoreFailure> {
        // One transaction, serialised with every other write about this subject: the record
        // and the destruction happen together or not at all.
        let mut tx = one_at_a_time(self, erasure.subject.as_str()).await?;
        sqlx::query::<DB>(INSERT_ERASURE)
            .bind(erasure.subject.as_str())
            .bind(erasure.receipt_id.as_str())
            .bind(erasure.erased_at)
            .execute(&mut *tx)
            .await
            .map_err(failure)?;
        let mut deleted = [0u64; 3];
        for (n, table) in SUBJECT_TABLES.iter().enumerate() {
            let done = sqlx::query::<DB>(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE subject = $1"
            )))
            .bind(erasure.subject.as_str())
            .execute(&mut *tx)
            .await
            .map_err(failure)?;
            deleted[n] = Self::rows_affected(&done);
        }
        commit_change(tx, audit).await?;
        Ok(ErasureCounts {
            data_keys: deleted[0],
            fields: deleted[1],
            index_entries: deleted[2],
        })
    }

    async fn sweep_erased(&self) -> Result<u64, StoreFailure> {
        let mut swept = 0;
        for table in SUBJECT_TABLES {
            let done = sqlx::query::<DB>(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE subject IN (SELECT subject FROM erasures)"
            )))
            .execute(self.pool())
            .await
            .map_err(failure)?;
            swept += Self::rows_affected(&done);
        }
        Ok(swept)
    }

    async fn subject_keys_sealed_below(
        &self,
        keyring: &KeyringName,
        kek_version: u32,
        limit: u32,
    ) -> Result<Vec<SealedDataKey>, StoreFailure> {
        let rows: Vec<SubjectKeyRow> = sqlx::query_as::<DB, _>(SUBJECT_KEYS_SEALED_BELOW)
            .bind(keyring.as_str())
            .bind(i64::from(kek_version))
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .map_err(failure)?;
        rows.into_iter().map(SubjectKeyRow::into_key).collect()
    }

    async fn reseal_subject_key(
        &self,
        key: &SealedDataKey,
        previous_kek_version: u32,
    ) -> Result<bool, StoreFailure> {
        let changed: Option<(String,)> = sqlx::query_as::<DB, _>(RESEAL_SUBJECT_KEY)
            .bind(key.keyring.as_str())
            .bind(key.subject.as_str())
            .bind(i64::from(key.version))
            .bind(i64::from(key.kek_version))
            .bind(key.sealed.as_slice())
            .bind(i64::from(previous_kek_version))
            .fetch_optional(self.pool())
            .await
            .map_err(failure)?;
        Ok(changed.is_some())
    }

    async fn put_fields(
        &self,
        fields: &[StoredField],
        index: &[IndexEntry],
        audit: &[AccessEvent],
    ) -> Result<PutOutcome, StoreFailure> {
        let mut subjects: Vec<&SubjectId> = fields.iter().map(|f| &f.subject).collect();
        subjects.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
        subjects.dedup();
        let mut tx = all_at_a_time(self, &subjects).await?;
        let erased = erased_among::<DB>(&mut tx, &subjects).await?;
        if let Some(first) = subjects.iter().find(|s| erased.contains(s.as_str())) {
            tx.rollback().await.map_err(failure)?;
            return Ok(PutOutcome::Erased((*first).clone()));
        }
        // No field below its keyring's minimum version (a policy change waits for this
        // transaction, and this one sees any change committed before it).
        let mut minimums: Vec<(&str, i64)> = Vec::new();
        for field in fields {
            let ring = field.keyring.as_str();
            let min = match minimums.iter().find(|(k, _)| *k == ring) {
                Some((_, m)) => *m,
                None => {
                    let (m,): (i64,) = sqlx::query_as::<DB, _>(Self::READ_MIN_VERSION)
                        .bind(ring)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(failure)?;
                    minimums.push((ring, m));
                    m
                }
            };
            if i64::from(field.version) < min {
                tx.rollback().await.map_err(failure)?;
                return Ok(PutOutcome::VersionRetired);
            }
        }
        for part in fields.chunks(ROWS_PER_STATEMENT) {
            for table in ["subject_fields", "blind_index"] {
                delete_pairs::<DB>(table, part, Self::LOOKUP_EACH_SUBJECT)
                    .build()
                    .execute(&mut *tx)
                    .await
                    .map_err(failure)?;
            }
        }
        // A row whose token is taken is left out, and reported: the vault draws new tokens
        // for those alone (with many subjects a batch, one clash is likely, and redrawing
        // every token would clash again).
        let mut inserted = std::collections::HashSet::with_capacity(fields.len());
        for part in fields.chunks(ROWS_PER_STATEMENT) {
            let mut insert = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO subject_fields \
                 (subject, field, keyring, version, ciphertext, token, updated_at) ",
            );
            insert.push_values(part, |mut row, field| {
                row.push_bind(field.subject.as_str())
                    .push_bind(field.field.as_str())
                    .push_bind(field.keyring.as_str())
                    .push_bind(i64::from(field.version))
                    .push_bind(field.ciphertext.as_str())
                    .push_bind(field.token.as_str())
                    .push_bind(field.updated_at);
            });
            insert.push(" ON CONFLICT (token) DO NOTHING RETURNING subject, field");
            let rows: Vec<(String, String)> = insert
                .build_query_as()
                .fetch_all(&mut *tx)
                .await
                .map_err(failure)?;
            inserted.extend(rows);
        }
        if inserted.len() < fields.len() {
            tx.rollback().await.map_err(failure)?;
            let clashing = fields
                .iter()
                .enumerate()
                .filter(|(_, f)| {
                    !inserted.contains(&(f.subject.as_str().to_owned(), f.field.clone()))
                })
                .map(|(i, _)| i)
                .collect();
            return Ok(PutOutcome::TokenClash(clashing));
        }
        for part in index.chunks(ROWS_PER_STATEMENT) {
            let mut insert = sqlx::QueryBuilder::<DB>::new(
                "INSERT INTO blind_index (keyring, field, digest, subject) ",
            );
            insert.push_values(part, |mut row, entry| {
                row.push_bind(entry.keyring.as_str())
                    .push_bind(entry.field.as_str())
                    .push_bind(entry.digest.as_slice())
                    .push_bind(entry.subject.as_str());
            });
            insert.build().execute(&mut *tx).await.map_err(failure)?;
        }
        commit_change(tx, audit).await?;
        Ok(PutOutcome::Stored)
    }

    async fn fields(&self, subject: &SubjectId) -> Result<Vec<StoredField>, StoreFailure> {
        let rows: Vec<StoredFieldRow> = sqlx::query_as::<DB, _>(SELECT_FIELDS)
            .bind(subject.as_str())
            .fetch_all(self.pool())
            .await
            .map_err(failure)?;
        rows.into_iter().map(StoredFieldRow::into_field).collect()
    }

    async fn field_by_token(&self, token: &str) -> Result<Option<StoredField>, StoreFailure> {
        let row: Option<StoredFieldRow> = sqlx::query_as::<DB, _>(FIELD_BY_TOKEN)
            .bind(token)
            .fetch_optional(self.pool())
            .await
            .map_err(failure)?;
        row.map(StoredFieldRow::into_field).transpose()
    }

    async fn stored_fields_below(
        &self,
        keyring: &KeyringName,
        version: u32,
        limit: u32,
    ) -> Result<Vec<StoredField>, StoreFailure> {
        let rows: Vec<StoredFieldRow> = sqlx::query_as::<DB, _>(FIELDS_BELOW)
            .bind(keyring.as_str())
            .bind(i64::from(version))
            .bind(i64::from(limit))
            .fetch_all(self.pool())
            .await
            .map_err(failure)?;
        rows.into_iter().map(StoredFieldRow::into_field).collect()
    }

    async fn replace_ciphertext(
        &self,
        field: &StoredField,
        previous_ciphertext: &str,
    ) -> Result<bool, StoreFailure> {
        let changed: Option<(String,)> = sqlx::query_as::<DB, _>(REPLACE_CIPHERTEXT)
            .bind(field.subject.as_str())
            .bind(field.field.as_str())
            .bind(field.ciphertext.as_str())
            .bind(field.keyring.as_str())
            .bind(i64::from(field.version))
            .bind(previous_ciphertext)
            .fetch_optional(self.pool())
            .await
            .map_err(failure)?;
        Ok(changed.is_some())
    }

    async fn lowest_stored_version(
        &self,
        keyring: &KeyringName,
    ) -> Result<Option<u32>, StoreFailure> {
        let row: Option<(i64,)> = sqlx::query_as::<DB, _>(LOWEST_STORED_VERSION)
            .bind(keyring.as_str())
            .fetch_optional(self.pool())
            .await
            .map_err(failure)?;
        row.map(|(v,)| version(v)).transpose()
    }

    async fn search_index(
        &self,
        keyring: &str,
        field: &str,
        digests: [&[u8]; 2],
    ) -> Result<Vec<SubjectId>, StoreFailure> {
        let rows: Vec<(String,)> = sqlx::query_as::<DB, _>(SEARCH_INDEX)
            .bind(keyring)
            .bind(field)
            .bind(digests[0])
            .bind(digests[1])
            .fetch_all(self.pool())
            .await
            .map_err(failure)?;
        rows.into_iter()
            .map(|(s,)| SubjectId::parse(&s).map_err(|_| corrupt("subject id")))
            .collect()
    }

    async fn delete_subject_keys_below(
        &self,
        keyring: &KeyringName,
        version: u32,
    ) -> Result<u64, StoreFailure> {
        let done = sqlx::query::<DB>(DELETE_SUBJECT_KEYS_BELOW)
            .bind(keyring.as_str())
            .bind(i64::from(version))
            .execute(self.pool())
            .await
            .map_err(failure)?;
        Ok(Self::rows_affected(&done))
    }
}
