//! The queries both backends run in the same words. `impl_common_store!` writes the port
//! implementations once for a store type with a `pool` field; what differs between the
//! backends (connecting, and the concurrency-sensitive `revoke_key`) is written by each.

/// Implements [`super::SetupStore`] and [`super::KeyStore`] for `$store`, whose `pool` is an
/// sqlx pool and which has an inherent `revoke_key_atomic` method.
macro_rules! impl_common_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::SetupStore for $store {
            async fn sealed_root_key(
                &self,
            ) -> Result<Option<$crate::store::StoredRoot>, $crate::store::StoreError> {
                let row: Option<$crate::store::records::RootKeyRow> = sqlx::query_as(
                    "SELECT kdf, salt, nonce, ciphertext FROM root_key WHERE id = 1",
                )
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| r.into_sealed()).transpose()
            }

            async fn initialize(
                &self,
                sealed: &$crate::store::StoredRoot,
                admin: &$crate::store::ApiKeyRecord,
                now: i64,
            ) -> Result<bool, $crate::store::StoreError> {
                let root = $crate::store::records::RootKeyRow::from_sealed(sealed)?;
                let mut tx = self.pool.begin().await?;
                let inserted = sqlx::query(
                    "INSERT INTO root_key (id, kdf, salt, nonce, ciphertext, created_at) \
                     VALUES (1, $1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                )
                .bind(root.kdf)
                .bind(root.salt)
                .bind(root.nonce)
                .bind(root.ciphertext)
                .bind(now)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                insert_key_row(&mut *tx, admin).await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn ping(&self) -> Result<(), $crate::store::StoreError> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn close(&self) {
                self.pool.close().await;
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::KeyStore for $store {
            async fn insert_key(
                &self,
                key: &$crate::store::ApiKeyRecord,
                audit: &[baomi_audit::AccessEvent],
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = self.pool.begin().await?;
                insert_key_row(&mut *tx, key).await?;
                commit_change(tx, audit).await?;
                Ok(())
            }

            async fn key(
                &self,
                id: &str,
            ) -> Result<Option<$crate::store::ApiKeyRecord>, $crate::store::StoreError> {
                let row: Option<$crate::store::records::ApiKeyRow> = sqlx::query_as(
                    "SELECT id, name, role, purposes, grants, secret_hash, created_at, \
                     created_by, revoked_at, client_certificate FROM api_keys WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| r.into_record()).transpose()
            }

            async fn list_keys(
                &self,
            ) -> Result<Vec<$crate::store::ApiKeyRecord>, $crate::store::StoreError> {
                let rows: Vec<$crate::store::records::ApiKeyRow> = sqlx::query_as(
                    "SELECT id, name, role, purposes, grants, secret_hash, created_at, \
                     created_by, revoked_at, client_certificate FROM api_keys \
                     ORDER BY created_at, id",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(|r| r.into_record()).collect()
            }

            async fn revoke_key(
                &self,
                id: &str,
                now: i64,
                audit: &[baomi_audit::AccessEvent],
            ) -> Result<$crate::store::RevokeOutcome, $crate::store::StoreError> {
                self.revoke_key_atomic(id, now, audit).await
            }

            async fn set_key_grants(
                &self,
                key: &$crate::store::ApiKeyRecord,
                audit: &[baomi_audit::AccessEvent],
            ) -> Result<bool, $crate::store::StoreError> {
                let row = $crate::store::records::ApiKeyRow::from_record(key)?;
                let mut tx = self.pool.begin().await?;
                let changed = sqlx::query(
                    "UPDATE api_keys SET purposes = $2, grants = $3 \
                     WHERE id = $1 AND revoked_at IS NULL",
                )
                .bind(row.id)
                .bind(row.purposes)
                .bind(row.grants)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if changed == 0 {
                    return Ok(false);
                }
                commit_change(tx, audit).await?;
                Ok(true)
            }

            async fn revoke_subject_token(
                &self,
                token_id: &str,
                expires_at: i64,
                now: i64,
            ) -> Result<(), $crate::store::StoreError> {
                // Revocations of expired tokens protect nothing: drop them as we go.
                sqlx::query("DELETE FROM subject_token_revocations WHERE expires_at < $1")
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                sqlx::query(
                    "INSERT INTO subject_token_revocations (token_id, expires_at, revoked_at) \
                     VALUES ($1, $2, $3) ON CONFLICT (token_id) DO NOTHING",
                )
                .bind(token_id)
                .bind(expires_at)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn subject_token_revoked(
                &self,
                token_id: &str,
            ) -> Result<bool, $crate::store::StoreError> {
                let found: Option<(String,)> = sqlx::query_as(
                    "SELECT token_id FROM subject_token_revocations WHERE token_id = $1",
                )
                .bind(token_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(found.is_some())
            }
        }

        async fn insert_key_row<'e, E>(
            executor: E,
            key: &$crate::store::ApiKeyRecord,
        ) -> Result<(), $crate::store::StoreError>
        where
            E: sqlx::Executor<'e, Database = <$store as $crate::store::common::Pooled>::Db>,
        {
            let row = $crate::store::records::ApiKeyRow::from_record(key)?;
            sqlx::query(
                "INSERT INTO api_keys (id, name, role, purposes, grants, secret_hash, \
                 created_at, created_by, revoked_at, client_certificate) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
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
    };
}

/// Revokes key `$1` at time `$2` unless it is revoked already or is the last active admin
/// key. Atomic by itself on SQLite (one writer at a time); PostgreSQL locks the active admin
/// rows first.
pub(super) const REVOKE_KEY: &str = "UPDATE api_keys SET revoked_at = $2 \
     WHERE id = $1 AND revoked_at IS NULL AND (role <> 'admin' OR \
     (SELECT COUNT(*) FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL) > 1)";

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
    /// Reads keyring `$1`'s minimum decryption version, locking the row against a change of
    /// policy until the transaction ends (PostgreSQL `FOR SHARE`; SQLite's write
    /// transactions are serial anyway).
    const READ_MIN_VERSION: &'static str;
    /// Locks keyring `$1` for a change of policy, where the backend needs it.
    const LOCK_KEYRING: Option<&'static str>;
    /// Whether this process is the only appender to the audit tree, so that the tree size it
    /// last wrote need not be read back before each append. True for the embedded SQLite
    /// file (one server per file); should another process append anyway, its leaf positions
    /// collide with ours, the append fails (fail closed) and the next one reads the size.
    const SOLE_AUDIT_APPENDER: bool;
}

/// Tells from a key's row whether an `UPDATE … revoked_at` that changed nothing found no key,
/// a revoked key, or the last admin key.
pub(super) fn classify_unrevoked(key: Option<&super::ApiKeyRecord>) -> super::RevokeOutcome {
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
    audit: &[baomi_audit::AccessEvent],
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
