//! Backups of the database. SQLite: a consistent snapshot taken online with `VACUUM INTO`,
//! checked before it is kept, and a restore that swaps a checked backup into place and keeps
//! the replaced file beside it. PostgreSQL: its own tools (`pg_dump`, `pg_restore`),
//! checked for and run with the configured URL.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use super::StoreError;
use crate::config::{Config, Database};

/// What a backup holds, read from the backup itself.
#[derive(Debug, Clone)]
pub struct BackupSummary {
    /// Its size in bytes.
    pub bytes: u64,
    /// The newest migration applied to it.
    pub schema_version: i64,
    /// Audit events in it.
    pub audit_events: i64,
}

/// The SQLite database file the configuration names, or `None` for PostgreSQL.
pub fn sqlite_file(config: &Config) -> Result<Option<PathBuf>, StoreError> {
    match config.database() {
        Some(Database::Embedded) => Ok(Some(config.sqlite_path())),
        Some(Database::Sqlite(url)) => {
            let options = SqliteConnectOptions::from_str(url)?;
            Ok(Some(options.get_filename().to_path_buf()))
        }
        Some(Database::Postgres(_)) | None => Ok(None),
    }
}

fn io(what: &str, path: &Path, e: std::io::Error) -> StoreError {
    StoreError::Other(format!("{what} {}: {}", path.display(), e.kind()))
}

/// Checks a SQLite backup: it opens read-only, passes `PRAGMA integrity_check`, and holds
/// Baomi's tables.
pub async fn check_sqlite(path: &Path) -> Result<BackupSummary, StoreError> {
    let bytes = std::fs::metadata(path)
        .map_err(|e| io("cannot read", path, e))?
        .len();
    let not_sqlite = |_| StoreError::Other(format!("{} is not a SQLite database", path.display()));
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .connect()
        .await
        .map_err(not_sqlite)?;
    let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .map_err(not_sqlite)?;
    if check != "ok" {
        return Err(StoreError::Other(format!(
            "{} fails SQLite's integrity check",
            path.display()
        )));
    }
    let version: (Option<i64>,) = sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations")
        .fetch_one(&mut conn)
        .await
        .map_err(|_| StoreError::Other(format!("{} is not a Baomi database", path.display())))?;
    let (audit_events,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM audit_events")
        .fetch_one(&mut conn)
        .await
        .map_err(|_| StoreError::Other(format!("{} is not a Baomi database", path.display())))?;
    Ok(BackupSummary {
        bytes,
        schema_version: version.0.unwrap_or(0),
        audit_events,
    })
}

/// A temporary path beside `path`.
fn beside(path: &Path, tag: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{tag}-{}", std::process::id()));
    path.with_file_name(name)
}

/// Takes a consistent snapshot of the SQLite database `db` into `out`, online (writers
/// wait only while pages are copied), checks it, and only then moves it to `out`.
pub async fn backup_sqlite(db: &Path, out: &Path) -> Result<BackupSummary, StoreError> {
    if out.exists() {
        return Err(StoreError::Other(format!(
            "{} exists; a backup never overwrites a file",
            out.display()
        )));
    }
    let temp = beside(out, "partial");
    let result = async {
        let mut conn = SqliteConnectOptions::new()
            .filename(db)
            .create_if_missing(false)
            .connect()
            .await?;
        let target = temp
            .to_str()
            .ok_or_else(|| StoreError::Config("the backup path must be valid UTF-8".to_owned()))?;
        sqlx::query("VACUUM INTO $1")
            .bind(target)
            .execute(&mut conn)
            .await?;
        drop(conn);
        let summary = check_sqlite(&temp).await?;
        std::fs::File::open(&temp)
            .and_then(|f| f.sync_all())
            .map_err(|e| io("cannot sync", &temp, e))?;
        std::fs::rename(&temp, out).map_err(|e| io("cannot write", out, e))?;
        Ok(summary)
    }
    .await;
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

/// Replaces the SQLite database `db` with a checked copy of `backup`. The replaced file
/// (with its `-wal` and `-shm`) is kept beside it as `<name>.before-restore-<unix time>`;
/// nothing is deleted. Every Baomi process on `db` must be stopped first.
pub async fn restore_sqlite(db: &Path, backup: &Path, now: i64) -> Result<PathBuf, StoreError> {
    check_sqlite(backup).await?;
    let temp = beside(db, "restoring");
    let copied = std::fs::copy(backup, &temp)
        .and_then(|_| std::fs::File::open(&temp).and_then(|f| f.sync_all()));
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&temp);
        return Err(io("cannot copy", backup, e));
    }
    let kept = db.with_file_name(format!(
        "{}.before-restore-{now}",
        db.file_name().unwrap_or_default().to_string_lossy()
    ));
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", db.display()));
        if from.exists() {
            let to = PathBuf::from(format!("{}{suffix}", kept.display()));
            std::fs::rename(&from, &to).map_err(|e| io("cannot move aside", &from, e))?;
        }
    }
    std::fs::rename(&temp, db).map_err(|e| io("cannot restore", db, e))?;
    Ok(kept)
}
