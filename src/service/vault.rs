//! The stateless vault calls (encrypt, decrypt, rewrap) and erasure: authorisation, batch
//! handling with per-item outcomes, the masked view, and the audit record.

use std::collections::BTreeMap;

use baomi_consent::PurposeId;
use baomi_types::{AccessEvent, Action};
use baomi_vault::{FieldName, KeyringName, SubjectId};
use zeroize::Zeroizing;

use crate::auth::grant::{Permission, ViewKind};
use crate::auth::{Caller, Role};
use crate::service::authenticate::require_role;
use crate::service::authorize::{self, ReadGrant};
use crate::service::cluster::Kind;
use crate::service::masking::ViewMask;
use crate::service::{
    ErrorCode, RequestContext, ServiceError, Services, audit, consent, now, quotas,
};

/// A per-item failure: a stable code and a sentence (never the item's value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemError {
    /// Stable error code, e.g. `vault.decrypt_failed`.
    pub code: ErrorCode,
    /// What went wrong.
    pub detail: String,
}

/// One item's outcome.
pub type ItemResult<T> = Result<T, ItemError>;

/// A value to encrypt.
pub struct EncryptItem {
    /// The subject.
    pub subject_id: String,
    /// The field name.
    pub field: String,
    /// The value (PI: never logged).
    pub value: Zeroizing<String>,
    /// Whether the value is kept as given, without checking it against the field's type.
    pub free_form: bool,
}

/// A ciphertext to decrypt or rewrap.
pub struct CiphertextItem {
    /// The subject.
    pub subject_id: String,
    /// The field name.
    pub field: String,
    /// The ciphertext string.
    pub ciphertext: String,
}

/// How decrypted values are shown.
#[derive(Clone)]
pub enum View {
    /// The value as stored.
    Plain,
    /// The value masked under the caller's masking policy (see
    /// [`ViewMask`]).
    Masked(std::sync::Arc<crate::service::masking::ViewMask>),
}

impl View {
    /// How many of `fields` this view shows in the clear (what the plain-fields quota
    /// counts): all of them, or none.
    pub fn plain_fields(&self, fields: usize) -> u64 {
        match self {
            View::Plain => fields as u64,
            View::Masked(_) => 0,
        }
    }

    /// `plain` as this view shows it.
    pub fn show(
        &self,
        masking: &crate::service::masking::MaskingState,
        field: &FieldName,
        plain: Zeroizing<String>,
    ) -> Zeroizing<String> {
        match self {
            View::Plain => plain,
            View::Masked(mask) => mask.apply(masking, field, &plain),
        }
    }
}

/// Maps a vault error to an item error, or to a request-level error when the failure is
/// not the item's (storage, corrupt keys).
pub fn item_error(e: baomi_vault::Error) -> Result<ItemError, ServiceError> {
    use baomi_vault::Error as E;
    let code = match &e {
        E::InvalidSubjectId(_) => ErrorCode::VaultInvalidSubject,
        E::InvalidField => ErrorCode::VaultInvalidField,
        E::InvalidKeyring => ErrorCode::VaultInvalidKeyring,
        E::ValueTooLong { .. } => ErrorCode::VaultValueTooLong,
        E::MalformedCiphertext | E::UnknownSuite => ErrorCode::VaultMalformedCiphertext,
        E::DecryptFailed | E::Crypto => ErrorCode::VaultDecryptFailed,
        E::UnknownKeyring => ErrorCode::VaultUnknownKeyring,
        E::UnknownVersion => ErrorCode::VaultUnknownVersion,
        E::VersionRetired => ErrorCode::VaultVersionRetired,
        E::SubjectErased => ErrorCode::VaultSubjectErased,
        E::UnknownToken => ErrorCode::VaultUnknownToken,
        _ => return Err(vault_error(e)),
    };
    Ok(ItemError {
        code,
        detail: e.to_string(),
    })
}

/// Maps a vault error that concerns the whole request.
pub fn vault_error(e: baomi_vault::Error) -> ServiceError {
    use baomi_vault::Error as E;
    match e {
        E::Store(f) if f.unavailable => ServiceError::Unavailable(f.detail),
        E::UnknownKeyring => ServiceError::NotFound {
            code: ErrorCode::VaultUnknownKeyring,
        },
        E::KeyringExists => ServiceError::Conflict {
            code: ErrorCode::VaultKeyringExists,
            detail: "a keyring with this name exists".to_owned(),
        },
        E::RotationConflict => ServiceError::Conflict {
            code: ErrorCode::VaultRotationConflict,
            detail: e.to_string(),
        },
        E::StoredFieldsBelow => ServiceError::Conflict {
            code: ErrorCode::VaultReencryptionPending,
            detail: e.to_string(),
        },
        E::InvalidKeyring => ServiceError::invalid("name", e),
        E::InvalidPolicy(reason) => ServiceError::invalid("policy", reason),
        E::Hsm(detail) => ServiceError::HsmUnavailable(detail),
        other => ServiceError::Internal(other.to_string()),
    }
}

/// Refuses a batch (of `what`) that is empty or over `max_batch_items`.
pub(crate) fn check_batch(
    state: &Services,
    what: &'static str,
    len: usize,
) -> Result<(), ServiceError> {
    let max = state.limits.max_batch_items;
    if len == 0 || len > max {
        return Err(ServiceError::invalid(
            what,
            format!("a batch holds 1 to {max} {what}"),
        ));
    }
    Ok(())
}

fn parse_target(subject: &str, field: &str) -> Result<(SubjectId, FieldName), ItemError> {
    let subject = SubjectId::parse(subject).map_err(|e| ItemError {
        code: ErrorCode::VaultInvalidSubject,
        detail: e.to_string(),
    })?;
    let field = FieldName::parse(field).map_err(|e| ItemError {
        code: ErrorCode::VaultInvalidField,
        detail: e.to_string(),
    })?;
    Ok((subject, field))
}

/// A view asked for: its kind, and the masking policy of a masked view.
#[derive(Debug, Clone, Default)]
pub struct ViewRequest {
    /// Masked (the default) or plain.
    pub kind: Option<ViewKind>,
    /// The masking policy (`default`, else the display defaults, when absent).
    pub policy: Option<String>,
}

impl ViewRequest {
    /// The kind asked for: masked unless plain was.
    pub fn kind(&self) -> ViewKind {
        self.kind.unwrap_or(ViewKind::Masked)
    }
}

/// Authorises a read of PI under `purpose` in the view asked for, and builds that view.
/// A refusal is recorded in the trail before it is returned, with the events `refused`
/// makes for its code: refused reads are part of the record as much as allowed ones.
pub async fn open_read(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    purpose: &str,
    view: &ViewRequest,
    refused: impl FnOnce(ErrorCode) -> Vec<AccessEvent>,
) -> Result<(ReadGrant, View), ServiceError> {
    let asked_role = ctx.operator_role.as_deref();
    let grant = audited_read(state, caller, purpose, view.kind(), asked_role, refused).await?;
    let shown = match view.kind() {
        ViewKind::Plain => View::Plain,
        ViewKind::Masked => View::Masked(std::sync::Arc::new(
            ViewMask::for_role(
                state,
                view.policy.as_deref(),
                &grant.masking_role,
                grant.purpose.as_str(),
            )
            .await?,
        )),
    };
    Ok((grant, shown))
}

/// [`authorize::read`], recording a refusal with the events `refused` makes for its code
/// (each stamped with the purpose asked for, when it parses) before returning it.
async fn audited_read(
    state: &Services,
    caller: &Caller,
    purpose: &str,
    view: ViewKind,
    asked_role: Option<&str>,
    refused: impl FnOnce(ErrorCode) -> Vec<AccessEvent>,
) -> Result<ReadGrant, ServiceError> {
    let e = match authorize::read(state, caller, purpose, view, asked_role).await {
        Ok(grant) => return Ok(grant),
        Err(e) => e,
    };
    if let Some(code) = authorize::refusal_code(&e) {
        let named = PurposeId::parse(purpose).ok();
        let mut events = refused(code);
        for event in &mut events {
            event.purpose = named.as_ref().map(|p| p.as_str().to_owned());
        }
        audit::append(state.audit.as_ref(), &events).await?;
    }
    Err(e)
}

/// Encrypts a batch of values under `keyring` (the default keyring if `None`). A
/// deterministic keyring encrypts only under a purpose whose plain view the key holds: its
/// ciphertexts tell equal values apart, so encrypting a guess and comparing is as good as
/// reading. Each call is one audit event (fields and counts, never values).
#[tracing::instrument(skip_all, fields(items = items.len()))]
pub async fn encrypt(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    keyring: Option<&str>,
    purpose: Option<&str>,
    items: Vec<EncryptItem>,
) -> Result<Vec<ItemResult<String>>, ServiceError> {
    require_role(caller, &[Role::Service])?;
    check_batch(state, "items", items.len())?;
    let keyring = keyring_name(keyring)?;
    let suite = state
        .vault
        .current_suite(&keyring)
        .await
        .map_err(vault_error)?;
    let mut event = audit::about(
        caller,
        ctx,
        Action::Encrypt,
        &format!("keyring:{}", keyring.as_str()),
    );
    let scope = match (purpose, suite.is_deterministic()) {
        (None, false) => None,
        (None, true) => {
            return Err(ServiceError::invalid(
                "purpose",
                "a deterministic keyring encrypts only under a purpose whose plain view the key \
                 holds",
            ));
        }
        (Some(p), deterministic) => {
            let view = if deterministic {
                ViewKind::Plain
            } else {
                ViewKind::Masked
            };
            let refused = |code| vec![audit::denied(event.clone(), code)];
            Some(audited_read(state, caller, p, view, None, refused).await?)
        }
    };
    let at = now();
    // Each item checked first, so that keys are made only for subjects a value is sealed for.
    let checked: Vec<_> = items
        .iter()
        .map(|item| match parse_target(&item.subject_id, &item.field) {
            Err(e) => Err(e),
            Ok((_, field)) if scope.as_ref().is_some_and(|g| !g.covers(&field)) => {
                Err(authorize::field_not_granted())
            }
            Ok((_, field))
                if !item.free_form
                    && crate::service::field_values::check(&field, &item.value).is_err() =>
            {
                Err(ItemError {
                    code: crate::service::field_values::INVALID_VALUE,
                    detail: "the value is not of the field's type (mark the item free_form \
                             to keep it as given)"
                        .to_owned(),
                })
            }
            Ok(target) => Ok(target),
        })
        .collect();
    // The new subjects' data keys in one write, for the items the vault will seal (not one
    // too long for its field); a subject this cannot prepare is refused item by item below,
    // with its own reason.
    let to_seal: Vec<_> = items
        .iter()
        .zip(&checked)
        .filter_map(|(item, target)| match target {
            Ok((subject, field)) if item.value.len() <= field.kind().max_len() => Some(subject),
            _ => None,
        })
        .collect();
    if let Err(e) = state.vault.prepare_data_keys(&keyring, &to_seal, at).await {
        tracing::warn!(error = %e, "preparing the batch's data keys failed; sealing one by one");
    }
    let mut out = Vec::with_capacity(items.len());
    let mut subjects = std::collections::BTreeSet::new();
    let mut fields = Vec::new();
    for (item, target) in items.iter().zip(checked) {
        out.push(match target {
            Err(e) => Err(e),
            Ok((subject, field)) => {
                let r = state
                    .vault
                    .encrypt(&keyring, &subject, &field, &item.value, at)
                    .await;
                match r {
                    Ok(c) => {
                        if !fields.iter().any(|f: &String| f == field.as_str()) {
                            fields.push(field.as_str().to_owned());
                        }
                        subjects.insert(subject.as_str().to_owned());
                        Ok(c)
                    }
                    Err(e) => Err(item_error(e)?),
                }
            }
        });
    }
    // An unknown keyring is the request's fault, not each item's.
    if out
        .iter()
        .any(|r| matches!(r, Err(e) if e.code == ErrorCode::VaultUnknownKeyring))
    {
        return Err(vault_error(baomi_vault::Error::UnknownKeyring));
    }
    event.purpose = scope.map(|g| g.purpose.as_str().to_owned());
    event.fields = fields;
    event.count = u32::try_from(out.iter().filter(|r| r.is_ok()).count()).unwrap_or(u32::MAX);
    if subjects.len() == 1 {
        event.subject = subjects.pop_first();
    }
    audit::append(state.audit.as_ref(), &[event]).await?;
    Ok(out)
}

/// The keyring a request names, or `default`.
pub fn keyring_name(keyring: Option<&str>) -> Result<KeyringName, ServiceError> {
    match keyring {
        None => Ok(KeyringName::default_name()),
        Some(k) => KeyringName::parse(k).map_err(|e| ServiceError::invalid("keyring", e)),
    }
}

/// Decrypts a batch under a purpose the calling key holds; every subject touched gets an
/// audit event (allowed, or denied with its code) before anything is returned.
#[tracing::instrument(skip_all, fields(items = items.len()))]
pub async fn decrypt(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    purpose: &str,
    view: &ViewRequest,
    items: Vec<CiphertextItem>,
) -> Result<Vec<ItemResult<Zeroizing<String>>>, ServiceError> {
    check_batch(state, "items", items.len())?;
    let (grant, view) = open_read(state, caller, ctx, purpose, view, |code| {
        let mut trail = Trail::default();
        for item in &items {
            if let Ok((subject, field)) = parse_target(&item.subject_id, &item.field) {
                trail.note(&subject, &field, Some(code));
            }
        }
        trail.events(caller, ctx, Action::Decrypt, None)
    })
    .await?;
    let purpose = grant.purpose.clone();
    let subjects: std::collections::BTreeSet<&str> =
        items.iter().map(|i| i.subject_id.as_str()).collect();
    let subjects: Vec<&str> = subjects.into_iter().collect();
    let consents = consent::gate(state, &purpose, &subjects).await?;
    // Each item is refused, or ready to decrypt; what is ready is taken from the key's
    // quotas, all or none, before anything is decrypted.
    let mut trail = Trail::default();
    let mut steps: Vec<Result<(SubjectId, FieldName), ItemError>> = Vec::with_capacity(items.len());
    for item in &items {
        steps.push(match parse_target(&item.subject_id, &item.field) {
            Err(e) => Err(e),
            Ok((subject, field)) if !grant.covers(&field) => {
                trail.note(&subject, &field, Some(authorize::FIELD_NOT_GRANTED));
                Err(authorize::field_not_granted())
            }
            Ok((subject, field)) => match consents
                .get(subject.as_str())
                .filter(|d| !d.reason.allows())
            {
                Some(refused) => {
                    let code = consent::refusal_code(&refused.reason);
                    trail.note(&subject, &field, Some(code));
                    Err(ItemError {
                        code,
                        detail: "the subject's consent does not allow this purpose".to_owned(),
                    })
                }
                // A deterministic ciphertext is not bound to its subject: under a purpose
                // that needs consent, naming another subject must not open it.
                None if !consents.is_empty() && !bound_to_subject(&item.ciphertext) => {
                    let code = ErrorCode::ConsentUnboundCiphertext;
                    trail.note(&subject, &field, Some(code));
                    Err(ItemError {
                        code,
                        detail: "deterministic (aes256siv) ciphertexts are not bound to a subject \
                                 and cannot be read under a consent-based purpose"
                            .to_owned(),
                    })
                }
                None => Ok((subject, field)),
            },
        });
    }
    let ready: std::collections::BTreeSet<&str> = steps
        .iter()
        .filter_map(|s| s.as_ref().ok().map(|(subject, _)| subject.as_str()))
        .collect();
    let ready: Vec<&str> = ready.into_iter().collect();
    let demand = quotas::Demand {
        subjects: &ready,
        plain_fields: view.plain_fields(steps.iter().filter(|s| s.is_ok()).count()),
    };
    quotas::take(
        state,
        caller,
        ctx,
        Action::Decrypt,
        purpose.as_str(),
        demand,
    )
    .await?;
    let mut out = Vec::with_capacity(items.len());
    for (item, step) in items.iter().zip(steps) {
        out.push(match step {
            Err(e) => Err(e),
            Ok((subject, field)) => {
                let r = state
                    .vault
                    .decrypt(&subject, &field, &item.ciphertext)
                    .await
                    .map(|plain| view.show(&state.masking, &field, plain));
                trail.record(&subject, &field, r)?
            }
        });
    }
    let mut events = trail.events(caller, ctx, Action::Decrypt, Some(&purpose));
    for e in &mut events {
        e.consent_event = e
            .subject
            .as_deref()
            .and_then(|s| consents.get(s))
            .and_then(|d| d.event_id.clone());
    }
    audit::append(state.audit.as_ref(), &events).await?;
    Ok(out)
}

/// Whether a ciphertext is bound to the subject it was made for (every suite but the
/// deterministic one).
fn bound_to_subject(ciphertext: &str) -> bool {
    // A malformed ciphertext is left to the decryption, which says so.
    baomi_vault::Ciphertext::parse(ciphertext).map_or(true, |c| c.suite.binds_subject())
}

/// Re-seals a batch of ciphertexts under their keyrings' latest versions; no plaintext
/// leaves the server. Audited like a decrypt, without a purpose.
#[tracing::instrument(skip_all, fields(items = items.len()))]
pub async fn rewrap(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    items: Vec<CiphertextItem>,
) -> Result<Vec<ItemResult<String>>, ServiceError> {
    require_role(caller, &[Role::Service])?;
    check_batch(state, "items", items.len())?;
    let at = now();
    let mut trail = Trail::default();
    let mut out = Vec::with_capacity(items.len());
    for item in &items {
        out.push(match parse_target(&item.subject_id, &item.field) {
            Err(e) => Err(e),
            Ok((subject, field)) => {
                let r = state
                    .vault
                    .rewrap(&subject, &field, &item.ciphertext, at)
                    .await;
                trail.record(&subject, &field, r)?
            }
        });
    }
    let events = trail.events(caller, ctx, Action::Rewrap, None);
    audit::append(state.audit.as_ref(), &events).await?;
    Ok(out)
}

/// What an erasure did, for the receipt.
#[derive(Debug, Clone)]
pub struct ErasureReceipt {
    /// The receipt's id (the first erasure's, if the subject was erased before).
    pub receipt_id: String,
    /// The subject.
    pub subject_id: String,
    /// When it was erased (Unix seconds).
    pub erased_at: i64,
    /// Data keys destroyed by this call.
    pub data_keys_destroyed: u64,
    /// Stored fields (and their tokens) deleted by this call.
    pub fields_deleted: u64,
    /// Blind-index entries deleted by this call.
    pub index_entries_deleted: u64,
    /// Which other nodes of the fleet forgot the subject's cached keys before the call
    /// returned (`None` on a single node).
    pub propagation: Option<crate::service::cluster::Propagation>,
}

/// Erases a subject: destroys its data keys, records the erasure in the database and in
/// the erasure journal (so a restore from an older backup re-applies it), and audits it.
#[tracing::instrument(skip_all)]
pub async fn erase(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    subject: &str,
    tombstone: bool,
) -> Result<ErasureReceipt, ServiceError> {
    if !matches!(
        caller,
        Caller::Key {
            role: Role::Admin,
            ..
        }
    ) {
        authorize::permit(caller, Permission::EraseSubjects)?;
    }
    let parsed = SubjectId::parse(subject).map_err(|e| ServiceError::invalid("subject_id", e))?;
    // Erasing a subject Baomi knows nothing of would leave a tombstone that refuses that
    // subject's data forever: only on purpose.
    if !tombstone
        && !state
            .vault
            .knows_subject(&parsed)
            .await
            .map_err(vault_error)?
    {
        return Err(ServiceError::NotFound {
            code: ErrorCode::VaultUnknownSubject,
        });
    }
    erase_subject(state, caller, ctx, subject).await
}

/// The erasure itself, for callers already authorised (an API call, or an officer closing a
/// deletion request).
pub(crate) async fn erase_subject(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    subject: &str,
) -> Result<ErasureReceipt, ServiceError> {
    let subject = SubjectId::parse(subject).map_err(|e| ServiceError::invalid("subject_id", e))?;
    let receipt_id = crate::service::erasure_journal::new_receipt_id()?;
    let at = now();
    // The journal first: once the line is on disk the erasure will happen, at the latest
    // when the journal is replayed, even if the database write below fails or the process
    // dies before it.
    state.erasure_journal.record(&baomi_vault::Erasure {
        subject: subject.clone(),
        receipt_id: receipt_id.clone(),
        erased_at: at,
    })?;
    let mut event = audit::event(caller, ctx, Action::Erase);
    event.subject = Some(subject.as_str().to_owned());
    event.target = Some(format!("receipt:{receipt_id}"));
    event.count = 1;
    let (erasure, counts) = state
        .vault
        .erase(&subject, &receipt_id, at, &[event])
        .await
        .map_err(vault_error)?;
    audit::settle(state.audit.as_ref()).await;
    tracing::info!(receipt_id = %erasure.receipt_id, data_keys = counts.data_keys, "subject erased");
    // Every other node forgets the subject's cached keys before this call returns.
    let propagation =
        crate::service::cluster::publish(state, Kind::Erase, subject.as_str()).await?;
    Ok(ErasureReceipt {
        propagation,
        receipt_id: erasure.receipt_id,
        subject_id: subject.as_str().to_owned(),
        erased_at: erasure.erased_at,
        data_keys_destroyed: counts.data_keys,
        fields_deleted: counts.fields,
        index_entries_deleted: counts.index_entries,
    })
}

/// Collects, per subject and outcome, the fields a batch touched, to write one event per
/// (subject, outcome) rather than one per item.
#[derive(Default)]
struct Trail {
    by_subject: BTreeMap<TrailKey, (Vec<String>, u32)>,
}

/// A subject and, for refused items, the error code.
type TrailKey = (String, Option<ErrorCode>);

impl Trail {
    /// Notes an item's outcome and turns it into the item's result; a failure that is not
    /// the item's (storage, corrupt keys) fails the whole batch.
    fn record<T>(
        &mut self,
        subject: &SubjectId,
        field: &FieldName,
        result: baomi_vault::Result<T>,
    ) -> Result<ItemResult<T>, ServiceError> {
        match result {
            Ok(v) => {
                self.note(subject, field, None);
                Ok(Ok(v))
            }
            Err(e) => {
                let e = item_error(e)?;
                self.note(subject, field, Some(e.code));
                Ok(Err(e))
            }
        }
    }

    fn note(&mut self, subject: &SubjectId, field: &FieldName, denied: Option<ErrorCode>) {
        let entry = self
            .by_subject
            .entry((subject.as_str().to_owned(), denied))
            .or_default();
        if !entry.0.iter().any(|f| f == field.as_str()) {
            entry.0.push(field.as_str().to_owned());
        }
        entry.1 += 1;
    }

    fn events(
        self,
        caller: &Caller,
        ctx: &RequestContext,
        action: Action,
        purpose: Option<&PurposeId>,
    ) -> Vec<AccessEvent> {
        self.by_subject
            .into_iter()
            .map(|((subject, denied), (fields, count))| {
                let mut e = audit::event(caller, ctx, action);
                e.subject = Some(subject);
                e.fields = fields;
                e.count = count;
                e.purpose = purpose.map(|p| p.as_str().to_owned());
                match denied {
                    Some(code) => audit::denied(e, code),
                    None => e,
                }
            })
            .collect()
    }
}
