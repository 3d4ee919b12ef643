//! The console's second factor: TOTP (RFC 6238: SHA-1, six digits, 30-second steps, one
//! step of drift either way) from an authenticator app, and recovery codes issued once.
//!
//! - The TOTP secret is sealed with AES-256-GCM under a key derived from the root key, bound
//!   to the account's name; it is shown once, as a QR code and in base32, at enrolment.
//! - A code is accepted once: the step it belongs to must be later than the last one
//!   accepted, which the database records atomically, so a code seen over a shoulder, or
//!   replayed on another node, opens nothing.
//! - Ten recovery codes (50 random bits each) are shown once; only their SHA-256 is kept,
//!   and each opens one sign-in.

use baomi_vault::{AeadKey, RootKey};
use data_encoding::{BASE32_NOPAD, HEXLOWER};
use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};
use zeroize::Zeroizing;

use crate::service::ServiceError;

/// Seconds in one TOTP step.
pub const STEP_SECS: u64 = 30;
/// Recovery codes issued at enrolment.
pub const RECOVERY_CODES: usize = 10;
/// The issuer shown in authenticator apps.
const ISSUER: &str = "Baomi";
/// Bytes of a TOTP secret (160 bits, as RFC 4226 recommends).
const SECRET_LEN: usize = 20;

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("second factor: {e}"))
}

/// Seals and opens TOTP secrets.
pub struct SecretSealer {
    key: AeadKey,
}

impl SecretSealer {
    /// A sealer under the key derived from `root` for this use.
    pub fn new(root: &RootKey) -> Result<Self, baomi_vault::Error> {
        let key = root
            .derive("console-second-factor/v1")?
            .with_bytes(AeadKey::from_bytes)?;
        Ok(Self { key })
    }

    /// `secret` sealed for `username`.
    pub fn seal(&self, username: &str, secret: &[u8]) -> Result<Vec<u8>, ServiceError> {
        self.key.seal(username.as_bytes(), secret).map_err(internal)
    }

    /// The secret sealed for `username`; an error if it was sealed for another account or
    /// altered.
    pub fn open(&self, username: &str, sealed: &[u8]) -> Result<Zeroizing<Vec<u8>>, ServiceError> {
        self.key.open(username.as_bytes(), sealed).map_err(internal)
    }
}

/// A new random TOTP secret.
pub fn new_secret() -> Result<Zeroizing<Vec<u8>>, ServiceError> {
    let mut secret = Zeroizing::new(vec![0u8; SECRET_LEN]);
    SystemRandom::new()
        .fill(secret.as_mut_slice())
        .map_err(|_| internal("the system random number generator failed"))?;
    Ok(secret)
}

fn totp(secret: &[u8], username: &str) -> Result<TOTP, ServiceError> {
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECS,
        secret.to_vec(),
        Some(ISSUER.to_owned()),
        username.to_owned(),
    )
    .map_err(internal)
}

/// What an authenticator app needs: the `otpauth://` URI (the QR code's content) and the
/// secret in base32 (to type in).
pub struct Enrolment {
    /// The `otpauth://totp/…` URI.
    pub uri: Zeroizing<String>,
    /// The secret in base32, for typing in.
    pub secret_base32: Zeroizing<String>,
}

/// The enrolment of `secret` for `username`.
pub fn enrolment(secret: &[u8], username: &str) -> Result<Enrolment, ServiceError> {
    let totp = totp(secret, username)?;
    Ok(Enrolment {
        uri: Zeroizing::new(totp.get_url()),
        secret_base32: Zeroizing::new(BASE32_NOPAD.encode(secret)),
    })
}

/// `text` as a QR code in SVG.
pub fn qr_svg(text: &str) -> Result<String, ServiceError> {
    let code = qrcode::QrCode::new(text.as_bytes()).map_err(internal)?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build())
}

/// The step of `code` for `secret` at `now` (Unix seconds), one step of drift either way,
/// if the code is right.
pub fn code_step(secret: &[u8], username: &str, code: &str, now: i64) -> Option<i64> {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = totp(secret, username).ok()?;
    let step = u64::try_from(now).ok()? / STEP_SECS;
    // Every candidate is computed and compared, whichever matches.
    let mut found = None;
    for candidate in [step.saturating_sub(1), step, step + 1] {
        let expected = totp.generate(candidate * STEP_SECS);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = i64::try_from(candidate).ok();
        }
    }
    found
}

/// New recovery codes (`xxxxx-xxxxx`, lower-case base32) and their stored hashes.
pub fn new_recovery_codes() -> Result<(Vec<Zeroizing<String>>, Vec<String>), ServiceError> {
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    let mut hashes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut bytes = Zeroizing::new([0u8; 7]);
        SystemRandom::new()
            .fill(bytes.as_mut_slice())
            .map_err(|_| internal("the system random number generator failed"))?;
        let text = Zeroizing::new(BASE32_NOPAD.encode(bytes.as_slice()).to_ascii_lowercase());
        let code = Zeroizing::new(format!("{}-{}", &text[..5], &text[5..10]));
        hashes.push(recovery_hash(&code));
        codes.push(code);
    }
    Ok((codes, hashes))
}

/// The stored hash of a recovery code as typed (case, spaces and dashes ignored).
pub fn recovery_hash(code: &str) -> String {
    let normal: Zeroizing<String> = Zeroizing::new(
        code.chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .flat_map(char::to_lowercase)
            .collect(),
    );
    HEXLOWER.encode(digest(&SHA256, normal.as_bytes()).as_ref())
}

/// Whether `code` looks like a recovery code rather than a TOTP code.
pub fn is_recovery_code(code: &str) -> bool {
    let letters = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .count();
    letters == 10 && !code.trim().bytes().all(|b| b.is_ascii_digit())
}

/// The hashes left once `code` is used, or `None` if it is not one of `hashes`.
pub fn use_recovery_code(hashes: &[String], code: &str) -> Option<Vec<String>> {
    let presented = recovery_hash(code);
    let mut matched = None;
    for (i, h) in hashes.iter().enumerate() {
        if bool::from(h.as_bytes().ct_eq(presented.as_bytes())) {
            matched = Some(i);
        }
    }
    let i = matched?;
    let mut left = hashes.to_vec();
    left.remove(i);
    Some(left)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_the_rfc_6238_vector_verify_at_their_step_and_the_next() {
        // RFC 6238, appendix B: SHA-1, secret "12345678901234567890", T = 59 → 94287082
        // (eight digits; six are its last six).
        let secret = b"12345678901234567890";
        assert_eq!(code_step(secret, "u", "287082", 59), Some(1));
        assert_eq!(
            code_step(secret, "u", "287082", 89),
            Some(1),
            "one step late"
        );
        assert_eq!(
            code_step(secret, "u", "287082", 119),
            None,
            "two steps late"
        );
        assert_eq!(code_step(secret, "u", "28708", 59), None);
        assert_eq!(code_step(secret, "u", "2870a2", 59), None);
    }

    #[test]
    fn recovery_codes_are_used_once_and_typed_loosely() {
        let (codes, hashes) = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        assert!(is_recovery_code(&codes[0]));
        assert!(!is_recovery_code("123456"));
        let loose = format!(" {} ", codes[3].to_uppercase().replace('-', " "));
        let left = use_recovery_code(&hashes, &loose).expect("the code, typed loosely");
        assert_eq!(left.len(), RECOVERY_CODES - 1);
        assert!(use_recovery_code(&left, &codes[3]).is_none(), "once");
        assert!(use_recovery_code(&hashes, "aaaaa-aaaaa").is_none());
    }

    #[test]
    fn a_secret_sealed_for_one_account_does_not_open_for_another() {
        let root = RootKey::generate().unwrap();
        let sealer = SecretSealer::new(&root).unwrap();
        let secret = new_secret().unwrap();
        let sealed = sealer.seal("li.wei", &secret).unwrap();
        assert_eq!(
            sealer.open("li.wei", &sealed).unwrap().as_slice(),
            secret.as_slice()
        );
        assert!(sealer.open("wang.fang", &sealed).is_err());
        let enrolment = enrolment(&secret, "li.wei").unwrap();
        assert!(
            enrolment
                .uri
                .starts_with("otpauth://totp/Baomi:li.wei?secret=")
        );
        assert!(qr_svg(&enrolment.uri).unwrap().starts_with("<?xml"));
    }
}
