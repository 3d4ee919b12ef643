//! The witness's durable state, in a SQLite file of its own: the latest checkpoint cosigned
//! for each log, and the evidence of misbehaviour it was sent.

use std::path::Path;
use std::time::Duration;

use baomi_audit::checkpoint::Checkpoint;
use baomi_audit::witness::Recorded;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::store::StoreError;

/// The witness's state file.
#[derive(Debug, Clone)]
pub struct WitnessState {
    pool: SqlitePool,
}

impl WitnessState {
    /// Opens (creating if needed) the state file at `path`. Every write is synced before it
    /// is acknowledged (`synchronous = FULL`): a cosignature is never given for a state that
    /// a crash could take back.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .connect_with(options)
            .await?;
        sqlx::migrate!("src/witness/migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    /// The checkpoint held for `origin`, if any.
    pub async fn held(&self, origin: &str) -> Result<Option<Recorded>, StoreError> {
        let row: Option<(i64, Vec<u8>)> =
            sqlx::query_as("SELECT size, root FROM witnessed WHERE origin = ?")
                .bind(origin)
                .fetch_optional(&self.pool)
                .await?;
        row.map(|(size, root)| {
            let size = u64::try_from(size).map_err(|_| corrupt())?;
            let root = <[u8; 32]>::try_from(root.as_slice()).map_err(|_| corrupt())?;
            Ok(Recorded { size, root })
        })
        .transpose()
    }

    /// Moves the checkpoint held for its origin from `from` (none for a first one) to
    /// `checkpoint`, atomically: `false`, and nothing written, if what is held is no longer
    /// `from`.
    pub async fn advance(
        &self,
        from: Option<Recorded>,
        checkpoint: &Checkpoint,
        note: &str,
        at: i64,
    ) -> Result<bool, StoreError> {
        let size = i64::try_from(checkpoint.size).map_err(|_| corrupt())?;
        let changed = match from {
            None => sqlx::query(
                "INSERT INTO witnessed (origin, size, root, note, cosigned_at) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT (origin) DO NOTHING",
            )
            .bind(&checkpoint.origin)
            .bind(size)
            .bind(checkpoint.root.as_slice())
            .bind(note)
            .bind(at)
            .execute(&self.pool)
            .await?
            .rows_affected(),
            Some(held) => {
                let held_size = i64::try_from(held.size).map_err(|_| corrupt())?;
                sqlx::query(
                    "UPDATE witnessed SET size = ?, root = ?, note = ?, cosigned_at = ? \
                     WHERE origin = ? AND size = ? AND root = ?",
                )
                .bind(size)
                .bind(checkpoint.root.as_slice())
                .bind(note)
                .bind(at)
                .bind(&checkpoint.origin)
                .bind(held_size)
                .bind(held.root.as_slice())
                .execute(&self.pool)
                .await?
                .rows_affected()
            }
        };
        Ok(changed == 1)
    }

    /// Keeps a request that showed the log misbehaving.
    pub async fn keep_evidence(
        &self,
        origin: &str,
        code: &str,
        held_size: u64,
        request: &str,
        at: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO evidence (received_at, origin, code, held_size, request) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(at)
        .bind(origin)
        .bind(code)
        .bind(i64::try_from(held_size).unwrap_or(i64::MAX))
        .bind(request)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Closes the file.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn corrupt() -> StoreError {
    StoreError::Corrupt("a witnessed checkpoint's size or root is out of range")
}
