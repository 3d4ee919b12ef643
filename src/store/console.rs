//! What the officer console keeps (`ConsoleStore`), written once for both backends:
//! accounts, sessions, failed sign-ins, alert acknowledgements, and the daily counts its
//! dashboard draws.

use baomi_types::AccessEvent;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::StoreError;
use super::common::{Pooled, queue_audit};

/// An officer's console account.
#[derive(Clone)]
pub struct ConsoleUser {
    /// The name they sign in with.
    pub username: String,
    /// Their password as an argon2id PHC string.
    pub password_hash: String,
    /// `officer` or `admin`.
    pub role: String,
    /// The purposes whose subjects' consent histories an officer may open (an admin may
    /// open any).
    pub purposes: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// When its password was last set, Unix seconds: the enrolment window of a second
    /// factor runs from here.
    pub password_set_at: i64,
}

impl std::fmt::Debug for ConsoleUser {
    /// Everything but the password hash.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleUser")
            .field("username", &self.username)
            .field("role", &self.role)
            .field("purposes", &self.purposes)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// A signed-in console session (the secret itself is only in the browser's cookie).
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    /// SHA-256 of the session secret.
    pub id_hash: Vec<u8>,
    /// Who: `user:<name>` or `key:<id>`.
    pub principal: String,
    /// `officer` or `admin`.
    pub role: String,
    /// For a console account, its purposes at sign-in (any change to the account ends its
    /// sessions, so they stay current).
    pub purposes: Vec<String>,
    /// The token every form must carry back.
    pub csrf: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last request.
    pub seen_at: i64,
    /// Unix seconds after which the session is over, whatever happens.
    pub expires_at: i64,
}

/// An acknowledgement of an alert.
#[derive(Debug, Clone)]
pub struct AlertAck {
    /// The alert.
    pub alert_id: i64,
    /// Who acknowledged it (the console principal).
    pub acked_by: String,
    /// Their comment (no personal information is expected; it is not shown to subjects).
    pub comment: String,
    /// Unix seconds.
    pub acked_at: i64,
}

/// Events and denials of one UTC day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayCount {
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Events appended that day.
    pub events: i64,
    /// Of which refused.
    pub denied: i64,
}

/// The console's storage.
#[async_trait::async_trait]
pub trait ConsoleStore: Send + Sync {
    /// An account by name.
    async fn console_user(&self, username: &str) -> Result<Option<ConsoleUser>, StoreError>;

    /// Creates an account or replaces its password, role and purposes, ending the sessions
    /// signed in with the old password (with its audit events).
    async fn put_console_user(
        &self,
        user: &ConsoleUser,
        audit: &[baomi_types::AccessEvent],
    ) -> Result<(), StoreError>;

    /// Stores a new session.
    async fn create_session(&self, session: &ConsoleSession) -> Result<(), StoreError>;

    /// A session by the hash of its secret.
    async fn session(&self, id_hash: &[u8]) -> Result<Option<ConsoleSession>, StoreError>;

    /// Records a request on a session at `now`.
    async fn touch_session(&self, id_hash: &[u8], now: i64) -> Result<(), StoreError>;

    /// Every console account, by name, without its password hash (left empty).
    async fn console_users(&self) -> Result<Vec<ConsoleUser>, StoreError>;

    /// Removes an account and ends its sessions, with its audit events; `false`, having
    /// written nothing, if there was no such account.
    async fn remove_console_user(
        &self,
        username: &str,
        audit: &[baomi_types::AccessEvent],
    ) -> Result<bool, StoreError>;

    /// Ends a session (and drops sessions that ended before `now`).
    async fn delete_session(&self, id_hash: &[u8], now: i64) -> Result<(), StoreError>;

    /// Failed sign-ins of a principal since its last success: (count, Unix seconds of the
    /// last).
    async fn signin_failures(&self, principal: &str) -> Result<(i64, i64), StoreError>;

    /// Records a failed sign-in at `now`, and forgets failures a day old.
    async fn record_signin_failure(&self, principal: &str, now: i64) -> Result<(), StoreError>;

    /// Forgets a principal's failures (after a success).
    async fn clear_signin_failures(&self, principal: &str) -> Result<(), StoreError>;

    /// Acknowledges an alert, once (with its audit events); `false` if it does not exist or
    /// was acknowledged already.
    async fn ack_alert(
        &self,
        ack: &AlertAck,
        audit: &[baomi_types::AccessEvent],
    ) -> Result<bool, StoreError>;

    /// The acknowledgements of these alerts.
    async fn alert_acks(&self, ids: &[i64]) -> Result<Vec<AlertAck>, StoreError>;

    /// Events and denials per UTC day from `from_day` on.
    async fn day_counts(&self, from_day: i64) -> Result<Vec<DayCount>, StoreError>;
}

const DAY_MS: i64 = 86_400_000;

/// The day of a time in Unix milliseconds.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(DAY_MS)
}

/// A `console_users` row: name, password hash, role, purposes (JSON), created, password
/// set.
type UserRow = (String, String, String, String, i64, i64);

/// A `console_sessions` row, in the order of [`SELECT_SESSION`].
type SessionRow = (Vec<u8>, String, String, String, String, i64, i64, i64);

/// An account from its row.
fn console_user(
    (username, password_hash, role, purposes, created_at, password_set_at): UserRow,
) -> Result<ConsoleUser, StoreError> {
    Ok(ConsoleUser {
        username,
        password_hash,
        role,
        purposes: serde_json::from_str(&purposes)
            .map_err(|_| StoreError::Corrupt("console user"))?,
        created_at,
        password_set_at,
    })
}

/// A session from its row.
fn console_session(
    (id_hash, principal, role, purposes, csrf, created_at, seen_at, expires_at): SessionRow,
) -> Result<ConsoleSession, StoreError> {
    Ok(ConsoleSession {
        id_hash,
        principal,
        role,
        purposes: serde_json::from_str(&purposes)
            .map_err(|_| StoreError::Corrupt("console session"))?,
        csrf,
        created_at,
        seen_at,
        expires_at,
    })
}

fn purposes_json(purposes: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(purposes).map_err(|_| StoreError::Corrupt("console purposes"))
}

const SELECT_USER: &str = "SELECT username, password_hash, role, purposes, created_at, \
     password_set_at FROM console_users WHERE username = $1";
const SELECT_USERS: &str = "SELECT username, '' AS password_hash, role, purposes, created_at, \
     password_set_at FROM console_users ORDER BY username";
const PUT_USER: &str = "INSERT INTO console_users (username, password_hash, role, purposes, \
     created_at, password_set_at) VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (username) DO UPDATE \
     SET password_hash = excluded.password_hash, role = excluded.role, \
     purposes = excluded.purposes, password_set_at = excluded.password_set_at";
const REMOVE_USER: &str = "DELETE FROM console_users WHERE username = $1 RETURNING username";
/// The sessions of an account, signed in (`user:`) or enrolling (`enrol:`).
const END_USER_SESSIONS: &str = "DELETE FROM console_sessions WHERE principal IN ($1, $2)";
const CREATE_SESSION: &str = "INSERT INTO console_sessions \
     (id_hash, principal, role, purposes, csrf, created_at, seen_at, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
const SELECT_SESSION: &str = "SELECT id_hash, principal, role, purposes, csrf, created_at, \
     seen_at, expires_at FROM console_sessions WHERE id_hash = $1";
const TOUCH_SESSION: &str = "UPDATE console_sessions SET seen_at = $2 WHERE id_hash = $1";
const DELETE_SESSION: &str = "DELETE FROM console_sessions WHERE id_hash = $1 OR expires_at < $2";
const SELECT_FAILURES: &str =
    "SELECT failures, last_at FROM console_signin_failures WHERE principal = $1";
const FORGET_OLD_FAILURES: &str = "DELETE FROM console_signin_failures WHERE last_at < $1";
const RECORD_FAILURE: &str = "INSERT INTO console_signin_failures (principal, failures, last_at) \
     VALUES ($1, 1, $2) ON CONFLICT (principal) DO UPDATE \
     SET failures = console_signin_failures.failures + 1, last_at = $2";
const CLEAR_FAILURES: &str = "DELETE FROM console_signin_failures WHERE principal = $1";
const ACK_ALERT: &str = "INSERT INTO audit_alert_acks (alert_id, acked_by, comment, acked_at) \
     SELECT id, $2, $3, $4 FROM audit_alerts WHERE id = $1 \
     ON CONFLICT (alert_id) DO NOTHING RETURNING alert_id";
const SELECT_ACKS: &str =
    "SELECT alert_id, acked_by, comment, acked_at FROM audit_alert_acks WHERE alert_id IN ";
const DAY_COUNTS: &str = "SELECT at_ms / 86400000 AS day, COUNT(*), \
     COUNT(CASE WHEN outcome = 'denied' THEN 1 END) \
     FROM audit_events WHERE at_ms >= $1 \
     GROUP BY at_ms / 86400000 ORDER BY day";

/// Written once for both backends, for any `Pooled` store, like `second_factors`: the
/// statements are the same words in SQLite and PostgreSQL. (sqlx states what a database can
/// bind and decode as bounds per type, which cannot be bundled into one trait: hence the
/// list.)
#[async_trait::async_trait]
impl<S> ConsoleStore for S
where
    S: Pooled,
    <S::Db as Database>::Arguments: IntoArguments<S::Db> + Default,
    for<'c> &'c Pool<S::Db>: Executor<'c, Database = S::Db>,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    for<'a> i64: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> &'a str: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> &'a [u8]: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> String: Encode<'a, S::Db> + Type<S::Db>,
    for<'r> UserRow: FromRow<'r, <S::Db as Database>::Row>,
    for<'r> SessionRow: FromRow<'r, <S::Db as Database>::Row>,
    for<'r> (i64, i64): FromRow<'r, <S::Db as Database>::Row>,
    for<'r> (i64, i64, i64): FromRow<'r, <S::Db as Database>::Row>,
    for<'r> (i64, String, String, i64): FromRow<'r, <S::Db as Database>::Row>,
{
    async fn console_user(&self, username: &str) -> Result<Option<ConsoleUser>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as::<S::Db, _>(SELECT_USER)
            .bind(username)
            .fetch_optional(self.pool())
            .await?;
        row.map(console_user).transpose()
    }

    async fn put_console_user(
        &self,
        user: &ConsoleUser,
        audit: &[AccessEvent],
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        sqlx::query::<S::Db>(PUT_USER)
            .bind(user.username.as_str())
            .bind(user.password_hash.as_str())
            .bind(user.role.as_str())
            .bind(purposes_json(&user.purposes)?)
            .bind(user.created_at)
            .bind(user.password_set_at)
            .execute(&mut *tx)
            .await?;
        // A new password ends the sessions signed in with the old one (enrolling ones too).
        sqlx::query::<S::Db>(END_USER_SESSIONS)
            .bind(format!("user:{}", user.username))
            .bind(format!("enrol:{}", user.username))
            .execute(&mut *tx)
            .await?;
        queue_audit::<S::Db>(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn console_users(&self) -> Result<Vec<ConsoleUser>, StoreError> {
        let rows: Vec<UserRow> = sqlx::query_as::<S::Db, _>(SELECT_USERS)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(console_user).collect()
    }

    async fn remove_console_user(
        &self,
        username: &str,
        audit: &[AccessEvent],
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let removed = sqlx::query::<S::Db>(REMOVE_USER)
            .bind(username)
            .fetch_optional(&mut *tx)
            .await?;
        if removed.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query::<S::Db>(END_USER_SESSIONS)
            .bind(format!("user:{username}"))
            .bind(format!("enrol:{username}"))
            .execute(&mut *tx)
            .await?;
        queue_audit::<S::Db>(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn create_session(&self, s: &ConsoleSession) -> Result<(), StoreError> {
        sqlx::query::<S::Db>(CREATE_SESSION)
            .bind(s.id_hash.as_slice())
            .bind(s.principal.as_str())
            .bind(s.role.as_str())
            .bind(purposes_json(&s.purposes)?)
            .bind(s.csrf.as_str())
            .bind(s.created_at)
            .bind(s.seen_at)
            .bind(s.expires_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn session(&self, id_hash: &[u8]) -> Result<Option<ConsoleSession>, StoreError> {
        let row: Option<SessionRow> = sqlx::query_as::<S::Db, _>(SELECT_SESSION)
            .bind(id_hash)
            .fetch_optional(self.pool())
            .await?;
        row.map(console_session).transpose()
    }

    async fn touch_session(&self, id_hash: &[u8], now: i64) -> Result<(), StoreError> {
        sqlx::query::<S::Db>(TOUCH_SESSION)
            .bind(id_hash)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn delete_session(&self, id_hash: &[u8], now: i64) -> Result<(), StoreError> {
        sqlx::query::<S::Db>(DELETE_SESSION)
            .bind(id_hash)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn signin_failures(&self, principal: &str) -> Result<(i64, i64), StoreError> {
        let row: Option<(i64, i64)> = sqlx::query_as::<S::Db, _>(SELECT_FAILURES)
            .bind(principal)
            .fetch_optional(self.pool())
            .await?;
        Ok(row.unwrap_or((0, 0)))
    }

    async fn record_signin_failure(&self, principal: &str, now: i64) -> Result<(), StoreError> {
        // Failures a day old slow nobody down any more: drop them as we go, so that names
        // tried once each do not pile up.
        sqlx::query::<S::Db>(FORGET_OLD_FAILURES)
            .bind(now - 86_400)
            .execute(self.pool())
            .await?;
        sqlx::query::<S::Db>(RECORD_FAILURE)
            .bind(principal)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn clear_signin_failures(&self, principal: &str) -> Result<(), StoreError> {
        sqlx::query::<S::Db>(CLEAR_FAILURES)
            .bind(principal)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    async fn ack_alert(&self, ack: &AlertAck, audit: &[AccessEvent]) -> Result<bool, StoreError> {
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query::<S::Db>(ACK_ALERT)
            .bind(ack.alert_id)
            .bind(ack.acked_by.as_str())
            .bind(ack.comment.as_str())
            .bind(ack.acked_at)
            .fetch_optional(&mut *tx)
            .await?;
        if inserted.is_none() {
            tx.rollback().await?;
            return Ok(false);
        }
        queue_audit::<S::Db>(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn alert_acks(&self, ids: &[i64]) -> Result<Vec<AlertAck>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = sqlx::QueryBuilder::<S::Db>::new(SELECT_ACKS);
        q.push_tuples(ids, |mut t, id| {
            t.push_bind(*id);
        });
        let rows: Vec<(i64, String, String, i64)> =
            q.build_query_as().fetch_all(self.pool()).await?;
        Ok(rows
            .into_iter()
            .map(|(alert_id, acked_by, comment, acked_at)| AlertAck {
                alert_id,
                acked_by,
                comment,
                acked_at,
            })
            .collect())
    }

    async fn day_counts(&self, from_day: i64) -> Result<Vec<DayCount>, StoreError> {
        let rows: Vec<(i64, i64, i64)> = sqlx::query_as::<S::Db, _>(DAY_COUNTS)
            .bind(from_day.saturating_mul(86_400_000))
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(|(day, events, denied)| DayCount {
                day,
                events,
                denied,
            })
            .collect())
    }
}
