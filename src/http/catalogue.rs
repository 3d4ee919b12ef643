//! `/v1/field-catalogue`: which PI category each stored field belongs to.

use std::collections::BTreeMap;

use axum::Extension;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, Problem};
use super::extract::{AdminKey, Json};
use crate::app::AppState;
use crate::auth::Caller;
use crate::auth::catalogue::FieldCatalogue;
use crate::service::RequestContext;
use crate::service::catalogue::{self, Catalogue};

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_catalogue, put_catalogue))
}

/// A new version of the catalogue.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutCatalogue {
    /// Field name (`text.occupation`) or type (`text`) → PI category (`occupation`): at most
    /// 1,000 entries. A field's category is its whole name's entry, else its type's, else
    /// its type itself. The new version replaces the whole catalogue.
    pub fields: BTreeMap<String, String>,
}

/// The catalogue now.
#[derive(Debug, Serialize, ToSchema)]
pub struct CatalogueView {
    /// Its version; 0 while only the built-in defaults apply.
    pub version: u32,
    /// The declared entries: field name or type → category.
    pub fields: BTreeMap<String, String>,
    /// The built-in types, each its own category unless an entry says otherwise.
    pub built_in: Vec<&'static str>,
    /// When this version was stored (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    /// The admin key that stored it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

impl From<Catalogue> for CatalogueView {
    fn from(c: Catalogue) -> Self {
        Self {
            version: c.version,
            fields: c.catalogue.entries().clone(),
            built_in: FieldCatalogue::built_in().collect(),
            updated_at: c.updated_at.map(crate::service::rfc3339_ms),
            updated_by: c.updated_by,
        }
    }
}

/// The field catalogue: which PI category each stored field belongs to, so that a
/// purpose's categories say which fields it reads (admin, service, officer).
#[utoipa::path(get, path = "/v1/field-catalogue", tag = "consent", security(("bearer" = [])),
    responses(
        (status = 200, body = CatalogueView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_catalogue(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<axum::Json<CatalogueView>, ApiError> {
    Ok(axum::Json(catalogue::get(&state, &caller).await?.into()))
}

/// Publish a new version of the field catalogue (admin; audited as `catalogue_change`
/// with the entries that changed). Every node applies it from its next read on.
#[utoipa::path(put, path = "/v1/field-catalogue", tag = "consent", security(("bearer" = [])),
    request_body = PutCatalogue,
    responses(
        (status = 200, body = CatalogueView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn put_catalogue(
    State(state): State<AppState>,
    admin: AdminKey,
    Extension(ctx): Extension<RequestContext>,
    Json(body): Json<PutCatalogue>,
) -> Result<axum::Json<CatalogueView>, ApiError> {
    let stored = catalogue::put(&state, &admin.caller, &ctx, body.fields).await?;
    Ok(axum::Json(stored.into()))
}
