//! API key strings: `bm_<id>_<secret>`.
//!
//! The id is 13 lower-case base32 characters (64 random bits), public and shown in lists and
//! the audit trail. The secret is 256 random bits in unpadded base64url; only its SHA-256 is
//! stored, and a presented secret is compared with it in constant time. A SHA-256 rather
//! than a slow password hash is right here: the secret has 256 bits of entropy, so there is
//! nothing to guess, and every request pays for the check.

use data_encoding::{BASE32_NOPAD, BASE64URL_NOPAD};
use ring::digest;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::SecretString;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// An API key as stored: never its secret, only the secret's SHA-256.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The public part of the key, also in the key string (`bm_<id>_<secret>`).
    pub id: String,
    /// A name for people.
    pub name: String,
    /// What the key may do.
    pub role: super::Role,
    /// Its grants: the purposes a service key may act under (or whose subjects' consent
    /// histories an officer key may read) with their views, permissions, masking roles.
    pub grants: super::grant::Grants,
    /// SHA-256 of the secret.
    pub secret_hash: [u8; 32],
    /// Unix seconds.
    pub created_at: i64,
    /// The key that created this one; `None` for the bootstrap key and keys made offline.
    pub created_by: Option<String>,
    /// Unix seconds, once revoked.
    pub revoked_at: Option<i64>,
    /// The client certificate calls with this key must come with, if it is bound to one.
    pub client_certificate: Option<super::client_certificate::CertificateBinding>,
}

impl std::fmt::Debug for ApiKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyRecord")
            .field("id", &self.id)
            .field("role", &self.role)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

/// The prefix of every API key string.
pub const PREFIX: &str = "bm_";

/// A newly generated key: its id, its full secret string (shown once) and the stored hash.
pub struct GeneratedKey {
    /// The public id.
    pub id: String,
    /// The full `bm_…` string to hand to the caller, once.
    pub secret: SecretString,
    /// SHA-256 of the secret part.
    pub hash: [u8; 32],
}

/// Why a key string could not be generated.
#[derive(Debug, thiserror::Error)]
#[error("the system random number generator failed")]
pub struct RandomError;

/// Makes a new key from the OS random number generator.
pub fn generate() -> Result<GeneratedKey, RandomError> {
    let rng = SystemRandom::new();
    let mut id_bytes = [0u8; 8];
    rng.fill(&mut id_bytes).map_err(|_| RandomError)?;
    let mut secret = Zeroizing::new([0u8; 32]);
    rng.fill(secret.as_mut()).map_err(|_| RandomError)?;
    let id = BASE32_NOPAD.encode(&id_bytes).to_ascii_lowercase();
    let encoded = Zeroizing::new(BASE64URL_NOPAD.encode(secret.as_ref()));
    let full = SecretString::from(format!("{PREFIX}{id}_{}", encoded.as_str()));
    Ok(GeneratedKey {
        id,
        secret: full,
        hash: hash(secret.as_ref()),
    })
}

/// A presented key split into its id and secret.
pub struct PresentedKey<'a> {
    /// The id part.
    pub id: &'a str,
    secret: Zeroizing<Vec<u8>>,
}

impl<'a> PresentedKey<'a> {
    /// Splits a presented `bm_<id>_<secret>` string; `None` if it is not of that form.
    pub fn parse(raw: &'a str) -> Option<Self> {
        let rest = raw.strip_prefix(PREFIX)?;
        let (id, secret) = rest.split_once('_')?;
        if id.len() != 13
            || !id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return None;
        }
        let secret = Zeroizing::new(BASE64URL_NOPAD.decode(secret.as_bytes()).ok()?);
        if secret.len() != 32 {
            return None;
        }
        Some(Self { id, secret })
    }

    /// Whether the secret matches the stored hash, compared in constant time.
    pub fn matches(&self, stored_hash: &[u8; 32]) -> bool {
        hash(&self.secret).ct_eq(stored_hash).into()
    }
}

fn hash(secret: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, secret);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn expose(secret: &SecretString) -> &str {
        secret.expose_secret()
    }

    #[test]
    fn generated_keys_parse_and_match_only_their_hash() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a.id, b.id);
        let presented = PresentedKey::parse(expose(&a.secret)).unwrap();
        assert_eq!(presented.id, a.id);
        assert!(presented.matches(&a.hash));
        assert!(!presented.matches(&b.hash));
    }

    #[test]
    fn malformed_strings_are_refused() {
        let a = generate().unwrap();
        let s = expose(&a.secret).to_owned();
        for bad in [
            String::new(),
            "bm_".to_owned(),
            s.replacen("bm_", "bx_", 1),
            s[..s.len() - 1].to_owned(),
            format!("{s}A"),
            s.to_uppercase(),
        ] {
            assert!(PresentedKey::parse(&bad).is_none(), "{bad} accepted");
        }
    }
}
