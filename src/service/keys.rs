//! Managing API keys.

use baomi_audit::AccessEvent;
use baomi_consent::PurposeId;
use secrecy::SecretString;

use crate::auth::{Role, api_key};
use crate::service::{ServiceError, now};
use crate::store::{ApiKeyRecord, KeyStore, RevokeOutcome};

/// What a new key should be.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// A name for people, 1 to 64 characters.
    pub name: String,
    /// The role.
    pub role: Role,
    /// Purposes: required for service keys (what they may act under); optional for officer
    /// keys (the purposes whose subjects' consent histories and receipts they may read, none
    /// without any); refused for admin keys.
    pub purposes: Vec<String>,
}

/// The longest key name accepted, in characters.
pub const MAX_NAME_LEN: usize = 64;
/// The most purposes one key may list.
pub const MAX_PURPOSES: usize = 64;

/// Builds the record of a new key and its secret (shown once), validating `new`.
pub fn prepare(
    new: &NewKey,
    created_by: Option<&str>,
) -> Result<(ApiKeyRecord, SecretString), ServiceError> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
        return Err(ServiceError::invalid("name", "must be 1 to 64 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    let mut purposes = new
        .purposes
        .iter()
        .map(|p| PurposeId::parse(p))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ServiceError::invalid("purposes", e))?;
    purposes.sort();
    purposes.dedup();
    match new.role {
        Role::Service if purposes.is_empty() => {
            return Err(ServiceError::invalid(
                "purposes",
                "a service key must list the purposes it may use",
            ));
        }
        Role::Admin if !purposes.is_empty() => {
            return Err(ServiceError::invalid(
                "purposes",
                "an admin key carries no purposes (service and officer keys do)",
            ));
        }
        _ => {}
    }
    if purposes.len() > MAX_PURPOSES {
        return Err(ServiceError::invalid("purposes", "at most 64 purposes"));
    }
    let generated = api_key::generate().map_err(|e| ServiceError::Internal(e.to_string()))?;
    let record = ApiKeyRecord {
        id: generated.id,
        name: name.to_owned(),
        role: new.role,
        purposes,
        secret_hash: generated.hash,
        created_at: now(),
        created_by: created_by.map(str::to_owned),
        revoked_at: None,
    };
    Ok((record, generated.secret))
}

/// Creates a key, recorded by the events `audit` makes for it (written with the key).
/// `created_by` is the id of the admin key that asked, if any.
#[tracing::instrument(skip_all)]
pub async fn create(
    store: &dyn KeyStore,
    new: &NewKey,
    created_by: Option<&str>,
    audit: impl FnOnce(&ApiKeyRecord) -> Vec<AccessEvent>,
) -> Result<(ApiKeyRecord, SecretString), ServiceError> {
    let (record, secret) = prepare(new, created_by)?;
    store.insert_key(&record, &audit(&record)).await?;
    tracing::info!(key_id = %record.id, role = record.role.as_str(), "api key created");
    Ok((record, secret))
}

/// Every key, oldest first.
pub async fn list(store: &dyn KeyStore) -> Result<Vec<ApiKeyRecord>, ServiceError> {
    Ok(store.list_keys().await?)
}

/// Revokes a key (recorded by `audit`, written with the change); revoking a revoked key
/// changes nothing and succeeds.
#[tracing::instrument(skip_all)]
pub async fn revoke(
    store: &dyn KeyStore,
    id: &str,
    audit: &[AccessEvent],
) -> Result<(), ServiceError> {
    if !is_key_id(id) {
        return Err(ServiceError::NotFound {
            code: "keys.not_found",
        });
    }
    match store.revoke_key(id, now(), audit).await? {
        RevokeOutcome::Revoked => {
            tracing::info!(key_id = %id, "api key revoked");
            Ok(())
        }
        RevokeOutcome::AlreadyRevoked => Ok(()),
        RevokeOutcome::NotFound => Err(ServiceError::NotFound {
            code: "keys.not_found",
        }),
        RevokeOutcome::LastAdmin => Err(ServiceError::Conflict {
            code: "keys.last_admin",
            detail: "this is the last active admin key; create another admin key first".to_owned(),
        }),
    }
}

/// Whether `id` has the form of a key id (13 lower-case base32 characters).
pub fn is_key_id(id: &str) -> bool {
    id.len() == 13
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}
