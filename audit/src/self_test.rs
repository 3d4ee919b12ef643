//! Known-answer self-tests of the audit trail's algorithms: SHA-256 (Merkle tree), Ed25519
//! and SM2 (checkpoint and receipt signatures). See `baomi_vault::self_test` for the vault's.

use data_encoding::HEXLOWER_PERMISSIVE;
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use sm2::dsa::signature::{Signer, Verifier};

use crate::checkpoint::SM2_DEFAULT_ID;

use baomi_types::SelfTestCheck;

fn hex(s: &str) -> Vec<u8> {
    HEXLOWER_PERMISSIVE.decode(s.as_bytes()).unwrap_or_default()
}

const SHA256_ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const ED25519_TEST1_SIG: &str = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155\
    5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";
const SM2_EXAMPLE_S: &str = "b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa";

/// Every self-test of this crate's algorithms.
pub fn run() -> Vec<SelfTestCheck> {
    vec![
        SelfTestCheck {
            algorithm: "SHA-256",
            implementation: "ring",
            vector: "FIPS 180-2, appendix B.1",
            passed: sha256(SHA256_ABC),
        },
        SelfTestCheck {
            algorithm: "Ed25519",
            implementation: "ring",
            vector: "RFC 8032, section 7.1, test 1",
            passed: ed25519(ED25519_TEST1_SIG),
        },
        SelfTestCheck {
            algorithm: "SM2 signature (SM3, default user id)",
            implementation: "RustCrypto sm2",
            vector: "GM/T 0003.5-2012 annex A example on the recommended curve, then a \
                     sign-verify pair",
            passed: sm2(SM2_EXAMPLE_S),
        },
    ]
}

fn sha256(expected: &str) -> bool {
    ring::digest::digest(&ring::digest::SHA256, b"abc").as_ref() == hex(expected).as_slice()
}

fn ed25519(expected: &str) -> bool {
    let seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    let Ok(key) = Ed25519KeyPair::from_seed_unchecked(&seed) else {
        return false;
    };
    let public = hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    let signature = key.sign(b"");
    key.public_key().as_ref() == public.as_slice()
        && signature.as_ref() == hex(expected).as_slice()
        && UnparsedPublicKey::new(&ED25519, &public)
            .verify(b"", signature.as_ref())
            .is_ok()
}

fn sm2(expected_s: &str) -> bool {
    let public = hex(
        "0409f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020\
         ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13",
    );
    let mut rs = hex("f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3");
    rs.extend(hex(expected_s));
    let Ok(key) = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_ID, &public) else {
        return false;
    };
    let Ok(signature) = sm2::dsa::Signature::from_slice(&rs) else {
        return false;
    };
    if key.verify(b"message digest", &signature).is_err() {
        return false;
    }
    // The standard's private key signs, and its own public key verifies the result.
    let private = hex("3945208f7b2144b13f36e38ac6d39f95889393692860b51a42fb81ef4df7c5b8");
    let Ok(signer) = sm2::dsa::SigningKey::from_slice(SM2_DEFAULT_ID, &private) else {
        return false;
    };
    let ours: sm2::dsa::Signature = signer.sign(b"message digest");
    signer.verifying_key().to_sec1_bytes().as_ref() == public.as_slice()
        && key.verify(b"message digest", &ours).is_ok()
        && key.verify(b"message digesT", &ours).is_err()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_passes_and_a_wrong_answer_fails() {
        for c in run() {
            assert!(c.passed, "{} failed its self-test", c.algorithm);
        }
        let wrong = "00".repeat(64);
        assert!(!sha256(&wrong));
        assert!(!ed25519(&wrong));
        assert!(!sm2(&"11".repeat(32)));
    }
}
