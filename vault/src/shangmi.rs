//! SM3 (GB/T 32905-2016) as the vault uses it: HMAC-SM3 (RFC 2104 over SM3) for blind
//! indexes, and HKDF-SM3 (RFC 5869 over SM3) for key derivation under the SM suite. Both come
//! from RustCrypto (`hmac`, `hkdf`, `sm3`); nothing here is hand-rolled but the choice of
//! hash.

use hmac::{KeyInit, Mac};
use sm3::Sm3;

use crate::{Error, Result};

type HmacSm3 = hmac::Hmac<Sm3>;

/// The SM3 digest of `message`.
pub fn sm3(message: &[u8]) -> [u8; 32] {
    use sm3::Digest;
    Sm3::digest(message).into()
}

/// HMAC-SM3 of `message` under `key`.
pub fn hmac_sm3(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC takes keys of any length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = <HmacSm3 as KeyInit>::new_from_slice(key) else {
        return [0u8; 32];
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// Checks an HMAC-SM3 tag in constant time.
pub fn verify_hmac_sm3(key: &[u8], message: &[u8], tag: &[u8]) -> Result<()> {
    let mut mac = <HmacSm3 as KeyInit>::new_from_slice(key).map_err(|_| Error::Crypto)?;
    mac.update(message);
    mac.verify_slice(tag).map_err(|_| Error::Crypto)
}

/// HKDF-SM3: extract with `salt` from `ikm`, expand with `info` into `out`.
pub fn hkdf_sm3(salt: &[u8], ikm: &[u8], info: &[u8], out: &mut [u8]) -> Result<()> {
    hkdf::Hkdf::<Sm3>::new(Some(salt), ikm)
        .expand(info, out)
        .map_err(|_| Error::Crypto)
}

#[cfg(test)]
mod tests {
    use super::*;
    use data_encoding::HEXLOWER;

    fn hex(b: &[u8]) -> String {
        HEXLOWER.encode(b)
    }

    /// GB/T 32905-2016, examples 1 and 2 (also `hashlib.new("sm3")` and `openssl dgst -sm3`).
    #[test]
    fn sm3_known_answers() {
        assert_eq!(
            hex(&sm3(b"abc")),
            "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
        );
        assert_eq!(
            hex(&sm3("abcd".repeat(16).as_bytes())),
            "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
        );
    }

    /// Computed with Python's `hmac` over OpenSSL's SM3 and with `openssl mac -digest SM3`;
    /// the second is also BouncyCastle's HMAC-SM3 vector for RFC 4231's first inputs.
    #[test]
    fn hmac_sm3_known_answers() {
        let key: Vec<u8> = (0u8..32).collect();
        let tag = hmac_sm3(&key, b"abc");
        assert_eq!(
            hex(&tag),
            "a8f95cf26f204957e7ca73c9602a25dda35f168b28103b51dfc968c810416b63"
        );
        assert!(verify_hmac_sm3(&key, b"abc", &tag).is_ok());
        assert!(verify_hmac_sm3(&key, b"abd", &tag).is_err());
        assert!(verify_hmac_sm3(&key, b"abc", &tag[..31]).is_err());
        assert_eq!(
            hex(&hmac_sm3(&[0x0b; 20], b"Hi There")),
            "51b00d1fb49832bfb01c3ce27848e59f871d9ba938dc563b338ca964755cce70"
        );
    }

    /// RFC 5869's construction over SM3, recomputed with pyca/cryptography's
    /// `HKDF(hashes.SM3())` and `openssl kdf -kdfopt digest:SM3 HKDF`.
    #[test]
    fn hkdf_sm3_known_answer() {
        let ikm: Vec<u8> = (0u8..32).collect();
        let mut out = [0u8; 32];
        hkdf_sm3(b"baomi/derive/v1", &ikm, b"keyring-kek/v1", &mut out).unwrap();
        assert_eq!(
            hex(&out),
            "74971ed9d1e6b474244933f639546af3a99c3287d0edc5aee22c16c63fa8ba94"
        );
    }
}
