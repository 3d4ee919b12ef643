//! Deciding whether a read of a subject's PI under a purpose is allowed by its legal basis
//! and, for consent, by the subject's consent.

use serde::Serialize;

use crate::definition::{LegalBasis, PurposeDefinition};
use crate::ledger::ConsentState;

/// Why a decision went the way it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// The purpose is not declared: only the calling key's purposes govern the read.
    PurposeNotDeclared,
    /// The purpose's legal basis is not consent (contract, legal duty, …).
    OtherLegalBasis,
    /// The subject's consent is in force and covers every separate consent needed.
    ConsentActive,
    /// The subject never consented.
    NoConsent,
    /// The subject withdrew their consent.
    ConsentWithdrawn,
    /// The consent lapsed.
    ConsentExpired,
    /// The purpose changed materially; the subject must consent again.
    RenewalRequired,
    /// The consent lacks a separate consent the purpose needs.
    SeparateConsentMissing,
}

impl Reason {
    /// Whether the reason allows the read.
    pub fn allows(&self) -> bool {
        matches!(
            self,
            Reason::PurposeNotDeclared | Reason::OtherLegalBasis | Reason::ConsentActive
        )
    }

    /// The stable code of a refusal, as problems and the audit trail carry it.
    pub fn code(&self) -> &'static str {
        match self {
            Reason::PurposeNotDeclared | Reason::OtherLegalBasis | Reason::ConsentActive => {
                "consent.allowed"
            }
            Reason::NoConsent => "consent.not_given",
            Reason::ConsentWithdrawn => "consent.withdrawn",
            Reason::ConsentExpired => "consent.expired",
            Reason::RenewalRequired => "consent.renewal_required",
            Reason::SeparateConsentMissing => "consent.separate_consent_missing",
        }
    }
}

/// Decides a read under `purpose` for a subject whose consent to it is `state`.
pub fn decide(purpose: &PurposeDefinition, state: &ConsentState) -> Reason {
    if purpose.legal_basis != LegalBasis::Consent {
        return Reason::OtherLegalBasis;
    }
    match state {
        ConsentState::None => Reason::NoConsent,
        ConsentState::Withdrawn { .. } => Reason::ConsentWithdrawn,
        ConsentState::Expired { .. } => Reason::ConsentExpired,
        ConsentState::RenewalRequired { .. } => Reason::RenewalRequired,
        ConsentState::Active { scopes, .. } => {
            if scopes.missing(&purpose.separate_scopes()).is_empty() {
                Reason::ConsentActive
            } else {
                Reason::SeparateConsentMissing
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::{Level, PiCategory, Scopes};

    fn purpose(basis: LegalBasis, sensitive: bool) -> PurposeDefinition {
        PurposeDefinition {
            description: "x".into(),
            legal_basis: basis,
            categories: vec![PiCategory {
                name: "face".into(),
                sensitive,
                level: Level::C3,
            }],
            recipients: vec![],
            cross_border: false,
            retention_days: 30,
        }
    }

    fn active(sensitive: bool) -> ConsentState {
        ConsentState::Active {
            event_id: "cev_1".into(),
            purpose_version: 1,
            scopes: Scopes {
                sensitive,
                ..Scopes::default()
            },
            expires_at: None,
        }
    }

    #[test]
    fn consent_gates_only_consent_based_purposes() {
        let none = ConsentState::None;
        assert_eq!(
            decide(&purpose(LegalBasis::Contract, true), &none),
            Reason::OtherLegalBasis
        );
        assert_eq!(
            decide(&purpose(LegalBasis::Consent, false), &none),
            Reason::NoConsent
        );
        assert_eq!(
            decide(&purpose(LegalBasis::Consent, false), &active(false)),
            Reason::ConsentActive
        );
        assert_eq!(
            decide(&purpose(LegalBasis::Consent, true), &active(false)),
            Reason::SeparateConsentMissing
        );
        assert_eq!(
            decide(&purpose(LegalBasis::Consent, true), &active(true)),
            Reason::ConsentActive
        );
        let withdrawn = ConsentState::Withdrawn {
            event_id: "cev_2".into(),
        };
        assert_eq!(
            decide(&purpose(LegalBasis::Consent, false), &withdrawn),
            Reason::ConsentWithdrawn
        );
        assert!(!Reason::ConsentWithdrawn.allows());
        assert_eq!(Reason::ConsentWithdrawn.code(), "consent.withdrawn");
    }
}
