//! Storage errors, described without ever echoing a stored value.

/// What can go wrong in a store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached or did not answer in time.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique key already exists.
    #[error("conflicting record")]
    Conflict,
    /// A stored record could not be read back (a bug, or someone edited the database).
    #[error("corrupt record: {0}")]
    Corrupt(&'static str),
    /// The database URL or options are wrong.
    #[error("database configuration: {0}")]
    Config(String),
    /// Applying the migrations failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// Any other database error; the text names its kind and code, never values.
    #[error("database error: {0}")]
    Other(String),
}

/// What the domain crates' storage ports see of a store's failure: whether to retry, and
/// what failed (never a value).
impl From<StoreError> for baomi_types::StoreFailure {
    fn from(e: StoreError) -> Self {
        baomi_types::StoreFailure {
            unavailable: matches!(e, StoreError::Unavailable(_)),
            detail: e.to_string(),
        }
    }
}

/// A database failure as the domain crates' storage ports report it.
pub(super) fn failure(e: sqlx::Error) -> baomi_types::StoreFailure {
    StoreError::from(e).into()
}

/// A stored record that does not read back, as the domain crates' storage ports report it.
pub(super) fn corrupt(what: &'static str) -> baomi_types::StoreFailure {
    StoreError::Corrupt(what).into()
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match error {
            E::Database(db) => {
                if matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation) {
                    return StoreError::Conflict;
                }
                // Messages of some database errors quote values ("invalid input syntax for
                // type …: \"<value>\""), so only the code and the constraint are kept.
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                let constraint = db.constraint().unwrap_or("-").to_owned();
                let unavailable = if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
                    is_unavailable_sqlite(&code)
                } else {
                    is_unavailable_sqlstate(&code)
                };
                if unavailable {
                    return StoreError::Unavailable(format!("database error code {code}"));
                }
                StoreError::Other(format!(
                    "database error code {code}, constraint {constraint}"
                ))
            }
            E::Io(e) => StoreError::Unavailable(format!("i/o: {}", e.kind())),
            E::Tls(_) => StoreError::Unavailable("tls".to_owned()),
            E::PoolTimedOut => StoreError::Unavailable("connection pool timed out".to_owned()),
            E::PoolClosed => StoreError::Unavailable("connection pool closed".to_owned()),
            E::WorkerCrashed => StoreError::Unavailable("database worker stopped".to_owned()),
            E::Protocol(_) => StoreError::Unavailable("protocol error".to_owned()),
            E::Configuration(e) => StoreError::Config(e.to_string()),
            E::RowNotFound => StoreError::Other("row not found".to_owned()),
            E::ColumnDecode { index, .. } => {
                StoreError::Other(format!("column {index} could not be decoded"))
            }
            other => StoreError::Other(kind_name(&other).to_owned()),
        }
    }
}

/// PostgreSQL SQLSTATEs that mean "try again later", not "the query is wrong": class 08
/// (connection), 53 (resources), 57P (shutting down, cannot connect now), 3D000 (no such
/// database), 40001 and 40P01 (serialization failure, deadlock: the transaction may be retried).
fn is_unavailable_sqlstate(code: &str) -> bool {
    code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
        || matches!(code, "3D000" | "40001" | "40P01")
}

/// SQLite result codes (sqlx reports the extended code; its low byte is the primary one)
/// that mean "try again later": BUSY, LOCKED, IOERR, FULL, CANTOPEN.
fn is_unavailable_sqlite(code: &str) -> bool {
    code.parse::<i64>()
        .is_ok_and(|c| matches!(c & 0xff, 5 | 6 | 10 | 13 | 14))
}

fn kind_name(error: &sqlx::Error) -> &'static str {
    match error {
        sqlx::Error::TypeNotFound { .. } => "type not found",
        sqlx::Error::ColumnNotFound(_) => "column not found",
        sqlx::Error::ColumnIndexOutOfBounds { .. } => "column index out of bounds",
        sqlx::Error::Decode(_) => "decode error",
        sqlx::Error::Encode(_) => "encode error",
        sqlx::Error::Migrate(_) => "migration error",
        _ => "unexpected database error",
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        match error {
            sqlx::migrate::MigrateError::Execute(e) => StoreError::from(e),
            other => StoreError::Migration(other.to_string()),
        }
    }
}
