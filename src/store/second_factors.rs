//! Console accounts' second factors (see `crate::console::second_factor`): the sealed TOTP
//! secret, the last step accepted, the recovery codes left. Every use of a code is one
//! conditional `UPDATE`, so a code is accepted once across the fleet.
//!
//! Written once for both backends, for any `Pooled` store, like `quotas`: the statements
//! are the same words in SQLite and PostgreSQL.

use async_trait::async_trait;
use baomi_types::AccessEvent;
use sqlx::{Database, Decode, Encode, Executor, IntoArguments, Pool, Type};

use super::StoreError;
use super::common::Pooled;

/// A console account's second factor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecondFactor {
    /// The TOTP secret, sealed for the account.
    pub secret_sealed: Vec<u8>,
    /// When a first code confirmed it (Unix seconds); `None` while enrolment is pending.
    pub confirmed_at: Option<i64>,
    /// The last TOTP step accepted.
    pub last_step: i64,
    /// SHA-256 (hex) of each recovery code not used yet.
    pub recovery_hashes: Vec<String>,
}

/// Second factors of console accounts.
#[async_trait]
pub trait SecondFactorStore: Send + Sync {
    /// The account's second factor, confirmed or pending.
    async fn second_factor(&self, username: &str)
    -> Result<Option<StoredSecondFactor>, StoreError>;

    /// Starts (or restarts) the enrolment of an account that exists and has no confirmed
    /// second factor, with a new sealed secret; `false` (nothing written) otherwise.
    async fn begin_second_factor(
        &self,
        username: &str,
        secret_sealed: &[u8],
    ) -> Result<bool, StoreError>;

    /// Confirms a pending enrolment with the step of its first code and the recovery codes'
    /// hashes, ending the account's sessions opened to enrol and writing `audit` in the same
    /// transaction; `false` (nothing written) when none is pending.
    async fn confirm_second_factor(
        &self,
        username: &str,
        step: i64,
        recovery_hashes: &[String],
        now: i64,
        audit: &[AccessEvent],
    ) -> Result<bool, StoreError>;

    /// Accepts TOTP `step` for a confirmed second factor if it is later than the last one
    /// accepted; whether it did.
    async fn use_totp_step(&self, username: &str, step: i64) -> Result<bool, StoreError>;

    /// Replaces the recovery codes left, `before`, by `after` (one used), if no one else
    /// changed them meanwhile; whether it did.
    async fn use_recovery_code(
        &self,
        username: &str,
        before: &[String],
        after: &[String],
    ) -> Result<bool, StoreError>;
}

const SELECT: &str = "SELECT secret_sealed, confirmed_at, last_step, recovery_hashes \
     FROM console_second_factors WHERE username = $1";
const BEGIN: &str = "INSERT INTO console_second_factors \
     (username, secret_sealed, confirmed_at, last_step, recovery_hashes) \
     SELECT username, $2, NULL, 0, '[]' FROM console_users WHERE username = $1 \
     ON CONFLICT (username) DO UPDATE SET secret_sealed = excluded.secret_sealed \
     WHERE console_second_factors.confirmed_at IS NULL \
     RETURNING username";
const CONFIRM: &str = "UPDATE console_second_factors \
     SET confirmed_at = $2, last_step = $3, recovery_hashes = $4 \
     WHERE username = $1 AND confirmed_at IS NULL RETURNING username";
const USE_STEP: &str = "UPDATE console_second_factors SET last_step = $2 \
     WHERE username = $1 AND confirmed_at IS NOT NULL AND last_step < $2 RETURNING username";
const USE_RECOVERY: &str = "UPDATE console_second_factors SET recovery_hashes = $3 \
     WHERE username = $1 AND confirmed_at IS NOT NULL AND recovery_hashes = $2 \
     RETURNING username";
/// Sessions opened with the password alone to enrol end once the second factor is on.
const END_ENROLLING: &str = "DELETE FROM console_sessions WHERE principal = $1";

fn hashes_json(hashes: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(hashes).map_err(|e| StoreError::Other(e.to_string()))
}

#[async_trait]
impl<S> SecondFactorStore for S
where
    S: Pooled,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'c> &'c Pool<S::Db>: Executor<'c, Database = S::Db>,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    for<'a> i64: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> &'a str: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> &'a [u8]: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> String: Encode<'a, S::Db> + Type<S::Db> + Decode<'a, S::Db>,
    for<'r> (Vec<u8>, Option<i64>, i64, String): sqlx::FromRow<'r, <S::Db as Database>::Row>,
{
    async fn second_factor(
        &self,
        username: &str,
    ) -> Result<Option<StoredSecondFactor>, StoreError> {
        let row: Option<(Vec<u8>, Option<i64>, i64, String)> = sqlx::query_as::<S::Db, _>(SELECT)
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        row.map(|(secret_sealed, confirmed_at, last_step, hashes)| {
            Ok(StoredSecondFactor {
                secret_sealed,
                confirmed_at,
                last_step,
                recovery_hashes: serde_json::from_str(&hashes)
                    .map_err(|_| StoreError::Corrupt("console_second_factors.recovery_hashes"))?,
            })
        })
        .transpose()
    }

    async fn begin_second_factor(
        &self,
        username: &str,
        secret_sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let row = sqlx::query::<S::Db>(BEGIN)
            .bind(username)
            .bind(secret_sealed)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    async fn confirm_second_factor(
        &self,
        username: &str,
        step: i64,
        recovery_hashes: &[String],
        now: i64,
        audit: &[AccessEvent],
    ) -> Result<bool, StoreError> {
        let hashes = hashes_json(recovery_hashes)?;
        let mut tx = self.pool().begin().await?;
        let confirmed = sqlx::query::<S::Db>(CONFIRM)
            .bind(username)
            .bind(now)
            .bind(step)
            .bind(hashes)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
        if !confirmed {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query::<S::Db>(END_ENROLLING)
            .bind(format!("enrol:{username}"))
            .execute(&mut *tx)
            .await?;
        super::common::queue_audit::<S::Db>(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn use_totp_step(&self, username: &str, step: i64) -> Result<bool, StoreError> {
        let row = sqlx::query::<S::Db>(USE_STEP)
            .bind(username)
            .bind(step)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }

    async fn use_recovery_code(
        &self,
        username: &str,
        before: &[String],
        after: &[String],
    ) -> Result<bool, StoreError> {
        let row = sqlx::query::<S::Db>(USE_RECOVERY)
            .bind(username)
            .bind(hashes_json(before)?)
            .bind(hashes_json(after)?)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.is_some())
    }
}
