//! Client certificates: the identity a verified certificate carries, and a key's binding to
//! one, so that a key's secret alone is not enough to use it.

use std::sync::Arc;

use baomi_types::ClientCertificate;
use serde::{Deserialize, Serialize};

/// The client certificate a request's connection presented and the TLS handshake verified
/// against the platform's CA: a request extension, set by the listener.
#[derive(Clone, Debug)]
pub struct VerifiedCertificate(pub Arc<ClientCertificate>);

impl VerifiedCertificate {
    /// The certificate of the request with these `extensions`, if any.
    pub fn of(extensions: &axum::http::Extensions) -> Option<&Arc<ClientCertificate>> {
        extensions.get::<VerifiedCertificate>().map(|c| &c.0)
    }
}

/// The identity of a client certificate (DER) that the TLS handshake verified; `None` if
/// it cannot be parsed (rustls has verified it, so that does not happen in practice).
pub fn identity(der: &[u8]) -> Option<ClientCertificate> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der).ok()?;
    let spki = certificate.tbs_certificate.subject_pki.raw;
    Some(ClientCertificate {
        subject: certificate.subject().to_string(),
        spki_sha256: data_encoding::HEXLOWER
            .encode(ring::digest::digest(&ring::digest::SHA256, spki).as_ref()),
    })
}

/// Longest subject a binding may name, in characters.
pub const MAX_SUBJECT: usize = 1024;

/// What a key is bound to: calls with it must come over a connection whose verified client
/// certificate has this public key or this subject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum CertificateBinding {
    /// SHA-256 of the certificate's SubjectPublicKeyInfo, hex (64 digits): `openssl x509
    /// -in cert.pem -noout -pubkey | openssl pkey -pubin -outform der | sha256sum`. It
    /// survives renewals that keep the key pair.
    SpkiSha256(String),
    /// The certificate's subject, attributes in the certificate's order, as the audit trail
    /// shows it: `C=CN, O=Example Pay, CN=payments`.
    Subject(String),
}

impl CertificateBinding {
    /// Checks and normalises a binding (hex to lower case); the error says why, without
    /// quoting it.
    pub fn normalized(self) -> Result<Self, &'static str> {
        match self {
            CertificateBinding::SpkiSha256(hex) => {
                if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Ok(CertificateBinding::SpkiSha256(hex.to_ascii_lowercase()))
                } else {
                    Err("spki_sha256 is 64 hexadecimal digits")
                }
            }
            CertificateBinding::Subject(subject) => {
                let chars = subject.chars().count();
                if subject.trim().is_empty() || chars > MAX_SUBJECT || subject.contains('\0') {
                    Err("subject is 1 to 1024 characters, not blank")
                } else {
                    Ok(CertificateBinding::Subject(subject))
                }
            }
        }
    }

    /// Whether `certificate` is the one this binding names.
    pub fn matches(&self, certificate: &ClientCertificate) -> bool {
        match self {
            CertificateBinding::SpkiSha256(hex) => *hex == certificate.spki_sha256,
            CertificateBinding::Subject(subject) => *subject == certificate.subject,
        }
    }

    /// The stored form: `spki_sha256:<hex>` or `subject:<subject>`.
    pub fn to_stored(&self) -> String {
        match self {
            CertificateBinding::SpkiSha256(hex) => format!("spki_sha256:{hex}"),
            CertificateBinding::Subject(subject) => format!("subject:{subject}"),
        }
    }

    /// Reads the stored form back.
    pub fn from_stored(stored: &str) -> Option<Self> {
        match stored.split_once(':')? {
            ("spki_sha256", hex) => Some(CertificateBinding::SpkiSha256(hex.to_owned())),
            ("subject", subject) => Some(CertificateBinding::Subject(subject.to_owned())),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::PublicKeyData;

    fn certificate(subject: &str) -> (rcgen::KeyPair, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CountryName, "CN");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, subject);
        let der = params.self_signed(&key).unwrap().der().to_vec();
        (key, der)
    }

    #[test]
    fn the_identity_names_the_subject_and_the_public_key() {
        let (key, der) = certificate("payments");
        let id = identity(&der).unwrap();
        assert_eq!(id.subject, "C=CN, CN=payments");
        let spki = ring::digest::digest(&ring::digest::SHA256, &key.subject_public_key_info());
        assert_eq!(
            id.spki_sha256,
            data_encoding::HEXLOWER.encode(spki.as_ref())
        );
        assert!(identity(b"not a certificate").is_none());
    }

    #[test]
    fn a_binding_matches_its_certificate_only() {
        let (_, der) = certificate("payments");
        let (_, other) = certificate("payments");
        let (id, other) = (identity(&der).unwrap(), identity(&other).unwrap());
        let by_key = CertificateBinding::SpkiSha256(id.spki_sha256.to_ascii_uppercase())
            .normalized()
            .unwrap();
        assert!(by_key.matches(&id));
        assert!(!by_key.matches(&other), "same subject, another key pair");
        let by_subject = CertificateBinding::Subject("C=CN, CN=payments".into());
        assert!(by_subject.matches(&id) && by_subject.matches(&other));
        assert!(!CertificateBinding::Subject("CN=payments".into()).matches(&id));
    }

    #[test]
    fn bindings_are_checked_and_stored_as_they_read_back() {
        for bad in [
            CertificateBinding::SpkiSha256("ab".into()),
            CertificateBinding::SpkiSha256("g".repeat(64)),
            CertificateBinding::Subject(" ".into()),
            CertificateBinding::Subject("x".repeat(1025)),
            CertificateBinding::Subject("CN=a\0".into()),
        ] {
            assert!(bad.normalized().is_err());
        }
        for good in [
            CertificateBinding::SpkiSha256("a".repeat(64)),
            CertificateBinding::Subject("C=CN, CN=a:b".into()),
        ] {
            assert_eq!(
                CertificateBinding::from_stored(&good.to_stored()),
                Some(good)
            );
        }
        assert_eq!(CertificateBinding::from_stored("other:x"), None);
    }
}
