//! Rows as the stores hand them over, and how they are encoded in columns.

use baomi_consent::PurposeId;

use super::StoreError;
use crate::auth::Role;
use crate::auth::api_key::ApiKeyRecord;
use crate::auth::client_certificate::CertificateBinding;
use crate::auth::grant::Grants;

/// What revoking a key did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeOutcome {
    /// The key is now revoked.
    Revoked,
    /// The key had been revoked before; nothing changed.
    AlreadyRevoked,
    /// No key has that id.
    NotFound,
    /// It is the last active admin key; revoking it would lock every administrator out.
    LastAdmin,
}

/// The columns of an `api_keys` row, as both backends store them.
#[derive(sqlx::FromRow)]
pub(super) struct ApiKeyRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub purposes: String,
    pub grants: Option<String>,
    pub secret_hash: Vec<u8>,
    pub created_at: i64,
    pub created_by: Option<String>,
    pub revoked_at: Option<i64>,
    pub client_certificate: Option<String>,
}

impl ApiKeyRow {
    pub fn from_record(key: &ApiKeyRecord) -> Result<Self, StoreError> {
        let purposes: Vec<&str> = key.grants.purpose_ids().map(PurposeId::as_str).collect();
        Ok(Self {
            id: key.id.clone(),
            name: key.name.clone(),
            role: key.role.as_str().to_owned(),
            purposes: serde_json::Value::from(purposes).to_string(),
            grants: Some(
                serde_json::to_string(&key.grants)
                    .map_err(|_| StoreError::Corrupt("api key grants"))?,
            ),
            secret_hash: key.secret_hash.to_vec(),
            created_at: key.created_at,
            created_by: key.created_by.clone(),
            revoked_at: key.revoked_at,
            client_certificate: key
                .client_certificate
                .as_ref()
                .map(CertificateBinding::to_stored),
        })
    }

    pub fn into_record(self) -> Result<ApiKeyRecord, StoreError> {
        let role = Role::parse(&self.role).ok_or(StoreError::Corrupt("api key role"))?;
        let names: Vec<String> = serde_json::from_str(&self.purposes)
            .map_err(|_| StoreError::Corrupt("api key purposes"))?;
        let purposes = names
            .iter()
            .map(|p| PurposeId::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| StoreError::Corrupt("api key purposes"))?;
        let grants = match &self.grants {
            None => Grants::legacy(role, &purposes),
            Some(text) => {
                serde_json::from_str(text).map_err(|_| StoreError::Corrupt("api key grants"))?
            }
        };
        let secret_hash = self
            .secret_hash
            .try_into()
            .map_err(|_| StoreError::Corrupt("api key hash"))?;
        let client_certificate = self
            .client_certificate
            .map(|stored| {
                CertificateBinding::from_stored(&stored)
                    .ok_or(StoreError::Corrupt("api key client certificate"))
            })
            .transpose()?;
        Ok(ApiKeyRecord {
            id: self.id,
            name: self.name,
            role,
            grants,
            secret_hash,
            created_at: self.created_at,
            created_by: self.created_by,
            revoked_at: self.revoked_at,
            client_certificate,
        })
    }
}

/// The columns of the `root_key` row.
#[derive(sqlx::FromRow)]
pub(super) struct RootKeyRow {
    pub kdf: String,
    pub salt: Vec<u8>,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// What the `kdf` column holds for a root key sealed by an HSM (no salt; `nonce` is the IV,
/// `ciphertext` the ciphertext and tag).
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HsmSealing {
    hsm: HsmKeyRef,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct HsmKeyRef {
    key_label: String,
    mechanism: String,
}

/// The IV length of an HSM-sealed root.
const HSM_IV_LEN: usize = 12;

impl RootKeyRow {
    pub fn from_sealed(stored: &super::StoredRoot) -> Result<Self, StoreError> {
        let corrupt = |_| StoreError::Corrupt("root key record");
        match stored {
            super::StoredRoot::Passphrase(sealed) => Ok(Self {
                kdf: serde_json::to_string(&sealed.kdf).map_err(corrupt)?,
                salt: sealed.salt.clone(),
                nonce: sealed.nonce.clone(),
                ciphertext: sealed.ciphertext.clone(),
            }),
            super::StoredRoot::Hsm { key_label, sealed } => {
                if sealed.len() <= HSM_IV_LEN {
                    return Err(StoreError::Corrupt("root key record"));
                }
                let (iv, ciphertext) = sealed.split_at(HSM_IV_LEN);
                let kdf = HsmSealing {
                    hsm: HsmKeyRef {
                        key_label: key_label.clone(),
                        mechanism: "CKM_AES_GCM".to_owned(),
                    },
                };
                Ok(Self {
                    kdf: serde_json::to_string(&kdf).map_err(corrupt)?,
                    salt: Vec::new(),
                    nonce: iv.to_vec(),
                    ciphertext: ciphertext.to_vec(),
                })
            }
        }
    }

    pub fn into_sealed(self) -> Result<super::StoredRoot, StoreError> {
        if let Ok(kdf) = serde_json::from_str(&self.kdf) {
            return Ok(super::StoredRoot::Passphrase(baomi_vault::SealedRootKey {
                kdf,
                salt: self.salt,
                nonce: self.nonce,
                ciphertext: self.ciphertext,
            }));
        }
        let hsm: HsmSealing =
            serde_json::from_str(&self.kdf).map_err(|_| StoreError::Corrupt("kdf parameters"))?;
        let mut sealed = self.nonce;
        sealed.extend_from_slice(&self.ciphertext);
        Ok(super::StoredRoot::Hsm {
            key_label: hsm.hsm.key_label,
            sealed,
        })
    }
}
