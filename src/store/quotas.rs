//! Quota counters shared by every node: each node leases blocks of a window's allowance, and
//! the database grants a lease only while the window's total stays within its limit, so the
//! fleet together never admits more than the limit.
//!
//! Written once for both backends, for any `Pooled` store: the statements are the same
//! words in SQLite and PostgreSQL (an upsert whose update is conditional, `RETURNING` the
//! row it wrote).

use async_trait::async_trait;
use sqlx::{Database, Encode, Executor, IntoArguments, Pool, Type};

use super::StoreError;
use super::common::Pooled;

/// One counter: a limit of a key under a purpose, for the key as a whole or for one
/// operator it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Counter<'a> {
    /// The key's id.
    pub key_id: &'a str,
    /// The purpose.
    pub purpose: &'a str,
    /// The operator, or `None` for the key's own count.
    pub operator: Option<&'a str>,
    /// The limit's name (`subjects_per_day`, …).
    pub limit: &'static str,
}

/// A window of a counter, `[start, end)` in Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window {
    /// Its first millisecond.
    pub start: i64,
    /// The millisecond after its last.
    pub end: i64,
}

/// The fleet's quota counters.
#[async_trait]
pub trait QuotaStore: Send + Sync {
    /// Adds `amount` to `counter`'s use in `window` unless the total would pass `limit`;
    /// whether it did. Atomic against every other node's leases.
    async fn lease(
        &self,
        counter: Counter<'_>,
        window: Window,
        amount: u64,
        limit: u64,
    ) -> Result<bool, StoreError>;

    /// Forgets the counters of windows that ended at or before `now_ms`.
    async fn prune_quota_usage(&self, now_ms: i64) -> Result<(), StoreError>;
}

const LEASE: &str = "INSERT INTO quota_usage \
     (key_id, purpose, operator, quota_limit, window_start, window_end, used) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) \
     ON CONFLICT (key_id, purpose, operator, quota_limit, window_start) \
     DO UPDATE SET used = quota_usage.used + excluded.used \
     WHERE quota_usage.used + excluded.used <= $8 \
     RETURNING used";

const PRUNE: &str = "DELETE FROM quota_usage WHERE window_end <= $1";

fn count(n: u64) -> Result<i64, StoreError> {
    i64::try_from(n).map_err(|_| StoreError::Other("a quota count past i64".to_owned()))
}

#[async_trait]
impl<S> QuotaStore for S
where
    S: Pooled,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'c> &'c Pool<S::Db>: Executor<'c, Database = S::Db>,
    for<'a> i64: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> &'a str: Encode<'a, S::Db> + Type<S::Db>,
{
    async fn lease(
        &self,
        counter: Counter<'_>,
        window: Window,
        amount: u64,
        limit: u64,
    ) -> Result<bool, StoreError> {
        if amount > limit {
            return Ok(false);
        }
        let row = sqlx::query::<S::Db>(LEASE)
            .bind(counter.key_id)
            .bind(counter.purpose)
            .bind(counter.operator.unwrap_or(""))
            .bind(counter.limit)
            .bind(window.start)
            .bind(window.end)
            .bind(count(amount)?)
            .bind(count(limit)?)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    async fn prune_quota_usage(&self, now_ms: i64) -> Result<(), StoreError> {
        sqlx::query::<S::Db>(PRUNE)
            .bind(now_ms)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
