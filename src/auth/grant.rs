//! What a key (or a console account) is granted beyond its role: the purposes it may act
//! under with the views it may have in each, the permissions it holds, and the masking
//! roles its masked views are made for.
//!
//! Deny by default: a new service key holds only what its grant names. A purpose grants the
//! masked view unless `plain` is named; writing, erasing, minting subject tokens, recording
//! consents and self-service reads are permissions of their own, off until granted.

use std::collections::BTreeSet;

use baomi_consent::PurposeId;
use serde::{Deserialize, Serialize};

use super::Role;
use super::quota::{GrantQuota, QuotaRaise};

/// How decrypted values may be shown under a purpose.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ViewKind {
    /// Masked by the masking policy for the key's masking role.
    Masked,
    /// As stored, in the clear.
    Plain,
}

impl ViewKind {
    /// The view's name as granted and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            ViewKind::Masked => "masked",
            ViewKind::Plain => "plain",
        }
    }
}

/// What a key may do beyond reading under its purposes.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Write stored data (`PUT /v1/subjects/{id}/data`, the mask call's `tokenize`).
    StoreData,
    /// Erase subjects (`DELETE /v1/subjects/{id}`).
    EraseSubjects,
    /// Mint subject tokens.
    MintSubjectTokens,
    /// Record and withdraw consents, under the purposes the key holds.
    RecordConsent,
    /// Let the subject tokens it mints read the subject's own export and access log
    /// (PIPL Art. 45), attributed to this key.
    SelfService,
}

impl Permission {
    /// Every permission.
    pub const ALL: [Permission; 5] = [
        Permission::StoreData,
        Permission::EraseSubjects,
        Permission::MintSubjectTokens,
        Permission::RecordConsent,
        Permission::SelfService,
    ];

    /// Parses a permission's name.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == raw)
    }

    /// The permission's name as granted and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::StoreData => "store_data",
            Permission::EraseSubjects => "erase_subjects",
            Permission::MintSubjectTokens => "mint_subject_tokens",
            Permission::RecordConsent => "record_consent",
            Permission::SelfService => "self_service",
        }
    }
}

/// One purpose a key may act under, with the views it may have there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurposeGrant {
    /// The purpose.
    pub purpose: PurposeId,
    /// The views allowed; never empty.
    pub views: BTreeSet<ViewKind>,
    /// The key's own quota under this purpose, over the configuration's defaults.
    #[serde(default, skip_serializing_if = "GrantQuota::is_empty")]
    pub quota: GrantQuota,
}

/// Everything a key is granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grants {
    /// The purposes, sorted by id, each once.
    pub purposes: Vec<PurposeGrant>,
    /// The permissions.
    #[serde(default)]
    pub permissions: BTreeSet<Permission>,
    /// The masking roles whose rules its masked views follow: the first when the request
    /// names none, another of these when `X-Baomi-Operator-Role` (or a mask call's `role`)
    /// names it, never one outside this list.
    #[serde(default)]
    pub masking_roles: Vec<String>,
    /// Break-glass raises of its quotas, one per purpose at most; expired ones stay until
    /// the grants are next written, and no longer count.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub raises: Vec<QuotaRaise>,
}

/// The longest masking role name.
pub const MAX_MASKING_ROLE_LEN: usize = 64;

/// Whether `name` is a well-formed masking role: 1 to 64 ASCII letters, digits, `-`, `_`.
pub fn valid_masking_role(name: &str) -> bool {
    (1..=MAX_MASKING_ROLE_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Grants {
    /// The grants a key of `role` holding `purposes` had before grants existed (rows
    /// written by an earlier release, or by a node of it during a rolling upgrade): every
    /// view it could have asked for under each purpose, and of the permissions only those
    /// that are safe to keep (storing, minting tokens, recording consents). Erasing and
    /// self-service reads, which let a key reach any subject's data, must be granted anew.
    pub fn legacy(role: Role, purposes: &[PurposeId]) -> Self {
        let views: BTreeSet<ViewKind> = match role {
            Role::Service => [ViewKind::Masked, ViewKind::Plain].into(),
            Role::Officer | Role::Admin => [ViewKind::Masked].into(),
        };
        let permissions = match role {
            Role::Service => [
                Permission::StoreData,
                Permission::MintSubjectTokens,
                Permission::RecordConsent,
            ]
            .into(),
            Role::Officer | Role::Admin => BTreeSet::new(),
        };
        Self {
            purposes: purposes
                .iter()
                .map(|p| PurposeGrant {
                    purpose: p.clone(),
                    views: views.clone(),
                    quota: GrantQuota::default(),
                })
                .collect(),
            permissions,
            masking_roles: vec![role.as_str().to_owned()],
            raises: Vec::new(),
        }
    }

    /// The purposes, in order.
    pub fn purpose_ids(&self) -> impl Iterator<Item = &PurposeId> {
        self.purposes.iter().map(|g| &g.purpose)
    }

    /// The grant of `purpose`, if held.
    pub fn purpose(&self, purpose: &str) -> Option<&PurposeGrant> {
        self.purposes.iter().find(|g| g.purpose.as_str() == purpose)
    }

    /// Whether `purpose` is held.
    pub fn holds(&self, purpose: &str) -> bool {
        self.purpose(purpose).is_some()
    }

    /// The purposes held that are not in `declared`: unusable until they are declared.
    pub fn undeclared<'a>(&'a self, declared: &[&str]) -> Vec<&'a str> {
        self.purpose_ids()
            .map(PurposeId::as_str)
            .filter(|p| !declared.contains(p))
            .collect()
    }

    /// The break-glass raise of `purpose`'s quota in force at `now` (Unix seconds), if any.
    pub fn raise(&self, purpose: &str, now: i64) -> Option<&QuotaRaise> {
        self.raises
            .iter()
            .find(|r| r.purpose.as_str() == purpose && r.in_force(now))
    }

    /// Whether `permission` is held.
    pub fn permits(&self, permission: Permission) -> bool {
        self.permissions.contains(&permission)
    }

    /// The masking role a masked view follows when the request names `asked` (or none):
    /// `None` when `asked` is not one of this grant's roles.
    pub fn masking_role<'a>(&'a self, asked: Option<&'a str>) -> Option<&'a str> {
        match asked {
            None => self.masking_roles.first().map(String::as_str),
            Some(a) => self
                .masking_roles
                .iter()
                .find(|r| *r == a)
                .map(String::as_str),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purpose(p: &str) -> PurposeId {
        PurposeId::parse(p).unwrap()
    }

    #[test]
    fn legacy_service_keys_keep_reads_and_writes_but_not_erasure_or_self_service() {
        let g = Grants::legacy(Role::Service, &[purpose("loan_underwriting")]);
        let held = g.purpose("loan_underwriting").unwrap();
        assert!(held.views.contains(&ViewKind::Plain));
        assert!(g.permits(Permission::StoreData));
        assert!(g.permits(Permission::RecordConsent));
        assert!(!g.permits(Permission::EraseSubjects));
        assert!(!g.permits(Permission::SelfService));
        assert_eq!(g.masking_role(None), Some("service"));
        assert_eq!(g.masking_role(Some("fraud")), None);
    }

    #[test]
    fn legacy_officers_hold_no_permission_and_no_plain_view() {
        let g = Grants::legacy(Role::Officer, &[purpose("marketing")]);
        assert!(g.permissions.is_empty());
        assert!(!g.purposes[0].views.contains(&ViewKind::Plain));
    }

    #[test]
    fn a_request_may_only_pick_one_of_the_granted_masking_roles() {
        let g = Grants {
            masking_roles: vec!["cs".into(), "fraud".into()],
            ..Grants::default()
        };
        assert_eq!(g.masking_role(None), Some("cs"));
        assert_eq!(g.masking_role(Some("fraud")), Some("fraud"));
        assert_eq!(g.masking_role(Some("risk")), None);
        assert!(valid_masking_role("cs_lead-2"));
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
            let json = serde_json::to_value(p).unwrap();
            assert_eq!(json, p.as_str(), "the wire name is the name");
        }
        assert_eq!(Permission::parse("root"), None);
        assert!(!valid_masking_role(""));
        assert!(!valid_masking_role("a b"));
    }
}
