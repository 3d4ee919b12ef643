//! The audit log's checkpoint signing keys (see `crate::service::signing_keys`): one row per
//! key, grouped in generations, each generation taking over at a tree size. The table is
//! append-only; a new generation is written whole, with its audit event, or not at all.
//!
//! Written once for both backends, for any `Pooled` store, like `quotas`.

use async_trait::async_trait;
use baomi_types::AccessEvent;
use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Type};

use super::StoreError;
use super::common::Pooled;

/// One checkpoint signing key as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredSigningKey {
    /// Its generation: 1 for the first, one more for each rotation.
    pub generation: i64,
    /// Its place in the generation: 0 for the primary key.
    pub position: i64,
    /// `ed25519` or `sm2`.
    pub algorithm: String,
    /// Its verifier key, `<name>+<id>+<key>`.
    pub verifier_key: String,
    /// `sealed` (generated, sealed under the root key), `hsm` (generated in the HSM, which
    /// keeps it), `file` (read from a key file) or `derived` (derived from the root key, by
    /// releases before keys of their own).
    pub source: String,
    /// The sealed private key, for `sealed` keys.
    pub sealed: Option<Vec<u8>>,
    /// The label of the key pair on the HSM's token, for `hsm` keys.
    pub token_label: Option<String>,
    /// The tree size when the generation took over: the previous generation may have signed
    /// trees up to this size, no larger.
    pub from_size: i64,
    /// When it was made (Unix milliseconds).
    pub created_at: i64,
}

/// The history of checkpoint signing keys.
#[async_trait]
pub trait SigningKeyStore: Send + Sync {
    /// Every key, oldest generation first, primary first within one.
    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError>;

    /// The newest generation, if any.
    async fn newest_signing_generation(&self) -> Result<Option<i64>, StoreError>;

    /// Adds the keys of one new generation, with the events that record it, in one
    /// transaction; `false` (nothing written) if that generation exists already, because
    /// another node wrote it first.
    async fn add_signing_keys(
        &self,
        keys: &[StoredSigningKey],
        audit: &[AccessEvent],
    ) -> Result<bool, StoreError>;
}

const SELECT: &str = "SELECT generation, position, algorithm, verifier_key, source, sealed, \
     token_label, from_size, created_at FROM audit_signing_keys ORDER BY generation, position";
const NEWEST: &str = "SELECT MAX(generation) FROM audit_signing_keys";
const INSERT: &str = "INSERT INTO audit_signing_keys \
     (generation, position, algorithm, verifier_key, source, sealed, token_label, from_size, \
     created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (generation, position) DO NOTHING \
     RETURNING generation";

#[async_trait]
impl<S> SigningKeyStore for S
where
    S: Pooled,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'c> &'c Pool<S::Db>: Executor<'c, Database = S::Db>,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    for<'a> i64: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> &'a str: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> String: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> Option<&'a [u8]>: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> Option<&'a str>: Encode<'a, S::Db> + Type<S::Db>,
    for<'r> StoredSigningKey: sqlx::FromRow<'r, <S::Db as Database>::Row>,
    for<'r> (Option<i64>,): sqlx::FromRow<'r, <S::Db as Database>::Row>,
{
    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        Ok(sqlx::query_as::<S::Db, StoredSigningKey>(SELECT)
            .fetch_all(self.pool())
            .await?)
    }

    async fn newest_signing_generation(&self) -> Result<Option<i64>, StoreError> {
        let (newest,): (Option<i64>,) = sqlx::query_as::<S::Db, (Option<i64>,)>(NEWEST)
            .fetch_one(self.pool())
            .await?;
        Ok(newest)
    }

    async fn add_signing_keys(
        &self,
        keys: &[StoredSigningKey],
        audit: &[AccessEvent],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        for key in keys {
            let inserted = sqlx::query::<S::Db>(INSERT)
                .bind(key.generation)
                .bind(key.position)
                .bind(key.algorithm.as_str())
                .bind(key.verifier_key.as_str())
                .bind(key.source.as_str())
                .bind(key.sealed.as_deref())
                .bind(key.token_label.as_deref())
                .bind(key.from_size)
                .bind(key.created_at)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            if !inserted {
                tx.rollback().await?;
                return Ok(false);
            }
        }
        super::common::queue_audit::<S::Db>(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }
}
