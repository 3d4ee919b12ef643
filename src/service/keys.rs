//! Managing API keys and their grants.

use std::collections::BTreeSet;

use baomi_consent::PurposeId;
use baomi_types::{AccessEvent, Action};
use secrecy::SecretString;

use crate::service::{
    ErrorCode, RequestContext, ServiceError, Services, audit, cluster, now, rfc3339,
};

use crate::auth::Caller;
use crate::auth::api_key::ApiKeyRecord;
use crate::auth::client_certificate::CertificateBinding;
use crate::auth::grant::{Grants, Permission, PurposeGrant, ViewKind, valid_masking_role};
use crate::auth::quota::{GrantQuota, QuotaRaise};
use crate::auth::{Role, api_key};
use crate::store::{KeyStore, RevokeOutcome, Store};

/// What a key is to be granted, as asked (validated by [`grants`]).
#[derive(Debug, Clone, Default)]
pub struct GrantRequest {
    /// Purposes granted with the masked view only (a shorthand for `purposes` entries
    /// with `views: ["masked"]`).
    pub purposes: Vec<String>,
    /// Purposes with the views granted under each, and the key's own quota there.
    pub grants: Vec<PurposeRequest>,
    /// Permissions (service keys only).
    pub permissions: Vec<Permission>,
    /// Masking roles; the key's role name when empty.
    pub masking_roles: Vec<String>,
}

/// One purpose as asked: the views, and the key's own quota under it.
#[derive(Debug, Clone, Default)]
pub struct PurposeRequest {
    /// The purpose.
    pub purpose: String,
    /// The views.
    pub views: Vec<ViewKind>,
    /// The key's own quota, over the configuration's defaults.
    pub quota: GrantQuota,
}

/// What a new key should be.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// A name for people, 1 to 64 characters.
    pub name: String,
    /// The role.
    pub role: Role,
    /// Its grants: purposes (required for service keys; optional for officer keys, which
    /// read the consent histories of those purposes; refused for admin keys), views,
    /// permissions and masking roles.
    pub grants: GrantRequest,
    /// The client certificate calls with the key must come with, if any.
    pub client_certificate: Option<CertificateBinding>,
}

/// The longest key name accepted, in characters.
pub const MAX_NAME_LEN: usize = 64;
/// The most purposes one key may list.
pub const MAX_PURPOSES: usize = 64;
/// The most masking roles one key may list.
pub const MAX_MASKING_ROLES: usize = 16;

/// Validates what a key of `role` is to be granted.
pub fn grants(role: Role, asked: &GrantRequest) -> Result<Grants, ServiceError> {
    let mut purposes: Vec<PurposeGrant> = Vec::new();
    let shorthand = asked.purposes.iter().map(|p| PurposeRequest {
        purpose: p.clone(),
        views: vec![ViewKind::Masked],
        quota: GrantQuota::default(),
    });
    for PurposeRequest {
        purpose: raw,
        views,
        quota,
    } in shorthand.chain(asked.grants.iter().cloned())
    {
        let purpose = PurposeId::parse(&raw).map_err(|e| ServiceError::invalid("purposes", e))?;
        quota
            .validate()
            .map_err(|e| ServiceError::invalid("grants", format!("quota.{e}")))?;
        if views.is_empty() {
            return Err(ServiceError::invalid(
                "grants",
                "a purpose's grant names at least one view",
            ));
        }
        if purposes.iter().any(|g| g.purpose == purpose) {
            return Err(ServiceError::invalid(
                "purposes",
                "a purpose is named more than once",
            ));
        }
        purposes.push(PurposeGrant {
            purpose,
            views: views.into_iter().collect(),
            quota,
        });
    }
    purposes.sort_by(|a, b| a.purpose.cmp(&b.purpose));
    match role {
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
        Role::Officer if purposes.iter().any(|g| g.views.contains(&ViewKind::Plain)) => {
            return Err(ServiceError::invalid(
                "grants",
                "an officer key reads consent histories, never values: no plain view",
            ));
        }
        _ => {}
    }
    if purposes.len() > MAX_PURPOSES {
        return Err(ServiceError::invalid("purposes", "at most 64 purposes"));
    }
    if role != Role::Service && !asked.permissions.is_empty() {
        return Err(ServiceError::invalid(
            "permissions",
            "only service keys hold permissions",
        ));
    }
    let permissions: BTreeSet<Permission> = asked.permissions.iter().copied().collect();
    let mut masking_roles = Vec::new();
    for r in &asked.masking_roles {
        if !valid_masking_role(r) {
            return Err(ServiceError::invalid(
                "masking_roles",
                "a masking role is 1 to 64 ASCII letters, digits, '-' or '_'",
            ));
        }
        if !masking_roles.contains(r) {
            masking_roles.push(r.clone());
        }
    }
    if masking_roles.len() > MAX_MASKING_ROLES {
        return Err(ServiceError::invalid(
            "masking_roles",
            "at most 16 masking roles",
        ));
    }
    if masking_roles.is_empty() {
        masking_roles.push(role.as_str().to_owned());
    }
    Ok(Grants {
        purposes,
        permissions,
        masking_roles,
        raises: Vec::new(),
    })
}

/// The ids of every declared purpose (one read).
pub async fn declared_purposes(store: &dyn Store) -> Result<Vec<String>, ServiceError> {
    Ok(store.purposes().await?.into_iter().map(|p| p.id).collect())
}

/// Refuses grants that name a purpose that is not declared: a key holds declared purposes
/// only.
async fn require_declared(store: &dyn Store, grants: &Grants) -> Result<(), ServiceError> {
    let declared = declared_purposes(store).await?;
    let declared: Vec<&str> = declared.iter().map(String::as_str).collect();
    if grants.undeclared(&declared).is_empty() {
        Ok(())
    } else {
        Err(ServiceError::Rejected {
            code: ErrorCode::KeysUndeclaredPurpose,
            detail: "a purpose is not declared; declare it with PUT /v1/purposes/{id} first"
                .to_owned(),
        })
    }
}

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
    let grants = grants(new.role, &new.grants)?;
    let client_certificate = new
        .client_certificate
        .clone()
        .map(CertificateBinding::normalized)
        .transpose()
        .map_err(|reason| ServiceError::invalid("client_certificate", reason))?;
    let generated = api_key::generate().map_err(|e| ServiceError::Internal(e.to_string()))?;
    let record = ApiKeyRecord {
        id: generated.id,
        name: name.to_owned(),
        role: new.role,
        grants,
        secret_hash: generated.hash,
        created_at: now(),
        created_by: created_by.map(str::to_owned),
        revoked_at: None,
        client_certificate,
    };
    Ok((record, generated.secret))
}

/// Creates a key, recorded by the events `audit` makes for it (written with the key).
/// `created_by` is the id of the admin key that asked, if any. Every purpose granted must
/// be declared.
#[tracing::instrument(skip_all)]
pub async fn create(
    store: &dyn Store,
    new: &NewKey,
    created_by: Option<&str>,
    audit: impl FnOnce(&ApiKeyRecord) -> Vec<AccessEvent>,
) -> Result<(ApiKeyRecord, SecretString), ServiceError> {
    let (record, secret) = prepare(new, created_by)?;
    require_declared(store, &record.grants).await?;
    store.insert_key(&record, &audit(&record)).await?;
    tracing::info!(key_id = %record.id, role = record.role.as_str(), "api key created");
    Ok((record, secret))
}

/// Replaces an active key's grants (its role stays), recorded by the events `audit` makes
/// for the new record. The caller evicts the key from caches and tells the fleet.
#[tracing::instrument(skip_all)]
pub async fn set_grants(
    store: &dyn Store,
    id: &str,
    asked: &GrantRequest,
    audit: impl FnOnce(&ApiKeyRecord) -> Vec<AccessEvent>,
) -> Result<ApiKeyRecord, ServiceError> {
    let key = active_key(store, id).await?;
    let mut granted = grants(key.role, asked)?;
    // Break-glass raises in force stay with the purposes still held.
    let at = now();
    granted.raises = key
        .grants
        .raises
        .iter()
        .filter(|r| r.in_force(at) && may_raise(key.role, &granted, r.purpose.as_str()))
        .cloned()
        .collect();
    let record = ApiKeyRecord {
        grants: granted,
        ..key
    };
    require_declared(store, &record.grants).await?;
    if !store.set_key_grants(&record, &audit(&record)).await? {
        return Err(ServiceError::NotFound {
            code: ErrorCode::KeysNotFound,
        });
    }
    tracing::info!(key_id = %record.id, "api key grants changed");
    Ok(record)
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
            code: ErrorCode::KeysNotFound,
        });
    }
    match store.revoke_key(id, now(), audit).await? {
        RevokeOutcome::Revoked => {
            tracing::info!(key_id = %id, "api key revoked");
            Ok(())
        }
        RevokeOutcome::AlreadyRevoked => Ok(()),
        RevokeOutcome::NotFound => Err(ServiceError::NotFound {
            code: ErrorCode::KeysNotFound,
        }),
        RevokeOutcome::LastAdmin => Err(ServiceError::Conflict {
            code: ErrorCode::KeysLastAdmin,
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

/// A break-glass raise as asked (validated by [`raise_quota`]).
#[derive(Debug, Clone)]
pub struct RaiseRequest {
    /// A purpose the key holds (or `data_subject_access`, for a key holding
    /// `self_service`, whose tokens' exports count there).
    pub purpose: String,
    /// The raised limits.
    pub quota: GrantQuota,
    /// Why, in words (1 to 500 characters; PI must not be written here).
    pub reason: String,
    /// For how long, in seconds (1 to [`MAX_RAISE_SECS`]).
    pub seconds: u32,
}

/// The longest a break-glass raise lasts: a day. A need that outlasts it is a grant.
pub const MAX_RAISE_SECS: u32 = 86_400;
/// The longest reason, in characters.
pub const MAX_REASON_LEN: usize = 500;

/// Whether a key of `role` with `grants` may have its quota under `purpose` raised: a
/// service key, for a purpose it holds, or for `data_subject_access` when it holds
/// `self_service` (its tokens' exports count there).
fn may_raise(role: Role, grants: &Grants, purpose: &str) -> bool {
    role == Role::Service
        && (grants.holds(purpose)
            || (purpose == crate::service::requests::SUBJECT_ACCESS
                && grants.permits(Permission::SelfService)))
}

async fn active_key(store: &dyn Store, id: &str) -> Result<ApiKeyRecord, ServiceError> {
    let not_found = || ServiceError::NotFound {
        code: ErrorCode::KeysNotFound,
    };
    if !is_key_id(id) {
        return Err(not_found());
    }
    store
        .key(id)
        .await?
        .filter(|k| k.revoked_at.is_none())
        .ok_or_else(not_found)
}

/// Raises an active service key's quota under a purpose for `seconds` from now, replacing
/// any raise of that purpose, recorded by the events `audit` makes for the raise. The
/// caller evicts the key from caches and tells the fleet.
#[tracing::instrument(skip_all)]
pub async fn raise_quota(
    store: &dyn Store,
    id: &str,
    asked: &RaiseRequest,
    raised_by: &str,
    audit: impl FnOnce(&QuotaRaise) -> Vec<AccessEvent>,
) -> Result<ApiKeyRecord, ServiceError> {
    let reason = asked.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_LEN {
        return Err(ServiceError::invalid(
            "reason",
            "must be 1 to 500 characters",
        ));
    }
    if asked.seconds == 0 || asked.seconds > MAX_RAISE_SECS {
        return Err(ServiceError::invalid("seconds", "must be 1 to 86400"));
    }
    if asked.quota.is_empty() {
        return Err(ServiceError::invalid("quota", "names at least one limit"));
    }
    asked
        .quota
        .validate()
        .map_err(|e| ServiceError::invalid("quota", e))?;
    let purpose =
        PurposeId::parse(&asked.purpose).map_err(|e| ServiceError::invalid("purpose", e))?;
    let key = active_key(store, id).await?;
    if !may_raise(key.role, &key.grants, purpose.as_str()) {
        return Err(ServiceError::Rejected {
            code: ErrorCode::KeysPurposeNotHeld,
            detail: "quotas are raised for a purpose a service key holds (or \
                     data_subject_access, for a key holding self_service)"
                .to_owned(),
        });
    }
    let at = now();
    let raise = QuotaRaise {
        purpose,
        quota: asked.quota,
        reason: reason.to_owned(),
        raised_by: raised_by.to_owned(),
        raised_at: at,
        expires_at: at + i64::from(asked.seconds),
    };
    let mut record = key;
    record
        .grants
        .raises
        .retain(|r| r.in_force(at) && r.purpose != raise.purpose);
    record.grants.raises.push(raise.clone());
    if !store.set_key_grants(&record, &audit(&raise)).await? {
        return Err(ServiceError::NotFound {
            code: ErrorCode::KeysNotFound,
        });
    }
    tracing::info!(key_id = %record.id, "api key quota raised (break-glass)");
    Ok(record)
}

/// Ends a key's raise under `purpose` before its time, recorded by `audit`'s events;
/// 404 `keys.no_quota_raise` when none is in force.
#[tracing::instrument(skip_all)]
pub async fn end_raise(
    store: &dyn Store,
    id: &str,
    purpose: &str,
    audit: impl FnOnce(&QuotaRaise) -> Vec<AccessEvent>,
) -> Result<ApiKeyRecord, ServiceError> {
    let mut record = active_key(store, id).await?;
    let at = now();
    let Some(ended) = record.grants.raise(purpose, at).cloned() else {
        return Err(ServiceError::NotFound {
            code: ErrorCode::KeysNoQuotaRaise,
        });
    };
    record
        .grants
        .raises
        .retain(|r| r.in_force(at) && r.purpose != ended.purpose);
    if !store.set_key_grants(&record, &audit(&ended)).await? {
        return Err(ServiceError::NotFound {
            code: ErrorCode::KeysNotFound,
        });
    }
    tracing::info!(key_id = %record.id, "api key quota raise ended");
    Ok(record)
}

/// The admin key asking for a change of keys, in its request: whom the trail names.
#[derive(Clone, Copy)]
pub struct Admin<'a> {
    /// The caller, as authenticated.
    pub caller: &'a Caller,
    /// The admin key's id (a new key's `created_by`, a raise's `raised_by`).
    pub key_id: &'a str,
    /// The request.
    pub ctx: &'a RequestContext,
}

impl Admin<'_> {
    /// An event of this admin's request about key `id`.
    fn event(&self, action: Action, id: &str) -> AccessEvent {
        audit::about(self.caller, self.ctx, action, id)
    }

    /// The `key_quota_raise` event of a raise of key `id`, with `fields`.
    fn raise_event(&self, id: &str, raise: &QuotaRaise, fields: Vec<String>) -> Vec<AccessEvent> {
        let mut e = self.event(Action::KeyQuotaRaise, id);
        e.purpose = Some(raise.purpose.as_str().to_owned());
        e.fields = fields;
        vec![e]
    }
}

/// Creates a key (`POST /v1/keys`), audited as `key_create` with what it is granted; the
/// event is in the trail before this returns.
pub async fn create_key(
    state: &Services,
    admin: Admin<'_>,
    new: &NewKey,
) -> Result<(ApiKeyRecord, SecretString), ServiceError> {
    let event = |record: &ApiKeyRecord| {
        let mut e = admin.event(Action::KeyCreate, &record.id);
        e.fields = grant_fields(record);
        vec![e]
    };
    let created = create(state.store.as_ref(), new, Some(admin.key_id), event).await?;
    audit::settle(state.audit.as_ref()).await;
    Ok(created)
}

/// Revokes a key (`DELETE /v1/keys/{id}`), audited as `key_revoke`; every node forgets it
/// before this returns.
pub async fn revoke_key(state: &Services, admin: Admin<'_>, id: &str) -> Result<(), ServiceError> {
    revoke(
        state.store.as_ref(),
        id,
        &[admin.event(Action::KeyRevoke, id)],
    )
    .await?;
    changed_key(state, id).await
}

/// Replaces an active key's grants (`PUT /v1/keys/{id}/grants`), audited as `key_grant`
/// with the new grants; every node forgets the old ones before this returns.
pub async fn change_grants(
    state: &Services,
    admin: Admin<'_>,
    id: &str,
    asked: &GrantRequest,
) -> Result<ApiKeyRecord, ServiceError> {
    let event = |record: &ApiKeyRecord| {
        let mut e = admin.event(Action::KeyGrant, &record.id);
        e.fields = grant_fields(record);
        vec![e]
    };
    let record = set_grants(state.store.as_ref(), id, asked, event).await?;
    changed_key(state, id).await?;
    Ok(record)
}

/// Raises a key's quota for a while (break-glass, `POST /v1/keys/{id}/quota-raises`),
/// audited as `key_quota_raise` with the limits, the end and the reason's SHA-256.
pub async fn raise_key_quota(
    state: &Services,
    admin: Admin<'_>,
    id: &str,
    asked: &RaiseRequest,
) -> Result<ApiKeyRecord, ServiceError> {
    let event = |raise: &QuotaRaise| admin.raise_event(id, raise, raise_fields(raise));
    let record = raise_quota(state.store.as_ref(), id, asked, admin.key_id, event).await?;
    changed_key(state, id).await?;
    Ok(record)
}

/// Ends a key's raise under `purpose` before its time, audited as `key_quota_raise` with
/// `ended`.
pub async fn end_key_quota_raise(
    state: &Services,
    admin: Admin<'_>,
    id: &str,
    purpose: &str,
) -> Result<ApiKeyRecord, ServiceError> {
    let event = |raise: &QuotaRaise| admin.raise_event(id, raise, vec!["ended".to_owned()]);
    let record = end_raise(state.store.as_ref(), id, purpose, event).await?;
    changed_key(state, id).await?;
    Ok(record)
}

/// After a key's record changed: this node forgets it, its events reach the trail, and
/// every other node forgets it before the call returns.
async fn changed_key(state: &Services, id: &str) -> Result<(), ServiceError> {
    state.key_records.evict(id);
    audit::settle(state.audit.as_ref()).await;
    let propagation = cluster::publish(state, cluster::Kind::Key, id).await?;
    if let Some(p) = propagation.filter(|p| !p.unconfirmed_nodes.is_empty()) {
        tracing::warn!(nodes = ?p.unconfirmed_nodes, "a change of a key is not confirmed by every node yet");
    }
    Ok(())
}

/// What the trail says of a key's grants: its role, purposes with views, permissions and
/// masking roles (names only).
fn grant_fields(record: &ApiKeyRecord) -> Vec<String> {
    let g = &record.grants;
    let mut fields = vec![format!("role:{}", record.role.as_str())];
    fields.extend(g.purposes.iter().map(|p| {
        let views: Vec<&str> = p.views.iter().map(|v| v.as_str()).collect();
        format!("purpose:{}:{}", p.purpose.as_str(), views.join("+"))
    }));
    fields.extend(
        g.permissions
            .iter()
            .map(|p| format!("permission:{}", p.as_str())),
    );
    fields.extend(g.masking_roles.iter().map(|r| format!("masking_role:{r}")));
    if let Some(binding) = &record.client_certificate {
        fields.push(format!("client_certificate:{}", binding.to_stored()));
    }
    fields
}

/// What the trail says of a raise: until when, the limits, and the reason's SHA-256.
fn raise_fields(raise: &QuotaRaise) -> Vec<String> {
    let digest = ring::digest::digest(&ring::digest::SHA256, raise.reason.as_bytes());
    let mut fields = vec![
        format!("until:{}", rfc3339(raise.expires_at)),
        format!(
            "reason_sha256:{}",
            data_encoding::HEXLOWER.encode(digest.as_ref())
        ),
    ];
    fields.extend(
        raise
            .quota
            .key
            .describe()
            .into_iter()
            .map(|l| format!("key.{l}")),
    );
    fields.extend(
        raise
            .quota
            .operator
            .describe()
            .into_iter()
            .map(|l| format!("operator.{l}")),
    );
    fields
}
