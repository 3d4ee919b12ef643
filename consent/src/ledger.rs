//! The consent ledger: append-only events per subject and purpose, and the state derived
//! from them (the latest event wins; a grant past its expiry is expired).

use serde::{Deserialize, Serialize};

use crate::definition::Scopes;

/// What happened to a consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConsentAction {
    /// The subject (or their guardian) agreed.
    Granted,
    /// The subject took it back (PIPL Art. 15).
    Withdrawn,
}

/// The guardian who consented for a subject under 14 (PIPL Art. 31).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Guardian {
    /// The platform's id of the guardian (never their name or ID number).
    pub id: String,
    /// `parent`, `legal_guardian`, …
    pub relation: String,
    /// How the guardianship was verified, e.g. `household_register_check`.
    pub verification: String,
}

/// One event of the ledger.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsentEvent {
    /// Its id (`cev_…`), also the id of the receipt.
    pub id: String,
    /// Whose consent.
    pub subject: String,
    /// For which purpose.
    pub purpose: String,
    /// What happened.
    pub action: ConsentAction,
    /// The version of the purpose the subject was shown.
    pub purpose_version: u32,
    /// Where: `app`, `web`, `counter`, `call_center`, `api`, `baomi` (for events Baomi
    /// records itself).
    pub channel: String,
    /// What the subject was shown and how they agreed or withdrew (free text, no PI:
    /// e.g. `checkbox on loan form v3, unticked by default`).
    pub evidence: String,
    /// The separate consents given with a grant.
    #[serde(default)]
    pub scopes: Scopes,
    /// The guardian, for a subject under 14.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guardian: Option<Guardian>,
    /// Unix seconds.
    pub at: i64,
    /// When a grant lapses (Unix seconds), if it does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// The notice version the subject was shown, if the platform named one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<crate::notice::NoticeRef>,
}

/// A subject's consent to one purpose, as derived from its events.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ConsentState {
    /// Never granted.
    None,
    /// In force.
    Active {
        /// The grant in force.
        event_id: String,
        /// The purpose version agreed to.
        purpose_version: u32,
        /// The separate consents given.
        scopes: Scopes,
        /// When it lapses, if it does.
        #[serde(skip_serializing_if = "Option::is_none")]
        expires_at: Option<i64>,
    },
    /// Taken back.
    Withdrawn {
        /// The withdrawal.
        event_id: String,
    },
    /// Lapsed at its expiry.
    Expired {
        /// The grant that lapsed.
        event_id: String,
    },
    /// The purpose changed materially (PIPL Art. 14) since the version granted: the subject
    /// must consent again.
    RenewalRequired {
        /// The grant that no longer covers the purpose.
        event_id: String,
    },
}

impl ConsentState {
    /// Whether the consent is in force.
    pub fn is_active(&self) -> bool {
        matches!(self, ConsentState::Active { .. })
    }

    /// The ledger event the state rests on, if any.
    pub fn event_id(&self) -> Option<&str> {
        match self {
            ConsentState::None => None,
            ConsentState::Active { event_id, .. }
            | ConsentState::Withdrawn { event_id }
            | ConsentState::Expired { event_id }
            | ConsentState::RenewalRequired { event_id } => Some(event_id),
        }
    }
}

/// The state `events` (of one subject and purpose, oldest first) leave at time `now`, for a
/// purpose whose versions from `renewal_from` on need consent given to one of them.
pub fn derive<'a>(
    events: impl IntoIterator<Item = &'a ConsentEvent>,
    now: i64,
    renewal_from: u32,
) -> ConsentState {
    let Some(last) = events.into_iter().last() else {
        return ConsentState::None;
    };
    let event_id = last.id.clone();
    match last.action {
        ConsentAction::Withdrawn => ConsentState::Withdrawn { event_id },
        ConsentAction::Granted if last.expires_at.is_some_and(|e| e <= now) => {
            ConsentState::Expired { event_id }
        }
        ConsentAction::Granted if last.purpose_version < renewal_from => {
            ConsentState::RenewalRequired { event_id }
        }
        ConsentAction::Granted => ConsentState::Active {
            event_id,
            purpose_version: last.purpose_version,
            scopes: last.scopes,
            expires_at: last.expires_at,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn event(
        n: usize,
        action: ConsentAction,
        version: u32,
        expires_at: Option<i64>,
    ) -> ConsentEvent {
        ConsentEvent {
            id: format!("cev_{n}"),
            subject: "u1".into(),
            purpose: "marketing".into(),
            action,
            purpose_version: version,
            channel: "app".into(),
            evidence: "checkbox".into(),
            scopes: Scopes::default(),
            guardian: None,
            at: n as i64,
            expires_at,
            notice: None,
        }
    }

    #[test]
    fn expiry_and_material_changes_end_a_grant() {
        let grant = [event(1, ConsentAction::Granted, 2, Some(100))];
        assert!(derive(&grant, 99, 1).is_active());
        assert_eq!(
            derive(&grant, 100, 1),
            ConsentState::Expired {
                event_id: "cev_1".into()
            }
        );
        assert!(
            derive(&grant, 50, 2).is_active(),
            "granted to the version that changed"
        );
        assert_eq!(
            derive(&grant, 50, 3),
            ConsentState::RenewalRequired {
                event_id: "cev_1".into()
            }
        );
        assert_eq!(derive(&[], 0, 1), ConsentState::None);
    }

    proptest! {
        /// The latest event decides; a withdrawal always blocks, a grant always allows
        /// (without expiry or renewal), whatever came before.
        #[test]
        fn the_latest_event_wins(actions in proptest::collection::vec(any::<bool>(), 1..40)) {
            let events: Vec<ConsentEvent> = actions
                .iter()
                .enumerate()
                .map(|(n, grant)| {
                    let action = if *grant { ConsentAction::Granted } else { ConsentAction::Withdrawn };
                    event(n, action, 1, None)
                })
                .collect();
            let state = derive(&events, 0, 1);
            let last = actions.len() - 1;
            prop_assert_eq!(state.is_active(), actions[last]);
            let expected = format!("cev_{last}");
            prop_assert_eq!(state.event_id(), Some(expected.as_str()));
        }
    }
}
