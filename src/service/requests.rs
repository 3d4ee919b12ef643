//! Data-subject rights requests: a subject files one with their token; officers list them
//! by deadline, may approve them (accept them for handling) and close them (closing a
//! deletion erases the subject); a subject can always download a copy of their data
//! (`export`). Every step is in the audit trail.

use baomi_consent::{RequestKind, RequestStatus, RightsRequest};
use baomi_types::Action;
use baomi_vault::{FieldName, KeyringName, SubjectId};
use zeroize::Zeroizing;

use crate::auth::{Caller, Role};
use crate::service::authenticate::{require_role, require_subject};
use crate::service::{ErrorCode, RequestContext, ServiceError, Services, audit, now};

/// The vault field a request's note is encrypted as.
const NOTE_FIELD: &str = "text.request_note";
/// Longest note accepted, in bytes.
const MAX_NOTE: usize = 2000;
/// Most requests listed at once.
pub const MAX_LIST: u32 = 500;

fn note_field() -> Result<FieldName, ServiceError> {
    FieldName::parse(NOTE_FIELD).map_err(|e| ServiceError::Internal(e.to_string()))
}

fn request_event(
    caller: &Caller,
    ctx: &RequestContext,
    action: Action,
    request: &RightsRequest,
    status: RequestStatus,
) -> baomi_types::AccessEvent {
    let mut e = audit::about(caller, ctx, action, &request.id);
    e.subject = Some(request.subject.clone());
    e.fields = vec![
        format!("kind:{}", request.kind.as_str()),
        format!("status:{}", status.as_str()),
    ];
    e
}

/// Files a request for the subject of the caller's token. `note` (what to correct, what to
/// explain; it may hold PI) is encrypted under the subject's key.
pub async fn create(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    kind: RequestKind,
    note: Option<Zeroizing<String>>,
) -> Result<RightsRequest, ServiceError> {
    let subject = require_subject(caller)?.clone();
    let at = now();
    let note_ciphertext = match note.filter(|n| !n.trim().is_empty()) {
        None => None,
        Some(n) if n.chars().count() > MAX_NOTE => {
            return Err(ServiceError::invalid("note", "at most 2000 characters"));
        }
        Some(n) => Some(
            state
                .vault
                .encrypt(
                    &KeyringName::default_name(),
                    &subject,
                    &note_field()?,
                    &n,
                    at,
                )
                .await
                .map_err(crate::service::stored::erased_or)?,
        ),
    };
    let request = RightsRequest {
        id: crate::service::random_id("req", 15)?,
        subject: subject.as_str().to_owned(),
        kind,
        status: RequestStatus::Open,
        note_ciphertext,
        created_at: at,
        due_at: baomi_consent::due_at(at, state.limits.rights_request_due_days),
        closed_at: None,
        resolution: None,
        closed_by: None,
        approved_at: None,
        approved_by: None,
    };
    let event = request_event(
        caller,
        ctx,
        Action::RequestCreate,
        &request,
        RequestStatus::Open,
    );
    if !state.store.add_request(&request, &[event]).await? {
        return Err(ServiceError::Conflict {
            code: ErrorCode::RequestsDuplicate,
            detail: format!(
                "a {} request of this subject is open already",
                kind.as_str()
            ),
        });
    }
    audit::settle(state.audit.as_ref()).await;
    Ok(request)
}

/// The requests of the caller's subject, by deadline.
pub async fn mine(state: &Services, caller: &Caller) -> Result<Vec<RightsRequest>, ServiceError> {
    let subject = require_subject(caller)?;
    Ok(state
        .store
        .requests(Some(subject.as_str()), &[], MAX_LIST)
        .await?)
}

/// Requests for officers (officer, admin), by deadline: all (`statuses` empty), or in one
/// of `statuses`.
pub async fn list(
    state: &Services,
    caller: &Caller,
    statuses: &[RequestStatus],
    limit: u32,
) -> Result<Vec<RightsRequest>, ServiceError> {
    require_role(caller, &[Role::Officer, Role::Admin])?;
    Ok(state.store.requests(None, statuses, limit).await?)
}

/// One request with its note decrypted, for the officer handling it (the read of the
/// note is audited).
pub async fn get(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    id: &str,
) -> Result<(RightsRequest, Option<Zeroizing<String>>), ServiceError> {
    require_role(caller, &[Role::Officer, Role::Admin])?;
    let request = find(state, id).await?;
    let note = match &request.note_ciphertext {
        None => None,
        Some(c) => {
            let subject = SubjectId::parse(&request.subject)
                .map_err(|e| ServiceError::Internal(e.to_string()))?;
            let mut event = audit::event(caller, ctx, Action::Read);
            event.subject = Some(request.subject.clone());
            event.target = Some(request.id.clone());
            event.fields = vec![NOTE_FIELD.to_owned()];
            event.count = 1;
            // An erased subject's note is gone with its keys.
            match state.vault.decrypt(&subject, &note_field()?, c).await {
                Ok(plain) => {
                    audit::append(state.audit.as_ref(), &[event]).await?;
                    Some(plain)
                }
                Err(_) => None,
            }
        }
    };
    Ok((request, note))
}

fn closed_already() -> ServiceError {
    ServiceError::Conflict {
        code: ErrorCode::RequestsClosed,
        detail: "this request is closed already, or being closed".to_owned(),
    }
}

async fn find(state: &Services, id: &str) -> Result<RightsRequest, ServiceError> {
    state
        .store
        .request(id)
        .await?
        .ok_or(ServiceError::NotFound {
            code: ErrorCode::RequestsNotFound,
        })
}

fn officer_id(caller: &Caller) -> Result<&String, ServiceError> {
    match caller {
        Caller::Key { id, .. } => Ok(id),
        Caller::Subject { .. } => Err(ServiceError::Internal("an officer is a key".to_owned())),
    }
}

/// Approves an open request (officer, admin): the platform accepts it for handling (受理).
/// The subject sees it as `approved`; it must still be closed by its deadline. Approval is
/// optional: a request can be closed straight from `open`.
pub async fn approve(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    id: &str,
) -> Result<RightsRequest, ServiceError> {
    require_role(caller, &[Role::Officer, Role::Admin])?;
    let request = find(state, id).await?;
    let not_open = || ServiceError::Conflict {
        code: ErrorCode::RequestsNotOpen,
        detail: "only an open request can be approved".to_owned(),
    };
    if request.status != RequestStatus::Open {
        return Err(not_open());
    }
    let approved_by = officer_id(caller)?;
    let event = request_event(
        caller,
        ctx,
        Action::RequestApprove,
        &request,
        RequestStatus::Approved,
    );
    let at = now();
    if !state
        .store
        .approve_request(id, approved_by, at, &[event])
        .await?
    {
        return Err(not_open());
    }
    audit::settle(state.audit.as_ref()).await;
    Ok(RightsRequest {
        status: RequestStatus::Approved,
        approved_at: Some(at),
        approved_by: Some(approved_by.clone()),
        ..request
    })
}

/// Closes a request (officer, admin): `completed` or `rejected`, with the answer given to
/// the subject. Completing a deletion request erases the subject first.
pub async fn close(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    id: &str,
    status: RequestStatus,
    resolution: &str,
) -> Result<RightsRequest, ServiceError> {
    require_role(caller, &[Role::Officer, Role::Admin])?;
    if !matches!(status, RequestStatus::Completed | RequestStatus::Rejected) {
        return Err(ServiceError::invalid("status", "completed or rejected"));
    }
    if resolution.trim().is_empty() || resolution.chars().count() > MAX_NOTE {
        return Err(ServiceError::invalid(
            "resolution",
            "say, in 1 to 2000 characters, what was done or why not",
        ));
    }
    let request = find(state, id).await?;
    if !request.status.is_pending() {
        return Err(closed_already());
    }
    let claimed = request.kind == RequestKind::Deletion && status == RequestStatus::Completed;
    if claimed {
        // Claimed first, so that no one rejects it while the subject is being erased.
        if !state.store.claim_request(id).await? {
            return Err(closed_already());
        }
        if let Err(e) =
            crate::service::vault::erase_subject(state, caller, ctx, &request.subject).await
        {
            state.store.release_request(id).await?;
            return Err(e);
        }
    }
    let closed_by = officer_id(caller)?;
    let event = request_event(caller, ctx, Action::RequestClose, &request, status);
    let at = now();
    if !state
        .store
        .close_request(
            id,
            claimed,
            &baomi_consent::Closing {
                status,
                resolution,
                closed_by,
                at,
            },
            &[event],
        )
        .await?
    {
        return Err(closed_already());
    }
    audit::settle(state.audit.as_ref()).await;
    // As stored now, without reading it back.
    Ok(RightsRequest {
        status,
        closed_at: Some(at),
        resolution: Some(resolution.to_owned()),
        closed_by: Some(closed_by.clone()),
        ..request
    })
}

/// A subject's copy of their data (PIPL Art. 45).
pub struct Export {
    /// The subject.
    pub subject: SubjectId,
    /// Stored fields, decrypted: `(field, value or error code)`.
    pub fields: Vec<(String, Result<Zeroizing<String>, ErrorCode>)>,
    /// Their consents.
    pub consents: Vec<crate::service::consent::PurposeConsent>,
    /// Their requests.
    pub requests: Vec<RightsRequest>,
}

/// The purpose a subject's own export is recorded (and counted in quotas) under.
pub const SUBJECT_ACCESS: &str = "data_subject_access";

/// Everything Baomi holds about the caller's subject, decrypted for them alone, through a
/// token whose issuer holds `self_service`; the read is audited and attributed to that
/// issuer and its operator (their access log lists it, and the export includes that log).
pub async fn export(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
) -> Result<Export, ServiceError> {
    let subject = crate::service::authorize::self_service(caller)?.clone();
    let read = state
        .vault
        .read_fields(&subject, None)
        .await
        .map_err(crate::service::stored::erased_or)?;
    // Counted against the issuing key's quota like any read: a key that mints tokens must
    // not read past its quota through them.
    let demand = crate::service::quotas::Demand {
        subjects: &[subject.as_str()],
        plain_fields: read.len() as u64,
    };
    crate::service::quotas::take(state, caller, ctx, Action::Read, SUBJECT_ACCESS, demand).await?;
    let mut event = audit::event(caller, ctx, Action::Read);
    event.subject = Some(subject.as_str().to_owned());
    event.purpose = Some(SUBJECT_ACCESS.to_owned());
    event.fields = read.iter().map(|r| r.field.as_str().to_owned()).collect();
    event.count = u32::try_from(read.len()).unwrap_or(u32::MAX);
    audit::append(state.audit.as_ref(), &[event]).await?;
    let fields = read
        .into_iter()
        .map(|r| {
            let value = r.value.map_err(|e| {
                crate::service::vault::item_error(e)
                    .map_or(ErrorCode::VaultDecryptFailed, |i| i.code)
            });
            (r.field.as_str().to_owned(), value)
        })
        .collect();
    let consents = crate::service::consent::consents(state, caller, ctx, subject.as_str()).await?;
    let requests = state
        .store
        .requests(Some(subject.as_str()), &[], MAX_LIST)
        .await?;
    Ok(Export {
        subject,
        fields,
        consents,
        requests,
    })
}
