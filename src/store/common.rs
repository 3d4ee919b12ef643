//! The queries both backends run in the same words, and what the stores written once for
//! both share: [`Pooled`] and [`Backend`] (what differs between the backends, as
//! statements), the outbox ([`queue_audit`]), serialised writes ([`write_locked`]), and the
//! root key and API keys ([`super::SetupStore`], [`super::KeyStore`]) as one generic
//! implementation.

use async_trait::async_trait;
use baomi_types::AccessEvent;
use sqlx::{Database, Decode, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::records::{ApiKeyRow, RootKeyRow};
use super::{KeyStore, RevokeOutcome, SetupStore, StoreError, StoredRoot};
use crate::auth::api_key::ApiKeyRecord;

/// Revokes key `$1` at time `$2` unless it is revoked already or is the last active admin
/// key. Atomic by itself on SQLite (one writer at a time); PostgreSQL locks the active admin
/// rows first ([`Backend::LOCK_ADMINS`]).
const REVOKE_KEY: &str = "UPDATE api_keys SET revoked_at = $2 \
     WHERE id = $1 AND revoked_at IS NULL AND (role <> 'admin' OR \
     (SELECT COUNT(*) FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL) > 1) \
     RETURNING id";

/// Baomi's state in a database of kind `DB`: SQLite ([`super::SqliteStore`]) or PostgreSQL
/// ([`super::PgStore`]). One type for both, so that the ports of the domain crates can be
/// implemented once for it, generically (a blanket implementation over [`Backend`] is not
/// allowed for a trait of another crate).
pub struct SqlStore<DB: Database> {
    pub(super) pool: Pool<DB>,
    /// The audit tree's right border, kept between appends.
    pub(super) audit_border: super::audit_log::BorderCache,
}

impl<DB: Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            audit_border: self.audit_border.clone(),
        }
    }
}

impl<DB: Database> std::fmt::Debug for SqlStore<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlStore")
            .field("database", &DB::NAME)
            .finish_non_exhaustive()
    }
}

impl<DB: Database> Pooled for SqlStore<DB> {
    type Db = DB;

    fn pool(&self) -> &Pool<DB> {
        &self.pool
    }
}

/// A store on one sqlx pool: the queries written once for both backends without a macro
/// (`quotas`, `second_factors`) run on it.
pub trait Pooled: Send + Sync {
    /// The sqlx database.
    type Db: sqlx::Database;
    /// The connection pool.
    fn pool(&self) -> &sqlx::Pool<Self::Db>;
}

/// What differs between the backends in the shared queries.
pub trait Backend: Pooled {
    /// Starts a transaction that will write: SQLite takes the write lock at once
    /// (`BEGIN IMMEDIATE`: a deferred transaction that reads, then writes, can fail with
    /// `SQLITE_BUSY_SNAPSHOT` when another commit lands in between).
    const BEGIN_WRITE: &'static str;
    /// Serialises transactions about one subject (`$1`) inside a transaction, where the
    /// backend needs it: PostgreSQL, under READ COMMITTED, would let an erasure and a
    /// concurrent write of the same subject miss each other's rows.
    const LOCK_SUBJECT: Option<&'static str>;
    /// [`Backend::LOCK_SUBJECT`] on every subject of `$1` (their ids separated by spaces,
    /// which an id never holds) in one statement, taking the locks in their own order so
    /// that two such transactions never wait on each other in a cycle.
    const LOCK_SUBJECTS: Option<&'static str>;
    /// Whether many subjects' keys are read, and their replaced fields deleted, with one index
    /// lookup per subject rather than an `IN` list: PostgreSQL's planner, on a table not
    /// analysed since it was nearly empty (a new deployment's first minute of onboarding),
    /// reads an `IN` list by scanning every key of the keyring, once per request.
    const LOOKUP_EACH_SUBJECT: bool;
    /// Reads keyring `$1`'s minimum decryption version, locking the row against a change of
    /// policy until the transaction ends (PostgreSQL `FOR SHARE`; SQLite's write
    /// transactions are serial anyway).
    const READ_MIN_VERSION: &'static str;
    /// Locks keyring `$1` for a change of policy, where the backend needs it.
    const LOCK_KEYRING: Option<&'static str>;
    /// Locks the active admin keys, where the backend needs it, so that two revocations
    /// cannot each leave the other's key as the last admin.
    const LOCK_ADMINS: Option<&'static str>;
    /// Whether this process is the only appender to the audit tree, so that the tree size it
    /// last wrote need not be read back before each append. True for the embedded SQLite
    /// file (one server per file); should another process append anyway, its leaf positions
    /// collide with ours, the append fails (fail closed) and the next one reads the size.
    const SOLE_AUDIT_APPENDER: bool;

    /// How many rows a statement changed. (sqlx has no trait for it: each backend's result
    /// type has its own method.)
    fn rows_affected(done: &<Self::Db as Database>::QueryResult) -> u64;
}

/// Tells from a key's row whether an `UPDATE … revoked_at` that changed nothing found no key,
/// a revoked key, or the last admin key.
fn classify_unrevoked(key: Option<&crate::auth::api_key::ApiKeyRecord>) -> super::RevokeOutcome {
    match key {
        None => super::RevokeOutcome::NotFound,
        Some(k) if k.revoked_at.is_some() => super::RevokeOutcome::AlreadyRevoked,
        Some(_) => super::RevokeOutcome::LastAdmin,
    }
}

/// Queues the audit events of a change in the change's own transaction, for the appender to
/// move into the tree: no change without its record, no record of a change undone.
pub(super) async fn queue_audit<DB>(
    tx: &mut DB::Connection,
    audit: &[baomi_types::AccessEvent],
) -> Result<(), super::StoreError>
where
    DB: sqlx::Database,
    <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    for<'a> String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    for event in audit {
        sqlx::query::<DB>("INSERT INTO audit_outbox (body) VALUES ($1)")
            .bind(event.to_json())
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}

/// Writes a change's audit events in its transaction and commits it.
pub(super) async fn commit_change<DB>(
    mut tx: sqlx::Transaction<'static, DB>,
    audit: &[AccessEvent],
) -> Result<(), StoreError>
where
    DB: Database,
    <DB as Database>::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
{
    queue_audit::<DB>(&mut tx, audit).await?;
    tx.commit().await?;
    Ok(())
}

/// Commits a change that touched a row (`changed`, what its statement returned), with its
/// audit events, or rolls back one that did not, having written nothing; whether it did.
pub(super) async fn finish_change<DB, R>(
    tx: sqlx::Transaction<'static, DB>,
    changed: Option<R>,
    audit: &[AccessEvent],
) -> Result<bool, StoreError>
where
    DB: Database,
    <DB as Database>::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
{
    if changed.is_none() {
        tx.rollback().await?;
        return Ok(false);
    }
    commit_change(tx, audit).await?;
    Ok(true)
}

/// A write transaction serialised with every other one on `key` (a subject's writes, the
/// versions of one purpose or notice, the audit appenders' turn), through the backend's
/// [`Backend::LOCK_SUBJECT`].
pub(super) async fn one_at_a_time<S>(
    store: &S,
    key: &str,
) -> Result<sqlx::Transaction<'static, S::Db>, StoreError>
where
    S: Backend,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    for<'a> &'a str: Encode<'a, S::Db> + Type<S::Db>,
{
    write_locked(store, S::LOCK_SUBJECT, key).await
}

/// [`one_at_a_time`] on several subjects at once (a request's), in one statement.
pub(super) async fn all_at_a_time<S>(
    store: &S,
    subjects: &[&baomi_vault::SubjectId],
) -> Result<sqlx::Transaction<'static, S::Db>, StoreError>
where
    S: Backend,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    for<'a> &'a str: Encode<'a, S::Db> + Type<S::Db>,
{
    let mut tx = store.pool().begin_with(S::BEGIN_WRITE).await?;
    if let Some(lock) = S::LOCK_SUBJECTS {
        let ids: Vec<&str> = subjects.iter().map(|s| s.as_str()).collect();
        sqlx::query::<S::Db>(lock)
            .bind(ids.join(" ").as_str())
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
}

/// A write transaction on `store` that first runs `lock` (if the backend needs one) on
/// `key`: the serialised-write helper of the queries written once for both backends.
pub(super) async fn write_locked<S>(
    store: &S,
    lock: Option<&'static str>,
    key: &str,
) -> Result<sqlx::Transaction<'static, S::Db>, super::StoreError>
where
    S: Backend,
    <S::Db as sqlx::Database>::Arguments: sqlx::IntoArguments<S::Db>,
    for<'c> &'c mut <S::Db as sqlx::Database>::Connection: sqlx::Executor<'c, Database = S::Db>,
    for<'a> &'a str: sqlx::Encode<'a, S::Db> + sqlx::Type<S::Db>,
{
    let mut tx = store.pool().begin_with(S::BEGIN_WRITE).await?;
    if let Some(lock) = lock {
        sqlx::query::<S::Db>(lock)
            .bind(key)
            .execute(&mut *tx)
            .await?;
    }
    Ok(tx)
}

const SELECT_ROOT: &str = "SELECT kdf, salt, nonce, ciphertext FROM root_key WHERE id = 1";
const INSERT_ROOT: &str = "INSERT INTO root_key (id, kdf, salt, nonce, ciphertext, created_at) \
     VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING RETURNING id";
const SELECT_KEY: &str = "SELECT id, name, role, purposes, grants, secret_hash, created_at, \
     created_by, revoked_at, client_certificate FROM api_keys WHERE id = $1";
const LIST_KEYS: &str = "SELECT id, name, role, purposes, grants, secret_hash, created_at, \
     created_by, revoked_at, client_certificate FROM api_keys ORDER BY created_at, id";
const INSERT_KEY: &str = "INSERT INTO api_keys (id, name, role, purposes, grants, secret_hash, \
     created_at, created_by, revoked_at, client_certificate) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
const SET_GRANTS: &str = "UPDATE api_keys SET purposes = $2, grants = $3 \
     WHERE id = $1 AND revoked_at IS NULL RETURNING id";
const FORGET_EXPIRED_REVOCATIONS: &str =
    "DELETE FROM subject_token_revocations WHERE expires_at < $1";
const REVOKE_TOKEN: &str = "INSERT INTO subject_token_revocations \
     (token_id, expires_at, revoked_at) VALUES ($1, $2, $3) ON CONFLICT (token_id) DO NOTHING";
const TOKEN_REVOKED: &str = "SELECT token_id FROM subject_token_revocations WHERE token_id = $1";

/// Writes `key`'s row on `executor`.
async fn insert_key_row<'e, DB, E>(executor: E, key: &ApiKeyRecord) -> Result<(), StoreError>
where
    DB: Database,
    E: Executor<'e, Database = DB>,
    <DB as Database>::Arguments: IntoArguments<DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> Option<i64>: Encode<'a, DB> + Type<DB>,
    for<'a> String: Encode<'a, DB> + Type<DB>,
    for<'a> Option<String>: Encode<'a, DB> + Type<DB>,
    for<'a> Vec<u8>: Encode<'a, DB> + Type<DB>,
{
    let row = ApiKeyRow::from_record(key)?;
    sqlx::query::<DB>(INSERT_KEY)
        .bind(row.id)
        .bind(row.name)
        .bind(row.role)
        .bind(row.purposes)
        .bind(row.grants)
        .bind(row.secret_hash)
        .bind(row.created_at)
        .bind(row.created_by)
        .bind(row.revoked_at)
        .bind(row.client_certificate)
        .execute(executor)
        .await?;
    Ok(())
}

/// (sqlx states what a database can bind and decode as bounds per type, which cannot be
/// bundled into one trait: hence the list, here and on [`KeyStore`]'s implementation.)
#[async_trait]
impl<S> SetupStore for S
where
    S: Backend,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'c> &'c Pool<S::Db>: Executor<'c, Database = S::Db>,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    for<'a> i64: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> Option<i64>: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> String: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> Option<String>: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> Vec<u8>: Encode<'a, S::Db> + Type<S::Db>,
    for<'r> RootKeyRow: FromRow<'r, <S::Db as Database>::Row>,
{
    async fn sealed_root_key(&self) -> Result<Option<StoredRoot>, StoreError> {
        let row: Option<RootKeyRow> = sqlx::query_as::<S::Db, _>(SELECT_ROOT)
            .fetch_optional(self.pool())
            .await?;
        row.map(RootKeyRow::into_sealed).transpose()
    }

    async fn initialize(
        &self,
        sealed: &StoredRoot,
        admin: &ApiKeyRecord,
        now: i64,
    ) -> Result<bool, StoreError> {
        let root = RootKeyRow::from_sealed(sealed)?;
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query::<S::Db>(INSERT_ROOT)
            .bind(root.kdf)
            .bind(root.salt)
            .bind(root.nonce)
            .bind(root.ciphertext)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        if inserted.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_key_row::<S::Db, _>(&mut *tx, admin).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query::<S::Db>("SELECT 1")
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn close(&self) {
        self.pool().close().await;
    }
}

#[async_trait]
impl<S> KeyStore for S
where
    S: Backend,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'c> &'c Pool<S::Db>: Executor<'c, Database = S::Db>,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    for<'a> i64: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> Option<i64>: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> &'a str: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> String: Encode<'a, S::Db> + Type<S::Db> + Decode<'a, S::Db>,
    for<'a> Option<String>: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> Vec<u8>: Encode<'a, S::Db> + Type<S::Db>,
    for<'r> ApiKeyRow: FromRow<'r, <S::Db as Database>::Row>,
    for<'r> (String,): FromRow<'r, <S::Db as Database>::Row>,
{
    async fn insert_key(
        &self,
        key: &ApiKeyRecord,
        audit: &[AccessEvent],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        insert_key_row::<S::Db, _>(&mut *tx, key).await?;
        queue_audit::<S::Db>(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn key(&self, id: &str) -> Result<Option<ApiKeyRecord>, StoreError> {
        let row: Option<ApiKeyRow> = sqlx::query_as::<S::Db, _>(SELECT_KEY)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.map(ApiKeyRow::into_record).transpose()
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows: Vec<ApiKeyRow> = sqlx::query_as::<S::Db, _>(LIST_KEYS)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(ApiKeyRow::into_record).collect()
    }

    async fn revoke_key(
        &self,
        id: &str,
        now: i64,
        audit: &[AccessEvent],
    ) -> Result<RevokeOutcome, StoreError> {
        let mut tx = self.pool().begin_with(S::BEGIN_WRITE).await?;
        if let Some(lock) = S::LOCK_ADMINS {
            sqlx::query::<S::Db>(lock).execute(&mut *tx).await?;
        }
        let revoked: Option<(String,)> = sqlx::query_as::<S::Db, _>(REVOKE_KEY)
            .bind(id)
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
        if revoked.is_some() {
            queue_audit::<S::Db>(&mut tx, audit).await?;
            tx.commit().await?;
            return Ok(RevokeOutcome::Revoked);
        }
        tx.rollback().await?;
        Ok(classify_unrevoked(self.key(id).await?.as_ref()))
    }

    async fn set_key_grants(
        &self,
        key: &ApiKeyRecord,
        audit: &[AccessEvent],
    ) -> Result<bool, StoreError> {
        let row = ApiKeyRow::from_record(key)?;
        let mut tx = self.pool().begin().await?;
        let changed: Option<(String,)> = sqlx::query_as::<S::Db, _>(SET_GRANTS)
            .bind(row.id)
            .bind(row.purposes)
            .bind(row.grants)
            .fetch_optional(&mut *tx)
            .await?;
        if changed.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        queue_audit::<S::Db>(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn revoke_subject_token(
        &self,
        token_id: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), StoreError> {
        // Revocations of expired tokens protect nothing: drop them as we go.
        sqlx::query::<S::Db>(FORGET_EXPIRED_REVOCATIONS)
            .bind(now)
            .execute(self.pool())
            .await?;
        sqlx::query::<S::Db>(REVOKE_TOKEN)
            .bind(token_id)
            .bind(expires_at)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn subject_token_revoked(&self, token_id: &str) -> Result<bool, StoreError> {
        let found: Option<(String,)> = sqlx::query_as::<S::Db, _>(TOKEN_REVOKED)
            .bind(token_id)
            .fetch_optional(self.pool())
            .await?;
        Ok(found.is_some())
    }
}
