//! Console accounts' second factors (see `crate::console::second_factor`): the sealed TOTP
//! secret, the last step accepted, the recovery codes left. Every use of a code is one
//! conditional `UPDATE`, so a code is accepted once across the fleet.
//!
//! Written once for both backends, for any `Pooled` store, like `quotas`: the statements
//! are the same words in SQLite and PostgreSQL.

use async_trait::async_trait;
use baomi_audit::AccessEvent;
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
const OUTBOX: &str = "INSERT INTO audit_outbox (body) VALUES ($1)";
/// Sessions opened with the password alone to enrol end once the second factor is on.
const END_ENROLLING: &str = "DELETE FROM console_sessions WHERE principal = $1";

fn hashes_json(hashes: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(hashes).map_err(|e| StoreError::Other(e.to_string()))
}

/// Runs `sql` with text and integer arguments; whether it returned a row.
async fn changed<DB>(pool: &Pool<DB>, sql: &'static str, args: Args<'_>) -> Result<bool, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> &'a [u8]: Encode<'a, DB> + Type<DB>,
{
    let mut query = sqlx::query::<DB>(sql).bind(args.username);
    for arg in args.rest {
        query = match arg {
            Arg::Text(t) => query.bind(t),
            Arg::Int(i) => query.bind(i),
            Arg::Bytes(b) => query.bind(b),
        };
    }
    Ok(query.fetch_optional(pool).await?.is_some())
}

/// The arguments of a statement: the account's name, then the others in order.
struct Args<'a> {
    username: &'a str,
    rest: Vec<Arg<'a>>,
}

enum Arg<'a> {
    Text(&'a str),
    Int(i64),
    Bytes(&'a [u8]),
}

async fn second_factor<DB>(
    pool: &Pool<DB>,
    username: &str,
) -> Result<Option<StoredSecondFactor>, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c Pool<DB>: Executor<'c, Database = DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'r> (Vec<u8>, Option<i64>, i64, String): sqlx::FromRow<'r, DB::Row>,
{
    let row: Option<(Vec<u8>, Option<i64>, i64, String)> = sqlx::query_as::<DB, _>(SELECT)
        .bind(username)
        .fetch_optional(pool)
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

async fn confirm<DB>(
    pool: &Pool<DB>,
    username: &str,
    step: i64,
    hashes: &str,
    now: i64,
    audit: &[AccessEvent],
) -> Result<bool, StoreError>
where
    DB: Database,
    DB::Arguments: IntoArguments<DB>,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'a> i64: Encode<'a, DB> + Type<DB>,
    for<'a> &'a str: Encode<'a, DB> + Type<DB>,
    for<'a> String: Encode<'a, DB> + Type<DB> + Decode<'a, DB>,
{
    let mut tx = pool.begin().await?;
    let confirmed = sqlx::query::<DB>(CONFIRM)
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
    sqlx::query::<DB>(END_ENROLLING)
        .bind(format!("enrol:{username}"))
        .execute(&mut *tx)
        .await?;
    for event in audit {
        sqlx::query::<DB>(OUTBOX)
            .bind(event.to_json())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(true)
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
        second_factor(self.pool(), username).await
    }

    async fn begin_second_factor(
        &self,
        username: &str,
        secret_sealed: &[u8],
    ) -> Result<bool, StoreError> {
        let args = Args {
            username,
            rest: vec![Arg::Bytes(secret_sealed)],
        };
        changed(self.pool(), BEGIN, args).await
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
        confirm(self.pool(), username, step, &hashes, now, audit).await
    }

    async fn use_totp_step(&self, username: &str, step: i64) -> Result<bool, StoreError> {
        let args = Args {
            username,
            rest: vec![Arg::Int(step)],
        };
        changed(self.pool(), USE_STEP, args).await
    }

    async fn use_recovery_code(
        &self,
        username: &str,
        before: &[String],
        after: &[String],
    ) -> Result<bool, StoreError> {
        let (before, after) = (hashes_json(before)?, hashes_json(after)?);
        let args = Args {
            username,
            rest: vec![Arg::Text(&before), Arg::Text(&after)],
        };
        changed(self.pool(), USE_RECOVERY, args).await
    }
}
