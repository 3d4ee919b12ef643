//! `/v1/audit/…`: the signed checkpoint, Merkle proofs, queries, export and alerts of the
//! audit trail (officer and admin roles), and `/v1/me/access-log`, a subject's own trail.
//! Every read here is itself an audit event.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use baomi_types::Action;
use data_encoding::BASE64;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, Problem};
use super::extract::{AdminKey, Path, Query};
use crate::app::AppState;
use crate::auth::Caller;
use crate::service::audit_alerts::alert_json;
use crate::service::audit_export::Exporter;
use crate::service::signing_keys::PublishedKey;
use crate::service::{ErrorCode, RequestContext, ServiceError, audit};

/// The routes of this area.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(checkpoint))
        .routes(routes!(signing_keys))
        .routes(routes!(rotate_signing_keys))
        .routes(routes!(events))
        .routes(routes!(event))
        .routes(routes!(inclusion))
        .routes(routes!(consistency))
        .routes(routes!(export))
        .routes(routes!(alerts))
        .routes(routes!(access_log))
}

/// The newest signed checkpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct CheckpointView {
    /// Events in the tree.
    pub tree_size: u64,
    /// The Merkle root (standard base64).
    pub root: String,
    /// The checkpoint as a C2SP signed note (what to keep and compare).
    pub note: String,
    /// The primary key to check `note` with: `<name>+<key id>+<base64(algorithm byte ‖
    /// public key)>` (Ed25519 by default).
    pub verifier_key: String,
    /// Every key that signs (`audit.signature_algorithms`), primary first.
    pub verifier_keys: Vec<VerifierKeyView>,
    /// The newest checkpoint each witness cosigned (`audit.witnesses`): keep one, and
    /// check it with the witness's verifier key as well as the log's.
    pub witnessed: Vec<WitnessedView>,
}

/// A checkpoint a witness cosigned.
#[derive(Debug, Serialize, ToSchema)]
pub struct WitnessedView {
    /// The witness's name.
    pub witness: String,
    /// The checkpoint's tree size.
    pub tree_size: i64,
    /// When the witness cosigned it, by its clock (Unix seconds).
    pub cosigned_at: i64,
    /// The checkpoint as a signed note: the log's signatures, then the witness's
    /// cosignature line.
    pub note: String,
}

/// A key that signs checkpoints and receipts.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerifierKeyView {
    /// `ed25519` or `sm2`.
    pub algorithm: &'static str,
    /// `<name>+<key id>+<base64(algorithm byte ‖ public key)>`.
    pub key: String,
}

/// The checkpoint signing keys, oldest generation first.
#[derive(Debug, Serialize, ToSchema)]
pub struct SigningKeysView {
    /// Every key, oldest generation first, primary first within one.
    pub keys: Vec<PublishedKey>,
}

/// Which event, in which tree.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InclusionQuery {
    /// The event's sequence number.
    pub seq: i64,
    /// The tree size to prove against; the newest checkpoint's if absent.
    pub size: Option<u64>,
}

/// An inclusion proof (RFC 9162 §2.1.3).
#[derive(Debug, Serialize, ToSchema)]
pub struct InclusionProof {
    /// The event's sequence number.
    pub seq: i64,
    /// Its position in the tree.
    pub leaf_index: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// `SHA-256(0x00 ‖ event)` (standard base64).
    pub leaf_hash: String,
    /// The event exactly as hashed (JSON text; no personal information is ever in it);
    /// absent once retention pruned it (the leaf hash stays, so the proof still holds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Whether retention pruned the event's body.
    pub pruned: bool,
    /// The audit path, leaf side first (standard base64).
    pub proof: Vec<String>,
}

/// Two tree sizes.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ConsistencyQuery {
    /// The older size (at least 1); or give `note` instead.
    pub from: Option<u64>,
    /// The newer size (at most the newest checkpoint's); with `note`, the newest
    /// checkpoint's if left out.
    pub to: Option<u64>,
    /// A signed checkpoint of this log kept outside it (the `note` of GET
    /// /v1/audit/checkpoint saved earlier, or a witness's cosigned one), instead of `from`:
    /// the trail must extend it. 409 `audit.not_extended` says it does not, and why.
    pub note: Option<String>,
}

/// The longest kept checkpoint accepted, in characters: a checkpoint with a signature by
/// each key and a dozen witnesses' cosignatures is under this. Percent-encoded in a query
/// string, even of four-byte characters, it stays below the longest URI the server reads
/// (`MAX_URI_BYTES`, 32 KiB).
pub const MAX_NOTE_CHARS: usize = 2048;

/// A consistency proof (RFC 9162 §2.1.4).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConsistencyProof {
    /// The older size.
    pub from: u64,
    /// The newer size.
    pub to: u64,
    /// The root at `from` (standard base64).
    pub from_root: String,
    /// The root at `to` (standard base64).
    pub to_root: String,
    /// The proof (standard base64).
    pub proof: Vec<String>,
    /// When `to` is the newest checkpoint's size, that checkpoint's signed note: the proof
    /// then leads from a kept note to a signed tree.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
}

fn proof_view(
    (leaf, body, size, proof): (
        baomi_audit::Leaf,
        Option<String>,
        u64,
        Vec<baomi_audit::merkle::Hash>,
    ),
) -> InclusionProof {
    InclusionProof {
        seq: leaf.seq,
        leaf_index: leaf.index,
        tree_size: size,
        leaf_hash: BASE64.encode(&leaf.hash),
        pruned: body.is_none(),
        event: body,
        proof: proof.iter().map(|h| BASE64.encode(h)).collect(),
    }
}

/// The newest signed checkpoint of the audit trail.
#[utoipa::path(get, path = "/v1/audit/checkpoint", tag = "audit", security(("bearer" = [])),
    responses(
        (status = 200, body = CheckpointView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`audit.no_checkpoint`: nothing has been integrated yet", body = Problem, content_type = "application/problem+json"),
    ))]
async fn checkpoint(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
) -> Result<axum::Json<CheckpointView>, ApiError> {
    let status = crate::service::audit_log::checkpoint_status(&state, &caller, &ctx).await?;
    let c = status.checkpoint;
    Ok(axum::Json(CheckpointView {
        tree_size: c.tree_size,
        root: BASE64.encode(&c.root),
        note: c.note,
        verifier_key: status.verifier_key,
        verifier_keys: status
            .verifier_keys
            .into_iter()
            .map(|(algorithm, key)| VerifierKeyView {
                algorithm: algorithm.as_str(),
                key,
            })
            .collect(),
        witnessed: status
            .witnessed
            .into_iter()
            .map(|c| WitnessedView {
                witness: c.witness,
                tree_size: c.tree_size,
                cosigned_at: c.cosigned_at,
                note: c.note,
            })
            .collect(),
    }))
}

/// The history of the checkpoint signing keys: what to verify checkpoints and consent
/// receipts with, each key for the trees it may have signed. Save it from a copy you trust
/// and pass it to `baomi audit verify --keys`.
#[utoipa::path(get, path = "/v1/audit/keys", tag = "audit", security(("bearer" = [])),
    responses(
        (status = 200, body = SigningKeysView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
    ))]
async fn signing_keys(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
) -> Result<axum::Json<SigningKeysView>, ApiError> {
    audit::audited_read(&state, &caller, &ctx, "signing_keys").await?;
    let keys = state.audit_log.signing_keys().history().await?;
    Ok(axum::Json(SigningKeysView { keys }))
}

/// Rotate the checkpoint signing keys (admin): a new generation of random keys, sealed under
/// the root key, signs from the current tree size on; the old one stays in the history,
/// trusted up to that size. Audited as `audit_key_rotate` with the new verifier keys. Keys
/// read from files are rotated by replacing the files and restarting.
#[utoipa::path(post, path = "/v1/audit/keys/rotate", tag = "audit", security(("bearer" = [])),
    responses(
        (status = 200, description = "The new generation's keys", body = SigningKeysView),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`audit.signing_keys_from_files`, or `audit.rotation_in_progress`", body = Problem, content_type = "application/problem+json"),
    ))]
async fn rotate_signing_keys(
    State(state): State<AppState>,
    admin: AdminKey,
    Extension(ctx): Extension<RequestContext>,
) -> Result<axum::Json<SigningKeysView>, ApiError> {
    let event = |generation: i64, verifier_keys: &[String]| {
        let mut e = audit::about(
            &admin.caller,
            &ctx,
            Action::AuditKeyRotate,
            &format!("generation:{generation}"),
        );
        e.fields = verifier_keys.to_vec();
        vec![e]
    };
    let keys = state.audit_log.signing_keys().rotate(event).await?;
    audit::settle(state.audit.as_ref()).await;
    Ok(axum::Json(SigningKeysView { keys }))
}

/// Prove that an event is in the tree.
#[utoipa::path(get, path = "/v1/audit/proofs/inclusion", tag = "audit", security(("bearer" = [])),
    params(InclusionQuery),
    responses(
        (status = 200, body = InclusionProof),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`audit.not_in_tree`: unknown, or not integrated yet (within a second)", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn inclusion(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Query(q): Query<InclusionQuery>,
) -> Result<axum::Json<InclusionProof>, ApiError> {
    audit::audited_read(&state, &caller, &ctx, &format!("event:{}", q.seq)).await?;
    let found = state.audit_reads.inclusion(q.seq, q.size).await?;
    Ok(axum::Json(proof_view(found)))
}

/// Prove that the tree at `from` is a prefix of the tree at `to`: nothing was edited,
/// removed or reordered in between.
#[utoipa::path(get, path = "/v1/audit/proofs/consistency", tag = "audit", security(("bearer" = [])),
    params(ConsistencyQuery),
    responses(
        (status = 200, body = ConsistencyProof),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`audit.not_extended`: the trail does not extend the kept `note` (events removed from its end, or history rewritten)", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn consistency(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Query(q): Query<ConsistencyQuery>,
) -> Result<axum::Json<ConsistencyProof>, ApiError> {
    audit::audited_read(&state, &caller, &ctx, "consistency").await?;
    let (log, from, to, proof) = match (q.note, q.from) {
        (Some(_), Some(_)) => {
            return Err(ServiceError::invalid("note", "give either note or from, not both").into());
        }
        (Some(note), None) => {
            if note.chars().count() > MAX_NOTE_CHARS {
                return Err(ServiceError::invalid("note", "longer than 2048 characters").into());
            }
            // Checked against the primary, never a replica that may lag: a kept checkpoint
            // newer than a replica's tree is not evidence of a cut.
            let log = &state.audit_log;
            let (kept, to, proof) = log.extending(&note, q.to).await?;
            (log, kept.size, to, proof)
        }
        (None, Some(from)) => {
            let to =
                q.to.ok_or(ServiceError::invalid("to", "required with from"))?;
            let log = &state.audit_reads;
            (log, from, to, log.consistency(from, to).await?)
        }
        (None, None) => {
            return Err(ServiceError::invalid("from", "give from and to, or note").into());
        }
    };
    let newest = log.signed_checkpoint().await?;
    Ok(axum::Json(ConsistencyProof {
        from,
        to,
        from_root: BASE64.encode(&log.root(from).await?),
        to_root: BASE64.encode(&log.root(to).await?),
        proof: proof.iter().map(|h| BASE64.encode(h)).collect(),
        checkpoint: (newest.tree_size == to).then_some(newest.note),
    }))
}

/// Filters of an officer's query; all optional, all combined.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Whose data (subject id).
    pub subject: Option<String>,
    /// Which API key id or subject token id acted.
    pub actor: Option<String>,
    /// For which platform staff member (`X-Baomi-Operator`).
    pub operator: Option<String>,
    /// Under which purpose.
    pub purpose: Option<String>,
    /// Which action: `decrypt`, `read`, `detokenize`, `search`, `store`, `erase`, …
    pub action: Option<String>,
    /// `allowed` or `denied`.
    pub outcome: Option<String>,
    /// From this time (RFC 3339, inclusive).
    pub from: Option<String>,
    /// Until this time (RFC 3339, exclusive).
    pub to: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<u64>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<u32>,
}

/// One event of the trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventView {
    /// Its sequence number.
    pub seq: i64,
    /// The event (no personal information is ever in it).
    #[schema(value_type = Object)]
    pub event: serde_json::Value,
    /// Query columns stored for the event that its text contradicts: edited in the
    /// database behind Baomi's back (the text, a Merkle leaf, is what happened). Absent
    /// when there are none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub edited_columns: Vec<&'static str>,
}

/// A page of events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct EventPage {
    /// The events.
    pub events: Vec<EventView>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<i64>,
}

fn millis(field: &'static str, raw: Option<&str>) -> Result<Option<i64>, ServiceError> {
    raw.map(|t| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map(|d| i64::try_from(d.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
            .map_err(|_| ServiceError::invalid(field, "not an RFC 3339 time"))
    })
    .transpose()
}

/// The query columns stored for an event that its text contradicts: edited behind Baomi's
/// back, which is logged and counted.
fn edited_columns(stored: &baomi_audit::StoredEvent) -> Vec<&'static str> {
    let edited = stored.edited_columns();
    if !edited.is_empty() {
        tracing::error!(
            seq = stored.seq,
            columns = %edited.join(","),
            "an audit event's query columns disagree with its text: edited in the database"
        );
        metrics::counter!("baomi_audit_edited_columns_total").increment(1);
    }
    edited
}

/// An event as the API and the console's JSON Lines export show it: its text, and the
/// query columns that disagree with it, if any.
pub(crate) fn view(e: baomi_audit::StoredEvent) -> EventView {
    let edited_columns = edited_columns(&e);
    EventView {
        seq: e.seq,
        event: serde_json::from_str(&e.body).unwrap_or(serde_json::Value::String(e.body)),
        edited_columns,
    }
}

/// Search the trail (officer, admin): by subject, actor, operator, purpose, action, outcome
/// and time, newest first, paginated by cursor. The search itself is an audit event.
#[utoipa::path(get, path = "/v1/audit/events", tag = "audit", security(("bearer" = [])),
    params(EventsQuery),
    responses(
        (status = 200, body = EventPage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn events(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Query(q): Query<EventsQuery>,
) -> Result<axum::Json<EventPage>, ApiError> {
    let limit = page_limit(q.limit)?;
    audit::check_outcome(q.outcome.as_deref())?;
    let (from_ms, to_ms) = (
        millis("from", q.from.as_deref())?,
        millis("to", q.to.as_deref())?,
    );
    if let (Some(from), Some(to)) = (from_ms, to_ms)
        && from >= to
    {
        return Err(ServiceError::invalid("from", "must be before `to`").into());
    }
    let filter = baomi_audit::EventFilter {
        from_ms,
        to_ms,
        subject: q.subject,
        actor: q.actor,
        operator: q.operator,
        purpose: q.purpose,
        action: q.action,
        outcome: q.outcome,
        before: cursor(q.cursor),
    };
    audit::audited_read(&state, &caller, &ctx, "events").await?;
    let found = state.audit_reads.events(&filter, limit).await?;
    let next_cursor = next_cursor(&found, limit, |e| Some(e.seq));
    Ok(axum::Json(EventPage {
        events: found.into_iter().map(view).collect(),
        next_cursor,
    }))
}

/// One event of the trail, with its inclusion proof against the newest checkpoint.
#[utoipa::path(get, path = "/v1/audit/events/{seq}", tag = "audit", security(("bearer" = [])),
    params(("seq" = i64, Path, description = "The event's sequence number")),
    responses(
        (status = 200, body = InclusionProof),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`audit.not_in_tree`: no such event, or the newest checkpoint does not cover it yet (the next one, within a second, will)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn event(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Path(seq): Path<i64>,
) -> Result<axum::Json<InclusionProof>, ApiError> {
    audit::audited_read(&state, &caller, &ctx, &format!("event:{seq}")).await?;
    let found = state.audit_reads.inclusion(seq, None).await?;
    Ok(axum::Json(proof_view(found)))
}

/// The whole trail up to the newest signed checkpoint, as JSON Lines (format
/// `baomi-audit-export/1`; see `baomi audit verify`).
#[utoipa::path(get, path = "/v1/audit/export", tag = "audit", security(("bearer" = [])),
    responses(
        (status = 200, description = "JSON Lines: a header, one line per event with its leaf hash, the signed checkpoints among them", content_type = "application/jsonl", body = String),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "`audit.no_checkpoint`: nothing has been integrated yet", body = Problem, content_type = "application/problem+json"),
    ))]
async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
) -> Result<axum::response::Response, ApiError> {
    audit::audited_read(&state, &caller, &ctx, "export").await?;
    let exporter = Exporter::start(
        Arc::clone(state.audit_reads.store()),
        state.audit_reads.origin(),
    )
    .await?
    .ok_or(ServiceError::NotFound {
        code: ErrorCode::AuditNoCheckpoint,
    })?;
    let size = exporter.tree_size();
    // Pages are read as the client takes them; an error mid-way ends the body early, which
    // the verifier reports as a truncated export.
    let pages = futures_util::stream::unfold(Some(exporter), |exporter| async move {
        let mut exporter = exporter?;
        match exporter.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(exporter))),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(error = %e, "audit export failed part-way");
                Some((Err(std::io::Error::other("the export failed")), None))
            }
        }
    });
    axum::response::Response::builder()
        .header("content-type", "application/jsonl")
        .header(
            "content-disposition",
            format!("attachment; filename=\"baomi-audit-{size}.jsonl\""),
        )
        .body(axum::body::Body::from_stream(pages))
        .map_err(|_| ApiError::internal("export response"))
}

/// A page of alerts.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<u64>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<u32>,
}

/// Alerts raised by the rules, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertPage {
    /// The alerts: `id`, `rule` (`bulk_access`, `off_hours`, `denial_spike`), `key`
    /// (`actor:<key id>` or `operator:<id>`), `trigger_seq` (the event that raised it),
    /// `at`, and the rule's figures in `detail`.
    #[schema(value_type = Vec<Object>)]
    pub alerts: Vec<serde_json::Value>,
    /// The last sequence number the rules have evaluated on this node.
    pub evaluated_through_seq: i64,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<i64>,
}

/// The cursor of the next page: the last item's key, if the page is full.
fn next_cursor<T>(found: &[T], limit: u32, key: impl Fn(&T) -> Option<i64>) -> Option<i64> {
    if found.len() == limit as usize {
        found.last().and_then(key)
    } else {
        None
    }
}

/// A page's cursor as the store keeps sequence numbers (past the last one: from the start).
fn cursor(cursor: Option<u64>) -> Option<i64> {
    cursor.map(|c| i64::try_from(c).unwrap_or(i64::MAX))
}

fn page_limit(limit: Option<u32>) -> Result<u32, ServiceError> {
    let limit = limit.unwrap_or(100);
    if (1..=500).contains(&limit) {
        Ok(limit)
    } else {
        Err(ServiceError::invalid("limit", "must be 1 to 500"))
    }
}

/// Alerts raised over the trail (officer, admin): bulk access, reads outside office hours,
/// spikes of refusals.
#[utoipa::path(get, path = "/v1/audit/alerts", tag = "audit", security(("bearer" = [])),
    params(AlertsQuery),
    responses(
        (status = 200, body = AlertPage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn alerts(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Query(q): Query<AlertsQuery>,
) -> Result<axum::Json<AlertPage>, ApiError> {
    let limit = page_limit(q.limit)?;
    audit::audited_read(&state, &caller, &ctx, "alerts").await?;
    let evaluated_through_seq = state.audit_log.alerts_evaluated_through();
    let found = state
        .audit_log
        .store()
        .alerts(cursor(q.cursor), limit)
        .await
        .map_err(ServiceError::from)?;
    let next_cursor = next_cursor(&found, limit, |a| a.id);
    Ok(axum::Json(AlertPage {
        alerts: found.iter().map(alert_json).collect(),
        evaluated_through_seq,
        next_cursor,
    }))
}

/// A page of a subject's access log.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AccessLogQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<u64>,
    /// Page size, 1 to 500 (default 100).
    pub limit: Option<u32>,
}

/// One access to the subject's data.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessEntry {
    /// When.
    pub at: String,
    /// What was done: `decrypt`, `read`, `detokenize`, `store`, `erase`, …
    pub action: String,
    /// Which kind of caller: `service` (a platform backend), `officer`, `admin`, or
    /// `subject` (you).
    pub accessor: String,
    /// The platform's staff member, as the platform chose to show them (absent if hidden
    /// or not named).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// The purpose declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The names of the fields touched.
    pub fields: Vec<String>,
    /// `allowed` or `denied`.
    pub outcome: String,
}

/// A page of the subject's access log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccessLogPage {
    /// The accesses.
    pub entries: Vec<AccessEntry>,
    /// Pass as `cursor` for the next (older) page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<i64>,
}

/// Who accessed my data, when, and why (subject token).
#[utoipa::path(get, path = "/v1/me/access-log", tag = "self-service", security(("bearer" = [])),
    params(AccessLogQuery),
    responses(
        (status = 200, body = AccessLogPage),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Called with an API key", body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json"),
    ))]
async fn access_log(
    State(state): State<AppState>,
    caller: Caller,
    Extension(ctx): Extension<RequestContext>,
    Query(q): Query<AccessLogQuery>,
) -> Result<axum::Json<AccessLogPage>, ApiError> {
    let subject = crate::service::authorize::self_service(&caller)?
        .as_str()
        .to_owned();
    let limit = page_limit(q.limit)?;
    let mut event = audit::event(&caller, &ctx, Action::AuditRead);
    event.subject = Some(subject.clone());
    event.target = Some("access_log".to_owned());
    event.count = 1;
    audit::append(state.audit.as_ref(), &[event]).await?;
    Ok(axum::Json(
        access_log_page(&state, subject, cursor(q.cursor), limit).await?,
    ))
}

/// A page of `subject`'s access log as the subject sees it (operators as configured).
pub(crate) async fn access_log_page(
    state: &AppState,
    subject: String,
    cursor: Option<i64>,
    limit: u32,
) -> Result<AccessLogPage, ServiceError> {
    let filter = baomi_audit::EventFilter {
        subject: Some(subject),
        before: cursor,
        ..baomi_audit::EventFilter::default()
    };
    let found = state.audit_reads.events(&filter, limit).await?;
    let next_cursor = next_cursor(&found, limit, |e| Some(e.seq));
    let entries = found
        .iter()
        // An event found under this subject only because its column was edited is
        // someone else's: it is reported, not shown.
        .filter(|stored| edited_columns(stored).is_empty())
        .filter_map(|stored| serde_json::from_str::<baomi_types::AccessEvent>(&stored.body).ok())
        .map(|e| AccessEntry {
            at: crate::service::rfc3339_ms(e.at_ms),
            action: e.action.as_str().to_owned(),
            accessor: e.actor.role,
            operator: e
                .operator
                .as_deref()
                .and_then(|op| state.audit_reads.operator_for_subject(op)),
            purpose: e.purpose,
            fields: e.fields,
            outcome: e.outcome.label().to_owned(),
        })
        .collect();
    Ok(AccessLogPage {
        entries,
        next_cursor,
    })
}
