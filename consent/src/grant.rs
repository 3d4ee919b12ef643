//! Checking a grant against its purpose before it enters the ledger.

use serde::Deserialize;

use crate::definition::{PurposeDefinition, Scopes};
use crate::ledger::Guardian;
use crate::{Error, Result};

/// Longest channel or evidence text accepted.
const MAX_EVIDENCE: usize = 2000;

/// What a platform sends when a subject consents.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// The purpose consented to.
    pub purpose: String,
    /// Where: `app`, `web`, `counter`, `call_center`, …
    pub channel: String,
    /// What the subject was shown and how they agreed (no PI), e.g. `loan form v3,
    /// unticked checkbox ticked by the user`.
    pub evidence: String,
    /// The separate consents given explicitly with this grant.
    #[serde(default)]
    pub scopes: Scopes,
    /// Whether the subject is under 14 (PIPL Art. 31): then `guardian` is required.
    #[serde(default)]
    pub minor: bool,
    /// The guardian who consented for a minor.
    #[serde(default)]
    pub guardian: Option<Guardian>,
    /// When the consent lapses (RFC 3339), if it does.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// The notice version the subject was shown (it must exist and cover the purpose).
    #[serde(default)]
    pub notice: Option<crate::notice::NoticeRef>,
}

impl Grant {
    /// Checks the grant against the purpose's definition.
    pub fn validate(&self, purpose: &PurposeDefinition) -> Result<()> {
        for (text, what) in [(&self.channel, "channel"), (&self.evidence, "evidence")] {
            if text.trim().is_empty() || crate::definition::chars(text) > MAX_EVIDENCE {
                return Err(Error::InvalidGrant(match what {
                    "channel" => "channel must be 1 to 2000 characters",
                    _ => {
                        "evidence must say, in 1 to 2000 characters, what was shown and how the subject agreed"
                    }
                }));
            }
        }
        let missing = self.scopes.missing(&purpose.separate_scopes());
        if !missing.is_empty() {
            return Err(Error::SeparateConsentMissing(missing));
        }
        match (&self.guardian, self.minor) {
            (None, true) => Err(Error::GuardianRequired),
            (Some(g), _)
                if g.id.trim().is_empty()
                    || g.relation.trim().is_empty()
                    || g.verification.trim().is_empty() =>
            {
                Err(Error::GuardianRequired)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::definition::{LegalBasis, Level, PiCategory, Recipient};

    fn purpose(sensitive: bool, recipients: usize, cross_border: bool) -> PurposeDefinition {
        PurposeDefinition {
            description: "credit scoring".into(),
            legal_basis: LegalBasis::Consent,
            categories: vec![PiCategory {
                name: "bank_card".into(),
                sensitive,
                level: Level::C3,
            }],
            recipients: (0..recipients)
                .map(|i| Recipient {
                    name: format!("bureau {i}"),
                    contact: "dpo@bureau.example".into(),
                })
                .collect(),
            cross_border,
            retention_days: 365,
        }
    }

    fn grant(scopes: Scopes) -> Grant {
        Grant {
            purpose: "scoring".into(),
            channel: "app".into(),
            evidence: "separate checkbox per scope".into(),
            scopes,
            minor: false,
            guardian: None,
            expires_at: None,
            notice: None,
        }
    }

    #[test]
    fn separate_consents_are_needed_for_what_the_purpose_does() {
        let all = purpose(true, 1, true);
        assert_eq!(
            grant(Scopes::default()).validate(&all),
            Err(Error::SeparateConsentMissing(vec![
                "sensitive",
                "third_party",
                "cross_border"
            ]))
        );
        let given = Scopes {
            sensitive: true,
            third_party: true,
            cross_border: true,
        };
        assert_eq!(grant(given).validate(&all), Ok(()));
        assert_eq!(
            grant(Scopes::default()).validate(&purpose(false, 0, false)),
            Ok(())
        );
    }

    #[test]
    fn minors_need_a_verified_guardian() {
        let p = purpose(false, 0, false);
        let mut g = grant(Scopes::default());
        g.minor = true;
        assert_eq!(g.validate(&p), Err(Error::GuardianRequired));
        g.guardian = Some(Guardian {
            id: "parent-1".into(),
            relation: "parent".into(),
            verification: "".into(),
        });
        assert_eq!(g.validate(&p), Err(Error::GuardianRequired));
        g.guardian = Some(Guardian {
            id: "parent-1".into(),
            relation: "parent".into(),
            verification: "household_register_check".into(),
        });
        assert_eq!(g.validate(&p), Ok(()));
    }
}
