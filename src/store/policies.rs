//! Masking policies (`PolicyStore`) and the field catalogue (`CatalogueStore`), written once
//! for both backends: the statements are the same words in SQLite and PostgreSQL. Both are
//! versioned documents: every version is kept; the latest one applies.

use baomi_masking::PolicyVersion;
use baomi_types::AccessEvent;
use sqlx::{Database, Encode, Executor, FromRow, IntoArguments, Pool, Type};

use super::StoreError;
use super::common::{Backend, queue_audit, write_locked};

/// Where masking policies are kept.
#[async_trait::async_trait]
pub trait PolicyStore: Send + Sync {
    /// Stores a new version of `name` together with its audit events; returns it.
    async fn put_policy(
        &self,
        name: &str,
        body: &str,
        updated_at: i64,
        updated_by: &str,
        audit: &[baomi_types::AccessEvent],
    ) -> Result<PolicyVersion, StoreError>;

    /// The latest version of `name`.
    async fn policy(&self, name: &str) -> Result<Option<PolicyVersion>, StoreError>;

    /// The latest version of every policy, by name.
    async fn policies(&self) -> Result<Vec<PolicyVersion>, StoreError>;
}

/// A stored version of the field catalogue.
#[derive(Debug, Clone)]
pub struct StoredCatalogue {
    /// Its version, from 1.
    pub version: u32,
    /// The catalogue (JSON), as validated when it was stored.
    pub body: String,
    /// Unix milliseconds.
    pub updated_at: i64,
    /// The key that stored it.
    pub updated_by: String,
}

/// Where the field catalogue is kept.
#[async_trait::async_trait]
pub trait CatalogueStore: Send + Sync {
    /// Stores a new version of the catalogue together with its audit events; returns it.
    async fn put_catalogue(
        &self,
        body: &str,
        updated_at: i64,
        updated_by: &str,
        audit: &[baomi_types::AccessEvent],
    ) -> Result<StoredCatalogue, StoreError>;

    /// The latest version, if one was ever stored.
    async fn catalogue(&self) -> Result<Option<StoredCatalogue>, StoreError>;
}

/// A `field_catalogue` row.
type CatalogueRow = (i64, String, i64, String);

/// A stored catalogue from its row.
fn stored_catalogue(row: CatalogueRow) -> Result<StoredCatalogue, StoreError> {
    let (version, body, updated_at, updated_by) = row;
    Ok(StoredCatalogue {
        version: u32::try_from(version).map_err(|_| StoreError::Corrupt("catalogue version"))?,
        body,
        updated_at,
        updated_by,
    })
}

/// A `masking_policies` row.
type PolicyRow = (String, i64, String, i64, String);

/// A stored policy from its row.
fn stored_policy(row: PolicyRow) -> Result<PolicyVersion, StoreError> {
    let (name, version, body, updated_at, updated_by) = row;
    Ok(PolicyVersion {
        name,
        version: u32::try_from(version).map_err(|_| StoreError::Corrupt("policy version"))?,
        body,
        updated_at,
        updated_by,
    })
}

const LATEST_POLICY_VERSION: &str = "SELECT MAX(version) FROM masking_policies WHERE name = $1";
const INSERT_POLICY: &str = "INSERT INTO masking_policies \
     (name, version, body, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5)";
const SELECT_POLICY: &str = "SELECT name, version, body, updated_at, updated_by \
     FROM masking_policies WHERE name = $1 ORDER BY version DESC LIMIT 1";
const SELECT_POLICIES: &str = "SELECT p.name, p.version, p.body, p.updated_at, p.updated_by \
     FROM masking_policies p \
     JOIN (SELECT name, MAX(version) AS version FROM masking_policies GROUP BY name) latest \
       ON latest.name = p.name AND latest.version = p.version \
     ORDER BY p.name";
const LATEST_CATALOGUE_VERSION: &str = "SELECT MAX(version) FROM field_catalogue";
const INSERT_CATALOGUE: &str = "INSERT INTO field_catalogue \
     (version, body, updated_at, updated_by) VALUES ($1, $2, $3, $4)";
const SELECT_CATALOGUE: &str = "SELECT version, body, updated_at, updated_by \
     FROM field_catalogue ORDER BY version DESC LIMIT 1";

/// A new version is written under the backend's per-subject lock, keyed by the document's
/// name, so that two writers cannot both take the next version number. (sqlx states what a
/// database can bind and decode as bounds per type, which cannot be bundled into one trait:
/// hence the list.)
#[async_trait::async_trait]
impl<S> PolicyStore for S
where
    S: Backend,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'c> &'c Pool<S::Db>: Executor<'c, Database = S::Db>,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    for<'a> i64: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> &'a str: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> String: Encode<'a, S::Db> + Type<S::Db>,
    for<'r> (Option<i64>,): FromRow<'r, <S::Db as Database>::Row>,
    for<'r> PolicyRow: FromRow<'r, <S::Db as Database>::Row>,
{
    async fn put_policy(
        &self,
        name: &str,
        body: &str,
        updated_at: i64,
        updated_by: &str,
        audit: &[AccessEvent],
    ) -> Result<PolicyVersion, StoreError> {
        let mut tx = write_locked(self, S::LOCK_SUBJECT, &format!("policy:{name}")).await?;
        let (latest,): (Option<i64>,) = sqlx::query_as::<S::Db, _>(LATEST_POLICY_VERSION)
            .bind(name)
            .fetch_one(&mut *tx)
            .await?;
        let version = latest.unwrap_or(0) + 1;
        sqlx::query::<S::Db>(INSERT_POLICY)
            .bind(name)
            .bind(version)
            .bind(body)
            .bind(updated_at)
            .bind(updated_by)
            .execute(&mut *tx)
            .await?;
        queue_audit::<S::Db>(&mut tx, audit).await?;
        tx.commit().await?;
        stored_policy((
            name.to_owned(),
            version,
            body.to_owned(),
            updated_at,
            updated_by.to_owned(),
        ))
    }

    async fn policy(&self, name: &str) -> Result<Option<PolicyVersion>, StoreError> {
        let row: Option<PolicyRow> = sqlx::query_as::<S::Db, _>(SELECT_POLICY)
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        row.map(stored_policy).transpose()
    }

    async fn policies(&self) -> Result<Vec<PolicyVersion>, StoreError> {
        let rows: Vec<PolicyRow> = sqlx::query_as::<S::Db, _>(SELECT_POLICIES)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(stored_policy).collect()
    }
}

#[async_trait::async_trait]
impl<S> CatalogueStore for S
where
    S: Backend,
    <S::Db as Database>::Arguments: IntoArguments<S::Db>,
    for<'c> &'c Pool<S::Db>: Executor<'c, Database = S::Db>,
    for<'c> &'c mut <S::Db as Database>::Connection: Executor<'c, Database = S::Db>,
    for<'a> i64: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> &'a str: Encode<'a, S::Db> + Type<S::Db>,
    for<'a> String: Encode<'a, S::Db> + Type<S::Db>,
    for<'r> (Option<i64>,): FromRow<'r, <S::Db as Database>::Row>,
    for<'r> CatalogueRow: FromRow<'r, <S::Db as Database>::Row>,
{
    async fn put_catalogue(
        &self,
        body: &str,
        updated_at: i64,
        updated_by: &str,
        audit: &[AccessEvent],
    ) -> Result<StoredCatalogue, StoreError> {
        let mut tx = write_locked(self, S::LOCK_SUBJECT, "field-catalogue").await?;
        let (latest,): (Option<i64>,) = sqlx::query_as::<S::Db, _>(LATEST_CATALOGUE_VERSION)
            .fetch_one(&mut *tx)
            .await?;
        let version = latest.unwrap_or(0) + 1;
        sqlx::query::<S::Db>(INSERT_CATALOGUE)
            .bind(version)
            .bind(body)
            .bind(updated_at)
            .bind(updated_by)
            .execute(&mut *tx)
            .await?;
        queue_audit::<S::Db>(&mut tx, audit).await?;
        tx.commit().await?;
        stored_catalogue((version, body.to_owned(), updated_at, updated_by.to_owned()))
    }

    async fn catalogue(&self) -> Result<Option<StoredCatalogue>, StoreError> {
        let row: Option<CatalogueRow> = sqlx::query_as::<S::Db, _>(SELECT_CATALOGUE)
            .fetch_optional(self.pool())
            .await?;
        row.map(stored_catalogue).transpose()
    }
}
