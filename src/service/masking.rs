//! Masking use cases: policies (admin), detection and masking of caller-supplied text and
//! JSON (any key), and the policy a masked vault read applies.

use std::sync::Arc;

use baomi_masking::{
    Context, Finding, JsonFinding, Masker, Policy, PseudonymKey, Scanner, policy::valid_name,
};
use baomi_types::Action;
use baomi_vault::RootKey;

use crate::auth::{Caller, Role};
use crate::service::authenticate::require_role;
use crate::service::ttl_cache::TtlCache;
use crate::service::{ErrorCode, RequestContext, ServiceError, Services, audit, now_ms};
use baomi_masking::PolicyVersion;

/// The policy applied when a call names none and no policy called `default` is stored:
/// every type's display default.
pub const DEFAULT_POLICY: &str = "default";

/// What masking keeps for the life of the process.
pub struct MaskingState {
    /// Every detector, compiled once.
    pub scanner: Scanner,
    /// The key of the `hash` and `date_shift` operators, derived from the root key, so
    /// pseudonyms are stable across restarts and nodes.
    pub key: PseudonymKey,
    /// Roles that may see C3 information in the clear.
    pub clear_c3_roles: Vec<String>,
    /// Recently read policies, parsed.
    pub policies: TtlCache<Arc<Policy>>,
}

impl MaskingState {
    /// The state for a root key and configuration.
    pub fn new(
        root: &RootKey,
        clear_c3_roles: Vec<String>,
        cache_ttl: std::time::Duration,
    ) -> Result<Self, ServiceError> {
        let key = root
            .derive("masking-pseudonym/v1")
            .map_err(|e| ServiceError::Internal(e.to_string()))?
            .with_bytes(|bytes| PseudonymKey::new(bytes));
        Ok(Self {
            scanner: Scanner::new(),
            key,
            clear_c3_roles,
            policies: TtlCache::new(cache_ttl),
        })
    }
}

fn invalid_policy(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Rejected {
        code: ErrorCode::MaskingInvalidPolicy,
        detail: e.to_string(),
    }
}

fn masking_failed(e: baomi_masking::Error) -> ServiceError {
    use baomi_masking::Error as E;
    let code = match &e {
        E::NotApplicable { .. } => ErrorCode::MaskingNotApplicable,
        E::OperatorUnavailable { .. } => ErrorCode::MaskingOperatorUnavailable,
        E::SubjectRequired => ErrorCode::MaskingSubjectRequired,
        E::TooDeep { .. } => ErrorCode::MaskingTooDeep,
        E::InvalidPolicy(_) => ErrorCode::MaskingInvalidPolicy,
        E::Vault { .. } => ErrorCode::MaskingVaultRefused,
        // The server's pseudonym key is its own, never derived from a caller's secret.
        E::KeyTooShort { .. } => ErrorCode::MaskingOperatorUnavailable,
    };
    ServiceError::Rejected {
        code,
        detail: e.to_string(),
    }
}

/// Stores a new version of a policy (admin), audited as a policy change.
pub async fn put_policy(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    name: &str,
    policy: &Policy,
) -> Result<PolicyVersion, ServiceError> {
    require_role(caller, &[Role::Admin])?;
    if !valid_name(name) {
        return Err(ServiceError::Rejected {
            code: ErrorCode::MaskingInvalidPolicyName,
            detail: "a policy name is 1 to 64 of a-z, 0-9, '_', '-' and '.'".to_owned(),
        });
    }
    policy
        .validate(&state.masking.clear_c3_roles)
        .map_err(invalid_policy)?;
    let body = serde_json::to_string(policy).map_err(invalid_policy)?;
    let event = audit::about(caller, ctx, Action::PolicyChange, &format!("policy:{name}"));
    let updated_by = match caller {
        Caller::Key { id, .. } => id.clone(),
        Caller::Subject { .. } => String::new(),
    };
    let stored = state
        .store
        .put_policy(name, &body, now_ms(), &updated_by, &[event])
        .await?;
    state.masking.policies.evict(name);
    crate::service::cluster::publish(state, crate::service::cluster::Kind::Policy, name).await?;
    audit::settle(state.audit.as_ref()).await;
    Ok(stored)
}

/// Every policy's latest version (any key).
pub async fn policies(
    state: &Services,
    caller: &Caller,
) -> Result<Vec<PolicyVersion>, ServiceError> {
    require_role(caller, &[Role::Admin, Role::Service, Role::Officer])?;
    Ok(state.store.policies().await?)
}

/// One policy's latest version (any key).
pub async fn policy(
    state: &Services,
    caller: &Caller,
    name: &str,
) -> Result<PolicyVersion, ServiceError> {
    require_role(caller, &[Role::Admin, Role::Service, Role::Officer])?;
    state
        .store
        .policy(name)
        .await?
        .ok_or(ServiceError::NotFound {
            code: ErrorCode::MaskingUnknownPolicy,
        })
}

/// The policy a call applies: the one it names (which must exist), else the stored
/// `default` policy if there is one, else none (the display defaults).
pub async fn resolve(
    state: &Services,
    name: Option<&str>,
) -> Result<Option<Arc<Policy>>, ServiceError> {
    let wanted = name.unwrap_or(DEFAULT_POLICY);
    let found = state
        .masking
        .policies
        .get(wanted, async {
            match state.store.policy(wanted).await? {
                None => Ok::<_, ServiceError>(None),
                Some(stored) => {
                    let parsed: Policy = serde_json::from_str(&stored.body).map_err(|_| {
                        ServiceError::Internal("a stored policy does not parse".into())
                    })?;
                    Ok(Some(Arc::new(parsed)))
                }
            }
        })
        .await?;
    match (found, name) {
        (None, Some(_)) => Err(ServiceError::Rejected {
            code: ErrorCode::MaskingUnknownPolicy,
            detail: "no policy has this name; store it with PUT /v1/policies/{name}".to_owned(),
        }),
        (found, _) => Ok(found),
    }
}

/// What to detect or mask.
pub enum Input {
    /// Free text.
    Text(String),
    /// A JSON document.
    Json(serde_json::Value),
    /// One value of a known type.
    Value(baomi_masking::PiType, String),
}

/// What came out.
pub enum Output {
    /// Masked free text and its findings.
    Text(String, Vec<Finding>),
    /// A masked JSON document and its findings.
    Json(serde_json::Value, Vec<JsonFinding>),
    /// A masked value.
    Value(String),
}

/// How a mask call is applied.
pub struct MaskOptions {
    /// The policy's name (default: `default`, or the display defaults).
    pub policy: Option<String>,
    /// The role to match rules against: one of the key's masking roles (default: the
    /// operator role the request declared, else the key's first masking role).
    pub role: Option<String>,
    /// The purpose to match rules against.
    pub purpose: Option<String>,
    /// The subject the data is about (for `date_shift`).
    pub subject_id: Option<String>,
}

fn current_year() -> i32 {
    time::OffsetDateTime::now_utc().year()
}

/// Finds PI in caller-supplied text or JSON (any key). No value is stored or logged.
pub async fn detect(
    state: &Services,
    caller: &Caller,
    input: Input,
) -> Result<Output, ServiceError> {
    require_role(caller, &[Role::Admin, Role::Service, Role::Officer])?;
    let state = state.clone();
    run_blocking(move || {
        let scanner = &state.masking.scanner;
        Ok(match input {
            Input::Text(t) => {
                let found = scanner.scan(&t);
                Output::Text(String::new(), found)
            }
            Input::Json(mut doc) => {
                // Detection is masking with every operator left as it is.
                let keep = keep_all_rule();
                let found = Masker::new(scanner, Some(&keep))
                    .json(&mut doc, &Context::default())
                    .map_err(masking_failed)?;
                Output::Json(serde_json::Value::Null, found)
            }
            Input::Value(_, v) => Output::Text(String::new(), scanner.scan(&v)),
        })
    })
    .await
}

/// A rule that keeps every detected type: detection without masking.
fn keep_all_rule() -> baomi_masking::Rule {
    baomi_masking::Rule {
        roles: Vec::new(),
        purposes: Vec::new(),
        scan: baomi_masking::policy::Scan::All,
        types: baomi_masking::PiType::ALL
            .into_iter()
            .map(|t| (t, baomi_masking::Operator::Keep {}))
            .collect(),
        fields: Vec::new(),
    }
}

/// Masks caller-supplied text, JSON or a value under a policy (any key).
pub async fn mask(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    input: Input,
    options: MaskOptions,
) -> Result<Output, ServiceError> {
    require_role(caller, &[Role::Admin, Role::Service, Role::Officer])?;
    // What the rules are matched against is well-formed, or refused (the document says so).
    if let Some(purpose) = &options.purpose {
        baomi_consent::PurposeId::parse(purpose)
            .map_err(|e| ServiceError::invalid("purpose", e))?;
    }
    let subject = options
        .subject_id
        .as_deref()
        .map(baomi_vault::SubjectId::parse)
        .transpose()
        .map_err(|e| ServiceError::invalid("subject_id", e))?;
    let asked = options.role.as_deref().or(ctx.operator_role.as_deref());
    let role = crate::service::authorize::masking_role(caller.grants(), asked)?;
    let policy = resolve(state, options.policy.as_deref()).await?;

    // The encrypt operator seals through the vault for the subject the data is about; only
    // service keys encrypt.
    let sealer = match (subject, caller) {
        (
            Some(subject),
            Caller::Key {
                role: Role::Service,
                ..
            },
        ) => {
            let mut event = audit::event(caller, ctx, Action::Store);
            event.subject = Some(subject.as_str().to_owned());
            Some(VaultSeal {
                may_store: crate::service::authorize::permit(
                    caller,
                    crate::auth::grant::Permission::StoreData,
                )
                .is_ok(),
                state: state.clone(),
                subject,
                handle: tokio::runtime::Handle::current(),
                at: crate::service::now(),
                event,
                tokens: std::sync::Mutex::new(std::collections::HashMap::new()),
                sealed: std::sync::Mutex::new(Sealed::default()),
            })
        }
        _ => None,
    }
    .map(Arc::new);
    let sealing = sealer.clone();
    let masked = {
        let state = state.clone();
        run_blocking(move || {
            mask_blocking(
                &state,
                policy.as_deref(),
                &role,
                sealing.as_deref(),
                input,
                options,
            )
        })
        .await
    };
    // Values sealed by the encrypt operator are an encryption like `/v1/encrypt`'s: one
    // event naming the subject, the fields and how many, written before the answer.
    if let Some(seal) = &sealer {
        let sealed = std::mem::take(&mut *seal.sealed.lock().unwrap_or_else(|p| p.into_inner()));
        if sealed.count > 0 {
            let mut event = audit::about(
                caller,
                ctx,
                Action::Encrypt,
                &format!(
                    "keyring:{}",
                    baomi_vault::KeyringName::default_name().as_str()
                ),
            );
            event.subject = Some(seal.subject.as_str().to_owned());
            event.fields = sealed.fields;
            event.count = sealed.count;
            audit::append(state.audit.as_ref(), &[event]).await?;
        }
    }
    masked
}

/// Masks `input` under `policy`'s rule for `role`, sealing through `sealer` if given; runs
/// on a blocking thread.
fn mask_blocking(
    state: &Services,
    policy: Option<&Policy>,
    role: &str,
    sealer: Option<&VaultSeal>,
    input: Input,
    options: MaskOptions,
) -> Result<Output, ServiceError> {
    let masking = &state.masking;
    let rule = policy.and_then(|p| p.rule_for(role, options.purpose.as_deref()));
    let masker = Masker::new(&masking.scanner, rule);
    let ctx = Context {
        key: Some(&masking.key),
        subject: options.subject_id.as_deref(),
        vault: sealer.map(|s| s as &dyn baomi_masking::Reversible),
        year: current_year(),
    };
    Ok(match input {
        Input::Text(t) => {
            let m = masker.text(&t, &ctx).map_err(masking_failed)?;
            Output::Text(m.text, m.findings)
        }
        Input::Json(mut doc) => {
            let found = masker.json(&mut doc, &ctx).map_err(masking_failed)?;
            Output::Json(doc, found)
        }
        Input::Value(t, v) => Output::Value(masker.value(t, &v, &ctx).map_err(masking_failed)?),
    })
}

/// The vault as the `encrypt` operator sees it: values sealed for one subject under the
/// default keyring, in the field of the value's type; `/v1/decrypt` opens them for keys
/// that hold the purpose.
struct VaultSeal {
    /// Whether the caller may write stored data (which `tokenize` does).
    may_store: bool,
    state: Services,
    subject: baomi_vault::SubjectId,
    handle: tokio::runtime::Handle,
    at: i64,
    /// The audit event of a tokenized value's write (actor, subject), completed per field.
    event: baomi_types::AccessEvent,
    /// Tokens already made in this call, so one value gets one token.
    tokens: std::sync::Mutex<std::collections::HashMap<(baomi_masking::PiType, String), String>>,
    /// What `encrypt` sealed, for the call's one `encrypt` event.
    sealed: std::sync::Mutex<Sealed>,
}

/// The fields the encrypt operator sealed values in, and how many values.
#[derive(Default)]
struct Sealed {
    fields: Vec<String>,
    count: u32,
}

/// The vault field a value of `pi_type` is sealed in.
fn field_of(pi_type: baomi_masking::PiType) -> &'static str {
    use baomi_masking::PiType as P;
    match pi_type {
        P::CnId => "id_number",
        P::CnMobile => "mobile",
        P::CnLandline => "landline",
        P::BankCard | P::CreditCard => "bank_card",
        P::Person => "name",
        P::Email => "email",
        P::Address => "address",
        P::CnPassport | P::CnHkmoPermit | P::CnTwPermit => "passport",
        P::BirthDate => "birth_date",
        _ => "text",
    }
}

impl baomi_masking::Reversible for VaultSeal {
    fn encrypt(&self, pi_type: baomi_masking::PiType, value: &str) -> Result<String, String> {
        let field = baomi_vault::FieldName::parse(field_of(pi_type)).map_err(|e| e.to_string())?;
        // Runs on a blocking thread (see `run_blocking`), where waiting on the runtime is
        // allowed.
        let sealed = self
            .handle
            .block_on(self.state.vault.encrypt(
                &baomi_vault::KeyringName::default_name(),
                &self.subject,
                &field,
                value,
                self.at,
            ))
            .map_err(|e| e.to_string())?;
        let mut record = self.sealed.lock().unwrap_or_else(|p| p.into_inner());
        if !record.fields.iter().any(|f| f == field.as_str()) {
            record.fields.push(field.as_str().to_owned());
        }
        record.count = record.count.saturating_add(1);
        Ok(sealed)
    }

    /// Stores the value as a field of the subject (named after its type and a keyed hash
    /// of it, so one value is one field) and returns the field's token, which
    /// `/v1/detokenize` exchanges back for keys that hold a purpose. Cards and mobile numbers
    /// get format-preserving tokens.
    fn tokenize(&self, pi_type: baomi_masking::PiType, value: &str) -> Result<String, String> {
        if !self.may_store {
            return Err("the calling key may not write stored data (store_data)".to_owned());
        }
        let memo = (pi_type, value.to_owned());
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(token) = tokens.get(&memo) {
            return Ok(token.clone());
        }
        let pseudonym = baomi_masking::operator::apply(
            &baomi_masking::Operator::Hash {},
            pi_type,
            value,
            &Context {
                key: Some(&self.state.masking.key),
                ..Context::default()
            },
        )
        .map_err(|e| e.to_string())?;
        let name = format!("{}.m_{}", field_of(pi_type), &pseudonym[..12]);
        let field = baomi_vault::FieldName::parse(&name).map_err(|e| e.to_string())?;
        let mut event = self.event.clone();
        event.fields = vec![name];
        event.count = 1;
        let write = baomi_vault::FieldWrite {
            field,
            value: zeroize::Zeroizing::new(value.to_owned()),
            searchable: false,
            token_format: baomi_vault::TokenFormat::FormatPreserving,
        };
        let stored = self.handle.block_on(async {
            let stored = self
                .state
                .vault
                .put_fields(
                    &baomi_vault::KeyringName::default_name(),
                    &self.subject,
                    std::slice::from_ref(&write),
                    self.at,
                    &[event],
                )
                .await;
            audit::settle(self.state.audit.as_ref()).await;
            stored
        });
        let token = stored
            .map_err(|e| e.to_string())?
            .into_iter()
            .next()
            .ok_or_else(|| "the vault returned no token".to_owned())?;
        tokens.insert(memo, token.clone());
        Ok(token)
    }
}

/// Runs CPU-bound masking off the async workers.
async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServiceError> + Send + 'static,
) -> Result<T, ServiceError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|_| ServiceError::Internal("masking task failed".to_owned()))?
}

/// The masked view of a vault read: the policy the read names (or `default`), matched
/// against the masking role the read was authorised for (one of the key's) and the read's
/// purpose. A field is masked by the rule's operator for the field's name (as the
/// path `$.name`) or its type; anything the operator cannot do is masked whole, never shown.
pub struct ViewMask {
    /// The rule that applies to this read's role and purpose, if any.
    rule: Option<baomi_masking::Rule>,
    /// Its field paths, parsed once for every field of the read.
    paths: Vec<(baomi_masking::json_path::JsonPath, usize)>,
    year: i32,
}

impl ViewMask {
    /// The view of a read under `purpose` for the masking role `role` (which the read's
    /// authorisation chose from the key's grants).
    pub async fn for_role(
        state: &Services,
        policy: Option<&str>,
        role: &str,
        purpose: &str,
    ) -> Result<Self, ServiceError> {
        let policy = resolve(state, policy).await?;
        let rule = policy
            .as_deref()
            .and_then(|p| p.rule_for(role, Some(purpose)))
            .cloned();
        let paths = rule
            .iter()
            .flat_map(|r| r.fields.iter().enumerate())
            .filter_map(|(i, f)| {
                baomi_masking::json_path::JsonPath::parse(&f.path)
                    .ok()
                    .map(|p| (p, i))
            })
            .collect();
        Ok(Self {
            rule,
            paths,
            year: current_year(),
        })
    }

    /// `plain`, a value of `field`, masked.
    pub fn apply(
        &self,
        masking: &MaskingState,
        field: &baomi_vault::FieldName,
        plain: &str,
    ) -> zeroize::Zeroizing<String> {
        let rule = self.rule.as_ref();
        let at = [baomi_masking::json_path::At::Key(field.as_str())];
        let by_path = self
            .paths
            .iter()
            .find(|(p, _)| p.matches(&at))
            .and_then(|(_, i)| rule.map(|r| &r.fields[*i]));
        let (pi_type, op) = match by_path {
            Some(f) => (f.pi_type, &f.operator),
            None => {
                let t = pi_type_of(field.kind());
                let op = rule.and_then(|r| r.types.get(&t));
                (t, op.unwrap_or(&baomi_masking::Operator::Default {}))
            }
        };
        let ctx = Context {
            key: Some(&masking.key),
            subject: None,
            vault: None,
            year: self.year,
        };
        zeroize::Zeroizing::new(
            baomi_masking::operator::apply(op, pi_type, plain, &ctx)
                .unwrap_or_else(|_| baomi_masking::operator::mask(plain, 0, 0, '*')),
        )
    }
}

/// The PI type of a vault field type.
pub fn pi_type_of(kind: baomi_vault::FieldType) -> baomi_masking::PiType {
    use baomi_masking::PiType as P;
    use baomi_vault::FieldType as F;
    match kind {
        F::IdNumber => P::CnId,
        F::Mobile => P::CnMobile,
        F::Landline => P::CnLandline,
        F::BankCard => P::BankCard,
        F::Name => P::Person,
        F::Email => P::Email,
        F::Address => P::Address,
        F::Passport => P::CnPassport,
        F::BirthDate => P::BirthDate,
        F::Text => P::Text,
    }
}
