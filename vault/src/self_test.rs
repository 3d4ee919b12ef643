//! Known-answer self-tests of every algorithm the vault uses, as certified cryptographic
//! modules run at power-up (GB/T 37092-2018 and FIPS 140-3 ask for the same): each is run on
//! a published vector, through the same crate the vault uses, and must give the published
//! answer. [`run`] returns one [`SelfTestCheck`] per algorithm; the server refuses to start when any
//! fails, and `baomi crypto self-test` prints them.

use aes_gcm::aead::KeyInit;
use data_encoding::HEXLOWER_PERMISSIVE;

use crate::aead::{AeadKey, Algorithm, NONCE_LEN};
use crate::shangmi;

use baomi_types::SelfTestCheck;

fn hex(s: &str) -> Vec<u8> {
    HEXLOWER_PERMISSIVE.decode(s.as_bytes()).unwrap_or_default()
}

/// Every self-test of this crate's algorithms.
pub fn run() -> Vec<SelfTestCheck> {
    vec![
        SelfTestCheck {
            algorithm: "AES-256-GCM",
            implementation: "RustCrypto aes-gcm",
            vector: "McGrew & Viega, GCM specification, test case 14",
            passed: aes_256_gcm(GCM_TC14_CT),
        },
        SelfTestCheck {
            algorithm: "AES-256-GCM (root-key sealing)",
            implementation: "ring",
            vector: "McGrew & Viega, GCM specification, test case 14",
            passed: ring_aes_256_gcm(GCM_TC14_CT),
        },
        SelfTestCheck {
            algorithm: "SM4-GCM",
            implementation: "RustCrypto sm4 in aes-gcm's generic GCM",
            vector: "RFC 8998, Appendix A.1",
            passed: sm4_gcm(RFC8998_CT_TAG),
        },
        SelfTestCheck {
            algorithm: "AES-256-SIV",
            implementation: "RustCrypto aes-siv",
            vector: "computed with pyca/cryptography AESSIV (512-bit key)",
            passed: aes_256_siv(SIV_CT),
        },
        SelfTestCheck {
            algorithm: "HMAC-SHA256",
            implementation: "ring",
            vector: "RFC 4231, test case 1",
            passed: hmac_sha256(RFC4231_TC1),
        },
        SelfTestCheck {
            algorithm: "HKDF-SHA256",
            implementation: "ring",
            vector: "RFC 5869, test case 1",
            passed: hkdf_sha256(RFC5869_TC1_OKM),
        },
        SelfTestCheck {
            algorithm: "SM3",
            implementation: "RustCrypto sm3",
            vector: "GB/T 32905-2016, examples 1 and 2",
            passed: sm3(SM3_ABC),
        },
        SelfTestCheck {
            algorithm: "HMAC-SM3",
            implementation: "RustCrypto hmac + sm3",
            vector: "RFC 4231 test case 1 inputs (BouncyCastle HMacTest)",
            passed: hmac_sm3(HMAC_SM3_TC1),
        },
        SelfTestCheck {
            algorithm: "HKDF-SM3",
            implementation: "RustCrypto hkdf + sm3",
            vector: "RFC 5869 over SM3, pyca/cryptography and OpenSSL 3",
            passed: hkdf_sm3(HKDF_SM3_OKM),
        },
        SelfTestCheck {
            algorithm: "Argon2id",
            implementation: "RustCrypto argon2",
            vector: "RFC 9106, section 5.3",
            passed: argon2id(RFC9106_ARGON2ID),
        },
    ]
}

const GCM_TC14_CT: &str = "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919";
const RFC8998_CT_TAG: &str = "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735\
    D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D\
    83DE3541E4C2B58177E065A9BF7B62EC";
const SIV_CT: &str = "50cddf69868eef6b23b91c945ad841eb90261d9d79da6fbfd9a57b";
const RFC4231_TC1: &str = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7";
const RFC5869_TC1_OKM: &str = "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf\
    34007208d5b887185865";
const SM3_ABC: &str = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0";
const HMAC_SM3_TC1: &str = "51b00d1fb49832bfb01c3ce27848e59f871d9ba938dc563b338ca964755cce70";
const HKDF_SM3_OKM: &str = "74971ed9d1e6b474244933f639546af3a99c3287d0edc5aee22c16c63fa8ba94";
const RFC9106_ARGON2ID: &str = "0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659";

/// Seals with a fixed nonce and opens again: both directions must agree with `expected`.
fn aead_kat(
    key: &AeadKey,
    nonce: [u8; NONCE_LEN],
    aad: &[u8],
    plain: &[u8],
    expected: &[u8],
) -> bool {
    let Ok(sealed) = key.seal_with_nonce(aad, plain, nonce) else {
        return false;
    };
    if sealed.get(NONCE_LEN..) != Some(expected) {
        return false;
    }
    key.open(aad, &sealed)
        .is_ok_and(|opened| opened.as_slice() == plain)
}

fn aes_256_gcm(expected: &str) -> bool {
    AeadKey::new(Algorithm::Aes256Gcm, &[0u8; 32])
        .is_ok_and(|k| aead_kat(&k, [0; NONCE_LEN], b"", &[0u8; 16], &hex(expected)))
}

fn ring_aes_256_gcm(expected: &str) -> bool {
    use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    let Ok(unbound) = UnboundKey::new(&AES_256_GCM, &[0u8; 32]) else {
        return false;
    };
    let key = LessSafeKey::new(unbound);
    let mut buf = vec![0u8; 16];
    let sealed = key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key([0; 12]),
        Aad::empty(),
        &mut buf,
    );
    if sealed.is_err() || buf != hex(expected) {
        return false;
    }
    key.open_in_place(
        Nonce::assume_unique_for_key([0; 12]),
        Aad::empty(),
        &mut buf,
    )
    .is_ok_and(|plain| plain == [0u8; 16])
}

fn sm4_gcm(expected: &str) -> bool {
    let plain = hex(
        "AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDD\
         EEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA",
    );
    let Ok(nonce) = <[u8; NONCE_LEN]>::try_from(hex("00001234567800000000ABCD").as_slice()) else {
        return false;
    };
    AeadKey::new(Algorithm::Sm4Gcm, &hex("0123456789ABCDEFFEDCBA9876543210")).is_ok_and(|k| {
        aead_kat(
            &k,
            nonce,
            &hex("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2"),
            &plain,
            &hex(expected),
        )
    })
}

fn aes_256_siv(expected: &str) -> bool {
    let key: Vec<u8> = (0u8..64).collect();
    let Ok(mut cipher) = aes_siv::siv::Aes256Siv::new_from_slice(&key) else {
        return false;
    };
    let aad: [&[u8]; 1] = [b"bm:v1:aes256siv:default:1|mobile"];
    let Ok(sealed) = cipher.encrypt(aad, b"13800138000") else {
        return false;
    };
    sealed == hex(expected)
        && cipher
            .decrypt(aad, &sealed)
            .is_ok_and(|p| p == b"13800138000")
}

fn hmac_sha256(expected: &str) -> bool {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[0x0b; 20]);
    ring::hmac::sign(&key, b"Hi There").as_ref() == hex(expected).as_slice()
}

fn hkdf_sha256(expected: &str) -> bool {
    use ring::hkdf;
    struct Len(usize);
    impl hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let salt = hkdf::Salt::new(hkdf::HKDF_SHA256, &hex("000102030405060708090a0b0c"));
    let prk = salt.extract(&[0x0b; 22]);
    let info_bytes = hex("f0f1f2f3f4f5f6f7f8f9");
    let info = [info_bytes.as_slice()];
    let mut out = [0u8; 42];
    prk.expand(&info, Len(42))
        .and_then(|okm| okm.fill(&mut out))
        .is_ok()
        && out.as_slice() == hex(expected).as_slice()
}

fn sm3(expected: &str) -> bool {
    shangmi::sm3(b"abc").as_slice() == hex(expected).as_slice()
        && shangmi::sm3("abcd".repeat(16).as_bytes()).as_slice()
            == hex("debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732").as_slice()
}

fn hmac_sm3(expected: &str) -> bool {
    let tag = shangmi::hmac_sm3(&[0x0b; 20], b"Hi There");
    tag.as_slice() == hex(expected).as_slice()
        && shangmi::verify_hmac_sm3(&[0x0b; 20], b"Hi There", &tag).is_ok()
}

fn hkdf_sm3(expected: &str) -> bool {
    let ikm: Vec<u8> = (0u8..32).collect();
    let mut out = [0u8; 32];
    shangmi::hkdf_sm3(b"baomi/derive/v1", &ikm, b"keyring-kek/v1", &mut out).is_ok()
        && out.as_slice() == hex(expected).as_slice()
}

fn argon2id(expected: &str) -> bool {
    let Ok(data) = argon2::AssociatedData::new(&[4u8; 12]) else {
        return false;
    };
    let Ok(params) = argon2::ParamsBuilder::new()
        .m_cost(32)
        .t_cost(3)
        .p_cost(4)
        .output_len(32)
        .data(data)
        .build()
    else {
        return false;
    };
    let Ok(argon) = argon2::Argon2::new_with_secret(
        &[3u8; 8],
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params,
    ) else {
        return false;
    };
    let mut out = [0u8; 32];
    argon
        .hash_password_into(&[1u8; 32], &[2u8; 16], &mut out)
        .is_ok()
        && out.as_slice() == hex(expected).as_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_passes() {
        let checks = run();
        assert!(checks.len() >= 10);
        for c in &checks {
            assert!(c.passed, "{} failed its self-test", c.algorithm);
        }
    }

    /// A wrong expected answer is caught: each test compares, it does not just run.
    #[test]
    fn a_wrong_answer_fails_each_test() {
        let wrong = "00".repeat(64);
        for test in [
            aes_256_gcm as fn(&str) -> bool,
            ring_aes_256_gcm,
            sm4_gcm,
            aes_256_siv,
            hmac_sha256,
            hkdf_sha256,
            sm3,
            hmac_sm3,
            hkdf_sm3,
            argon2id,
        ] {
            assert!(!test(&wrong));
        }
        // One flipped bit of a real answer fails too.
        let mut flipped = hex(RFC8998_CT_TAG);
        flipped[0] ^= 1;
        assert!(!sm4_gcm(&data_encoding::HEXLOWER.encode(&flipped)));
    }
}
