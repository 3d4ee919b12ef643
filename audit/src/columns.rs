//! The query columns stored beside each event's text: what officer searches, subjects'
//! access logs and the alert rules read. They are derived from the hashed text, here and
//! nowhere else, so that verification can derive them again and name any column edited on
//! its own (the text, being a Merkle leaf, cannot be).

use baomi_types::AccessEvent;

/// The query columns of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventColumns {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// The action's name (`unreadable` for a text that is not an event).
    pub action: String,
    /// Whose data.
    pub subject: Option<String>,
    /// The key accountable: the key that acted, or that minted the subject token that did.
    pub actor: Option<String>,
    /// The platform's staff member.
    pub operator: Option<String>,
    /// The purpose declared.
    pub purpose: Option<String>,
    /// `allowed` or `denied`.
    pub outcome: Option<String>,
}

impl EventColumns {
    /// The columns of `event`.
    pub fn of_event(event: &AccessEvent) -> Self {
        Self {
            at_ms: event.at_ms,
            action: event.action.as_str().to_owned(),
            subject: event.subject.clone(),
            actor: Some(event.accountable().to_owned()),
            operator: event.operator.clone(),
            purpose: event.purpose.clone(),
            outcome: Some(event.outcome.label().to_owned()),
        }
    }

    /// The columns of an event's stored text; a text that does not read as an event has
    /// none but `action = "unreadable"`.
    pub fn of_text(text: &str) -> Self {
        match serde_json::from_str::<AccessEvent>(text) {
            Ok(event) => Self::of_event(&event),
            Err(_) => Self {
                at_ms: 0,
                action: "unreadable".to_owned(),
                subject: None,
                actor: None,
                operator: None,
                purpose: None,
                outcome: None,
            },
        }
    }

    /// The names of the columns in which `stored` differs from these.
    pub fn differing(&self, stored: &EventColumns) -> Vec<&'static str> {
        let pairs: [(&'static str, bool); 7] = [
            ("at_ms", self.at_ms == stored.at_ms),
            ("action", self.action == stored.action),
            ("subject", self.subject == stored.subject),
            ("actor", self.actor == stored.actor),
            ("operator", self.operator == stored.operator),
            ("purpose", self.purpose == stored.purpose),
            ("outcome", self.outcome == stored.outcome),
        ];
        pairs
            .into_iter()
            .filter(|(_, same)| !same)
            .map(|(name, _)| name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baomi_types::{Action, Actor, RequestId};

    #[test]
    fn columns_come_from_the_text_and_each_edit_is_named() {
        let mut event = AccessEvent::new(
            1_700_000_000_000,
            Action::Decrypt,
            Actor::new("k1", "subject"),
            None,
            &RequestId::parse("r").unwrap(),
        );
        event.issuer = Some("issuer-key".into());
        event.subject = Some("u1".into());
        event.purpose = Some("kyc".into());
        let columns = EventColumns::of_text(&event.to_json());
        assert_eq!(columns, EventColumns::of_event(&event));
        assert_eq!(
            columns.actor.as_deref(),
            Some("issuer-key"),
            "the accountable key"
        );
        assert!(columns.differing(&columns).is_empty());
        let mut edited = columns.clone();
        edited.action = "key_create".into();
        edited.subject = None;
        assert_eq!(columns.differing(&edited), ["action", "subject"]);
        assert_eq!(EventColumns::of_text("not json").action, "unreadable");
    }
}
