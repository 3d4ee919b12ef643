//! Masking policies (`PolicyStore`) and the field catalogue (`CatalogueStore`), written once
//! for both backends. Both are versioned documents: every version is kept; the latest one
//! applies.

use super::StoreError;

/// A stored version of a masking policy.
#[derive(Debug, Clone)]
pub struct StoredPolicy {
    /// The policy's name.
    pub name: String,
    /// Its version, from 1.
    pub version: u32,
    /// The policy document (JSON), as validated when it was stored.
    pub body: String,
    /// Unix milliseconds.
    pub updated_at: i64,
    /// The key that stored it.
    pub updated_by: String,
}

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
        audit: &[baomi_audit::AccessEvent],
    ) -> Result<StoredPolicy, StoreError>;

    /// The latest version of `name`.
    async fn policy(&self, name: &str) -> Result<Option<StoredPolicy>, StoreError>;

    /// The latest version of every policy, by name.
    async fn policies(&self) -> Result<Vec<StoredPolicy>, StoreError>;
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
        audit: &[baomi_audit::AccessEvent],
    ) -> Result<StoredCatalogue, StoreError>;

    /// The latest version, if one was ever stored.
    async fn catalogue(&self) -> Result<Option<StoredCatalogue>, StoreError>;
}

/// A `field_catalogue` row.
pub(super) type CatalogueRow = (i64, String, i64, String);

/// A stored catalogue from its row.
pub(super) fn stored_catalogue(row: CatalogueRow) -> Result<StoredCatalogue, StoreError> {
    let (version, body, updated_at, updated_by) = row;
    Ok(StoredCatalogue {
        version: u32::try_from(version).map_err(|_| StoreError::Corrupt("catalogue version"))?,
        body,
        updated_at,
        updated_by,
    })
}

/// A `masking_policies` row.
pub(super) type PolicyRow = (String, i64, String, i64, String);

/// A stored policy from its row.
pub(super) fn stored_policy(row: PolicyRow) -> Result<StoredPolicy, StoreError> {
    let (name, version, body, updated_at, updated_by) = row;
    Ok(StoredPolicy {
        name,
        version: u32::try_from(version).map_err(|_| StoreError::Corrupt("policy version"))?,
        body,
        updated_at,
        updated_by,
    })
}

/// A write transaction's failure to start, as a store error.
pub(super) fn from_vault(e: baomi_vault::StoreFailure) -> StoreError {
    if e.unavailable {
        StoreError::Unavailable(e.detail)
    } else {
        StoreError::Other(e.detail)
    }
}

/// Implements [`PolicyStore`] and [`CatalogueStore`] for `$store`.
macro_rules! impl_policy_store {
    ($store:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::policies::PolicyStore for $store {
            async fn put_policy(
                &self,
                name: &str,
                body: &str,
                updated_at: i64,
                updated_by: &str,
                audit: &[baomi_audit::AccessEvent],
            ) -> Result<$crate::store::policies::StoredPolicy, $crate::store::StoreError> {
                let mut tx = self
                    .write_locked(
                        <$store as $crate::store::common::Backend>::LOCK_SUBJECT,
                        &format!("policy:{name}"),
                    )
                    .await
                    .map_err($crate::store::policies::from_vault)?;
                let (latest,): (Option<i64>,) =
                    sqlx::query_as("SELECT MAX(version) FROM masking_policies WHERE name = $1")
                        .bind(name)
                        .fetch_one(&mut *tx)
                        .await?;
                let version = latest.unwrap_or(0) + 1;
                sqlx::query(
                    "INSERT INTO masking_policies (name, version, body, updated_at, updated_by) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(name)
                .bind(version)
                .bind(body)
                .bind(updated_at)
                .bind(updated_by)
                .execute(&mut *tx)
                .await?;
                commit_change(tx, audit).await?;
                $crate::store::policies::stored_policy((
                    name.to_owned(),
                    version,
                    body.to_owned(),
                    updated_at,
                    updated_by.to_owned(),
                ))
            }

            async fn policy(
                &self,
                name: &str,
            ) -> Result<Option<$crate::store::policies::StoredPolicy>, $crate::store::StoreError>
            {
                let row: Option<$crate::store::policies::PolicyRow> = sqlx::query_as(
                    "SELECT name, version, body, updated_at, updated_by FROM masking_policies \
                     WHERE name = $1 ORDER BY version DESC LIMIT 1",
                )
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::store::policies::stored_policy).transpose()
            }

            async fn policies(
                &self,
            ) -> Result<Vec<$crate::store::policies::StoredPolicy>, $crate::store::StoreError> {
                let rows: Vec<$crate::store::policies::PolicyRow> = sqlx::query_as(
                    "SELECT p.name, p.version, p.body, p.updated_at, p.updated_by \
                     FROM masking_policies p \
                     JOIN (SELECT name, MAX(version) AS version FROM masking_policies \
                           GROUP BY name) latest \
                       ON latest.name = p.name AND latest.version = p.version \
                     ORDER BY p.name",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map($crate::store::policies::stored_policy)
                    .collect()
            }
        }

        #[async_trait::async_trait]
        impl $crate::store::policies::CatalogueStore for $store {
            async fn put_catalogue(
                &self,
                body: &str,
                updated_at: i64,
                updated_by: &str,
                audit: &[baomi_audit::AccessEvent],
            ) -> Result<$crate::store::policies::StoredCatalogue, $crate::store::StoreError> {
                let mut tx = self
                    .write_locked(
                        <$store as $crate::store::common::Backend>::LOCK_SUBJECT,
                        "field-catalogue",
                    )
                    .await
                    .map_err($crate::store::policies::from_vault)?;
                let (latest,): (Option<i64>,) =
                    sqlx::query_as("SELECT MAX(version) FROM field_catalogue")
                        .fetch_one(&mut *tx)
                        .await?;
                let version = latest.unwrap_or(0) + 1;
                sqlx::query(
                    "INSERT INTO field_catalogue (version, body, updated_at, updated_by) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(version)
                .bind(body)
                .bind(updated_at)
                .bind(updated_by)
                .execute(&mut *tx)
                .await?;
                commit_change(tx, audit).await?;
                $crate::store::policies::stored_catalogue((
                    version,
                    body.to_owned(),
                    updated_at,
                    updated_by.to_owned(),
                ))
            }

            async fn catalogue(
                &self,
            ) -> Result<Option<$crate::store::policies::StoredCatalogue>, $crate::store::StoreError>
            {
                let row: Option<$crate::store::policies::CatalogueRow> = sqlx::query_as(
                    "SELECT version, body, updated_at, updated_by FROM field_catalogue \
                     ORDER BY version DESC LIMIT 1",
                )
                .fetch_optional(&self.pool)
                .await?;
                row.map($crate::store::policies::stored_catalogue)
                    .transpose()
            }
        }
    };
}
