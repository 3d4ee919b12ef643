//! Who is calling: API keys and their roles, and subject tokens.

pub mod api_key;
pub mod subject_token;

use baomi_consent::PurposeId;
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
        /// The purposes a service key may act under, or whose subjects' consent histories an
        /// officer may read.
        purposes: Vec<PurposeId>,
    },
    /// A data subject, through a subject token.
    Subject {
        /// The subject the token is bound to.
        subject: SubjectId,
        /// The token's id (for revocation).
        token_id: String,
        /// The key that minted the token.
        issuer: String,
        /// Unix seconds.
        expires_at: i64,
    },
}
