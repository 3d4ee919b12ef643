//! The stored vault: Baomi keeps the ciphertexts and hands out tokens; reads by subject or by
//! token under a purpose; exact-match search through blind indexes. Every call is audited.

use std::collections::{BTreeMap, HashSet};

use baomi_types::Action;
use baomi_vault::{FieldName, FieldWrite, SubjectId, SubjectWrite, TokenFormat};
use zeroize::Zeroizing;

use crate::auth::Caller;
use crate::auth::grant::Permission;
use crate::service::authorize::{self, ReadGrant};
use crate::service::vault::{
    ItemError, ItemResult, View, ViewRequest, check_batch, item_error, keyring_name, open_read,
    vault_error,
};
use crate::service::{
    ErrorCode, RequestContext, ServiceError, Services, audit, consent, field_values, now, quotas,
};

/// Most fields in one store request.
pub const MAX_FIELDS: usize = 64;

/// What to store.
pub struct StoreRequest {
    /// Keyring; `default` if absent.
    pub keyring: Option<String>,
    /// Field name → value (PI).
    pub fields: BTreeMap<String, Zeroizing<String>>,
    /// Fields to index for search.
    pub searchable: Vec<String>,
    /// Whether bank cards and mobile numbers get format-preserving tokens.
    pub format_preserving_tokens: bool,
    /// Fields stored as given, without checking the value against the field's type.
    pub free_form: Vec<String>,
}

/// Authorises a read (see [`open_read`]), recording a refusal as one denied event of
/// `action`, about `subject` when the read names one.
async fn open(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    purpose: &str,
    view: &ViewRequest,
    action: Action,
    subject: Option<&str>,
) -> Result<(ReadGrant, View), ServiceError> {
    open_read(state, caller, ctx, purpose, view, |code| {
        let mut event = audit::event(caller, ctx, action);
        event.subject = subject
            .and_then(|s| SubjectId::parse(s).ok())
            .map(|s| s.as_str().to_owned());
        vec![audit::denied(event, code)]
    })
    .await
}

fn subject(raw: &str) -> Result<SubjectId, ServiceError> {
    SubjectId::parse(raw).map_err(|e| ServiceError::invalid("subject_id", e))
}

pub(crate) fn erased_or(e: baomi_vault::Error) -> ServiceError {
    match e {
        baomi_vault::Error::SubjectErased => ServiceError::Gone {
            code: ErrorCode::VaultSubjectErased,
        },
        baomi_vault::Error::ValueTooLong { max } => {
            ServiceError::invalid("fields", format!("a value is longer than {max} bytes"))
        }
        other => vault_error(other),
    }
}

/// Stores fields of a subject, all or none, and returns field name → token.
pub async fn put(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    subject_id: &str,
    request: StoreRequest,
) -> Result<BTreeMap<String, String>, ServiceError> {
    authorize::permit(caller, Permission::StoreData)?;
    let subject = subject(subject_id)?;
    let keyring = keyring_name(request.keyring.as_deref())?;
    for name in &request.searchable {
        if !request.fields.contains_key(name) {
            return Err(ServiceError::invalid(
                "searchable",
                "names a field that is not in this request",
            ));
        }
    }
    let options = WriteOptions::of(
        &request.searchable,
        &request.free_form,
        request.format_preserving_tokens,
    );
    let writes = options.field_writes(request.fields).map_err(|e| {
        if e.code == field_values::INVALID_VALUE {
            ServiceError::Rejected {
                code: e.code,
                detail: e.detail,
            }
        } else {
            ServiceError::invalid("fields", e.detail)
        }
    })?;
    let mut event = audit::event(caller, ctx, Action::Store);
    event.subject = Some(subject.as_str().to_owned());
    event.fields = writes.iter().map(|w| w.field.as_str().to_owned()).collect();
    event.count = u32::try_from(writes.len()).unwrap_or(u32::MAX);
    let tokens = state
        .vault
        .put_fields(&keyring, &subject, &writes, now(), &[event])
        .await
        .map_err(erased_or)?;
    audit::settle(state.audit.as_ref()).await;
    Ok(writes
        .iter()
        .map(|w| w.field.as_str().to_owned())
        .zip(tokens)
        .collect())
}

/// What to store for many subjects at once (a bulk import).
pub struct BulkStoreRequest {
    /// Keyring; `default` if absent.
    pub keyring: Option<String>,
    /// Subject id → field name → value (PI), in the order of the request.
    pub subjects: Vec<(String, BTreeMap<String, Zeroizing<String>>)>,
    /// Fields to index for search, wherever a subject has them.
    pub searchable: Vec<String>,
    /// Whether bank cards and mobile numbers get format-preserving tokens.
    pub format_preserving_tokens: bool,
    /// Fields stored as given, without checking the value against the field's type.
    pub free_form: Vec<String>,
}

/// Stores the fields of many subjects in one transaction, as [`store_subjects`] does, once
/// the caller may write stored data: a service key with `store_data`. The write is one
/// audit event: the key, operator and request, the keyring, the field names and how many
/// values were stored, not which subjects.
pub async fn put_many(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    request: BulkStoreRequest,
) -> Result<Vec<ItemResult<BTreeMap<String, String>>>, ServiceError> {
    authorize::permit(caller, Permission::StoreData)?;
    check_batch(state, "subjects", request.subjects.len())?;
    let stored = store_subjects(&state.vault, request, |keyring| {
        audit::about(
            caller,
            ctx,
            Action::Store,
            &format!("keyring:{}", keyring.as_str()),
        )
    })
    .await?;
    audit::settle(state.audit.as_ref()).await;
    Ok(stored)
}

/// Stores the fields of many subjects in one transaction and returns, per subject, field
/// name → token or why that subject was not stored (an invalid id, field or value; an erased
/// subject; a subject named earlier in the batch). The write is committed with one audit event: `event` made for the keyring,
/// with the field names and how many values were stored. Whoever calls this has authorised
/// the write: [`put_many`] for a key, `baomi import --offline` for the operator who holds
/// the unseal passphrase.
pub async fn store_subjects(
    vault: &baomi_vault::Vault,
    request: BulkStoreRequest,
    event: impl Fn(&baomi_vault::KeyringName) -> baomi_types::AccessEvent + Sync,
) -> Result<Vec<ItemResult<BTreeMap<String, String>>>, ServiceError> {
    let keyring = keyring_name(request.keyring.as_deref())?;
    for (what, names) in [
        ("searchable", &request.searchable),
        ("free_form", &request.free_form),
    ] {
        for name in names {
            FieldName::parse(name).map_err(|e| ServiceError::invalid(what, e))?;
        }
    }
    let mut seen = HashSet::with_capacity(request.subjects.len());
    let options = WriteOptions::of(
        &request.searchable,
        &request.free_form,
        request.format_preserving_tokens,
    );
    let mut out: Vec<ItemResult<BTreeMap<String, String>>> =
        Vec::with_capacity(request.subjects.len());
    let mut writes = Vec::with_capacity(request.subjects.len());
    let mut positions = Vec::with_capacity(request.subjects.len());
    for (at, (id, fields)) in request.subjects.into_iter().enumerate() {
        // A subject named again is answered on its own: the first of its places is stored.
        if !seen.insert(id.clone()) {
            out.push(Err(ItemError {
                code: ErrorCode::RequestInvalidField,
                detail: "the subject appears earlier in this batch".to_owned(),
            }));
            continue;
        }
        let write = SubjectId::parse(&id)
            .map_err(|e| ItemError {
                code: ErrorCode::VaultInvalidSubject,
                detail: e.to_string(),
            })
            .and_then(|subject| {
                Ok(SubjectWrite {
                    subject,
                    fields: options.field_writes(fields)?,
                })
            });
        match write {
            Ok(write) => {
                writes.push(write);
                positions.push(at);
                out.push(Ok(BTreeMap::new()));
            }
            Err(e) => out.push(Err(e)),
        }
    }
    if writes.is_empty() {
        return Ok(out);
    }
    let stored = vault
        .put_subjects(&keyring, &writes, now(), |stored| {
            let mut event = event(&keyring);
            let names: std::collections::BTreeSet<&str> = stored
                .iter()
                .flat_map(|&i| writes[i].fields.iter().map(|f| f.field.as_str()))
                .collect();
            event.fields = names.into_iter().map(str::to_owned).collect();
            let count: usize = stored.iter().map(|&i| writes[i].fields.len()).sum();
            event.count = u32::try_from(count).unwrap_or(u32::MAX);
            vec![event]
        })
        .await
        .map_err(vault_error)?;
    for ((write, result), at) in writes.iter().zip(stored).zip(positions) {
        out[at] = match result {
            Ok(tokens) => Ok(write
                .fields
                .iter()
                .map(|f| f.field.as_str().to_owned())
                .zip(tokens)
                .collect()),
            Err(e) => Err(item_error(e)?),
        };
    }
    Ok(out)
}

/// How a request's fields are written: which are indexed, which are kept as given, and
/// how their tokens are made.
struct WriteOptions<'a> {
    searchable: &'a [String],
    free_form: &'a [String],
    format: TokenFormat,
}

impl<'a> WriteOptions<'a> {
    fn of(searchable: &'a [String], free_form: &'a [String], format_preserving: bool) -> Self {
        Self {
            searchable,
            free_form,
            format: if format_preserving {
                TokenFormat::FormatPreserving
            } else {
                TokenFormat::Random
            },
        }
    }

    /// One subject's fields, checked: 1 to [`MAX_FIELDS`] of them, each a valid name, each
    /// value of its field's type unless kept as given.
    fn field_writes(
        &self,
        fields: BTreeMap<String, Zeroizing<String>>,
    ) -> Result<Vec<FieldWrite>, ItemError> {
        if fields.is_empty() || fields.len() > MAX_FIELDS {
            return Err(ItemError {
                code: ErrorCode::RequestInvalidField,
                detail: format!("1 to {MAX_FIELDS} fields per subject"),
            });
        }
        let mut writes = Vec::with_capacity(fields.len());
        for (name, value) in fields {
            let field = FieldName::parse(&name).map_err(|e| ItemError {
                code: ErrorCode::VaultInvalidField,
                detail: e.to_string(),
            })?;
            if !self.free_form.contains(&name)
                && let Err(what) = field_values::check(&field, &value)
            {
                return Err(ItemError {
                    code: field_values::INVALID_VALUE,
                    detail: format!("fields.{}: must be {what}", field.as_str()),
                });
            }
            writes.push(FieldWrite {
                searchable: self.searchable.contains(&name),
                field,
                value,
                token_format: self.format,
            });
        }
        Ok(writes)
    }
}

/// One field read back: its token and value, or why it could not be read.
pub struct FieldOut {
    /// The token (none for a field the purpose does not cover).
    pub token: Option<String>,
    /// The value in the requested view, or the item error.
    pub value: Result<Zeroizing<String>, ItemError>,
}

/// Reads a subject's stored fields under a purpose.
pub async fn get(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    subject_id: &str,
    purpose: &str,
    fields: Option<&str>,
    view: &ViewRequest,
) -> Result<BTreeMap<String, FieldOut>, ServiceError> {
    let (grant, view_as) = open(
        state,
        caller,
        ctx,
        purpose,
        view,
        Action::Read,
        Some(subject_id),
    )
    .await?;
    let purpose = grant.purpose.clone();
    let subject = subject(subject_id)?;
    let names = match fields {
        None => None,
        Some(list) => Some(
            list.split(',')
                .map(|n| FieldName::parse(n.trim()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ServiceError::invalid("fields", e))?,
        ),
    };
    let decision = consent::gate(state, &purpose, &[subject.as_str()])
        .await?
        .remove(subject.as_str());
    let consent_event = decision.as_ref().and_then(|d| d.event_id.clone());
    if let Some(refused) = decision.filter(|d| !d.reason.allows()) {
        let mut event = audit::event(caller, ctx, Action::Read);
        event.subject = Some(subject.as_str().to_owned());
        event.purpose = Some(purpose.as_str().to_owned());
        event.consent_event = consent_event;
        let code = consent::refusal_code(&refused.reason);
        audit::append(state.audit.as_ref(), &[audit::denied(event, code)]).await?;
        return Err(ServiceError::ConsentDenied { code });
    }
    // Fields outside the purpose's categories are refused each on its own: named ones
    // with their code, and unnamed ones are not read at all.
    let refused: Vec<FieldName> = names
        .iter()
        .flatten()
        .filter(|n| !grant.covers(n))
        .cloned()
        .collect();
    let read: Vec<_> = state
        .vault
        .read_fields(&subject, names.as_deref())
        .await
        .map_err(erased_or)?
        .into_iter()
        .filter(|r| grant.covers(&r.field))
        .collect();
    let demand = quotas::Demand {
        subjects: &[subject.as_str()],
        plain_fields: view_as.plain_fields(read.len()),
    };
    quotas::take(state, caller, ctx, Action::Read, purpose.as_str(), demand).await?;
    if !refused.is_empty() {
        let mut event = audit::event(caller, ctx, Action::Read);
        event.subject = Some(subject.as_str().to_owned());
        event.purpose = Some(purpose.as_str().to_owned());
        event.fields = refused.iter().map(|f| f.as_str().to_owned()).collect();
        event.count = u32::try_from(refused.len()).unwrap_or(u32::MAX);
        audit::append(
            state.audit.as_ref(),
            &[audit::denied(event, authorize::FIELD_NOT_GRANTED)],
        )
        .await?;
    }
    let mut event = audit::event(caller, ctx, Action::Read);
    event.subject = Some(subject.as_str().to_owned());
    event.purpose = Some(purpose.as_str().to_owned());
    event.consent_event = consent_event;
    event.fields = read.iter().map(|r| r.field.as_str().to_owned()).collect();
    event.count = u32::try_from(read.len()).unwrap_or(u32::MAX);
    audit::append(state.audit.as_ref(), &[event]).await?;
    let mut out = BTreeMap::new();
    for r in read {
        let value = match r.value {
            Ok(plain) => Ok(view_as.show(&state.masking, &r.field, plain)),
            Err(e) => Err(crate::service::vault::item_error(e)?),
        };
        out.insert(
            r.field.as_str().to_owned(),
            FieldOut {
                token: Some(r.token),
                value,
            },
        );
    }
    for field in refused {
        out.insert(
            field.as_str().to_owned(),
            FieldOut {
                token: None,
                value: Err(authorize::field_not_granted()),
            },
        );
    }
    Ok(out)
}

/// What a token stood for.
pub struct Detokenized {
    /// The subject.
    pub subject_id: String,
    /// The field.
    pub field: String,
    /// The value in the requested view.
    pub value: Zeroizing<String>,
}

/// Exchanges tokens for values under a purpose; each subject touched is audited.
pub async fn detokenize(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    purpose: &str,
    view: &ViewRequest,
    tokens: &[String],
) -> Result<Vec<Result<Detokenized, ItemError>>, ServiceError> {
    let (grant, view_as) =
        open(state, caller, ctx, purpose, view, Action::Detokenize, None).await?;
    let purpose = grant.purpose.clone();
    if tokens.is_empty() || tokens.len() > state.limits.max_batch_items {
        return Err(ServiceError::invalid(
            "tokens",
            format!("1 to {} tokens per request", state.limits.max_batch_items),
        ));
    }
    let mut resolved = Vec::with_capacity(tokens.len());
    for token in tokens {
        resolved.push(match state.vault.detokenize(token).await {
            Ok(found) => Ok(found),
            Err(baomi_vault::Error::UnknownToken) => Err(ItemError {
                code: ErrorCode::VaultUnknownToken,
                detail: "no stored value has this token".to_owned(),
            }),
            Err(e) => Err(crate::service::vault::item_error(e)?),
        });
    }
    // The subjects are known only now: a value whose subject's consent refuses the purpose
    // is dropped (wiped) before anything is returned.
    let subjects: std::collections::BTreeSet<String> = resolved
        .iter()
        .filter_map(|r| r.as_ref().ok().map(|(s, _, _)| s.as_str().to_owned()))
        .collect();
    let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
    let consents = consent::gate(state, &purpose, &subjects).await?;
    let allowed = |subject: &SubjectId, field: &FieldName| {
        grant.covers(field)
            && consents
                .get(subject.as_str())
                .is_none_or(|d| d.reason.allows())
    };
    // What will be shown: its subjects, and how many values.
    let mut ready = std::collections::BTreeSet::new();
    let mut shown = 0;
    for (subject, field, _) in resolved.iter().filter_map(|r| r.as_ref().ok()) {
        if allowed(subject, field) {
            ready.insert(subject.as_str());
            shown += 1;
        }
    }
    let ready: Vec<&str> = ready.into_iter().collect();
    let plain_fields = view_as.plain_fields(shown);
    let demand = quotas::Demand {
        subjects: &ready,
        plain_fields,
    };
    quotas::take(
        state,
        caller,
        ctx,
        Action::Detokenize,
        purpose.as_str(),
        demand,
    )
    .await?;
    let mut out = Vec::with_capacity(tokens.len());
    let mut by_subject: BTreeMap<(String, Option<ErrorCode>), Vec<String>> = BTreeMap::new();
    for r in resolved {
        out.push(match r {
            Err(e) => Err(e),
            Ok((subject, field, plain)) => {
                let refused = if grant.covers(&field) {
                    consents
                        .get(subject.as_str())
                        .filter(|d| !d.reason.allows())
                        .map(|d| consent::refusal_code(&d.reason))
                } else {
                    Some(authorize::FIELD_NOT_GRANTED)
                };
                by_subject
                    .entry((subject.as_str().to_owned(), refused))
                    .or_default()
                    .push(field.as_str().to_owned());
                match refused {
                    Some(authorize::FIELD_NOT_GRANTED) => Err(authorize::field_not_granted()),
                    Some(code) => Err(ItemError {
                        code,
                        detail: "the subject's consent does not allow this purpose".to_owned(),
                    }),
                    None => Ok(Detokenized {
                        subject_id: subject.as_str().to_owned(),
                        field: field.as_str().to_owned(),
                        value: view_as.show(&state.masking, &field, plain),
                    }),
                }
            }
        });
    }
    let events: Vec<_> = by_subject
        .into_iter()
        .map(|((subject, refused), fields)| {
            let mut e = audit::event(caller, ctx, Action::Detokenize);
            e.count = u32::try_from(fields.len()).unwrap_or(u32::MAX);
            e.consent_event = consents.get(&subject).and_then(|d| d.event_id.clone());
            e.subject = Some(subject);
            e.fields = fields;
            e.purpose = Some(purpose.as_str().to_owned());
            match refused {
                Some(code) => audit::denied(e, code),
                None => e,
            }
        })
        .collect();
    audit::append(state.audit.as_ref(), &events).await?;
    Ok(out)
}

/// The subjects whose searchable `field` equals `value` (normalised), under a purpose. Each
/// subject found is audited; a search that finds nobody is audited too.
pub async fn search(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    purpose: &str,
    keyring: Option<&str>,
    field: &str,
    value: &str,
) -> Result<Vec<String>, ServiceError> {
    // A search shows no value: the masked view is enough to search.
    let view = ViewRequest::default();
    let (grant, _) = open(state, caller, ctx, purpose, &view, Action::Search, None).await?;
    let purpose = grant.purpose.clone();
    let field = FieldName::parse(field).map_err(|e| ServiceError::invalid("field", e))?;
    if !grant.covers(&field) {
        let mut event = audit::event(caller, ctx, Action::Search);
        event.fields = vec![field.as_str().to_owned()];
        event.purpose = Some(purpose.as_str().to_owned());
        let event = audit::denied(event, authorize::FIELD_NOT_GRANTED);
        audit::append(state.audit.as_ref(), &[event]).await?;
        return Err(authorize::field_refused());
    }
    let keyring = keyring_name(keyring)?;
    let found = state
        .vault
        .search(&keyring, &field, value)
        .await
        .map_err(vault_error)?;
    // A subject whose consent refuses the purpose is left out of the answer (and the
    // refusal audited): finding someone by a value is processing their PI.
    let names: Vec<&str> = found.iter().map(|s| s.as_str()).collect();
    let consents = consent::gate(state, &purpose, &names).await?;
    let mut events = Vec::new();
    let template = || {
        let mut e = audit::event(caller, ctx, Action::Search);
        e.fields = vec![field.as_str().to_owned()];
        e.purpose = Some(purpose.as_str().to_owned());
        e
    };
    let ready: Vec<&str> = names
        .iter()
        .copied()
        .filter(|s| consents.get(*s).is_none_or(|d| d.reason.allows()))
        .collect();
    let demand = quotas::Demand {
        subjects: &ready,
        plain_fields: 0,
    };
    quotas::take(state, caller, ctx, Action::Search, purpose.as_str(), demand).await?;
    let mut allowed = Vec::with_capacity(found.len());
    for s in &found {
        let mut e = template();
        e.subject = Some(s.as_str().to_owned());
        e.count = 1;
        let decision = consents.get(s.as_str());
        e.consent_event = decision.and_then(|d| d.event_id.clone());
        match decision.filter(|d| !d.reason.allows()) {
            Some(refused) => events.push(audit::denied(e, consent::refusal_code(&refused.reason))),
            None => {
                events.push(e);
                allowed.push(s.as_str().to_owned());
            }
        }
    }
    if found.is_empty() {
        events.push(template());
    }
    audit::append(state.audit.as_ref(), &events).await?;
    Ok(allowed)
}
