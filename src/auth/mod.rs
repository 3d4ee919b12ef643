//! Who is calling: API keys and their roles, and subject tokens.

pub mod api_key;
pub mod catalogue;
pub mod client_certificate;
pub mod grant;
pub mod quota;
pub mod subject_token;

use std::sync::Arc;

use baomi_types::ClientCertificate;
use baomi_vault::SubjectId;
use serde::{Deserialize, Serialize};

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Manages keys, keyrings and policies.
    Admin,
    /// A platform backend: stores and reads PI under the purposes its key lists.
    Service,
    /// A privacy officer: reads the audit trail, consents and requests.
    Officer,
}

impl Role {
    /// The role's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Service => "service",
            Role::Officer => "officer",
        }
    }

    /// Parses a role name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "admin" => Some(Role::Admin),
            "service" => Some(Role::Service),
            "officer" => Some(Role::Officer),
            _ => None,
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone)]
pub enum Caller {
    /// A holder of an API key.
    Key {
        /// The key's id.
        id: String,
        /// The key's role.
        role: Role,
        /// What it is granted: the purposes a service key may act under (or whose subjects'
        /// consent histories an officer may read), views, permissions and masking roles.
        grants: Arc<grant::Grants>,
        /// The verified client certificate the call came with, if any.
        certificate: Option<Arc<ClientCertificate>>,
    },
    /// A data subject, through a subject token.
    Subject {
        /// The subject the token is bound to.
        subject: SubjectId,
        /// The token's id (for revocation).
        token_id: String,
        /// The key that minted the token, accountable for what the token does.
        issuer: String,
        /// The issuer's grants now: a token acts within them.
        issuer_grants: Arc<grant::Grants>,
        /// The platform's staff member who had the token minted, if named.
        operator: Option<String>,
        /// Unix seconds.
        expires_at: i64,
        /// The verified client certificate the call came with, if any.
        certificate: Option<Arc<ClientCertificate>>,
    },
}

impl Caller {
    /// The grants this caller acts within: a key's own, or a subject token's issuer's.
    pub fn grants(&self) -> &grant::Grants {
        match self {
            Caller::Key { grants, .. } => grants,
            Caller::Subject { issuer_grants, .. } => issuer_grants,
        }
    }
}
