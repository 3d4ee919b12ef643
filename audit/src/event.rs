//! Access events: who touched whose data, how, why, and with what outcome. Events hold
//! names (of fields, purposes, keys), never values.

use serde::Serialize;

use crate::{OperatorId, RequestId};

/// What was done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
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
    /// The audit trail itself was read (checkpoints, proofs, events).
    AuditRead,
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
            Action::AuditRead => "audit_read",
        }
    }
}

/// Who acted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// The API key's id, or the subject token's id.
    pub id: String,
    /// `admin`, `service`, `officer` or `subject`.
    pub role: String,
}

/// How it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
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
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AccessEvent {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// What was done.
    pub action: Action,
    /// Who did it.
    pub actor: Actor,
    /// The platform's staff member the caller acted for, if named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    /// The request.
    pub request_id: String,
    /// Whose data, if a subject's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The object acted on when not a subject (a keyring or key id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The field names touched (never their values).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// The purpose the caller declared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
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
            operator: operator.map(|o| o.as_str().to_owned()),
            request_id: request_id.as_str().to_owned(),
            subject: None,
            target: None,
            fields: Vec::new(),
            purpose: None,
            outcome: Outcome::Allowed,
            count: 0,
        }
    }

    /// The event as the JSON text that is stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}
