//! Signature algorithms, and the port through which a domain checks a detached signature.

/// A signature algorithm for checkpoints and signed documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureAlgorithm {
    /// Ed25519 (RFC 8032).
    Ed25519,
    /// SM2 with SM3 and the default user id (GB/T 32918.2-2016, GB/T 35276-2017).
    Sm2,
}

impl SignatureAlgorithm {
    /// The algorithm's name in configuration and in receipts: `ed25519` or `sm2`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignatureAlgorithm::Ed25519 => "ed25519",
            SignatureAlgorithm::Sm2 => "sm2",
        }
    }

    /// Parses `ed25519` or `sm2`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "ed25519" => Some(SignatureAlgorithm::Ed25519),
            "sm2" => Some(SignatureAlgorithm::Sm2),
            _ => None,
        }
    }
}

/// Checks detached signatures: a signature over `context`, a line break, and `message`,
/// made by one key. The audit crate implements it for a verifier key
/// (`baomi_audit::checkpoint::TrustedKey`); a domain that checks signed documents takes it
/// as a parameter and so needs no cryptography of its own.
pub trait DetachedVerifier {
    /// Whether `signature` (base64) signs `message` under `context`.
    fn verifies(&self, context: &str, message: &[u8], signature: &str) -> bool;
}
