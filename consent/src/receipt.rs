//! Consent receipts: a signed, portable JSON record of one grant or withdrawal, in the
//! spirit of ISO/IEC TS 27560 (who, to what, for what, how, when), that the subject can
//! keep and anyone can check with Baomi's verifier key.
//!
//! A receipt is a signed JSON document (`baomi_types::signed_json`, context
//! [`RECEIPT_FORMAT`]): its `signature` member holds the signature of the rest of the
//! object in canonical form.

use baomi_types::DetachedVerifier;
use baomi_types::signed_json::{self, SignedJsonError};
use serde_json::{Map, Value, json};

use crate::definition::PurposeDefinition;
use crate::ledger::ConsentEvent;

/// The receipt format, also the signature's context.
pub const RECEIPT_FORMAT: &str = "baomi-consent-receipt/1";

/// Why a receipt does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Not a receipt of this format.
    #[error("not a Baomi consent receipt: {0}")]
    Malformed(&'static str),
    /// The signature does not verify with the key: altered, or signed by another key.
    #[error("the signature does not verify: the receipt was altered or signed by another key")]
    BadSignature,
}

/// The unsigned body of the receipt of `event`, for `purpose` as it was at that version.
pub fn receipt_body(
    issuer: &str,
    event: &ConsentEvent,
    purpose: &PurposeDefinition,
    issued_at: i64,
) -> Value {
    json!({
        "format": RECEIPT_FORMAT,
        "receipt_id": event.id,
        "issuer": issuer,
        "issued_at": issued_at,
        "subject": event.subject,
        "action": event.action,
        "at": event.at,
        "purpose": {
            "id": event.purpose,
            "version": event.purpose_version,
            "definition": purpose,
        },
        "channel": event.channel,
        "evidence": event.evidence,
        "separate_consents": event.scopes,
        "guardian": event.guardian,
        "expires_at": event.expires_at,
        "notice": event.notice,
    })
}

/// Checks a receipt (JSON text) with `verifier`, a key obtained from a copy the checker
/// trusts (not from the receipt); returns the receipt's body.
pub fn verify_receipt(
    receipt: &str,
    verifier: &dyn DetachedVerifier,
) -> Result<Map<String, Value>, ReceiptError> {
    signed_json::verify(receipt, RECEIPT_FORMAT, verifier).map_err(|e| match e {
        SignedJsonError::Malformed(reason) => ReceiptError::Malformed(reason),
        SignedJsonError::BadSignature => ReceiptError::BadSignature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use baomi_audit::checkpoint::{CheckpointSigner, TrustedKey};
    use baomi_types::SignatureAlgorithm as A;
    use baomi_types::signed_json::{canonical, with_signatures};

    #[test]
    fn a_receipt_signed_with_ed25519_and_sm2_verifies_with_either_key() {
        let signer = CheckpointSigner::with_keys(
            "baomi/audit",
            &[(A::Ed25519, &[5; 32]), (A::Sm2, &[6; 32])],
        )
        .unwrap();
        let body = json!({"format": RECEIPT_FORMAT, "receipt_id": "cev_2", "subject": "bob"});
        let signatures = signer
            .sign_detached_all(RECEIPT_FORMAT, canonical(&body).as_bytes())
            .unwrap();
        let receipt = with_signatures(body, &signatures);
        assert_eq!(receipt["signature"]["alg"], "Ed25519");
        assert_eq!(receipt["signatures"][1]["alg"], "SM2");
        let text = receipt.to_string();
        for (_, key) in signer.verifier_keys() {
            assert_eq!(
                verify_receipt(&text, &TrustedKey(&key)).unwrap()["subject"],
                "bob"
            );
            assert_eq!(
                verify_receipt(&text.replace("bob", "eve"), &TrustedKey(&key)),
                Err(ReceiptError::BadSignature)
            );
        }
    }

    #[test]
    fn a_signed_receipt_verifies_and_any_change_fails() {
        let signer = CheckpointSigner::new("baomi/audit", &[5; 32]).unwrap();
        let key = signer.verifier_key();
        let body =
            json!({"format": RECEIPT_FORMAT, "receipt_id": "cev_1", "subject": "alice", "at": 5});
        let signatures = signer
            .sign_detached_all(RECEIPT_FORMAT, canonical(&body).as_bytes())
            .unwrap();
        let receipt = with_signatures(body, &signatures).to_string();
        assert!(
            !receipt.contains("\"signatures\""),
            "one key, one signature"
        );
        assert_eq!(
            verify_receipt(&receipt, &TrustedKey(&key)).unwrap()["subject"],
            "alice"
        );
        // Reordered members and pretty-printing do not matter; content does.
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(&receipt).unwrap())
                .unwrap();
        assert!(verify_receipt(&pretty, &TrustedKey(&key)).is_ok());
        let altered = receipt.replace("alice", "mallory");
        assert_eq!(
            verify_receipt(&altered, &TrustedKey(&key)),
            Err(ReceiptError::BadSignature)
        );
        let other = CheckpointSigner::new("baomi/audit", &[6; 32])
            .unwrap()
            .verifier_key();
        assert_eq!(
            verify_receipt(&receipt, &TrustedKey(&other)),
            Err(ReceiptError::BadSignature)
        );
        assert!(matches!(
            verify_receipt("[]", &TrustedKey(&key)),
            Err(ReceiptError::Malformed(_))
        ));
    }
}
