//! Witnessing: C2SP's `tlog-witness` protocol and its Ed25519 `cosignature/v1`.
//!
//! A witness is an independent party that keeps, for each log it follows, the latest
//! checkpoint it cosigned. A log sends it each new checkpoint with a consistency proof from
//! that one (`add-checkpoint`); the witness cosigns only a checkpoint that extends what it
//! holds. A log that forks or cuts its history can then no longer obtain cosignatures, and
//! a checkpoint cosigned by witnesses run elsewhere is one the log's operators cannot
//! quietly take back.
//!
//! This module holds what both sides share, with no I/O: the request body
//! ([`AddCheckpoint`]), the checks a witness makes and the answer each failure gets
//! ([`check`], [`Refusal`]), the witness's key ([`Cosigner`]) and the verification of a
//! cosignature ([`verify_cosignature`]).
//!
//! A cosignature is a signed-note signature line `— <witness name> base64(key id (4) ‖
//! timestamp (8, big-endian) ‖ Ed25519 signature (64))` over
//! `"cosignature/v1\ntime <timestamp>\n" ‖ <checkpoint body>`; the key id is the first four
//! bytes of `SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key)`, and the verifier key is
//! `<name>+<key id, hex>+<base64(0x04 ‖ public key)>`.

use data_encoding::{BASE64, HEXLOWER};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::checkpoint::{self, Checkpoint, CheckpointError};
use crate::merkle::{Hash, verify_consistency};

/// The algorithm byte of Ed25519 cosignature keys (C2SP `tlog-cosignature`).
const COSIGNATURE_ALG: u8 = 0x04;
/// At most this many consistency proof lines in a request (C2SP `tlog-witness`).
pub const MAX_PROOF_LINES: usize = 63;
/// The media type of a 409 answer's body: the witness's recorded size.
pub const SIZE_MEDIA_TYPE: &str = "text/x.tlog.size";

/// An `add-checkpoint` request: the size of the checkpoint the log believes the witness
/// holds, a consistency proof from it, and the new signed checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the previous checkpoint (0 if the witness has none).
    pub old_size: u64,
    /// The consistency proof from `old_size` to the new checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note.
    pub note: String,
}

impl AddCheckpoint {
    /// Parses a request body; the reason if it is not one.
    pub fn parse(body: &str) -> Result<Self, &'static str> {
        let (head, note) = body
            .split_once("\n\n")
            .ok_or("no empty line before the checkpoint")?;
        let mut lines = head.split('\n');
        let old_size = lines
            .next()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(parse_decimal)
            .ok_or("the first line is not `old <size>`")?;
        let proof = lines
            .map(|l| {
                BASE64
                    .decode(l.as_bytes())
                    .ok()
                    .and_then(|h| Hash::try_from(h.as_slice()).ok())
                    .ok_or("a proof line is not a base64 hash")
            })
            .collect::<Result<Vec<Hash>, _>>()?;
        if proof.len() > MAX_PROOF_LINES {
            return Err("more than 63 proof lines");
        }
        Ok(Self {
            old_size,
            proof,
            note: note.to_owned(),
        })
    }

    /// The request body.
    pub fn to_body(&self) -> String {
        let mut body = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            body.push_str(&BASE64.encode(hash));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.note);
        body
    }
}

/// ASCII decimal with no sign and no leading zero (unless it is `0`).
fn parse_decimal(raw: &str) -> Option<u64> {
    let canonical = !raw.is_empty()
        && raw.bytes().all(|b| b.is_ascii_digit())
        && (raw == "0" || !raw.starts_with('0'));
    canonical.then(|| raw.parse().ok()).flatten()
}

/// The checkpoint a witness holds for one log: the latest it cosigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recorded {
    /// Its tree size.
    pub size: u64,
    /// Its root hash.
    pub root: Hash,
}

/// Why a witness does not cosign, with the HTTP status the protocol gives each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The body is not an `add-checkpoint` request (400).
    #[error("malformed request: {0}")]
    Malformed(&'static str),
    /// The old size is larger than the checkpoint's (400).
    #[error("the old size is larger than the checkpoint's")]
    OldSizeTooLarge,
    /// The witness does not follow a log of this origin (404).
    #[error("no log of this origin is witnessed here")]
    UnknownLog,
    /// No signature on the checkpoint verifies with the log's keys (403).
    #[error("no signature by a key of the log")]
    NotSigned,
    /// The old size is not the size the witness holds (409, with that size).
    #[error("the witness holds a checkpoint of size {recorded}")]
    StaleOldSize {
        /// The size of the checkpoint the witness holds.
        recorded: u64,
    },
    /// The checkpoint has the size of the one the witness holds, and another root: a fork
    /// (409).
    #[error("a checkpoint of the same size with another root: the log forked")]
    Fork {
        /// The size of the checkpoint the witness holds.
        recorded: u64,
    },
    /// The consistency proof does not prove that the checkpoint extends the one the witness
    /// holds (422): a fork, or a history rewritten.
    #[error("the consistency proof does not verify")]
    Inconsistent,
}

impl Refusal {
    /// The HTTP status the protocol gives it.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Malformed(_) | Refusal::OldSizeTooLarge => 400,
            Refusal::NotSigned => 403,
            Refusal::UnknownLog => 404,
            Refusal::StaleOldSize { .. } | Refusal::Fork { .. } => 409,
            Refusal::Inconsistent => 422,
        }
    }

    /// A stable code for it.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) => "witness.malformed_request",
            Refusal::OldSizeTooLarge => "witness.old_size_too_large",
            Refusal::NotSigned => "witness.not_signed_by_the_log",
            Refusal::UnknownLog => "witness.unknown_log",
            Refusal::StaleOldSize { .. } => "witness.stale_old_size",
            Refusal::Fork { .. } => "witness.fork",
            Refusal::Inconsistent => "witness.inconsistent",
        }
    }

    /// Whether the log misbehaved (a correctly signed checkpoint that does not extend what
    /// the witness holds): the request is evidence to keep.
    pub fn is_misbehaviour(&self) -> bool {
        matches!(self, Refusal::Fork { .. } | Refusal::Inconsistent)
    }
}

/// The origin line of a checkpoint note, to find the log's keys.
pub fn origin(note: &str) -> Option<&str> {
    note.split('\n').next().filter(|o| !o.is_empty())
}

/// Checks a request as a witness must, in the protocol's order: that it parses, that the
/// log is followed (`log_keys`, its verifier keys: empty when it is not), that a log key
/// signed it, that the old size is the recorded one, and that the checkpoint extends the
/// recorded one. Returns the checkpoint to record and cosign.
pub fn check(
    request: &AddCheckpoint,
    log_keys: &[String],
    recorded: Option<Recorded>,
) -> Result<Checkpoint, Refusal> {
    if log_keys.is_empty() {
        return Err(Refusal::UnknownLog);
    }
    let mut checkpoint = None;
    for key in log_keys {
        match checkpoint::verify(&request.note, key) {
            Ok(c) => {
                checkpoint = Some(c);
                break;
            }
            Err(CheckpointError::Malformed(why)) => return Err(Refusal::Malformed(why)),
            Err(_) => {}
        }
    }
    let checkpoint = checkpoint.ok_or(Refusal::NotSigned)?;
    if request.old_size > checkpoint.size {
        return Err(Refusal::OldSizeTooLarge);
    }
    let recorded_size = recorded.map_or(0, |r| r.size);
    if request.old_size != recorded_size {
        return Err(Refusal::StaleOldSize {
            recorded: recorded_size,
        });
    }
    match recorded {
        None => {
            if !request.proof.is_empty() {
                return Err(Refusal::Malformed("a proof from size 0"));
            }
        }
        Some(r) if r.size == checkpoint.size => {
            if r.root != checkpoint.root || !request.proof.is_empty() {
                return Err(Refusal::Fork { recorded: r.size });
            }
        }
        Some(r) => {
            if !verify_consistency(
                r.size,
                checkpoint.size,
                &r.root,
                &checkpoint.root,
                &request.proof,
            ) {
                return Err(Refusal::Inconsistent);
            }
        }
    }
    Ok(checkpoint)
}

/// A witness's Ed25519 cosigning key. ring's key pair does not wipe its secret when
/// dropped; it lives as long as the witness process.
pub struct Cosigner {
    name: String,
    key: Ed25519KeyPair,
    id: [u8; 4],
}

impl std::fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cosigner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Cosigner {
    /// The cosigner `name` (no spaces, no `+`) with an Ed25519 key from a PKCS#8 PEM
    /// document (`openssl genpkey -algorithm ed25519`, or [`Cosigner::generate_pem`]).
    pub fn from_pkcs8_pem(name: &str, pem: &str) -> Result<Self, CheckpointError> {
        if !checkpoint::valid_key_name(name) {
            return Err(CheckpointError::Key);
        }
        let key =
            Ed25519KeyPair::from_pkcs8_maybe_unchecked(checkpoint::pkcs8_document(pem)?.as_bytes())
                .map_err(|_| CheckpointError::Key)?;
        let id = checkpoint::key_id(name, COSIGNATURE_ALG, key.public_key().as_ref());
        Ok(Self {
            name: name.to_owned(),
            key,
            id,
        })
    }

    /// A new Ed25519 key as a PKCS#8 PEM document.
    pub fn generate_pem() -> Result<zeroize::Zeroizing<String>, CheckpointError> {
        use sm2::pkcs8::SecretDocument;
        use sm2::pkcs8::der::pem::LineEnding;
        let der = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .map_err(|_| CheckpointError::Key)?;
        let document = SecretDocument::try_from(der.as_ref()).map_err(|_| CheckpointError::Key)?;
        document
            .to_pem("PRIVATE KEY", LineEnding::LF)
            .map(|pem| zeroize::Zeroizing::new(pem.to_string()))
            .map_err(|_| CheckpointError::Key)
    }

    /// The cosigner's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The verifier key to give logs and verifiers:
    /// `<name>+<key id>+<base64(0x04 ‖ public key)>`.
    pub fn verifier_key(&self) -> String {
        let mut encoded = vec![COSIGNATURE_ALG];
        encoded.extend_from_slice(self.key.public_key().as_ref());
        format!(
            "{}+{}+{}",
            self.name,
            HEXLOWER.encode(&self.id),
            BASE64.encode(&encoded)
        )
    }

    /// The cosignature line (ending in a newline) of `checkpoint` at `timestamp` (Unix
    /// seconds).
    pub fn cosign(&self, checkpoint: &Checkpoint, timestamp: u64) -> String {
        let signature = self
            .key
            .sign(&cosigned_message(&checkpoint.body(), timestamp));
        let mut blob = self.id.to_vec();
        blob.extend_from_slice(&timestamp.to_be_bytes());
        blob.extend_from_slice(signature.as_ref());
        format!("\u{2014} {} {}\n", self.name, BASE64.encode(&blob))
    }
}

fn cosigned_message(body: &str, timestamp: u64) -> Vec<u8> {
    format!("cosignature/v1\ntime {timestamp}\n{body}").into_bytes()
}

/// A witness's verifier key, parsed.
struct WitnessKey {
    name: String,
    id: [u8; 4],
    public: Vec<u8>,
}

fn parse_witness_key(verifier_key: &str) -> Result<WitnessKey, CheckpointError> {
    let (name, id_hex, key) = checkpoint::split_verifier_key(verifier_key)?;
    let Some((&COSIGNATURE_ALG, public)) = key.split_first() else {
        return Err(CheckpointError::VerifierKey);
    };
    if public.len() != 32 || name.is_empty() {
        return Err(CheckpointError::VerifierKey);
    }
    let id = checkpoint::key_id(name, COSIGNATURE_ALG, public);
    if HEXLOWER.encode(&id) != id_hex {
        return Err(CheckpointError::VerifierKey);
    }
    Ok(WitnessKey {
        name: name.to_owned(),
        id,
        public: public.to_vec(),
    })
}

/// Checks that `verifier_key` is a witness's (Ed25519 cosignature) verifier key.
pub fn check_witness_key(verifier_key: &str) -> Result<(), CheckpointError> {
    parse_witness_key(verifier_key).map(|_| ())
}

/// Finds, among the signature lines of `note` (a checkpoint with its signatures and
/// cosignatures, or a witness's answer appended to one), a cosignature by the witness of
/// `verifier_key` over the note's checkpoint, and returns the checkpoint and the time the
/// witness cosigned it (Unix seconds). Lines by other keys are passed over.
pub fn verify_cosignature(
    note: &str,
    verifier_key: &str,
) -> Result<(Checkpoint, u64), CheckpointError> {
    let key = parse_witness_key(verifier_key)?;
    let (body, signatures) = checkpoint::split_note(note)?;
    let checkpoint = checkpoint::parse_body(&body)?;
    for (signer, blob) in signatures {
        if signer != key.name || blob.len() != 4 + 8 + 64 || blob[..4] != key.id {
            continue;
        }
        let mut stamp = [0u8; 8];
        stamp.copy_from_slice(&blob[4..12]);
        let timestamp = u64::from_be_bytes(stamp);
        let message = cosigned_message(&body, timestamp);
        if UnparsedPublicKey::new(&ED25519, &key.public)
            .verify(&message, &blob[12..])
            .is_ok()
        {
            return Ok((checkpoint, timestamp));
        }
    }
    Err(CheckpointError::BadSignature)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::CheckpointSigner;
    use crate::merkle::{Leaves, consistency_proof, leaf_hash, root};

    fn leaves(n: u64, salt: &str) -> Vec<Hash> {
        (0..n)
            .map(|i| leaf_hash(format!("{salt}{i}").as_bytes()))
            .collect()
    }

    fn log() -> CheckpointSigner {
        CheckpointSigner::new("log.example/audit", &[3u8; 32]).unwrap()
    }

    fn signed(log: &CheckpointSigner, tree: &[Hash], size: u64) -> (Checkpoint, String) {
        let checkpoint = Checkpoint {
            origin: "log.example/audit".to_owned(),
            size,
            root: root(&Leaves(tree), size),
        };
        let note = log.sign(&checkpoint).unwrap();
        (checkpoint, note)
    }

    fn witness() -> Cosigner {
        Cosigner::from_pkcs8_pem("witness.example/w1", &Cosigner::generate_pem().unwrap()).unwrap()
    }

    #[test]
    fn a_request_round_trips_and_strict_forms_are_required() {
        let request = AddCheckpoint {
            old_size: 20,
            proof: vec![[1u8; 32], [2u8; 32]],
            note: "o\n5\nAAAA\n\n— o sig\n".to_owned(),
        };
        assert_eq!(AddCheckpoint::parse(&request.to_body()), Ok(request));
        for bad in [
            "old 01\n\nnote",
            "old +1\n\nnote",
            "old 1\nnot base64!\n\nnote",
            "old 1\nAAAA\n\nnote",
            "new 1\n\nnote",
            "old 1\nnote",
        ] {
            assert!(AddCheckpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_consistent_checkpoint_is_cosigned_and_the_cosignature_verifies() {
        let (log, witness) = (log(), witness());
        let keys = vec![log.verifier_key()];
        let tree = leaves(13, "e");
        let (_, first) = signed(&log, &tree, 5);
        let request = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            note: first,
        };
        let c5 = check(&request, &keys, None).unwrap();
        let recorded = Recorded {
            size: 5,
            root: c5.root,
        };
        let (_, second) = signed(&log, &tree, 13);
        let request = AddCheckpoint {
            old_size: 5,
            proof: consistency_proof(&Leaves(&tree), 5, 13).unwrap(),
            note: second.clone(),
        };
        let c13 = check(&request, &keys, Some(recorded)).unwrap();
        assert_eq!(c13.size, 13);

        let line = witness.cosign(&c13, 1_700_000_000);
        let cosigned = format!("{second}{line}");
        let (checkpoint, at) = verify_cosignature(&cosigned, &witness.verifier_key()).unwrap();
        assert_eq!((checkpoint.size, at), (13, 1_700_000_000));
        // The log's own signature still verifies on the cosigned note.
        checkpoint::verify(&cosigned, &keys[0]).unwrap();
        // Another witness's key finds nothing; an altered timestamp breaks the signature.
        assert!(verify_cosignature(&cosigned, &self::witness().verifier_key()).is_err());
        let blob = BASE64
            .decode(line.trim_end().rsplit(' ').next().unwrap().as_bytes())
            .unwrap();
        let mut altered = blob.clone();
        altered[11] ^= 1;
        let forged = format!(
            "{second}\u{2014} witness.example/w1 {}\n",
            BASE64.encode(&altered)
        );
        assert_eq!(
            verify_cosignature(&forged, &witness.verifier_key()),
            Err(CheckpointError::BadSignature)
        );
    }

    #[test]
    fn each_failure_gets_the_protocols_answer() {
        let log = log();
        let keys = vec![log.verifier_key()];
        let tree = leaves(13, "e");
        let fork = leaves(13, "f");
        let recorded = Recorded {
            size: 5,
            root: root(&Leaves(&tree), 5),
        };
        let request = |old_size, proof, note| AddCheckpoint {
            old_size,
            proof,
            note,
        };
        let good = signed(&log, &tree, 13).1;
        let proof = consistency_proof(&Leaves(&tree), 5, 13).unwrap();

        let unknown = check(
            &request(5, proof.clone(), good.clone()),
            &[],
            Some(recorded),
        );
        assert_eq!(unknown.unwrap_err().status(), 404);
        let other = CheckpointSigner::new("log.example/audit", &[4u8; 32]).unwrap();
        let not_signed = check(
            &request(5, proof.clone(), signed(&other, &tree, 13).1),
            &keys,
            Some(recorded),
        );
        assert_eq!(not_signed, Err(Refusal::NotSigned));
        let too_large = check(&request(14, vec![], good.clone()), &keys, Some(recorded));
        assert_eq!(too_large, Err(Refusal::OldSizeTooLarge));
        let stale = check(
            &request(3, proof.clone(), good.clone()),
            &keys,
            Some(recorded),
        );
        assert_eq!(stale, Err(Refusal::StaleOldSize { recorded: 5 }));
        let never = check(&request(5, proof.clone(), good.clone()), &keys, None);
        assert_eq!(never, Err(Refusal::StaleOldSize { recorded: 0 }));

        // A fork: the forked tree's checkpoint, with a proof of the forked tree.
        let forked = check(
            &request(
                5,
                consistency_proof(&Leaves(&fork), 5, 13).unwrap(),
                signed(&log, &fork, 13).1,
            ),
            &keys,
            Some(recorded),
        );
        assert_eq!(forked, Err(Refusal::Inconsistent));
        assert_eq!(forked.unwrap_err().status(), 422);
        let same_size = check(
            &request(5, vec![], signed(&log, &fork, 5).1),
            &keys,
            Some(recorded),
        );
        assert_eq!(same_size, Err(Refusal::Fork { recorded: 5 }));
        assert!(same_size.unwrap_err().is_misbehaviour());
        // The same checkpoint again is cosigned again.
        check(
            &request(5, vec![], signed(&log, &tree, 5).1),
            &keys,
            Some(recorded),
        )
        .unwrap();
    }
}
