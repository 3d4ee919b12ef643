//! Field ciphertexts: the self-describing string form, and sealing and opening values.
//!
//! A ciphertext is the ASCII string
//!
//! ```text
//! bm:v1:<suite>:<keyring>:<version>:<payload>
//! ```
//!
//! - `bm:v1` — the format and its version;
//! - `<suite>` — the algorithm suite, `aes256gcm` or `aes256siv`;
//! - `<keyring>` — the keyring's name (`a-z 0-9 _ -`);
//! - `<version>` — the decimal KEK version whose subject data key sealed the value;
//! - `<payload>` — unpadded base64url of `nonce (12 bytes) ‖ ciphertext (as long as the
//!   UTF-8 value) ‖ GCM tag (16 bytes)`.
//!
//! The associated data is the header (everything before the last `:`), then `|`, the
//! subject id, `|`, and the field name, as UTF-8:
//! `bm:v1:aes256gcm:default:1|u-10086|mobile`. So a ciphertext pasted under another subject,
//! another field, another keyring or another version fails to open, exactly as a flipped
//! bit does. The subject's data key for (keyring, version) is the AES-256-GCM key.
//!
//! Deterministic keyrings (`aes256siv`, RFC 5297) differ: the payload is `synthetic IV
//! (16 bytes) ‖ ciphertext`, the key belongs to the keyring version and the field (64 bytes,
//! HKDF-SHA256 of the version's KEK), and the associated data is the header, `|` and the
//! field name, without the subject, so that equal values match across subjects.

use data_encoding::BASE64URL_NOPAD;
use zeroize::Zeroizing;

use crate::aead::AeadKey;
use crate::field::FieldName;
use crate::keyring::{KeyringName, Suite};
use crate::{Error, Result, SubjectId};

/// The prefix of every ciphertext of this format.
pub const PREFIX: &str = "bm:v1:";

/// A parsed ciphertext string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ciphertext {
    /// The suite.
    pub suite: Suite,
    /// The keyring.
    pub keyring: KeyringName,
    /// The KEK version of the data key.
    pub version: u32,
    /// `nonce ‖ ciphertext ‖ tag`.
    pub payload: Vec<u8>,
}

impl Ciphertext {
    /// Parses a ciphertext string; any deviation from the format is
    /// [`Error::MalformedCiphertext`].
    pub fn parse(raw: &str) -> Result<Self> {
        let bad = || Error::MalformedCiphertext;
        let rest = raw.strip_prefix(PREFIX).ok_or_else(bad)?;
        let mut parts = rest.split(':');
        let (Some(suite), Some(keyring), Some(version), Some(payload), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        let suite = Suite::parse(suite).map_err(|_| bad())?;
        let keyring = KeyringName::parse(keyring).map_err(|_| bad())?;
        // Digits only, as written: `str::parse` would also take a sign (`+0` is version 0).
        if version.is_empty()
            || version.starts_with('0')
            || version.len() > 9
            || !version.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let version: u32 = version.parse().map_err(|_| bad())?;
        let payload = BASE64URL_NOPAD
            .decode(payload.as_bytes())
            .map_err(|_| bad())?;
        if payload.len() < suite.min_payload() {
            return Err(bad());
        }
        Ok(Self {
            suite,
            keyring,
            version,
            payload,
        })
    }

    fn header(suite: Suite, keyring: &KeyringName, version: u32) -> String {
        let mut header = String::with_capacity(PREFIX.len() + 16 + keyring.as_str().len());
        push_header(&mut header, suite, keyring, version);
        header
    }
}

fn push_header(out: &mut String, suite: Suite, keyring: &KeyringName, version: u32) {
    use std::fmt::Write;
    out.push_str(PREFIX);
    out.push_str(suite.as_str());
    out.push(':');
    out.push_str(keyring.as_str());
    let _ = write!(out, ":{version}");
}

/// `header|subject|field`, in one allocation.
fn aad(header: &str, subject: &SubjectId, field: &FieldName) -> Vec<u8> {
    let mut aad =
        Vec::with_capacity(header.len() + subject.as_str().len() + field.as_str().len() + 2);
    aad.extend_from_slice(header.as_bytes());
    aad.push(b'|');
    aad.extend_from_slice(subject.as_str().as_bytes());
    aad.push(b'|');
    aad.extend_from_slice(field.as_str().as_bytes());
    aad
}

/// Seals `value` for (`keyring`, `version`, `subject`, `field`) under the subject's data key.
pub fn seal_value(
    key: &AeadKey,
    suite: Suite,
    keyring: &KeyringName,
    version: u32,
    subject: &SubjectId,
    field: &FieldName,
    value: &str,
) -> Result<String> {
    let payload_len = crate::aead::NONCE_LEN + value.len() + crate::aead::TAG_LEN;
    let mut text = String::with_capacity(
        PREFIX.len() + 16 + keyring.as_str().len() + 1 + BASE64URL_NOPAD.encode_len(payload_len),
    );
    push_header(&mut text, suite, keyring, version);
    let mut payload = Vec::with_capacity(payload_len);
    key.seal_append(&aad(&text, subject, field), value.as_bytes(), &mut payload)?;
    text.push(':');
    BASE64URL_NOPAD.encode_append(&payload, &mut text);
    Ok(text)
}

/// `header|field`: the associated data of a deterministic ciphertext, which is bound to its
/// keyring, version and field but not to a subject (equal values must match across subjects).
fn siv_aad(header: &str, field: &FieldName) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + field.as_str().len() + 1);
    aad.extend_from_slice(header.as_bytes());
    aad.push(b'|');
    aad.extend_from_slice(field.as_str().as_bytes());
    aad
}

/// Seals `value` deterministically (AES-256-SIV) for (`keyring`, `version`, `field`) with
/// the 64-byte key of that field and version. Payload: `synthetic IV (16 bytes) ‖ ciphertext`.
pub fn seal_deterministic(
    key: &SivKey,
    keyring: &KeyringName,
    version: u32,
    field: &FieldName,
    value: &str,
) -> Result<String> {
    let mut text = Ciphertext::header(Suite::Aes256Siv, keyring, version);
    let aad = siv_aad(&text, field);
    let payload = key
        .cipher()?
        .encrypt([aad.as_slice()], value.as_bytes())
        .map_err(|_| Error::Crypto)?;
    text.push(':');
    BASE64URL_NOPAD.encode_append(&payload, &mut text);
    Ok(text)
}

/// Opens a deterministic ciphertext of `field`.
pub fn open_deterministic(
    key: &SivKey,
    ciphertext: &Ciphertext,
    field: &FieldName,
) -> Result<Zeroizing<String>> {
    let header = Ciphertext::header(ciphertext.suite, &ciphertext.keyring, ciphertext.version);
    let plain = key
        .cipher()?
        .decrypt([siv_aad(&header, field).as_slice()], &ciphertext.payload)
        .map_err(|_| Error::DecryptFailed)?;
    utf8_or_wipe(plain)
}

/// The plaintext as text; bytes that are not UTF-8 (which a value sealed here never is) are
/// wiped and the ciphertext refused.
fn utf8_or_wipe(plain: Vec<u8>) -> Result<Zeroizing<String>> {
    match String::from_utf8(plain) {
        Ok(text) => Ok(Zeroizing::new(text)),
        Err(e) => {
            drop(Zeroizing::new(e.into_bytes()));
            Err(Error::DecryptFailed)
        }
    }
}

/// The 64-byte AES-256-SIV key of one keyring version and field; wiped when dropped.
pub struct SivKey(Zeroizing<[u8; 64]>);

impl SivKey {
    /// A key from its bytes.
    pub fn from_bytes(bytes: Zeroizing<[u8; 64]>) -> Self {
        Self(bytes)
    }

    fn cipher(&self) -> Result<aes_siv::siv::Aes256Siv> {
        use aes_siv::KeyInit;
        aes_siv::siv::Aes256Siv::new_from_slice(self.0.as_slice()).map_err(|_| Error::Crypto)
    }
}

impl std::fmt::Debug for SivKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SivKey(<redacted>)")
    }
}

/// Opens a parsed ciphertext for `subject` and `field` with the subject's data key.
pub fn open_value(
    key: &AeadKey,
    ciphertext: &Ciphertext,
    subject: &SubjectId,
    field: &FieldName,
) -> Result<Zeroizing<String>> {
    open_parsed(key, ciphertext.clone(), subject, field)
}

/// Opens a parsed ciphertext for `subject` and `field`, decrypting its payload in place (no
/// copy of the payload).
pub fn open_parsed(
    key: &AeadKey,
    ciphertext: Ciphertext,
    subject: &SubjectId,
    field: &FieldName,
) -> Result<Zeroizing<String>> {
    let header = Ciphertext::header(ciphertext.suite, &ciphertext.keyring, ciphertext.version);
    let mut plain = ciphertext.payload;
    key.open_in_place(&aad(&header, subject, field), &mut plain)
        .map_err(|_| Error::DecryptFailed)?;
    utf8_or_wipe(plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ctx() -> (KeyringName, SubjectId, FieldName) {
        (
            KeyringName::parse("default").unwrap(),
            SubjectId::parse("u-10086").unwrap(),
            FieldName::parse("mobile").unwrap(),
        )
    }

    /// A known-answer vector for the whole format: fixed key (bytes 0..32), fixed nonce
    /// (bytes 0..12), keyring `default`, version 1, subject `u-10086`, field `mobile`,
    /// value `13800138000`. Recomputed independently with Python's `cryptography`:
    /// `AESGCM(bytes(range(32))).encrypt(bytes(range(12)), b"13800138000",
    ///  b"bm:v1:aes256gcm:default:1|u-10086|mobile")`.
    #[test]
    fn known_answer_vector() {
        let mut material = [0u8; 32];
        for (i, b) in material.iter_mut().enumerate() {
            *b = i as u8;
        }
        let key = AeadKey::from_bytes(&material).unwrap();
        let (keyring, subject, field) = ctx();
        let header = Ciphertext::header(Suite::Aes256Gcm, &keyring, 1);
        let nonce: [u8; 12] = core::array::from_fn(|i| i as u8);
        let payload = key
            .seal_with_nonce(&aad(&header, &subject, &field), b"13800138000", nonce)
            .unwrap();
        let mut text = header;
        text.push(':');
        text.push_str(&BASE64URL_NOPAD.encode(&payload));
        assert_eq!(text, KAT_CIPHERTEXT);
        let parsed = Ciphertext::parse(&text).unwrap();
        assert_eq!(
            open_value(&key, &parsed, &subject, &field)
                .unwrap()
                .as_str(),
            "13800138000"
        );
    }

    const KAT_CIPHERTEXT: &str = include_str!("../testdata/kat-aes256gcm.txt");

    /// The same for the SM suite: SM4 key bytes 0..16, nonce bytes 0..12. Recomputed
    /// independently with pyca/cryptography: `Cipher(algorithms.SM4(bytes(range(16))),
    /// modes.GCM(bytes(range(12))))` over `13800138000` with associated data
    /// `bm:v1:sm4gcm:default:1|u-10086|mobile`.
    #[test]
    fn known_answer_vector_of_the_sm_suite() {
        let material: Vec<u8> = (0u8..16).collect();
        let key = AeadKey::new(crate::aead::Algorithm::Sm4Gcm, &material).unwrap();
        let (keyring, subject, field) = ctx();
        let header = Ciphertext::header(Suite::Sm4Gcm, &keyring, 1);
        let nonce: [u8; 12] = core::array::from_fn(|i| i as u8);
        let payload = key
            .seal_with_nonce(&aad(&header, &subject, &field), b"13800138000", nonce)
            .unwrap();
        let text = format!("{header}:{}", BASE64URL_NOPAD.encode(&payload));
        assert_eq!(text, include_str!("../testdata/kat-sm4gcm.txt"));
        let parsed = Ciphertext::parse(&text).unwrap();
        assert_eq!(parsed.suite, Suite::Sm4Gcm);
        assert_eq!(
            open_value(&key, &parsed, &subject, &field)
                .unwrap()
                .as_str(),
            "13800138000"
        );
        // Relabelled as the AES suite, the header no longer matches what was sealed.
        let relabelled = Ciphertext::parse(&text.replacen("sm4gcm", "aes256gcm", 1)).unwrap();
        assert!(open_value(&key, &relabelled, &subject, &field).is_err());
    }

    #[test]
    fn swapped_context_fails() {
        let key = AeadKey::from_bytes(&AeadKey::random_material()).unwrap();
        let (keyring, subject, field) = ctx();
        let text = seal_value(
            &key,
            Suite::Aes256Gcm,
            &keyring,
            1,
            &subject,
            &field,
            "13800138000",
        )
        .unwrap();
        let parsed = Ciphertext::parse(&text).unwrap();
        let other_subject = SubjectId::parse("u-10087").unwrap();
        let other_field = FieldName::parse("mobile.emergency").unwrap();
        assert!(open_value(&key, &parsed, &other_subject, &field).is_err());
        assert!(open_value(&key, &parsed, &subject, &other_field).is_err());
        let moved = text.replacen(":default:1:", ":other:1:", 1);
        let moved = Ciphertext::parse(&moved).unwrap();
        assert!(open_value(&key, &moved, &subject, &field).is_err());
        let bumped = Ciphertext::parse(&text.replacen(":default:1:", ":default:2:", 1)).unwrap();
        assert!(open_value(&key, &bumped, &subject, &field).is_err());
    }

    #[test]
    fn malformed_strings() {
        for bad in [
            "",
            "bm:v1:",
            "bm:v2:aes256gcm:default:1:AAAA",
            "bm:v1:sm9gcm:default:1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "bm:v1:aes256gcm:Default:1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "bm:v1:aes256gcm:default:01:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "bm:v1:aes256gcm:default:0:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "bm:v1:aes256gcm:default:x:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            // A sign: `+0` parsed as version 0 (found by the `ciphertext` fuzz target).
            "bm:v1:aes256gcm:default:+0:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "bm:v1:aes256gcm:default:+1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "bm:v1:aes256gcm:default:-1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "bm:v1:aes256gcm:default: 1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "bm:v1:aes256gcm:default:1:AAAA",
            "bm:v1:aes256gcm:default:1:AAAA=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "bm:v1:aes256gcm:default:1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA:x",
        ] {
            assert!(
                matches!(Ciphertext::parse(bad), Err(Error::MalformedCiphertext)),
                "{bad}"
            );
        }
    }

    proptest! {
        #[test]
        fn round_trip_any_value(value in "\\PC{0,200}", subject in "[a-z0-9._:-]{1,40}") {
            let key = AeadKey::from_bytes(&AeadKey::random_material()).unwrap();
            let (keyring, _, field) = ctx();
            let subject = SubjectId::parse(&subject).unwrap();
            let text = seal_value(&key, Suite::Aes256Gcm, &keyring, 3, &subject, &field, &value).unwrap();
            prop_assert!(text.starts_with("bm:v1:aes256gcm:default:3:"));
            let parsed = Ciphertext::parse(&text).unwrap();
            let opened = open_value(&key, &parsed, &subject, &field).unwrap();
            prop_assert_eq!(opened.as_str(), value.as_str());
        }

        #[test]
        fn any_single_character_change_fails(value in "[0-9]{11}", pos in 0usize..200) {
            let key = AeadKey::from_bytes(&AeadKey::random_material()).unwrap();
            let (keyring, subject, field) = ctx();
            let text = seal_value(&key, Suite::Aes256Gcm, &keyring, 1, &subject, &field, &value).unwrap();
            let start = text.rfind(':').unwrap() + 1;
            let pos = start + pos % (text.len() - start);
            let mut bytes = text.clone().into_bytes();
            bytes[pos] = if bytes[pos] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(bytes).unwrap();
            if let Ok(parsed) = Ciphertext::parse(&changed) {
                prop_assert!(open_value(&key, &parsed, &subject, &field).is_err());
            }
        }
    }
}
