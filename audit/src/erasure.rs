//! Erasure certificates: a signed statement that a subject was erased, which the subject or
//! a regulator checks offline, without trusting the server that issued it.
//!
//! A certificate is a signed JSON document ([`baomi_types::signed_json`], format
//! [`CERTIFICATE_FORMAT`]) that carries its own evidence: the erasure's audit event as the
//! trail holds it, the event's inclusion proof, and the signed checkpoint (with the
//! cosignatures of the witnesses that vouched for it) whose root the proof leads to. A
//! checker needs only the log's verifier keys, and the witnesses' keys it wants to demand
//! ([`verify_certificate`]): the signature says that Baomi states the erasure; the proof
//! and the checkpoint say that the statement is the one in the trail everybody else sees,
//! so that it cannot be issued for one reader and left out for the next.

use data_encoding::BASE64;
use serde_json::{Map, Value};

use crate::merkle::{Hash, leaf_hash, verify_inclusion};
use crate::verify::{TrustedKey, trusted_checkpoint};
use crate::witness::verify_cosignature;
use baomi_types::signed_json::{self, SignedJsonError};
use baomi_types::{AccessEvent, Action, Outcome};

/// The certificate format, also the signature's context.
pub const CERTIFICATE_FORMAT: &str = "baomi-erasure-certificate/1";

/// What an erasure destroys, in every certificate.
pub const DESTROYED: [&str; 4] = [
    "data_keys",
    "stored_fields",
    "tokens",
    "blind_index_entries",
];

/// What a certificate states and the evidence it carries, before it is signed.
#[derive(Debug, Clone)]
pub struct Statement<'a> {
    /// The log's origin (the checkpoints' first line).
    pub issuer: &'a str,
    /// The erased subject's id.
    pub subject: &'a str,
    /// The erasure's receipt id.
    pub receipt_id: &'a str,
    /// When the subject was erased (Unix seconds).
    pub erased_at: i64,
    /// When the certificate was issued (Unix seconds).
    pub issued_at: i64,
    /// The erasure's audit event, its text as the trail holds it (the leaf's data).
    pub event: &'a str,
    /// The event's sequence number.
    pub seq: i64,
    /// The event's leaf position.
    pub leaf_index: u64,
    /// Its inclusion proof in the tree of `checkpoint`.
    pub proof: &'a [Hash],
    /// The signed checkpoint the proof leads to, with any witnesses' cosignatures.
    pub checkpoint: &'a str,
    /// The checkpoint's tree size.
    pub tree_size: u64,
}

/// What a certificate states, as its JSON has it (the signature aside).
#[derive(serde::Serialize, serde::Deserialize)]
struct Body {
    format: String,
    issuer: String,
    issued_at: i64,
    subject: String,
    receipt_id: String,
    erased_at: i64,
    destroyed: Vec<String>,
    audit: Evidence,
}

/// The evidence a certificate carries.
#[derive(serde::Serialize, serde::Deserialize)]
struct Evidence {
    seq: i64,
    leaf_index: u64,
    event: String,
    tree_size: u64,
    /// Standard base64 of each hash.
    inclusion_proof: Vec<String>,
    checkpoint: String,
}

/// The unsigned body of the certificate of `s`.
pub fn certificate_body(s: &Statement<'_>) -> Value {
    let body = Body {
        format: CERTIFICATE_FORMAT.to_owned(),
        issuer: s.issuer.to_owned(),
        issued_at: s.issued_at,
        subject: s.subject.to_owned(),
        receipt_id: s.receipt_id.to_owned(),
        erased_at: s.erased_at,
        destroyed: DESTROYED.iter().map(|d| (*d).to_owned()).collect(),
        audit: Evidence {
            seq: s.seq,
            leaf_index: s.leaf_index,
            event: s.event.to_owned(),
            tree_size: s.tree_size,
            inclusion_proof: s.proof.iter().map(|h| BASE64.encode(h)).collect(),
            checkpoint: s.checkpoint.to_owned(),
        },
    };
    serde_json::to_value(body).unwrap_or(Value::Null)
}

/// Why a certificate does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErasureError {
    /// Not an erasure certificate.
    #[error("not an erasure certificate: {0}")]
    Malformed(&'static str),
    /// No trusted key signed the statement, or it was altered since.
    #[error("the certificate's signature does not verify: it was altered or signed by another key")]
    BadSignature,
    /// The checkpoint it carries is not one a trusted key signed (within its bound).
    #[error("the certificate's checkpoint: {0}")]
    BadCheckpoint(String),
    /// A witness the checker demands did not cosign the checkpoint.
    #[error("the checkpoint is not cosigned by the witness {0}")]
    NotWitnessed(String),
    /// The inclusion proof does not lead from the event to the checkpoint's root.
    #[error("the erasure's event is not in the checkpoint's tree: the inclusion proof fails")]
    NotIncluded,
    /// The event the proof covers is not this erasure.
    #[error("the audit event is not this erasure: {0}")]
    EventMismatch(&'static str),
}

/// What a certificate that holds shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedErasure {
    /// The erased subject.
    pub subject: String,
    /// The erasure's receipt id.
    pub receipt_id: String,
    /// When it was erased (Unix seconds).
    pub erased_at: i64,
    /// The erasure's audit event.
    pub seq: i64,
    /// Its leaf position.
    pub leaf_index: u64,
    /// The size of the signed tree it is in.
    pub tree_size: u64,
    /// The names of the witnesses whose cosignatures were checked.
    pub witnesses: Vec<String>,
}

/// Checks a certificate (JSON text): signed by one of `keys`, the log's verifier keys from a
/// copy the checker trusts; its checkpoint signed by one of them within its bound and
/// cosigned by every witness of `witness_keys`; its event in that checkpoint's tree; and
/// that event the erasure of the subject, under the receipt, that the statement names.
pub fn verify_certificate(
    text: &str,
    keys: &[TrustedKey],
    witness_keys: &[String],
) -> Result<VerifiedErasure, ErasureError> {
    let body: Body = serde_json::from_value(Value::Object(signed_by_one_of(text, keys)?))
        .map_err(|_| ErasureError::Malformed("a member is missing or of the wrong type"))?;
    let (audit, note) = (&body.audit, body.audit.checkpoint.as_str());
    let proof = audit
        .inclusion_proof
        .iter()
        .map(|h| {
            BASE64
                .decode(h.as_bytes())
                .ok()
                .and_then(|h| Hash::try_from(h.as_slice()).ok())
                .ok_or(ErasureError::Malformed(
                    "an inclusion proof hash is not base64 of 32 bytes",
                ))
        })
        .collect::<Result<Vec<Hash>, _>>()?;

    let checkpoint =
        trusted_checkpoint(note, keys).map_err(|f| ErasureError::BadCheckpoint(f.to_string()))?;
    if audit.tree_size != checkpoint.size {
        return Err(ErasureError::Malformed("tree_size is not the checkpoint's"));
    }
    let mut witnesses = Vec::new();
    for key in witness_keys {
        let name = crate::checkpoint::verifier_key_name(key).to_owned();
        match verify_cosignature(note, key) {
            Ok((cosigned, _)) if cosigned == checkpoint => witnesses.push(name),
            _ => return Err(ErasureError::NotWitnessed(name)),
        }
    }
    if !verify_inclusion(
        audit.leaf_index,
        checkpoint.size,
        &leaf_hash(audit.event.as_bytes()),
        &proof,
        &checkpoint.root,
    ) {
        return Err(ErasureError::NotIncluded);
    }
    let event: AccessEvent = serde_json::from_str(&audit.event)
        .map_err(|_| ErasureError::EventMismatch("not an audit event"))?;
    if event.action != Action::Erase || event.outcome != Outcome::Allowed {
        return Err(ErasureError::EventMismatch(
            "not an erasure that was carried out",
        ));
    }
    if event.subject.as_deref() != Some(body.subject.as_str()) {
        return Err(ErasureError::EventMismatch("another subject's"));
    }
    if event.target.as_deref() != Some(format!("receipt:{}", body.receipt_id).as_str()) {
        return Err(ErasureError::EventMismatch("another receipt's"));
    }
    Ok(VerifiedErasure {
        seq: audit.seq,
        leaf_index: audit.leaf_index,
        tree_size: checkpoint.size,
        witnesses,
        subject: body.subject,
        receipt_id: body.receipt_id,
        erased_at: body.erased_at,
    })
}

/// The body of `text` if one of `keys` signed it.
fn signed_by_one_of(text: &str, keys: &[TrustedKey]) -> Result<Map<String, Value>, ErasureError> {
    let mut outcome = Err(ErasureError::BadSignature);
    for key in keys {
        match signed_json::verify(
            text,
            CERTIFICATE_FORMAT,
            &crate::checkpoint::TrustedKey(&key.verifier_key),
        ) {
            Ok(body) => return Ok(body),
            Err(SignedJsonError::Malformed(reason)) => {
                return Err(ErasureError::Malformed(reason));
            }
            Err(SignedJsonError::BadSignature) => outcome = Err(ErasureError::BadSignature),
        }
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Checkpoint, CheckpointSigner};
    use crate::merkle::{Leaves, inclusion_proof, root};
    use crate::witness::Cosigner;
    use baomi_types::{Actor, RequestId};
    use serde_json::json;

    const ORIGIN: &str = "baomi/audit";

    fn erasure_event(subject: &str, receipt: &str) -> String {
        let mut event = AccessEvent::new(
            1_700_000_000_000,
            Action::Erase,
            Actor::new("k_1", "service"),
            None,
            &RequestId::parse("req-1").unwrap(),
        );
        event.subject = Some(subject.to_owned());
        event.target = Some(format!("receipt:{receipt}"));
        event.count = 1;
        serde_json::to_string(&event).unwrap()
    }

    /// A trail of five events whose fourth is `event`, its signed checkpoint (cosigned by
    /// `witness` if given) and the certificate of the erasure, signed by `signer`.
    fn issue(
        signer: &CheckpointSigner,
        event: &str,
        witness: Option<&Cosigner>,
        tamper: impl FnOnce(&mut Value),
    ) -> String {
        let mut texts: Vec<String> = (0..5).map(|i| format!("{{\"other\":{i}}}")).collect();
        texts[3] = event.to_owned();
        let leaves: Vec<Hash> = texts.iter().map(|t| leaf_hash(t.as_bytes())).collect();
        let checkpoint = Checkpoint {
            origin: ORIGIN.to_owned(),
            size: 5,
            root: root(&Leaves(&leaves), 5),
        };
        let mut note = signer.sign(&checkpoint).unwrap();
        if let Some(w) = witness {
            note.push_str(&w.cosign(&checkpoint, 1_700_000_001));
        }
        let proof = inclusion_proof(&Leaves(&leaves), 3, 5).unwrap();
        let statement = Statement {
            issuer: ORIGIN,
            subject: "u-42",
            receipt_id: "er_1",
            erased_at: 1_700_000_000,
            issued_at: 1_700_000_002,
            event,
            seq: 17,
            leaf_index: 3,
            proof: &proof,
            checkpoint: &note,
            tree_size: 5,
        };
        let mut body = certificate_body(&statement);
        tamper(&mut body);
        let signatures = signer
            .sign_detached_all(CERTIFICATE_FORMAT, signed_json::canonical(&body).as_bytes())
            .unwrap();
        signed_json::with_signatures(body, &signatures).to_string()
    }

    fn signer() -> CheckpointSigner {
        CheckpointSigner::new(ORIGIN, &[9; 32]).unwrap()
    }

    fn trusting(signer: &CheckpointSigner) -> Vec<TrustedKey> {
        vec![TrustedKey::current(&signer.verifier_key())]
    }

    fn witness() -> Cosigner {
        let pem = Cosigner::generate_pem().unwrap();
        Cosigner::from_pkcs8_pem("witness.example/w1", &pem).unwrap()
    }

    #[test]
    fn a_certificate_verifies_offline_with_the_log_and_witness_keys() {
        let (signer, w) = (signer(), witness());
        let cert = issue(&signer, &erasure_event("u-42", "er_1"), Some(&w), |_| {});
        let verified = verify_certificate(&cert, &trusting(&signer), &[w.verifier_key()]).unwrap();
        assert_eq!(verified.subject, "u-42");
        assert_eq!(verified.receipt_id, "er_1");
        assert_eq!(
            (verified.seq, verified.leaf_index, verified.tree_size),
            (17, 3, 5)
        );
        assert_eq!(verified.witnesses, vec!["witness.example/w1".to_owned()]);
    }

    #[test]
    fn any_change_or_missing_evidence_fails() {
        let (signer, w) = (signer(), witness());
        let keys = trusting(&signer);
        let event = erasure_event("u-42", "er_1");
        let cert = issue(&signer, &event, None, |_| {});
        assert!(verify_certificate(&cert, &keys, &[]).is_ok());
        // Altered after signing.
        assert_eq!(
            verify_certificate(&cert.replace("u-42", "u-43"), &keys, &[]),
            Err(ErasureError::BadSignature)
        );
        // Checked with another log's key.
        let other = CheckpointSigner::new(ORIGIN, &[8; 32]).unwrap();
        assert_eq!(
            verify_certificate(&cert, &trusting(&other), &[]),
            Err(ErasureError::BadSignature)
        );
        // A witness demanded that never cosigned.
        assert_eq!(
            verify_certificate(&cert, &keys, &[w.verifier_key()]),
            Err(ErasureError::NotWitnessed("witness.example/w1".to_owned()))
        );
        // Signed by the log, but the proof does not lead to the checkpoint.
        let bad_proof = issue(&signer, &event, None, |b| {
            b["audit"]["leaf_index"] = json!(2);
        });
        assert_eq!(
            verify_certificate(&bad_proof, &keys, &[]),
            Err(ErasureError::NotIncluded)
        );
        // Signed by the log, with a proof of another subject's erasure.
        let theirs = issue(&signer, &erasure_event("u-7", "er_1"), None, |_| {});
        assert_eq!(
            verify_certificate(&theirs, &keys, &[]),
            Err(ErasureError::EventMismatch("another subject's"))
        );
        // A checkpoint another key signed.
        let foreign = issue(&signer, &event, None, |b| {
            let note = other
                .sign(&Checkpoint {
                    origin: ORIGIN.to_owned(),
                    size: 5,
                    root: [0; 32],
                })
                .unwrap();
            b["audit"]["checkpoint"] = json!(note);
        });
        assert!(matches!(
            verify_certificate(&foreign, &keys, &[]),
            Err(ErasureError::BadCheckpoint(_))
        ));
        assert!(matches!(
            verify_certificate("{}", &keys, &[]),
            Err(ErasureError::Malformed(_))
        ));
    }
}
