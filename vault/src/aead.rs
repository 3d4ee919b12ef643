//! AES-256-GCM keys as the vault holds them: the key schedule is wiped when the key is
//! dropped (RustCrypto's `aes-gcm` with its `zeroize` feature), nonces are 96 random bits
//! from a per-thread CSPRNG seeded by the OS (`rand::ThreadRng`: one OS call costs more
//! than the cipher).
//!
//! A sealed blob is `nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes)`.

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use zeroize::Zeroizing;

use crate::{Error, Result};

/// Nonce length in bytes.
pub const NONCE_LEN: usize = 12;
/// Tag length in bytes.
pub const TAG_LEN: usize = 16;
/// Key length in bytes.
pub const KEY_LEN: usize = 32;

/// An AES-256-GCM key: a keyring KEK, a subject's data key, or a key derived from the root.
pub struct AeadKey {
    cipher: Aes256Gcm,
}

impl AeadKey {
    /// A key from 32 bytes of key material (the caller wipes its copy).
    pub fn from_bytes(material: &[u8; KEY_LEN]) -> Result<Self> {
        let cipher = Aes256Gcm::new_from_slice(material).map_err(|_| Error::Crypto)?;
        Ok(Self { cipher })
    }

    /// Fresh random key material (from the OS via the per-thread CSPRNG).
    pub fn random_material() -> Zeroizing<[u8; KEY_LEN]> {
        let mut material = Zeroizing::new([0u8; KEY_LEN]);
        rand::fill(material.as_mut_slice());
        material
    }

    /// Seals `plaintext` with associated data `aad`: `nonce ‖ ciphertext ‖ tag`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        self.seal_with_nonce(aad, plaintext, nonce)
    }

    /// Seals with a given nonce: for known-answer tests only, never reuse a nonce.
    pub(crate) fn seal_with_nonce(
        &self,
        aad: &[u8],
        plaintext: &[u8],
        nonce: [u8; NONCE_LEN],
    ) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .cipher
            .encrypt_inout_detached(&Nonce::from(nonce), aad, (&mut out[NONCE_LEN..]).into())
            .map_err(|_| Error::Crypto)?;
        out.extend_from_slice(tag.as_slice());
        Ok(out)
    }

    /// Seals `plaintext` and appends `nonce ‖ ciphertext ‖ tag` to `out`.
    pub fn seal_append(&self, aad: &[u8], plaintext: &[u8], out: &mut Vec<u8>) -> Result<()> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::fill(&mut nonce);
        let start = out.len();
        out.reserve(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(plaintext);
        let tag = self
            .cipher
            .encrypt_inout_detached(
                &Nonce::from(nonce),
                aad,
                (&mut out[start + NONCE_LEN..]).into(),
            )
            .map_err(|_| Error::Crypto)?;
        out.extend_from_slice(tag.as_slice());
        Ok(())
    }

    /// Opens `nonce ‖ ciphertext ‖ tag` in place: on success `blob` holds the plaintext
    /// alone; on failure it is wiped.
    pub fn open_in_place(&self, aad: &[u8], blob: &mut Vec<u8>) -> Result<()> {
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::Crypto);
        }
        let tag_at = blob.len() - TAG_LEN;
        let nonce: [u8; NONCE_LEN] = blob[..NONCE_LEN].try_into().map_err(|_| Error::Crypto)?;
        let tag: [u8; TAG_LEN] = blob[tag_at..].try_into().map_err(|_| Error::Crypto)?;
        let opened = self.cipher.decrypt_inout_detached(
            &Nonce::from(nonce),
            aad,
            (&mut blob[NONCE_LEN..tag_at]).into(),
            &Tag::from(tag),
        );
        if opened.is_err() {
            zeroize::Zeroize::zeroize(blob);
            return Err(Error::Crypto);
        }
        blob.truncate(tag_at);
        blob.drain(..NONCE_LEN);
        Ok(())
    }

    /// Opens a blob made by [`AeadKey::seal`]; any change to it or to `aad` fails.
    pub fn open(&self, aad: &[u8], blob: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        if blob.len() < NONCE_LEN + TAG_LEN {
            return Err(Error::Crypto);
        }
        let (nonce, rest) = blob.split_at(NONCE_LEN);
        let (body, tag) = rest.split_at(rest.len() - TAG_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Error::Crypto)?;
        let tag: [u8; TAG_LEN] = tag.try_into().map_err(|_| Error::Crypto)?;
        let mut plain = Zeroizing::new(body.to_vec());
        self.cipher
            .decrypt_inout_detached(
                &Nonce::from(nonce),
                aad,
                plain.as_mut_slice().into(),
                &Tag::from(tag),
            )
            .map_err(|_| Error::Crypto)?;
        Ok(plain)
    }
}

impl std::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AeadKey(<redacted>)")
    }
}

/// Opens a sealed 32-byte key and turns it into an [`AeadKey`].
pub(crate) fn open_key(wrapping: &AeadKey, aad: &[u8], blob: &[u8]) -> Result<AeadKey> {
    let plain = wrapping.open(aad, blob)?;
    let material: Zeroizing<[u8; KEY_LEN]> =
        Zeroizing::new(plain.as_slice().try_into().map_err(|_| Error::Crypto)?);
    AeadKey::from_bytes(&material)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> AeadKey {
        AeadKey::from_bytes(&AeadKey::random_material()).unwrap()
    }

    #[test]
    fn known_answer_from_the_gcm_specification() {
        // McGrew & Viega, "The Galois/Counter Mode of Operation", test case 14: zero key,
        // zero nonce, one zero block; checks that our framing feeds the cipher as specified.
        let k = AeadKey::from_bytes(&[0u8; 32]).unwrap();
        let mut blob = vec![0u8; 12];
        blob.extend_from_slice(
            &data_encoding::HEXLOWER
                .decode(b"cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919")
                .unwrap(),
        );
        assert_eq!(k.open(b"", &blob).unwrap().as_slice(), &[0u8; 16]);
    }

    proptest! {
        #[test]
        fn round_trip(plain in proptest::collection::vec(any::<u8>(), 0..300), aad in proptest::collection::vec(any::<u8>(), 0..64)) {
            let k = key();
            let blob = k.seal(&aad, &plain).unwrap();
            let opened = k.open(&aad, &blob).unwrap();
            prop_assert_eq!(opened.as_slice(), plain.as_slice());
        }

        #[test]
        fn any_bit_flip_fails(plain in proptest::collection::vec(any::<u8>(), 1..64), bit in 0usize..1000) {
            let k = key();
            let mut blob = k.seal(b"ctx", &plain).unwrap();
            let bit = bit % (blob.len() * 8);
            blob[bit / 8] ^= 1 << (bit % 8);
            prop_assert!(k.open(b"ctx", &blob).is_err());
        }
    }

    #[test]
    fn wrong_key_wrong_aad_and_short_blobs_fail() {
        let (a, b) = (key(), key());
        let blob = a.seal(b"ctx", b"13800138000").unwrap();
        assert!(b.open(b"ctx", &blob).is_err());
        assert!(a.open(b"ctx2", &blob).is_err());
        assert!(a.open(b"ctx", &blob[..27]).is_err());
        assert_ne!(a.seal(b"ctx", b"x").unwrap(), a.seal(b"ctx", b"x").unwrap());
    }
}
