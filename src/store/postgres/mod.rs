//! The PostgreSQL store: for production, several Baomi nodes on one database.

pub mod cluster;

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;

use super::StoreError;
use super::common::Backend;

/// Baomi's state in a PostgreSQL database.
pub type PgStore = super::common::SqlStore<sqlx::Postgres>;

impl Backend for PgStore {
    const BEGIN_WRITE: &'static str = "BEGIN";
    const LOCK_SUBJECT: Option<&'static str> =
        Some("SELECT pg_advisory_xact_lock(hashtext('baomi-subject:' || $1))");
    // Volatile output expressions are evaluated after the ORDER BY sort (PostgreSQL 9.6 and
    // later), so the locks are taken in the order of their keys.
    const LOCK_SUBJECTS: Option<&'static str> = Some(
        "SELECT pg_advisory_xact_lock(h) FROM (SELECT DISTINCT hashtext('baomi-subject:' || s) \
         AS h FROM unnest(string_to_array($1, ' ')) AS s) AS locks ORDER BY h",
    );
    const LOOKUP_EACH_SUBJECT: bool = true;
    const READ_MIN_VERSION: &'static str =
        "SELECT min_decryption_version FROM keyrings WHERE name = $1 FOR SHARE";
    const LOCK_KEYRING: Option<&'static str> =
        Some("SELECT name FROM keyrings WHERE name = $1 FOR UPDATE");
    // Under READ COMMITTED two concurrent revocations of two different admin keys could each
    // count two admins; locking the active admin rows first serialises them.
    const LOCK_ADMINS: Option<&'static str> = Some(
        "SELECT id FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL ORDER BY id FOR UPDATE",
    );
    const SOLE_AUDIT_APPENDER: bool = false;

    fn rows_affected(done: &sqlx::postgres::PgQueryResult) -> u64 {
        done.rows_affected()
    }
}

impl PgStore {
    /// Connects to `url` and applies the migrations (serialised across nodes by sqlx's
    /// advisory lock).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        sqlx::migrate!("src/store/postgres/migrations")
            .run(&pool)
            .await?;
        Ok(Self {
            pool,
            audit_border: Default::default(),
        })
    }

    /// Connects to a read replica of the database: no migrations (a replica follows its
    /// primary's), and only reads are sent to it.
    pub async fn connect_replica(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        let (in_recovery,): (bool,) = sqlx::query_as("SELECT pg_is_in_recovery()")
            .fetch_one(&pool)
            .await?;
        if !in_recovery {
            tracing::warn!("audit_replica_url names a database that is not a standby");
        }
        Ok(Self {
            pool,
            audit_border: Default::default(),
        })
    }
}
