//! Authorisation: what a caller may do with personal information, decided here for every use
//! case, from the caller's credential and its grants (never from the request's say-so).
//!
//! - A read of PI (decrypt, stored read, detokenize, search) needs a service key that holds
//!   the purpose, a purpose that is declared, and the view asked for granted under it. Each
//!   field's category, as the field catalogue says, must be one of the purpose's (see
//!   [`ReadGrant::covers`]).
//! - The masking role of a masked view comes from the grant; a request may pick another of
//!   the key's masking roles, never one outside them.
//! - Writing, erasing, minting subject tokens and recording consents are permissions.
//! - A subject token acts within its issuer's grants: it grants consent only for purposes
//!   the issuer holds (it may always withdraw), and reads the subject's own export and
//!   access log only when the issuer holds `self_service`.
//!
//! Refusals carry stable codes; [`refusal_code`] tells the callers that record refusals in
//! the trail which code to write.

use std::sync::Arc;

use baomi_consent::{PurposeId, PurposeRecord};
use baomi_vault::FieldName;

use crate::auth::catalogue::FieldCatalogue;
use crate::auth::grant::{Grants, Permission, ViewKind};
use crate::auth::{Caller, Role};
use crate::service::authenticate::require_role;
use crate::service::{ErrorCode, ServiceError, Services};

/// A read of PI that may go ahead: under which purpose, as declared now, with the field
/// catalogue now, and for which masking role a masked view is made.
#[derive(Debug, Clone)]
pub struct ReadGrant {
    /// The purpose.
    pub purpose: PurposeId,
    /// Its declaration now.
    pub record: PurposeRecord,
    /// Which category each field belongs to.
    pub catalogue: Arc<FieldCatalogue>,
    /// The masking role of a masked view.
    pub masking_role: String,
}

impl ReadGrant {
    /// Whether `field`'s category (as the field catalogue says) is one of the purpose's.
    pub fn covers(&self, field: &FieldName) -> bool {
        let category = self.catalogue.category_of(field);
        self.record
            .definition
            .categories
            .iter()
            .any(|c| c.name == category)
    }
}

/// The code of a field outside the purpose's categories.
pub const FIELD_NOT_GRANTED: ErrorCode = ErrorCode::AuthFieldNotGranted;
const FIELD_NOT_GRANTED_DETAIL: &str = "this field is not among the PI categories of the purpose";

/// The refusal of a field outside the purpose's categories, for one item.
pub fn field_not_granted() -> crate::service::vault::ItemError {
    crate::service::vault::ItemError {
        code: FIELD_NOT_GRANTED,
        detail: FIELD_NOT_GRANTED_DETAIL.to_owned(),
    }
}

/// The refusal of a whole request about a field outside the purpose's categories.
pub fn field_refused() -> ServiceError {
    not_granted(FIELD_NOT_GRANTED, FIELD_NOT_GRANTED_DETAIL)
}

fn not_granted(code: ErrorCode, detail: &str) -> ServiceError {
    ServiceError::NotGranted {
        code,
        detail: detail.to_owned(),
    }
}

/// The code to record in the trail for a refusal of a key that could have been granted the
/// read (a purpose it does not hold, one not declared, a view, field or masking role not
/// granted), or `None` for any other error (a key of another role is refused before it
/// reaches PI, as it always was, and is not recorded).
pub fn refusal_code(e: &ServiceError) -> Option<ErrorCode> {
    match e {
        ServiceError::PurposeNotAllowed => Some(ErrorCode::AuthPurposeNotAllowed),
        ServiceError::NotGranted { code, .. } => Some(*code),
        _ => None,
    }
}

/// Decides a read of PI under `purpose` in `view`, with `asked_role` the masking role the
/// request names (`X-Baomi-Operator-Role`), if any.
pub async fn read(
    state: &Services,
    caller: &Caller,
    purpose: &str,
    view: ViewKind,
    asked_role: Option<&str>,
) -> Result<ReadGrant, ServiceError> {
    let purpose = held(caller, purpose)?;
    let grants = caller.grants();
    let Some(grant) = grants.purpose(purpose.as_str()) else {
        return Err(ServiceError::PurposeNotAllowed);
    };
    let record = declared(state, &purpose).await?;
    if !grant.views.contains(&view) {
        return Err(not_granted(
            ErrorCode::AuthViewNotGranted,
            "the calling key is not granted this view under this purpose",
        ));
    }
    let masking_role = masking_role(grants, asked_role)?;
    Ok(ReadGrant {
        purpose,
        record,
        catalogue: crate::service::catalogue::current(state).await?,
        masking_role,
    })
}

/// Requires a service key that holds `purpose`; gives the purpose parsed.
pub fn held(caller: &Caller, purpose: &str) -> Result<PurposeId, ServiceError> {
    require_role(caller, &[Role::Service])?;
    let purpose = PurposeId::parse(purpose).map_err(|e| ServiceError::invalid("purpose", e))?;
    if caller.grants().holds(purpose.as_str()) {
        Ok(purpose)
    } else {
        Err(ServiceError::PurposeNotAllowed)
    }
}

/// Requires a subject token, or a key of one of `roles` (checked before anything is looked
/// up, so that other keys learn nothing of what exists).
pub fn subject_or_role(caller: &Caller, roles: &[Role]) -> Result<(), ServiceError> {
    match caller {
        Caller::Subject { .. } => Ok(()),
        Caller::Key { .. } => require_role(caller, roles),
    }
}

/// The declaration of a purpose a key holds; refused while it is not declared.
pub async fn declared(
    state: &Services,
    purpose: &PurposeId,
) -> Result<PurposeRecord, ServiceError> {
    state
        .purposes
        .get(purpose.as_str(), state.store.purpose(purpose.as_str()))
        .await?
        .ok_or_else(|| {
            not_granted(
                ErrorCode::AuthPurposeNotDeclared,
                "the purpose is not declared: declare it with PUT /v1/purposes/{id} before \
                 any key uses it",
            )
        })
}

/// The masking role for a request that names `asked` (or none).
pub fn masking_role(grants: &Grants, asked: Option<&str>) -> Result<String, ServiceError> {
    grants
        .masking_role(asked)
        .map(str::to_owned)
        .ok_or_else(|| {
            not_granted(
                ErrorCode::AuthMaskingRoleNotGranted,
                "the masking role asked for is not one of the calling key's masking roles",
            )
        })
}

/// Requires a service key holding `permission`.
pub fn permit(caller: &Caller, permission: Permission) -> Result<(), ServiceError> {
    require_role(caller, &[Role::Service])?;
    if caller.grants().permits(permission) {
        Ok(())
    } else {
        Err(not_granted(
            ErrorCode::AuthPermissionNotGranted,
            match permission {
                Permission::StoreData => "the calling key may not write stored data",
                Permission::EraseSubjects => "the calling key may not erase subjects",
                Permission::MintSubjectTokens => "the calling key may not mint subject tokens",
                Permission::RecordConsent => "the calling key may not record consents",
                Permission::SelfService => {
                    "the key that minted this token does not grant self-service reads"
                }
            },
        ))
    }
}

/// Decides who obtains a subject's erasure certificate: an officer or an admin, or a
/// service key that may erase subjects (the platform that erased, to hand it on).
pub fn erasure_certificate(caller: &Caller) -> Result<(), ServiceError> {
    match caller {
        Caller::Key {
            role: Role::Officer | Role::Admin,
            ..
        } => Ok(()),
        _ => permit(caller, Permission::EraseSubjects),
    }
}

/// What a change to a subject's consent is: a grant, or a withdrawal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentChange {
    /// Recording a grant.
    Grant,
    /// Withdrawing a consent.
    Withdraw,
}

/// Decides a change of `subject`'s consent to `purpose` (declared). A service key needs
/// `record_consent` and the purpose; a subject token acts for its own subject only, and
/// grants only purposes its issuer holds, while it may always withdraw (PIPL Art. 15).
pub fn consent_change(
    caller: &Caller,
    subject: &str,
    purpose: &str,
    change: ConsentChange,
) -> Result<(), ServiceError> {
    match caller {
        Caller::Subject { subject: own, .. } if own.as_str() != subject => Err(
            ServiceError::Forbidden("a subject token acts only for its own subject".to_owned()),
        ),
        Caller::Subject { issuer_grants, .. } => {
            if change == ConsentChange::Withdraw || issuer_grants.holds(purpose) {
                Ok(())
            } else {
                Err(not_granted(
                    ErrorCode::AuthIssuerPurposeNotAllowed,
                    "the key that minted this token does not hold this purpose",
                ))
            }
        }
        Caller::Key { .. } => {
            permit(caller, Permission::RecordConsent)?;
            held(caller, purpose).map(|_| ())
        }
    }
}

/// Whose consent histories a caller reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerScope {
    /// Every purpose (an admin).
    All,
    /// The purposes a key holds (a service key, an officer).
    Purposes(Vec<PurposeId>),
    /// The subject's own (a subject token).
    Own,
}

impl LedgerScope {
    /// Whether events under `purpose` are in scope.
    pub fn covers(&self, purpose: &str) -> bool {
        match self {
            LedgerScope::All | LedgerScope::Own => true,
            LedgerScope::Purposes(p) => p.iter().any(|p| p.as_str() == purpose),
        }
    }
}

/// Decides a read of `subject`'s consent ledger: a subject token reads its own subject's;
/// a key as [`key_ledger`] says.
pub fn ledger(caller: &Caller, subject: &str) -> Result<LedgerScope, ServiceError> {
    match caller {
        Caller::Subject { subject: own, .. } if own.as_str() == subject => Ok(LedgerScope::Own),
        Caller::Subject { .. } => Err(ServiceError::Forbidden(
            "a subject token acts only for its own subject".to_owned(),
        )),
        Caller::Key { .. } => key_ledger(caller),
    }
}

/// The consent histories a key reads, whoever the subject: a service key or an officer
/// the purposes it holds; an admin every purpose.
pub fn key_ledger(caller: &Caller) -> Result<LedgerScope, ServiceError> {
    require_role(caller, &[Role::Service, Role::Officer, Role::Admin])?;
    Ok(match caller {
        Caller::Key {
            role: Role::Admin, ..
        } => LedgerScope::All,
        _ => LedgerScope::Purposes(caller.grants().purpose_ids().cloned().collect()),
    })
}

/// Decides a subject's read of their own data (export, access log): a subject token whose
/// issuer holds `self_service`.
pub fn self_service(caller: &Caller) -> Result<&baomi_vault::SubjectId, ServiceError> {
    match caller {
        Caller::Subject {
            subject,
            issuer_grants,
            ..
        } => {
            if issuer_grants.permits(Permission::SelfService) {
                Ok(subject)
            } else {
                Err(not_granted(
                    ErrorCode::AuthPermissionNotGranted,
                    "the key that minted this token does not grant self-service reads",
                ))
            }
        }
        Caller::Key { .. } => Err(ServiceError::Forbidden(
            "this call needs a subject token".to_owned(),
        )),
    }
}
