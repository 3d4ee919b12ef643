//! Subject tokens: short-lived, signed, bound to one data subject.
//!
//! Form: `bmst_<payload>.<tag>`, both unpadded base64url. The payload is JSON
//! `{"v":1,"jti":…,"sub":…,"iss":…,"iat":…,"exp":…}`, with `"op":…` when the minting call
//! named an operator; the tag is HMAC-SHA256 over
//! `bmst.v1.` followed by the encoded payload, under a key derived from the root key with the
//! label `subject-token/v1` (so every node on one database verifies every node's tokens, and
//! nothing but the root key can mint them). Expiry is checked here; revocation (of the token,
//! or of the key that minted it) is checked by the caller against the store.

use baomi_vault::{DerivedKey, RootKey, SubjectId};
use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The prefix of every subject token.
pub const PREFIX: &str = "bmst_";
const DOMAIN: &[u8] = b"bmst.v1.";
/// Clock skew tolerated between nodes, in seconds.
const SKEW: i64 = 60;

/// What a valid token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Format version, 1.
    pub v: u8,
    /// The token's id.
    pub jti: String,
    /// The subject.
    pub sub: String,
    /// The API key that minted it.
    pub iss: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// The platform's staff member who had it minted (`X-Baomi-Operator`), if named: the
    /// token's acts are attributed to them and to the issuing key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub op: Option<String>,
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token, or its signature does not verify.
    #[error("invalid subject token")]
    Invalid,
    /// The token's lifetime is over.
    #[error("subject token expired")]
    Expired,
    /// The random number generator failed while minting.
    #[error("the system random number generator failed")]
    Random,
}

/// Mints and verifies subject tokens.
pub struct Signer {
    key: DerivedKey,
}

impl Signer {
    /// A signer with the key derived from `root`.
    pub fn new(root: &RootKey) -> Result<Self, baomi_vault::Error> {
        Ok(Self {
            key: root.derive("subject-token/v1")?,
        })
    }

    /// Mints a token for `subject`, valid from `now` for `ttl` seconds.
    pub fn mint(
        &self,
        subject: &SubjectId,
        issuer: &str,
        operator: Option<&str>,
        now: i64,
        ttl: i64,
    ) -> Result<(SecretString, Claims), TokenError> {
        let mut id = [0u8; 10];
        SystemRandom::new()
            .fill(&mut id)
            .map_err(|_| TokenError::Random)?;
        let claims = Claims {
            v: 1,
            jti: format!("st_{}", BASE32_NOPAD.encode(&id).to_ascii_lowercase()),
            sub: subject.as_str().to_owned(),
            iss: issuer.to_owned(),
            iat: now,
            exp: now + ttl,
            op: operator.map(str::to_owned),
        };
        let json = serde_json::to_vec(&claims).map_err(|_| TokenError::Invalid)?;
        let payload = BASE64URL_NOPAD.encode(&json);
        let tag = self.key.sign(&signed_bytes(&payload));
        let token = format!("{PREFIX}{payload}.{}", BASE64URL_NOPAD.encode(&tag));
        Ok((SecretString::from(token), claims))
    }

    /// Checks a token's form, signature and lifetime at `now`.
    pub fn verify(&self, token: &str, now: i64) -> Result<(SubjectId, Claims), TokenError> {
        let rest = token.strip_prefix(PREFIX).ok_or(TokenError::Invalid)?;
        let (payload, tag) = rest.split_once('.').ok_or(TokenError::Invalid)?;
        let tag = BASE64URL_NOPAD
            .decode(tag.as_bytes())
            .map_err(|_| TokenError::Invalid)?;
        self.key
            .verify(&signed_bytes(payload), &tag)
            .map_err(|_| TokenError::Invalid)?;
        let json = BASE64URL_NOPAD
            .decode(payload.as_bytes())
            .map_err(|_| TokenError::Invalid)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenError::Invalid)?;
        if claims.v != 1 || claims.iat > now + SKEW {
            return Err(TokenError::Invalid);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        let subject = SubjectId::parse(&claims.sub).map_err(|_| TokenError::Invalid)?;
        Ok((subject, claims))
    }
}

fn signed_bytes(payload: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(DOMAIN.len() + payload.len());
    out.extend_from_slice(DOMAIN);
    out.extend_from_slice(payload.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn signer() -> Signer {
        Signer::new(&RootKey::generate().unwrap()).unwrap()
    }

    #[test]
    fn round_trip_and_expiry() {
        let s = signer();
        let alice = SubjectId::parse("alice").unwrap();
        let (token, claims) = s.mint(&alice, "k1", Some("cs-7"), 1_000, 60).unwrap();
        let (subject, back) = s.verify(token.expose_secret(), 1_030).unwrap();
        assert_eq!(subject, alice);
        assert_eq!(back, claims);
        assert_eq!(
            s.verify(token.expose_secret(), 1_060),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn tampering_and_foreign_keys_are_refused() {
        let s = signer();
        let (token, _) = s
            .mint(&SubjectId::parse("alice").unwrap(), "k1", None, 1_000, 60)
            .unwrap();
        let token = token.expose_secret().to_owned();
        assert_eq!(
            signer().verify(&token, 1_001),
            Err(TokenError::Invalid),
            "another root key's token"
        );
        let (payload, tag) = token[PREFIX.len()..].split_once('.').unwrap();
        let mut claims: Claims =
            serde_json::from_slice(&BASE64URL_NOPAD.decode(payload.as_bytes()).unwrap()).unwrap();
        claims.sub = "bob".to_owned();
        let forged = format!(
            "{PREFIX}{}.{tag}",
            BASE64URL_NOPAD.encode(&serde_json::to_vec(&claims).unwrap())
        );
        assert_eq!(s.verify(&forged, 1_001), Err(TokenError::Invalid));
        for bad in ["", "bmst_", "bmst_abc", "bmst_abc.def", "bm_abc.def"] {
            assert_eq!(s.verify(bad, 1_001), Err(TokenError::Invalid));
        }
    }
}
