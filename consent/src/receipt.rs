//! Consent receipts: a signed, portable JSON record of one grant or withdrawal, in the
//! spirit of ISO/IEC TS 27560 (who, to what, for what, how, when), that the subject can
//! keep and anyone can check with Baomi's verifier key.
//!
//! A receipt is a JSON object; its `signature` member holds the Ed25519 signature (see
//! `baomi_audit::checkpoint::verify_detached`, context [`RECEIPT_FORMAT`]) of the rest of
//! the object in canonical form: keys sorted, no insignificant whitespace, strings escaped
//! as serde_json does (numbers are integers).

use baomi_audit::checkpoint::SignatureAlgorithm;
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

/// The canonical text of a JSON value: object keys sorted, no whitespace.
pub fn canonical(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String((*k).clone()).to_string());
                out.push(':');
                write_canonical(&map[k.as_str()], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// The name of a signature algorithm in receipts.
fn alg_name(algorithm: SignatureAlgorithm) -> &'static str {
    match algorithm {
        SignatureAlgorithm::Ed25519 => "Ed25519",
        SignatureAlgorithm::Sm2 => "SM2",
    }
}

/// A receipt: `body` with its signatures (made by the caller over [`canonical`] of `body`;
/// each is (algorithm, verifier key, signature)). The first is `signature`; when there are
/// more, `signatures` lists them all, so a checker of either algorithm finds its own.
pub fn with_signatures(
    mut body: Value,
    signatures: &[(SignatureAlgorithm, String, String)],
) -> Value {
    let entries: Vec<Value> = signatures
        .iter()
        .map(|(alg, key, value)| json!({"alg": alg_name(*alg), "key": key, "value": value}))
        .collect();
    if let (Value::Object(map), Some(first)) = (&mut body, entries.first()) {
        map.insert("signature".to_owned(), first.clone());
        if entries.len() > 1 {
            map.insert("signatures".to_owned(), Value::Array(entries));
        }
    }
    body
}

/// Checks a receipt (JSON text) with `verifier_key`, obtained from a copy the checker
/// trusts (not from the receipt); returns the receipt's body.
pub fn verify_receipt(
    receipt: &str,
    verifier_key: &str,
) -> Result<Map<String, Value>, ReceiptError> {
    let Ok(Value::Object(mut body)) = serde_json::from_str::<Value>(receipt) else {
        return Err(ReceiptError::Malformed("not a JSON object"));
    };
    if body.get("format") != Some(&Value::String(RECEIPT_FORMAT.to_owned())) {
        return Err(ReceiptError::Malformed("unknown format"));
    }
    let first = body
        .remove("signature")
        .ok_or(ReceiptError::Malformed("no signature"))?;
    let mut candidates = vec![first];
    if let Some(Value::Array(all)) = body.remove("signatures") {
        candidates.extend(all);
    }
    let text = canonical(&Value::Object(body.clone()));
    let verified = candidates.iter().any(|s| {
        s.get("value")
            .and_then(Value::as_str)
            .is_some_and(|signature| {
                baomi_audit::checkpoint::verify_detached(
                    RECEIPT_FORMAT,
                    text.as_bytes(),
                    signature,
                    verifier_key,
                )
                .is_ok()
            })
    });
    if !verified {
        return Err(ReceiptError::BadSignature);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use baomi_audit::checkpoint::CheckpointSigner;

    #[test]
    fn canonical_text_sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"d": [true, null, "x\"y"], "c": "保密"}});
        assert_eq!(
            canonical(&v),
            r#"{"a":{"c":"保密","d":[true,null,"x\"y"]},"b":1}"#
        );
    }

    #[test]
    fn a_receipt_signed_with_ed25519_and_sm2_verifies_with_either_key() {
        use baomi_audit::checkpoint::SignatureAlgorithm as A;
        let signer = CheckpointSigner::with_keys(
            "baomi/audit",
            &[(A::Ed25519, &[5; 32]), (A::Sm2, &[6; 32])],
        )
        .unwrap();
        let body = json!({"format": RECEIPT_FORMAT, "receipt_id": "cev_2", "subject": "bob"});
        let signatures = signer.sign_detached_all(RECEIPT_FORMAT, canonical(&body).as_bytes());
        let receipt = with_signatures(body, &signatures);
        assert_eq!(receipt["signature"]["alg"], "Ed25519");
        assert_eq!(receipt["signatures"][1]["alg"], "SM2");
        let text = receipt.to_string();
        for (_, key) in signer.verifier_keys() {
            assert_eq!(verify_receipt(&text, &key).unwrap()["subject"], "bob");
            assert_eq!(
                verify_receipt(&text.replace("bob", "eve"), &key),
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
        let signatures = signer.sign_detached_all(RECEIPT_FORMAT, canonical(&body).as_bytes());
        let receipt = with_signatures(body, &signatures).to_string();
        assert!(
            !receipt.contains("\"signatures\""),
            "one key, one signature"
        );
        assert_eq!(verify_receipt(&receipt, &key).unwrap()["subject"], "alice");
        // Reordered members and pretty-printing do not matter; content does.
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(&receipt).unwrap())
                .unwrap();
        assert!(verify_receipt(&pretty, &key).is_ok());
        let altered = receipt.replace("alice", "mallory");
        assert_eq!(
            verify_receipt(&altered, &key),
            Err(ReceiptError::BadSignature)
        );
        let other = CheckpointSigner::new("baomi/audit", &[6; 32])
            .unwrap()
            .verifier_key();
        assert_eq!(
            verify_receipt(&receipt, &other),
            Err(ReceiptError::BadSignature)
        );
        assert!(matches!(
            verify_receipt("[]", &key),
            Err(ReceiptError::Malformed(_))
        ));
    }
}
