//! Keyrings: named, versioned key-encryption keys (KEKs).
//!
//! Each keyring has versions 1, 2, … of its KEK; the newest encrypts, every version from
//! `min_decryption_version` on still decrypts. A KEK is stored sealed under a key derived
//! from the root key (label `keyring-kek/v1`) or by an HSM, with associated data
//! `bm:kek:v2|<keyring>|<version>|<suite>` so a sealed KEK cannot be moved to another
//! keyring or version, nor relabelled with another suite. KEKs sealed before suites were
//! recorded per version have `bm:kek:v1|<keyring>|<version>` (all of them AES suites).

use crate::aead::Algorithm;
use crate::{Error, Result};

/// The name of a keyring: 1 to 64 of `a-z`, `0-9`, `_`, `-`, starting with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyringName(String);

impl KeyringName {
    /// The keyring used when a request names none.
    pub const DEFAULT: &'static str = "default";

    /// Validates a keyring name.
    pub fn parse(raw: &str) -> Result<Self> {
        let valid = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Error::InvalidKeyring)
        }
    }

    /// The `default` keyring's name.
    pub fn default_name() -> Self {
        Self(Self::DEFAULT.to_owned())
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for KeyringName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The algorithm suite of a keyring, chosen when it is created and recorded in every
/// ciphertext.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Suite {
    /// AES-256-GCM with 96-bit random nonces under each subject's own data key: equal values
    /// give unrelated ciphertexts, and erasing a subject destroys its key (the default).
    Aes256Gcm,
    /// AES-256-SIV (RFC 5297), deterministic: equal values of one field give equal
    /// ciphertexts, for platforms that join tables on them. The key belongs to the keyring
    /// version and field, not to a subject, so the ciphertext is not bound to a subject and
    /// erasure cannot crypto-shred copies kept outside Baomi (Baomi refuses to decrypt them
    /// for an erased subject id, but the ciphertext itself stays decryptable). Choose it
    /// only where equality joins are needed, and prefer blind indexes for search.
    Aes256Siv,
    /// SM4-GCM (RFC 8998) with 96-bit random nonces under each subject's own 128-bit SM4
    /// data key, like `aes256gcm` but drawn from the Chinese commercial algorithms: KEKs are
    /// SM4-GCM keys sealed under an SM4 key derived from the root with HKDF-SM3 (with the
    /// root key in an HSM, by the HSM's key instead: AES-256-GCM on SoftHSM2, which has no
    /// SM4), and blind indexes are HMAC-SM3 under keys derived with HKDF-SM3
    /// (GB/T 39786-2021).
    Sm4Gcm,
}

/// The family of primitives a suite draws on for its derivations and blind indexes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    /// HKDF-SHA256 and HMAC-SHA256 (the AES suites).
    Nist,
    /// HKDF-SM3 and HMAC-SM3 (the SM4 suite).
    ShangMi,
}

impl Suite {
    /// Every suite, the default first.
    pub const ALL: [Suite; 3] = [Suite::Aes256Gcm, Suite::Aes256Siv, Suite::Sm4Gcm];

    /// The suite's name in ciphertexts and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Suite::Aes256Gcm => "aes256gcm",
            Suite::Aes256Siv => "aes256siv",
            Suite::Sm4Gcm => "sm4gcm",
        }
    }

    /// The family of primitives for its key derivations and blind indexes.
    pub fn family(self) -> Family {
        match self {
            Suite::Aes256Gcm | Suite::Aes256Siv => Family::Nist,
            Suite::Sm4Gcm => Family::ShangMi,
        }
    }

    /// The AEAD of its KEKs and subject data keys (a deterministic keyring's KEK is an
    /// AES-256 key from which its SIV keys are derived).
    pub fn key_algorithm(self) -> Algorithm {
        match self {
            Suite::Aes256Gcm | Suite::Aes256Siv => Algorithm::Aes256Gcm,
            Suite::Sm4Gcm => Algorithm::Sm4Gcm,
        }
    }

    /// Whether equal values give equal ciphertexts (`aes256siv`).
    pub fn is_deterministic(self) -> bool {
        self == Suite::Aes256Siv
    }

    /// Parses a suite name.
    pub fn parse(raw: &str) -> Result<Self> {
        match raw {
            "aes256gcm" => Ok(Suite::Aes256Gcm),
            "aes256siv" => Ok(Suite::Aes256Siv),
            "sm4gcm" => Ok(Suite::Sm4Gcm),
            _ => Err(Error::UnknownSuite),
        }
    }

    /// Whether its ciphertexts are bound to the subject they were made for (every suite but
    /// the deterministic one).
    pub fn binds_subject(self) -> bool {
        !self.is_deterministic()
    }

    /// The shortest payload a ciphertext of this suite can have.
    pub(crate) fn min_payload(self) -> usize {
        match self {
            Suite::Aes256Gcm | Suite::Sm4Gcm => crate::aead::NONCE_LEN + crate::aead::TAG_LEN,
            Suite::Aes256Siv => 16,
        }
    }
}

/// A keyring as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyring {
    /// Its name.
    pub name: KeyringName,
    /// Its algorithm suite: the suite of its newest version, which new ciphertexts use.
    pub suite: Suite,
    /// Every suite any of its versions uses, oldest first: more than one once the keyring
    /// has moved from one suite to another.
    pub suites_used: Vec<Suite>,
    /// The newest KEK version: new ciphertexts use it.
    pub latest_version: u32,
    /// The oldest version that still decrypts.
    pub min_decryption_version: u32,
    /// Rotate automatically when the newest version is older than this many seconds.
    pub rotation_period_secs: Option<u64>,
    /// When the keyring was created (Unix seconds).
    pub created_at: i64,
    /// When its newest version was made (Unix seconds).
    pub rotated_at: i64,
}

impl Keyring {
    /// Whether its rotation period is over at `now` (Unix seconds).
    pub fn is_due(&self, now: i64) -> bool {
        self.rotation_period_secs.is_some_and(|p| {
            now.saturating_sub(self.rotated_at) >= i64::try_from(p).unwrap_or(i64::MAX)
        })
    }
}

/// A KEK version, sealed under the root-derived key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedKek {
    /// The keyring.
    pub keyring: KeyringName,
    /// The version.
    pub version: u32,
    /// The suite of this version's ciphertexts (and so the algorithm of the KEK).
    pub suite: Suite,
    /// `nonce ‖ sealed key ‖ tag`.
    pub sealed: Vec<u8>,
    /// When it was made (Unix seconds).
    pub created_at: i64,
}

/// Associated data of a sealed KEK.
pub(crate) fn kek_aad(keyring: &KeyringName, version: u32, suite: Suite) -> Vec<u8> {
    format!(
        "bm:kek:v2|{}|{}|{}",
        keyring.as_str(),
        version,
        suite.as_str()
    )
    .into_bytes()
}

/// Associated data of a KEK sealed before suites were recorded per version (an AES suite).
pub(crate) fn legacy_kek_aad(keyring: &KeyringName, version: u32) -> Vec<u8> {
    format!("bm:kek:v1|{}|{}", keyring.as_str(), version).into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["default", "pii-cn", "k_2", "0x"] {
            assert!(KeyringName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-x", "Default", "a:b", "a b", "键", &"a".repeat(65)] {
            assert!(KeyringName::parse(bad).is_err(), "{bad}");
        }
    }
}
