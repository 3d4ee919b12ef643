//! The field catalogue: declared, versioned and audited like purposes (admin), read by any
//! key, and consulted on every read of PI through a short-lived cache that a change evicts
//! on every node.

use std::collections::BTreeMap;
use std::sync::Arc;

use baomi_types::Action;

use crate::auth::catalogue::FieldCatalogue;
use crate::auth::{Caller, Role};
use crate::service::authenticate::require_role;
use crate::service::cluster::{self, Kind};
use crate::service::{RequestContext, ServiceError, Services, audit, now_ms};
use crate::store::StoredCatalogue;

/// The one key the catalogue is cached under.
const CACHED: &str = "current";

/// The catalogue as stored: its version (0 before any), entries, when and by whom.
pub struct Catalogue {
    /// Its version; 0 while only the built-in defaults apply.
    pub version: u32,
    /// The declared entries.
    pub catalogue: FieldCatalogue,
    /// Unix milliseconds of this version, if stored.
    pub updated_at: Option<i64>,
    /// The key that stored it.
    pub updated_by: Option<String>,
}

fn parse(stored: &StoredCatalogue) -> Result<FieldCatalogue, ServiceError> {
    serde_json::from_str(&stored.body)
        .map_err(|_| ServiceError::Internal("the stored field catalogue does not parse".into()))
}

/// The catalogue now (admin, service, officer).
pub async fn get(state: &Services, caller: &Caller) -> Result<Catalogue, ServiceError> {
    require_role(caller, &[Role::Admin, Role::Service, Role::Officer])?;
    Ok(match state.store.catalogue().await? {
        None => Catalogue {
            version: 0,
            catalogue: FieldCatalogue::default(),
            updated_at: None,
            updated_by: None,
        },
        Some(stored) => Catalogue {
            version: stored.version,
            catalogue: parse(&stored)?,
            updated_at: Some(stored.updated_at),
            updated_by: Some(stored.updated_by),
        },
    })
}

/// Publishes a new version of the catalogue (admin), audited with the entries that changed
/// (`field:category`, or `field:` for one removed). Every node reads it from its next read
/// of PI on.
pub async fn put(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    entries: BTreeMap<String, String>,
) -> Result<Catalogue, ServiceError> {
    require_role(caller, &[Role::Admin])?;
    let catalogue = FieldCatalogue::new(entries).map_err(|e| ServiceError::invalid("fields", e))?;
    let before = get(state, caller).await?.catalogue;
    let mut event = audit::about(caller, ctx, Action::CatalogueChange, "field_catalogue");
    event.fields = changes(&before, &catalogue);
    let body =
        serde_json::to_string(&catalogue).map_err(|e| ServiceError::Internal(e.to_string()))?;
    let updated_by = match caller {
        Caller::Key { id, .. } => id.clone(),
        Caller::Subject { .. } => String::new(),
    };
    let stored = state
        .store
        .put_catalogue(&body, now_ms(), &updated_by, &[event])
        .await?;
    state.catalogue.evict(CACHED);
    cluster::publish(state, Kind::Catalogue, CACHED).await?;
    audit::settle(state.audit.as_ref()).await;
    Ok(Catalogue {
        version: stored.version,
        catalogue,
        updated_at: Some(stored.updated_at),
        updated_by: Some(stored.updated_by),
    })
}

/// The entries that differ, as `field:category` (`field:` for a removed one).
fn changes(before: &FieldCatalogue, after: &FieldCatalogue) -> Vec<String> {
    let (old, new) = (before.entries(), after.entries());
    let mut out: Vec<String> = new
        .iter()
        .filter(|(f, c)| old.get(*f) != Some(*c))
        .map(|(f, c)| format!("{f}:{c}"))
        .collect();
    out.extend(
        old.keys()
            .filter(|f| !new.contains_key(*f))
            .map(|f| format!("{f}:")),
    );
    out
}

/// The catalogue a read of PI applies, through the short-lived cache.
pub async fn current(state: &Services) -> Result<Arc<FieldCatalogue>, ServiceError> {
    let found = state
        .catalogue
        .get(CACHED, async {
            match state.store.catalogue().await? {
                None => Ok::<_, ServiceError>(Some(Arc::new(FieldCatalogue::default()))),
                Some(stored) => Ok(Some(Arc::new(parse(&stored)?))),
            }
        })
        .await?;
    Ok(found.unwrap_or_default())
}
