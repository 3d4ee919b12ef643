//! What seals keyring KEKs: keys derived from the software root key (the default), or a key
//! held in a hardware security module (`hsm::Hsm`, with the `hsm` feature). The vault asks a
//! [`KekWrapper`] to seal a new KEK and to open a stored one; everything below the KEKs
//! (subject data keys, values) is the same either way.

use zeroize::Zeroizing;

use crate::aead::{AeadKey, Algorithm};
use crate::keyring::Family;
use crate::{Result, RootKey};

/// Seals and opens KEK material. A KEK of an SM keyring is sealed with `family`
/// [`Family::ShangMi`]; a wrapper that has no SM algorithm (SoftHSM has none) seals it with
/// what it has and says so in its documentation. Asynchronous, so that a wrapper that
/// blocks (an HSM call) can run off the async runtime's threads.
#[async_trait::async_trait]
pub trait KekWrapper: Send + Sync {
    /// Seals `material` with associated data `aad`: `nonce ‖ ciphertext ‖ tag`.
    async fn seal(&self, family: Family, aad: &[u8], material: &[u8]) -> Result<Vec<u8>>;
    /// Opens what [`KekWrapper::seal`] made; any change to it or to `aad` fails.
    async fn open(&self, family: Family, aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>>;
}

/// The default wrapper: AES-256-GCM under HKDF-SHA256 of the root key for the AES suites,
/// SM4-GCM under HKDF-SM3 of the root key for the SM suite (label `keyring-kek/v1`).
pub struct DerivedKekWrapper {
    nist: AeadKey,
    sm: AeadKey,
}

impl DerivedKekWrapper {
    /// The wrapper of `root`.
    pub fn new(root: &RootKey) -> Result<Self> {
        let derived = root.derive("keyring-kek/v1")?;
        let nist = AeadKey::from_bytes(derived.as_bytes())?;
        let derived = root.derive_in(Family::ShangMi, "keyring-kek/v1")?;
        let sm4_len = Algorithm::Sm4Gcm.key_len();
        let sm = AeadKey::new(Algorithm::Sm4Gcm, &derived.as_bytes()[..sm4_len])?;
        Ok(Self { nist, sm })
    }

    fn key(&self, family: Family) -> &AeadKey {
        match family {
            Family::Nist => &self.nist,
            Family::ShangMi => &self.sm,
        }
    }
}

#[async_trait::async_trait]
impl KekWrapper for DerivedKekWrapper {
    async fn seal(&self, family: Family, aad: &[u8], material: &[u8]) -> Result<Vec<u8>> {
        self.key(family).seal(aad, material)
    }

    async fn open(&self, family: Family, aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        self.key(family).open(aad, blob)
    }
}
