//! Purposes, the consent ledger and the consent gate on reads of PI.
//!
//! Withdrawal takes effect for the very next read on every node: the gate reads the ledger
//! for every read under a consent-based purpose (one query per batch), nothing is cached.

use std::collections::HashMap;

use baomi_consent::{
    ConsentAction, ConsentEvent, ConsentState, Grant, LegalBasis, PurposeDefinition, PurposeId,
    PurposeRecord, Reason,
};
use baomi_types::{AccessEvent, Action};

use crate::auth::{Caller, Role};
use crate::service::authenticate::require_role;
use crate::service::authorize::{self, ConsentChange, LedgerScope};
use crate::service::{ErrorCode, RequestContext, ServiceError, Services, audit, now};

/// The code of a read the subject's consent refuses, as problems and the trail carry it.
pub fn refusal_code(reason: &Reason) -> ErrorCode {
    match reason {
        Reason::NoConsent => ErrorCode::ConsentNotGiven,
        Reason::ConsentWithdrawn => ErrorCode::ConsentWithdrawn,
        Reason::ConsentExpired => ErrorCode::ConsentExpired,
        Reason::RenewalRequired => ErrorCode::ConsentRenewalRequired,
        Reason::SeparateConsentMissing => ErrorCode::ConsentSeparateConsentMissing,
        // Reasons that allow the read are never a refusal's; reaching here is a bug.
        Reason::PurposeNotDeclared | Reason::OtherLegalBasis | Reason::ConsentActive => {
            ErrorCode::Internal
        }
    }
}

fn rejected(e: baomi_consent::Error) -> ServiceError {
    use baomi_consent::Error as E;
    let code = match &e {
        E::InvalidPurposeId(_) | E::InvalidPurpose(_) => ErrorCode::ConsentInvalidPurpose,
        E::SeparateConsentMissing(_) => ErrorCode::ConsentSeparateConsentMissing,
        E::GuardianRequired => ErrorCode::ConsentGuardianRequired,
        E::InvalidGrant(_) => ErrorCode::ConsentInvalidGrant,
        E::InvalidNotice(_) => ErrorCode::ConsentInvalidNotice,
    };
    ServiceError::Rejected {
        code,
        detail: e.to_string(),
    }
}

fn purpose_id(raw: &str) -> Result<PurposeId, ServiceError> {
    PurposeId::parse(raw).map_err(rejected)
}

/// Declares a purpose or publishes a new version of it (admin). A change of legal basis,
/// PI categories, recipients, cross-border transfer or a longer retention (PIPL Art. 14)
/// makes earlier grants need renewal; a change of wording does not.
pub async fn put_purpose(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    raw_id: &str,
    definition: PurposeDefinition,
) -> Result<(PurposeRecord, Vec<&'static str>), ServiceError> {
    require_role(caller, &[Role::Admin])?;
    let id = purpose_id(raw_id)?;
    definition.validate().map_err(rejected)?;
    let current = state.store.purpose(id.as_str()).await?;
    let changes = match &current {
        None => Vec::new(),
        Some(c) => definition.material_changes(&c.definition),
    };
    let mut event = audit::about(caller, ctx, Action::PurposeChange, id.as_str());
    event.fields = changes.iter().map(|c| (*c).to_owned()).collect();
    let record = state
        .store
        .put_purpose(
            id.as_str(),
            &definition,
            !changes.is_empty(),
            now(),
            &[event],
        )
        .await?;
    state.purposes.evict(id.as_str());
    crate::service::cluster::publish(state, crate::service::cluster::Kind::Purpose, id.as_str())
        .await?;
    audit::settle(state.audit.as_ref()).await;
    Ok((record, changes))
}

/// Publishes a new version of a notice (admin): its text, language and the declared
/// purposes it informs about; its SHA-256 is kept with it.
pub async fn put_notice(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    raw_id: &str,
    text: baomi_consent::NoticeText,
) -> Result<baomi_consent::Notice, ServiceError> {
    require_role(caller, &[Role::Admin])?;
    let id = purpose_id(raw_id).map_err(|_| ServiceError::Rejected {
        code: ErrorCode::ConsentInvalidNotice,
        detail: "a notice id has the form of a purpose id".to_owned(),
    })?;
    text.validate().map_err(rejected)?;
    for p in &text.purposes {
        if state.store.purpose(p).await?.is_none() {
            return Err(ServiceError::Rejected {
                code: ErrorCode::ConsentUnknownPurpose,
                detail: "the notice names a purpose that is not declared".to_owned(),
            });
        }
    }
    let sha = data_encoding::HEXLOWER
        .encode(ring::digest::digest(&ring::digest::SHA256, text.text.as_bytes()).as_ref());
    let mut event = audit::about(
        caller,
        ctx,
        Action::PurposeChange,
        &format!("notice:{}", id.as_str()),
    );
    event.fields = text.purposes.clone();
    let notice = state
        .store
        .put_notice(id.as_str(), &text, &sha, now(), &[event])
        .await?;
    audit::settle(state.audit.as_ref()).await;
    Ok(notice)
}

/// Every purpose (admin, service, officer).
pub async fn purposes(
    state: &Services,
    caller: &Caller,
) -> Result<Vec<PurposeRecord>, ServiceError> {
    require_role(caller, &[Role::Admin, Role::Service, Role::Officer])?;
    Ok(state.store.purposes().await?)
}

async fn known_purpose(state: &Services, raw: &str) -> Result<PurposeRecord, ServiceError> {
    let id = purpose_id(raw)?;
    state
        .store
        .purpose(id.as_str())
        .await?
        .ok_or(ServiceError::Rejected {
            code: ErrorCode::ConsentUnknownPurpose,
            detail: "no purpose has this id; declare it with PUT /v1/purposes/{id}".to_owned(),
        })
}

fn consent_event(
    caller: &Caller,
    ctx: &RequestContext,
    action: Action,
    event: &ConsentEvent,
) -> AccessEvent {
    let mut e = audit::event(caller, ctx, action);
    e.subject = Some(event.subject.clone());
    e.purpose = Some(event.purpose.clone());
    e.target = Some(event.id.clone());
    e.consent_event = Some(event.id.clone());
    e.count = 1;
    e
}

/// Records a subject's consent to a purpose (service key, or the subject's own token).
pub async fn grant(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    subject: &str,
    grant: Grant,
) -> Result<ConsentEvent, ServiceError> {
    let subject = baomi_vault::SubjectId::parse(subject)
        .map_err(|e| ServiceError::invalid("subject_id", e))?;
    // Consents are changed by service keys and subject tokens.
    authorize::subject_or_role(caller, &[Role::Service])?;
    // Authorised before the purpose is looked up: a key learns nothing of the purposes it
    // does not hold, not even whether they are declared.
    let id = purpose_id(&grant.purpose)?;
    authorize::consent_change(caller, subject.as_str(), id.as_str(), ConsentChange::Grant)?;
    let purpose = known_purpose(state, &grant.purpose).await?;
    grant.validate(&purpose.definition).map_err(rejected)?;
    if let Some(shown) = &grant.notice {
        let covers = state
            .store
            .notice(&shown.id, Some(shown.version))
            .await?
            .is_some_and(|n| n.purposes.contains(&purpose.id));
        if !covers {
            return Err(ServiceError::Rejected {
                code: ErrorCode::ConsentUnknownNotice,
                detail: "no such notice version, or it does not cover this purpose".to_owned(),
            });
        }
    }
    let at = now();
    let expires_at = match &grant.expires_at {
        None => None,
        Some(t) => {
            let t = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .map_err(|_| ServiceError::invalid("expires_at", "not an RFC 3339 time"))?
                .unix_timestamp();
            if t <= at {
                return Err(ServiceError::invalid("expires_at", "must be in the future"));
            }
            Some(t)
        }
    };
    let event = ConsentEvent {
        id: crate::service::random_id("cev", 15)?,
        subject: subject.as_str().to_owned(),
        purpose: purpose.id.clone(),
        action: ConsentAction::Granted,
        purpose_version: purpose.version,
        channel: grant.channel,
        evidence: grant.evidence,
        scopes: grant.scopes,
        guardian: grant.guardian,
        at,
        expires_at,
        notice: grant.notice,
    };
    let audited = consent_event(caller, ctx, Action::ConsentGrant, &event);
    state.store.append_consent(&event, &[audited]).await?;
    audit::settle(state.audit.as_ref()).await;
    Ok(event)
}

/// Withdraws a subject's consent to a purpose; withdrawing is as easy as granting (PIPL
/// Art. 15). A consent that is not in force cannot be withdrawn (409).
pub async fn withdraw(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    subject: &str,
    raw_purpose: &str,
) -> Result<ConsentEvent, ServiceError> {
    let subject = baomi_vault::SubjectId::parse(subject)
        .map_err(|e| ServiceError::invalid("subject_id", e))?;
    // Consents are changed by service keys and subject tokens.
    authorize::subject_or_role(caller, &[Role::Service])?;
    let id = purpose_id(raw_purpose)?;
    authorize::consent_change(
        caller,
        subject.as_str(),
        id.as_str(),
        ConsentChange::Withdraw,
    )?;
    let purpose = known_purpose(state, raw_purpose).await?;
    let events = state
        .store
        .consent_events(subject.as_str(), Some(&purpose.id))
        .await?;
    let at = now();
    if !baomi_consent::derive(&events, at, purpose.renewal_from).is_active() {
        return Err(ServiceError::Conflict {
            code: ErrorCode::ConsentNotActive,
            detail: "there is no consent in force to withdraw".to_owned(),
        });
    }
    let channel = match caller {
        Caller::Subject { .. } => "self_service",
        Caller::Key { .. } => "api",
    };
    let event = ConsentEvent {
        id: crate::service::random_id("cev", 15)?,
        subject: subject.as_str().to_owned(),
        purpose: purpose.id.clone(),
        action: ConsentAction::Withdrawn,
        purpose_version: purpose.version,
        channel: channel.to_owned(),
        evidence: "withdrawn through Baomi's API".to_owned(),
        scopes: Default::default(),
        guardian: None,
        at,
        expires_at: None,
        notice: None,
    };
    let audited = consent_event(caller, ctx, Action::ConsentWithdraw, &event);
    state.store.append_consent(&event, &[audited]).await?;
    audit::settle(state.audit.as_ref()).await;
    Ok(event)
}

/// A subject's consent to one purpose: its state now and its whole history.
pub struct PurposeConsent {
    /// The purpose.
    pub purpose: String,
    /// The state derived from the history.
    pub state: ConsentState,
    /// Every ledger event, oldest first.
    pub history: Vec<ConsentEvent>,
}

/// A subject's consents, per purpose that has any (service, officer, or the subject).
pub async fn consents(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    subject: &str,
) -> Result<Vec<PurposeConsent>, ServiceError> {
    let subject = baomi_vault::SubjectId::parse(subject)
        .map_err(|e| ServiceError::invalid("subject_id", e))?;
    // A service key or an officer reads the histories of the purposes it holds, and none
    // without any; a subject their own; an admin every purpose.
    let scope = authorize::ledger(caller, subject.as_str())?;
    if scope == LedgerScope::Purposes(Vec::new()) {
        return refuse_ledger_read(state, caller, ctx, subject.as_str(), "consent_ledger", None)
            .await;
    }
    let events = state.store.consent_events(subject.as_str(), None).await?;
    ledger_read(state, caller, ctx, subject.as_str(), "consent_ledger", None).await?;
    let events: Vec<ConsentEvent> = events
        .into_iter()
        .filter(|e| scope.covers(&e.purpose))
        .collect();
    let mut by_purpose: std::collections::BTreeMap<String, Vec<ConsentEvent>> =
        std::collections::BTreeMap::new();
    for e in events {
        by_purpose.entry(e.purpose.clone()).or_default().push(e);
    }
    let at = now();
    let mut out = Vec::with_capacity(by_purpose.len());
    for (purpose, history) in by_purpose {
        let renewal_from = cached_purpose(state, &purpose)
            .await?
            .map_or(1, |p| p.renewal_from);
        out.push(PurposeConsent {
            state: baomi_consent::derive(&history, at, renewal_from),
            purpose,
            history,
        });
    }
    Ok(out)
}

/// One subject's consent history under `purpose`, for the officer console: an admin may
/// open any purpose, an officer only one it carries. The read is an audit event naming the
/// purpose; a refusal is one too.
pub async fn subject_history(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    subject: &str,
    purpose: &str,
) -> Result<PurposeConsent, ServiceError> {
    require_role(caller, &[Role::Officer, Role::Admin])?;
    let subject = baomi_vault::SubjectId::parse(subject)
        .map_err(|e| ServiceError::invalid("subject_id", e))?;
    let record = known_purpose(state, purpose).await?;
    if !may_open(caller, &record.id) {
        return refuse_ledger_read(
            state,
            caller,
            ctx,
            subject.as_str(),
            "consent_ledger",
            Some(&record.id),
        )
        .await;
    }
    let history = state
        .store
        .consent_events(subject.as_str(), Some(&record.id))
        .await?;
    ledger_read(
        state,
        caller,
        ctx,
        subject.as_str(),
        "consent_ledger",
        Some(&record.id),
    )
    .await?;
    Ok(PurposeConsent {
        state: baomi_consent::derive(&history, now(), record.renewal_from),
        purpose: record.id,
        history,
    })
}

/// A purpose's ledger day by day, for the officer console's chart (officer, admin; counts
/// only, no subject).
pub async fn ledger_days(
    state: &Services,
    caller: &Caller,
    purpose: &str,
) -> Result<Vec<baomi_consent::ConsentDay>, ServiceError> {
    require_role(caller, &[Role::Officer, Role::Admin])?;
    let record = known_purpose(state, purpose).await?;
    Ok(state.store.consent_days(&record.id).await?)
}

/// The signed receipt of a ledger event (service, officer, or the subject's own token).
pub async fn receipt(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    event_id: &str,
) -> Result<serde_json::Value, ServiceError> {
    authorize::subject_or_role(caller, &[Role::Service, Role::Officer, Role::Admin])?;
    if !event_id.starts_with("cev_") || event_id.len() > 64 {
        return Err(not_found_receipt());
    }
    let event = state
        .store
        .consent_event(event_id)
        .await?
        .ok_or_else(not_found_receipt)?;
    match authorize::ledger(caller, &event.subject) {
        Ok(scope) if scope.covers(&event.purpose) => {}
        Ok(_) => {
            return refuse_ledger_read(
                state,
                caller,
                ctx,
                &event.subject,
                &event.id,
                Some(&event.purpose),
            )
            .await;
        }
        // Another subject's receipt does not exist, as far as a subject can tell.
        Err(_) if matches!(caller, Caller::Subject { .. }) => return Err(not_found_receipt()),
        Err(e) => return Err(e),
    }
    ledger_read(state, caller, ctx, &event.subject, &event.id, None).await?;
    let definition = state
        .store
        .purpose_version(&event.purpose, event.purpose_version)
        .await?
        .ok_or_else(|| ServiceError::Internal("a purpose version is missing".to_owned()))?;
    let body =
        baomi_consent::receipt::receipt_body(state.audit_log.origin(), &event, &definition, now());
    let text = baomi_types::signed_json::canonical(&body);
    let signatures = state
        .audit_log
        .sign_detached(baomi_consent::receipt::RECEIPT_FORMAT, text.as_bytes())?;
    Ok(baomi_types::signed_json::with_signatures(body, &signatures))
}

fn not_found_receipt() -> ServiceError {
    ServiceError::NotFound {
        code: ErrorCode::ConsentUnknownReceipt,
    }
}

/// Refuses a key's read of a subject's ledger outside its purposes, recording the
/// refusal in the trail.
async fn refuse_ledger_read<T>(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    subject: &str,
    target: &str,
    purpose: Option<&str>,
) -> Result<T, ServiceError> {
    let refused = audit::denied(
        ledger_event(caller, ctx, subject, target, purpose),
        ErrorCode::AuthPurposeNotAllowed,
    );
    audit::append(state.audit.as_ref(), &[refused]).await?;
    Err(ServiceError::PurposeNotAllowed)
}

/// Whether `caller` (an officer or an admin) may read subjects' consent histories under
/// `purpose`: an officer only under a purpose it carries; an admin under any.
pub fn may_open(caller: &Caller, purpose: &str) -> bool {
    matches!(
        caller,
        Caller::Key {
            role: Role::Officer | Role::Admin,
            ..
        }
    ) && authorize::key_ledger(caller).is_ok_and(|scope| scope.covers(purpose))
}

/// The audit event of a read of `subject`'s consent ledger (`target`: the whole ledger or
/// one event), under `purpose` when the read was for one.
fn ledger_event(
    caller: &Caller,
    ctx: &RequestContext,
    subject: &str,
    target: &str,
    purpose: Option<&str>,
) -> AccessEvent {
    let mut event = audit::event(caller, ctx, Action::Read);
    event.subject = Some(subject.to_owned());
    event.target = Some(target.to_owned());
    event.purpose = purpose.map(str::to_owned);
    event.count = 1;
    event
}

/// Records a key holder's read of a subject's consent ledger (evidence, guardians) in the
/// trail, before it is returned; a subject reading their own is not recorded.
async fn ledger_read(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    subject: &str,
    target: &str,
    purpose: Option<&str>,
) -> Result<(), ServiceError> {
    if matches!(caller, Caller::Subject { .. }) {
        return Ok(());
    }
    let event = ledger_event(caller, ctx, subject, target, purpose);
    audit::append(state.audit.as_ref(), &[event]).await
}

/// A purpose through the short-lived cache (for reads; changes read the store).
async fn cached_purpose(state: &Services, id: &str) -> Result<Option<PurposeRecord>, ServiceError> {
    Ok(state.purposes.get(id, state.store.purpose(id)).await?)
}

/// One subject's decision under a purpose.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Why.
    pub reason: Reason,
    /// The ledger event it rests on, if any.
    pub event_id: Option<String>,
}

/// The consent decisions for a read under `purpose` of `subjects`' data. An undeclared
/// purpose is governed by the keys' purposes alone (no consent is asked).
pub async fn gate(
    state: &Services,
    purpose: &PurposeId,
    subjects: &[&str],
) -> Result<HashMap<String, Decision>, ServiceError> {
    // Purposes are read through a short-lived cache (they change rarely, and a change shows
    // on other nodes within the cache's lifetime); the ledger below is read every time.
    let Some(record) = cached_purpose(state, purpose.as_str()).await? else {
        return Ok(HashMap::new());
    };
    if record.definition.legal_basis != LegalBasis::Consent {
        return Ok(HashMap::new());
    }
    let latest = state
        .store
        .latest_consents(purpose.as_str(), subjects)
        .await?;
    let latest: HashMap<&str, &ConsentEvent> =
        latest.iter().map(|e| (e.subject.as_str(), e)).collect();
    let at = now();
    Ok(subjects
        .iter()
        .map(|s| {
            let consent = baomi_consent::derive(latest.get(s).copied(), at, record.renewal_from);
            let decision = Decision {
                reason: baomi_consent::decide(&record.definition, &consent),
                event_id: consent.event_id().map(str::to_owned),
            };
            ((*s).to_owned(), decision)
        })
        .collect())
}

/// Asks whether a read of `subject`'s data under `purpose` would be allowed now (service).
pub async fn decide(
    state: &Services,
    caller: &Caller,
    subject: &str,
    raw_purpose: &str,
) -> Result<Decision, ServiceError> {
    require_role(caller, &[Role::Service])?;
    let purpose = PurposeId::parse(raw_purpose).map_err(|e| ServiceError::invalid("purpose", e))?;
    if !caller.grants().holds(purpose.as_str()) {
        return Err(ServiceError::PurposeNotAllowed);
    }
    let subject = baomi_vault::SubjectId::parse(subject)
        .map_err(|e| ServiceError::invalid("subject_id", e))?;
    let mut decisions = gate(state, &purpose, &[subject.as_str()]).await?;
    if let Some(decision) = decisions.remove(subject.as_str()) {
        return Ok(decision);
    }
    let declared = cached_purpose(state, purpose.as_str()).await?.is_some();
    Ok(Decision {
        reason: if declared {
            Reason::OtherLegalBasis
        } else {
            Reason::PurposeNotDeclared
        },
        event_id: None,
    })
}
