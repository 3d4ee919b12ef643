//! The SQLite store: the embedded default, one file in WAL mode.

use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::StoreError;
use super::common::Backend;
use crate::config;

/// Baomi's state in one SQLite database.
pub type SqliteStore = super::common::SqlStore<sqlx::Sqlite>;

impl Backend for SqliteStore {
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    // BEGIN IMMEDIATE already makes writers take turns.
    const LOCK_SUBJECT: Option<&'static str> = None;
    const LOCK_SUBJECTS: Option<&'static str> = None;
    const LOOKUP_EACH_SUBJECT: bool = false;
    const READ_MIN_VERSION: &'static str =
        "SELECT min_decryption_version FROM keyrings WHERE name = $1";
    const LOCK_KEYRING: Option<&'static str> = None;
    const LOCK_ADMINS: Option<&'static str> = None;
    const SOLE_AUDIT_APPENDER: bool = true;

    fn rows_affected(done: &sqlx::sqlite::SqliteQueryResult) -> u64 {
        done.rows_affected()
    }
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `url` and applies the migrations.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        synchronous: config::SqliteSynchronous,
    ) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?;
        Self::connect_with(options, max_connections, synchronous).await
    }

    /// Opens (creating if needed) the database file at `path` and applies the migrations.
    pub async fn open_file(
        path: &std::path::Path,
        max_connections: u32,
        synchronous: config::SqliteSynchronous,
    ) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new().filename(path);
        Self::connect_with(options, max_connections, synchronous).await
    }

    async fn connect_with(
        options: SqliteConnectOptions,
        max_connections: u32,
        synchronous: config::SqliteSynchronous,
    ) -> Result<Self, StoreError> {
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            .synchronous(match synchronous {
                config::SqliteSynchronous::Full => SqliteSynchronous::Full,
                config::SqliteSynchronous::Normal => SqliteSynchronous::Normal,
            });
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        sqlx::migrate!("src/store/sqlite/migrations")
            .run(&pool)
            .await?;
        Ok(Self {
            pool,
            audit_border: Default::default(),
        })
    }
}
