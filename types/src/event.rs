//! Access events: who touched whose data, how, why, and with what outcome. Events hold
//! names (of fields, purposes, keys), never values.

use serde::{Deserialize, Serialize};

use crate::{OperatorId, RequestId};

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Values were encrypted for a subject.
    Encrypt,
    /// Ciphertexts of a subject were decrypted.
    Decrypt,
    /// Ciphertexts of a subject were re-sealed under a newer key version.
    Rewrap,
    /// A subject was erased.
    Erase,
    /// Fields of a subject were stored.
    Store,
    /// Stored fields of a subject were read.
    Read,
    /// Tokens were exchanged for values.
    Detokenize,
    /// Subjects were searched for by a value.
    Search,
    /// A keyring was created.
    KeyringCreate,
    /// A keyring was rotated.
    KeyringRotate,
    /// A keyring's policy was changed.
    KeyringPolicy,
    /// An API key was created.
    KeyCreate,
    /// An API key was revoked.
    KeyRevoke,
    /// An API key's grants were changed.
    KeyGrant,
    /// An API key's quota under a purpose was raised for a while (break-glass), or the
    /// raise was ended early.
    KeyQuotaRaise,
    /// A subject token was minted.
    TokenMint,
    /// The audit trail itself was read (checkpoints, proofs, events).
    AuditRead,
    /// The checkpoint signing keys were rotated: a new generation signs from now on.
    AuditKeyRotate,
    /// A witness refused to cosign a checkpoint (the outcome's code says why): the log
    /// forked or was cut, or the witness holds another view of it.
    WitnessRefused,
    /// A witness has not cosigned a newer checkpoint for longer than allowed.
    WitnessSilent,
    /// A subject consented to a purpose.
    ConsentGrant,
    /// A subject withdrew a consent.
    ConsentWithdraw,
    /// A purpose was declared or changed.
    PurposeChange,
    /// A subject made a rights request.
    RequestCreate,
    /// A rights request was approved (accepted for handling) by an officer.
    RequestApprove,
    /// A rights request was completed or rejected.
    RequestClose,
    /// A masking policy was created or changed.
    PolicyChange,
    /// The field catalogue (fields → PI categories) was changed.
    CatalogueChange,
    /// Someone signed in to the officer console (or was refused).
    ConsoleSignin,
    /// Someone signed out of the officer console.
    ConsoleSignout,
    /// An officer console account was created or its password changed.
    ConsoleUserChange,
    /// An alert was acknowledged, with a comment.
    AlertAck,
}

impl Action {
    /// The action's name as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Encrypt => "encrypt",
            Action::Decrypt => "decrypt",
            Action::Rewrap => "rewrap",
            Action::Erase => "erase",
            Action::Store => "store",
            Action::Read => "read",
            Action::Detokenize => "detokenize",
            Action::Search => "search",
            Action::KeyringCreate => "keyring_create",
            Action::KeyringRotate => "keyring_rotate",
            Action::KeyringPolicy => "keyring_policy",
            Action::KeyCreate => "key_create",
            Action::KeyRevoke => "key_revoke",
            Action::KeyGrant => "key_grant",
            Action::KeyQuotaRaise => "key_quota_raise",
            Action::TokenMint => "token_mint",
            Action::AuditRead => "audit_read",
            Action::AuditKeyRotate => "audit_key_rotate",
            Action::WitnessRefused => "witness_refused",
            Action::WitnessSilent => "witness_silent",
            Action::ConsentGrant => "consent_grant",
            Action::ConsentWithdraw => "consent_withdraw",
            Action::PurposeChange => "purpose_change",
            Action::RequestCreate => "request_create",
            Action::RequestApprove => "request_approve",
            Action::RequestClose => "request_close",
            Action::PolicyChange => "policy_change",
            Action::CatalogueChange => "catalogue_change",
            Action::ConsoleSignin => "console_signin",
            Action::ConsoleSignout => "console_signout",
            Action::ConsoleUserChange => "console_user_change",
            Action::AlertAck => "alert_ack",
        }
    }

    /// Whether the action reads personal information (what access alerts watch).
    pub fn reads_pi(self) -> bool {
        matches!(
            self,
            Action::Decrypt | Action::Read | Action::Detokenize | Action::Search
        )
    }
}

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The API key's id, or the subject token's id.
    pub id: String,
    /// `admin`, `service`, `officer` or `subject`.
    pub role: String,
    /// The client certificate the caller's TLS connection presented, verified against the
    /// platform's CA, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<ClientCertificate>,
}

impl Actor {
    /// An actor without a client certificate.
    pub fn new(id: impl Into<String>, role: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            role: role.into(),
            certificate: None,
        }
    }
}

/// A verified client certificate's identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClientCertificate {
    /// Its subject, attributes in the certificate's order: `C=CN, O=Example, CN=payments`.
    pub subject: String,
    /// SHA-256 of its SubjectPublicKeyInfo (DER), lower-case hex: the same for every
    /// certificate issued for one key pair.
    pub spki_sha256: String,
}

/// How it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// Done.
    Allowed,
    /// Refused, with the stable error code.
    Denied {
        /// The error code, e.g. `vault.subject_erased`.
        code: String,
    },
}

/// One access event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEvent {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// What was done.
    pub action: Action,
    /// Who did it.
    pub actor: Actor,
    /// For an act through a subject token: the API key that minted the token, which is
    /// accountable for it (alerts and quotas count by it, officers find it by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    /// The platform's staff member the caller acted for, if named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// The request.
    pub request_id: String,
    /// Whose data, if a subject's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The object acted on when not a subject (a keyring or key id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The field names touched (never their values).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// The purpose the caller declared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    /// The consent ledger event the read's consent decision rested on (the grant in
    /// force, or the withdrawal that refused it), where the purpose is consent-based.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consent_event: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// How many items (values, ciphertexts) the event covers.
    pub count: u32,
}

impl Outcome {
    /// `allowed`, or `denied`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Denied { .. } => "denied",
        }
    }
}

impl AccessEvent {
    /// An event of `action` by `actor` in one request, allowed, covering nothing yet.
    pub fn new(
        at_ms: i64,
        action: Action,
        actor: Actor,
        operator: Option<&OperatorId>,
        request_id: &RequestId,
    ) -> Self {
        Self {
            at_ms,
            action,
            actor,
            issuer: None,
            operator: operator.map(|o| o.as_str().to_owned()),
            request_id: request_id.as_str().to_owned(),
            subject: None,
            target: None,
            fields: Vec::new(),
            purpose: None,
            consent_event: None,
            outcome: Outcome::Allowed,
            count: 0,
        }
    }

    /// The key accountable for the event: the issuer of the subject token that acted, else
    /// the actor itself.
    pub fn accountable(&self) -> &str {
        self.issuer.as_deref().unwrap_or(&self.actor.id)
    }

    /// The event's canonical text, which is stored and is the leaf data of the Merkle tree:
    /// JSON with the fields in declaration order, no insignificant whitespace, absent
    /// optional fields and empty `fields` omitted (the audit export format relies on it).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_canonical_text_is_fixed_and_reads_back() {
        let mut e = AccessEvent::new(
            1_700_000_000_000,
            Action::Decrypt,
            Actor::new("k1", "service"),
            None,
            &RequestId::parse("r-1").unwrap(),
        );
        e.subject = Some("u1".into());
        e.fields = vec!["id_number".into()];
        e.count = 2;
        e.outcome = Outcome::Denied {
            code: "vault.purpose_denied".into(),
        };
        let text = e.to_json();
        assert_eq!(
            text,
            r#"{"at_ms":1700000000000,"action":"decrypt","actor":{"id":"k1","role":"service"},"request_id":"r-1","subject":"u1","fields":["id_number"],"outcome":{"result":"denied","code":"vault.purpose_denied"},"count":2}"#
        );
        let back: AccessEvent = serde_json::from_str(&text).unwrap();
        assert_eq!(back, e);
        assert_eq!(back.to_json(), text);
    }
}
