//! Witnesses' cosignatures of the audit log's checkpoints (see
//! `crate::service::witnessing`): per witness and tree size, the checkpoint's note with the
//! cosignature line the witness answered. The table is append-only.
//!
//! Written once for both backends, for any `Pooled` store, like `quotas`.

use async_trait::async_trait;
use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Type};

use super::StoreError;
use super::common::Pooled;

/// A checkpoint a witness cosigned.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredCosignature {
    /// The witness's name.
    pub witness: String,
    /// The checkpoint's tree size.
    pub tree_size: i64,
    /// The checkpoint's note with the witness's cosignature line appended.
    pub note: String,
    /// When the witness cosigned it, by its own clock (Unix seconds).
    pub cosigned_at: i64,
    /// When Baomi received the cosignature (Unix milliseconds).
    pub received_at: i64,
}

/// The cosignatures witnesses gave.
#[async_trait]
pub trait CosignatureStore: Send + Sync {
    /// Keeps a cosignature (a second one for the same witness and size is ignored).
    async fn add_cosignature(&self, cosignature: &StoredCosignature) -> Result<(), StoreError>;

    /// The newest cosignature of each of `witnesses` (by name) that cosigned anything: one
    /// index lookup per witness, however many cosignatures are kept.
    async fn newest_cosignatures(
        &self,
        witnesses: &[String],
    ) -> Result<Vec<StoredCosignature>, StoreError>;
}

const INSERT: &str = "INSERT INTO audit_cosignatures \
     (witness, tree_size, note, cosigned_at, received_at) VALUES ($1, $2, $3, $4, $5) \
     ON CONFLICT (witness, tree_size) DO NOTHING";
const NEWEST: &str = "SELECT witness, tree_size, note, cosigned_at, received_at \
     FROM audit_cosignatures WHERE witness = $1 ORDER BY tree_size DESC LIMIT 1";

#[async_trait]
impl<S> CosignatureStore for S
where
    S: Pooled,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'c> &'c Pool<S::Db>: Executor<'c, Database = S::Db>,
    for<'a> i64: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> &'a str: Encode<'a, S::Db> + Type<S::Db>,
    for<'r> StoredCosignature: sqlx::FromRow<'r, <S::Db as Database>::Row>,
{
    async fn add_cosignature(&self, c: &StoredCosignature) -> Result<(), StoreError> {
        sqlx::query::<S::Db>(INSERT)
            .bind(c.witness.as_str())
            .bind(c.tree_size)
            .bind(c.note.as_str())
            .bind(c.cosigned_at)
            .bind(c.received_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn newest_cosignatures(
        &self,
        witnesses: &[String],
    ) -> Result<Vec<StoredCosignature>, StoreError> {
        let mut newest = Vec::with_capacity(witnesses.len());
        for witness in witnesses {
            if let Some(c) = sqlx::query_as::<S::Db, StoredCosignature>(NEWEST)
                .bind(witness.as_str())
                .fetch_optional(self.pool())
                .await?
            {
                newest.push(c);
            }
        }
        Ok(newest)
    }
}
