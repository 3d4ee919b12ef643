//! Erasure certificates (`GET /v1/subjects/{id}/erasure-certificate`): the signed statement
//! that a subject was erased, with its audit event, the event's inclusion proof and the
//! checkpoint it leads to, cosigned by the log's witnesses when it has any (see
//! `baomi_audit::erasure`). Issued once a checkpoint covers the erasure, within a second
//! or two of it; every issue is itself an audit event.

use baomi_audit::EventFilter;
use baomi_audit::erasure::{self, Statement};
use baomi_types::Action;
use baomi_types::signed_json;
use baomi_vault::SubjectId;
use serde_json::Value;

use crate::auth::Caller;
use crate::service::{ErrorCode, RequestContext, ServiceError, Services, audit, authorize, now};

/// Erase events of one subject looked through for the erasure's own: a subject is erased
/// once, and erasing it again (idempotent) adds an event each time.
const ERASE_EVENTS: u32 = 100;

/// The erasure certificate of `subject`, signed by the log's keys.
pub async fn certificate(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    subject: &str,
) -> Result<Value, ServiceError> {
    authorize::erasure_certificate(caller)?;
    let parsed = SubjectId::parse(subject).map_err(|e| ServiceError::invalid("subject_id", e))?;
    let erasure = state
        .vault
        .erasure(&parsed)
        .await
        .map_err(crate::service::vault::vault_error)?
        .ok_or(ServiceError::NotFound {
            code: ErrorCode::VaultNotErased,
        })?;
    let log = &state.audit_log;
    let target = format!("receipt:{}", erasure.receipt_id);
    let filter = EventFilter {
        subject: Some(subject.to_owned()),
        action: Some(Action::Erase.as_str().to_owned()),
        outcome: Some("allowed".to_owned()),
        ..EventFilter::default()
    };
    // Oldest first: the first erasure's event is the one its receipt names.
    let event = log
        .events(&filter, ERASE_EVENTS)
        .await?
        .into_iter()
        .rev()
        .find(|e| {
            serde_json::from_str::<baomi_types::AccessEvent>(&e.body)
                .is_ok_and(|a| a.target.as_deref() == Some(target.as_str()))
        })
        .ok_or(ServiceError::Gone {
            code: ErrorCode::AuditEventPruned,
        })?;
    let not_yet = || ServiceError::Conflict {
        code: ErrorCode::AuditNotYetSigned,
        detail: "the erasure is not yet in a signed (and, with witnesses, cosigned) \
                 checkpoint; retry in a second"
            .to_owned(),
    };
    let (leaf, body) = log.store().leaf_of(event.seq).await?.ok_or_else(not_yet)?;
    let text = body.ok_or(ServiceError::Gone {
        code: ErrorCode::AuditEventPruned,
    })?;
    let (size, note) = covering_checkpoint(state, leaf.index)
        .await?
        .ok_or_else(not_yet)?;
    let proof = log.inclusion_at(leaf.index, size).await?;
    let mut issued = audit::about(
        caller,
        ctx,
        Action::AuditRead,
        &format!("erasure-certificate:{}", erasure.receipt_id),
    );
    issued.subject = Some(subject.to_owned());
    audit::append(state.audit.as_ref(), &[issued]).await?;
    let statement = Statement {
        issuer: log.origin(),
        subject,
        receipt_id: &erasure.receipt_id,
        erased_at: erasure.erased_at,
        issued_at: now(),
        event: &text,
        seq: leaf.seq,
        leaf_index: leaf.index,
        proof: &proof,
        checkpoint: &note,
        tree_size: size,
    };
    let body = erasure::certificate_body(&statement);
    let signatures = log.sign_detached(
        erasure::CERTIFICATE_FORMAT,
        signed_json::canonical(&body).as_bytes(),
    )?;
    Ok(signed_json::with_signatures(body, &signatures))
}

/// The checkpoint to prove the leaf at `index` in, as (tree size, signed note): with
/// witnesses, the largest tree one of them cosigned, with the cosignatures of every witness
/// that cosigned that same tree; without, the newest checkpoint. `None` while none covers
/// the leaf.
async fn covering_checkpoint(
    state: &Services,
    index: u64,
) -> Result<Option<(u64, String)>, ServiceError> {
    let witnesses = &state.limits.witnesses;
    if witnesses.is_empty() {
        let newest = state.audit_log.checkpoint().await?;
        return Ok(newest
            .filter(|c| c.tree_size > index)
            .map(|c| (c.tree_size, c.note)));
    }
    let cosigned = state.store.newest_cosignatures(witnesses).await?;
    let Some(size) = cosigned
        .iter()
        .filter_map(|c| u64::try_from(c.tree_size).ok())
        .max()
        .filter(|size| *size > index)
    else {
        return Ok(None);
    };
    let mut note = String::new();
    for c in cosigned
        .iter()
        .filter(|c| u64::try_from(c.tree_size) == Ok(size))
    {
        if note.is_empty() {
            note = c.note.clone();
        } else {
            // The same checkpoint: only its cosignature line is new.
            let new: Vec<&str> = c
                .note
                .lines()
                .filter(|l| !note.lines().any(|n| n == *l))
                .collect();
            for line in new {
                note.push_str(line);
                note.push('\n');
            }
        }
    }
    Ok(Some((size, note)))
}
