//! Signed JSON documents: consent receipts and erasure certificates. A document is a JSON
//! object naming its `format`; its `signature` member holds the detached signature (see
//! [`crate::DetachedVerifier`], with the format as context) of the rest of the
//! object in canonical form: keys sorted, no insignificant whitespace, strings escaped as
//! serde_json does (numbers are integers). When the log signs with more than one key,
//! `signatures` lists every signature, so that a checker of either algorithm finds its own.

use serde_json::{Map, Value, json};

use crate::{DetachedVerifier, SignatureAlgorithm};

/// Why a signed document does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedJsonError {
    /// Not a document of the expected format.
    #[error("not a document of this kind: {0}")]
    Malformed(&'static str),
    /// No signature verifies with the key: altered, or signed by another key.
    #[error("the signature does not verify: the document was altered or signed by another key")]
    BadSignature,
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

/// Checks a signed document (JSON text) of `format` with `verifier`, a key obtained from a
/// copy the checker trusts (not from the document); returns its body, without signatures.
pub fn verify(
    text: &str,
    format: &str,
    verifier: &dyn DetachedVerifier,
) -> Result<Map<String, Value>, SignedJsonError> {
    let Ok(Value::Object(mut body)) = serde_json::from_str::<Value>(text) else {
        return Err(SignedJsonError::Malformed("not a JSON object"));
    };
    if body.get("format").and_then(Value::as_str) != Some(format) {
        return Err(SignedJsonError::Malformed("unknown format"));
    }
    let first = body
        .remove("signature")
        .ok_or(SignedJsonError::Malformed("no signature"))?;
    let mut candidates = vec![first];
    if let Some(Value::Array(all)) = body.remove("signatures") {
        candidates.extend(all);
    }
    let canonical_text = canonical(&Value::Object(body.clone()));
    let verified = candidates.iter().any(|s| {
        s.get("value")
            .and_then(Value::as_str)
            .is_some_and(|signature| {
                verifier.verifies(format, canonical_text.as_bytes(), signature)
            })
    });
    if verified {
        Ok(body)
    } else {
        Err(SignedJsonError::BadSignature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_sorts_keys_at_every_depth() {
        let v = json!({"b": 1, "a": {"d": [true, null, "x\"y"], "c": "保密"}});
        assert_eq!(
            canonical(&v),
            r#"{"a":{"c":"保密","d":[true,null,"x\"y"]},"b":1}"#
        );
    }
}
