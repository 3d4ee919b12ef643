//! The root key, its sealed form, and keys derived from it.
//!
//! The root key is sealed for storage as follows: a 256-bit key-encryption key is derived
//! from the unseal passphrase with argon2id (version 0x13) over a 16-byte random salt with the
//! recorded [`KdfParams`]; the root key is then sealed with AES-256-GCM under a 96-bit random
//! nonce, with associated data `baomi/root-key/v1|argon2id|m=<kib>|t=<t>|p=<p>`, so that any
//! change to the recorded parameters makes unsealing fail as surely as a wrong passphrase.

use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::{hkdf, hmac};
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::keyring::Family;
use crate::{Error, Result};

/// Length of the root key and of derived keys, in bytes.
pub const KEY_LEN: usize = 32;
const SALT_LEN: usize = 16;

/// The root of Baomi's key hierarchy: 256 bits from the OS random number generator.
///
/// Lives only in memory and is wiped when dropped. It has no `Debug` that shows its bytes and
/// cannot be serialised; its only stored form is a [`SealedRootKey`].
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct RootKey([u8; KEY_LEN]);

impl RootKey {
    /// Generates a fresh root key from the operating system's random number generator.
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| Error::Random)?;
        Ok(Self(bytes))
    }

    /// The key from its bytes (opened from an HSM-sealed record), copied straight into the
    /// key.
    #[cfg(feature = "hsm")]
    pub(crate) fn from_slice(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != KEY_LEN {
            return Err(Error::Crypto);
        }
        let mut key = Self([0u8; KEY_LEN]);
        key.0.copy_from_slice(bytes);
        Ok(key)
    }

    /// The key's bytes, to seal them in the HSM (inside this crate only).
    #[cfg(feature = "hsm")]
    pub(crate) fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Derives an independent key for one use, named by `label`, with HKDF-SHA256.
    ///
    /// Different labels give unrelated keys; the same label always gives the same key.
    pub fn derive(&self, label: &str) -> Result<DerivedKey> {
        self.derive_in(Family::Nist, label)
    }

    /// Derives a key for one use with the KDF of `family`: HKDF-SHA256 or HKDF-SM3. The two
    /// families give unrelated keys for one label.
    pub fn derive_in(&self, family: Family, label: &str) -> Result<DerivedKey> {
        Ok(DerivedKey {
            bytes: hkdf32(family, &self.0, label)?,
            family,
        })
    }
}

/// The salt of every derivation.
const DERIVE_SALT: &[u8] = b"baomi/derive/v1";

/// HKDF (RFC 5869) of `ikm` with a fixed salt and `label` as the info, over SHA-256 (ring)
/// or SM3 (RustCrypto's `hkdf` and `sm3`).
pub(crate) fn hkdf32(family: Family, ikm: &[u8], label: &str) -> Result<[u8; KEY_LEN]> {
    let mut out = [0u8; KEY_LEN];
    match family {
        Family::Nist => {
            let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, DERIVE_SALT).extract(ikm);
            let info = [label.as_bytes()];
            let okm = prk
                .expand(&info, hkdf::HKDF_SHA256)
                .map_err(|_| Error::Crypto)?;
            okm.fill(&mut out).map_err(|_| Error::Crypto)?;
        }
        Family::ShangMi => crate::shangmi::hkdf_sm3(DERIVE_SALT, ikm, label.as_bytes(), &mut out)?,
    }
    Ok(out)
}

impl std::fmt::Debug for RootKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RootKey(<redacted>)")
    }
}

/// A key derived from the root key for one purpose (see [`RootKey::derive`]), with the
/// family of primitives it was derived with: its further derivations and MACs use the same
/// family.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct DerivedKey {
    bytes: [u8; KEY_LEN],
    #[zeroize(skip)]
    family: Family,
}

impl DerivedKey {
    /// Lends the key bytes to `f` (to build a signing key from them elsewhere) without
    /// copying them out.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8; KEY_LEN]) -> R) -> R {
        f(&self.bytes)
    }

    /// The key bytes, for building a cipher from them inside this crate.
    pub(crate) fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.bytes
    }

    /// HMAC of `message` under this key: HMAC-SHA256, or HMAC-SM3 for a key of the SM
    /// family.
    pub fn sign(&self, message: &[u8]) -> [u8; 32] {
        match self.family {
            Family::Nist => {
                let key = hmac::Key::new(hmac::HMAC_SHA256, &self.bytes);
                let tag = hmac::sign(&key, message);
                let mut out = [0u8; 32];
                out.copy_from_slice(tag.as_ref());
                out
            }
            Family::ShangMi => crate::shangmi::hmac_sm3(&self.bytes, message),
        }
    }

    /// Derives a further key for one use, named by `label` (HKDF of this key's family with
    /// this key as the input keying material).
    pub fn derive(&self, label: &str) -> Result<DerivedKey> {
        Ok(DerivedKey {
            bytes: hkdf32(self.family, &self.bytes, label)?,
            family: self.family,
        })
    }

    /// Checks a tag made by [`DerivedKey::sign`] in constant time.
    pub fn verify(&self, message: &[u8], tag: &[u8]) -> Result<()> {
        match self.family {
            Family::Nist => {
                let key = hmac::Key::new(hmac::HMAC_SHA256, &self.bytes);
                hmac::verify(&key, message, tag).map_err(|_| Error::Crypto)
            }
            Family::ShangMi => crate::shangmi::verify_hmac_sm3(&self.bytes, message, tag),
        }
    }
}

impl std::fmt::Debug for DerivedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DerivedKey(<redacted>)")
    }
}

/// The passphrase that seals the root key. Wiped from memory when dropped.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Passphrase(String);

impl Passphrase {
    /// Shortest passphrase accepted for sealing a new root key, in characters.
    pub const MIN_LEN: usize = 12;

    /// Wraps a passphrase. Leading and trailing white space (such as the newline at the end of
    /// a passphrase file) is not part of it.
    pub fn new(raw: &str) -> Self {
        Self(raw.trim().to_owned())
    }

    /// Fails unless the passphrase is long enough to seal a new root key with.
    pub fn check_strength(&self) -> Result<()> {
        if self.0.chars().count() < Self::MIN_LEN {
            return Err(Error::WeakPassphrase { min: Self::MIN_LEN });
        }
        Ok(())
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// argon2id cost parameters, recorded beside every sealed root key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory cost in KiB.
    pub m_cost_kib: u32,
    /// Number of passes.
    pub t_cost: u32,
    /// Degree of parallelism.
    pub p_cost: u32,
}

impl Default for KdfParams {
    /// OWASP's argon2id recommendation: 19 MiB, two passes, one lane (about 40 ms here).
    fn default() -> Self {
        Self {
            m_cost_kib: 19 * 1024,
            t_cost: 2,
            p_cost: 1,
        }
    }
}

impl KdfParams {
    fn validate(&self) -> Result<()> {
        if !(8 * 1024..=1024 * 1024).contains(&self.m_cost_kib) {
            return Err(Error::KdfParams("memory cost must be 8 MiB to 1 GiB"));
        }
        if !(1..=20).contains(&self.t_cost) {
            return Err(Error::KdfParams("passes must be 1 to 20"));
        }
        if !(1..=16).contains(&self.p_cost) {
            return Err(Error::KdfParams("parallelism must be 1 to 16"));
        }
        Ok(())
    }

    fn associated_data(&self) -> Vec<u8> {
        format!(
            "baomi/root-key/v1|argon2id|m={}|t={}|p={}",
            self.m_cost_kib, self.t_cost, self.p_cost
        )
        .into_bytes()
    }

    fn derive_kek(&self, passphrase: &Passphrase, salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        self.validate()?;
        let params = argon2::Params::new(self.m_cost_kib, self.t_cost, self.p_cost, Some(32))
            .map_err(|_| Error::KdfParams("rejected by argon2"))?;
        let argon =
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut kek = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passphrase.0.as_bytes(), salt, kek.as_mut())
            .map_err(|_| Error::Crypto)?;
        Ok(kek)
    }
}

/// The root key as stored: sealed under the unseal passphrase. Holds nothing secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedRootKey {
    /// The argon2id parameters the key-encryption key was derived with.
    pub kdf: KdfParams,
    /// The argon2id salt.
    pub salt: Vec<u8>,
    /// The AES-GCM nonce.
    pub nonce: Vec<u8>,
    /// The sealed root key with its 16-byte tag appended.
    pub ciphertext: Vec<u8>,
}

/// Seals `root` under `passphrase`. Slow on purpose (argon2id): run it off the async runtime.
pub fn seal_root_key(
    root: &RootKey,
    passphrase: &Passphrase,
    kdf: KdfParams,
) -> Result<SealedRootKey> {
    passphrase.check_strength()?;
    let rng = SystemRandom::new();
    let mut salt = vec![0u8; SALT_LEN];
    rng.fill(&mut salt).map_err(|_| Error::Random)?;
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce).map_err(|_| Error::Random)?;
    let kek = kdf.derive_kek(passphrase, &salt)?;
    let key = aead_key(&kek)?;
    let mut buf = root.0.to_vec();
    let sealed = key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(kdf.associated_data()),
        &mut buf,
    );
    if sealed.is_err() {
        buf.zeroize();
        return Err(Error::Crypto);
    }
    Ok(SealedRootKey {
        kdf,
        salt,
        nonce: nonce.to_vec(),
        ciphertext: buf,
    })
}

/// Opens a sealed root key. A wrong passphrase, or any change to the stored record, gives
/// [`Error::WrongPassphrase`]. Slow on purpose (argon2id): run it off the async runtime.
pub fn unseal_root_key(sealed: &SealedRootKey, passphrase: &Passphrase) -> Result<RootKey> {
    let kek = sealed.kdf.derive_kek(passphrase, &sealed.salt)?;
    let key = aead_key(&kek)?;
    let nonce = Nonce::try_assume_unique_for_key(&sealed.nonce).map_err(|_| Error::Crypto)?;
    let mut buf = Zeroizing::new(sealed.ciphertext.clone());
    let plain = key
        .open_in_place(nonce, Aad::from(sealed.kdf.associated_data()), buf.as_mut())
        .map_err(|_| Error::WrongPassphrase)?;
    let bytes: [u8; KEY_LEN] = plain.try_into().map_err(|_| Error::WrongPassphrase)?;
    Ok(RootKey(bytes))
}

fn aead_key(kek: &[u8; 32]) -> Result<LessSafeKey> {
    let unbound = UnboundKey::new(&AES_256_GCM, kek).map_err(|_| Error::Crypto)?;
    Ok(LessSafeKey::new(unbound))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> KdfParams {
        KdfParams {
            m_cost_kib: 8 * 1024,
            t_cost: 1,
            p_cost: 1,
        }
    }

    #[test]
    fn seal_then_unseal_gives_the_same_key() {
        let root = RootKey::generate().unwrap();
        let pass = Passphrase::new("correct horse battery staple");
        let sealed = seal_root_key(&root, &pass, fast()).unwrap();
        let opened = unseal_root_key(&sealed, &pass).unwrap();
        assert_eq!(opened.0, root.0);
        assert_ne!(sealed.ciphertext[..KEY_LEN], root.0[..]);
    }

    #[test]
    fn wrong_passphrase_and_altered_records_fail() {
        let root = RootKey::generate().unwrap();
        let pass = Passphrase::new("correct horse battery staple");
        let sealed = seal_root_key(&root, &pass, fast()).unwrap();
        let wrong = Passphrase::new("correct horse battery stable");
        assert!(matches!(
            unseal_root_key(&sealed, &wrong),
            Err(Error::WrongPassphrase)
        ));
        let mut bumped = sealed.clone();
        bumped.kdf.t_cost = 2;
        assert!(unseal_root_key(&bumped, &pass).is_err());
        for i in 0..sealed.ciphertext.len() {
            let mut flipped = sealed.clone();
            flipped.ciphertext[i] ^= 0x01;
            assert!(unseal_root_key(&flipped, &pass).is_err());
        }
        let mut salted = sealed;
        salted.salt[0] ^= 0x80;
        assert!(unseal_root_key(&salted, &pass).is_err());
    }

    #[test]
    fn weak_passphrases_and_absurd_parameters_are_refused() {
        let root = RootKey::generate().unwrap();
        assert!(matches!(
            seal_root_key(&root, &Passphrase::new("  short  "), fast()),
            Err(Error::WeakPassphrase { .. })
        ));
        let huge = KdfParams {
            m_cost_kib: u32::MAX,
            ..fast()
        };
        let pass = Passphrase::new("correct horse battery staple");
        assert!(matches!(
            seal_root_key(&root, &pass, huge),
            Err(Error::KdfParams(_))
        ));
    }

    #[test]
    fn derived_keys_are_separated_by_label_and_verify_in_constant_time() {
        let root = RootKey::generate().unwrap();
        let a = root.derive("subject-token").unwrap();
        let b = root.derive("other").unwrap();
        let tag = a.sign(b"payload");
        assert!(a.verify(b"payload", &tag).is_ok());
        assert!(a.verify(b"payloaD", &tag).is_err());
        assert!(b.verify(b"payload", &tag).is_err());
        assert_eq!(root.derive("subject-token").unwrap().sign(b"payload"), tag);
    }

    #[test]
    fn debug_output_never_shows_key_bytes() {
        let root = RootKey::generate().unwrap();
        assert_eq!(format!("{root:?}"), "RootKey(<redacted>)");
        let pass = Passphrase::new("correct horse battery staple");
        assert!(!format!("{pass:?}").contains("horse"));
    }
}
