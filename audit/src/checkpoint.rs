//! Signed checkpoints: the tree size and root, in the text form of C2SP's `tlog-checkpoint`,
//! signed as a C2SP signed note with Ed25519 (ring).
//!
//! ```text
//! <origin>
//! <tree size, decimal>
//! <root hash, standard base64>
//!
//! — <key name> <base64(key id (4 bytes) ‖ Ed25519 signature (64 bytes))>
//! ```
//!
//! The signature covers the note's text up to and including the newline after the root. The
//! key id is the first four bytes of `SHA-256(key name ‖ "\n" ‖ 0x01 ‖ public key)`, and the
//! verifier key is published as `<key name>+<key id, hex>+<base64(0x01 ‖ public key)>`, so
//! anyone can check a checkpoint offline.

use data_encoding::{BASE64, HEXLOWER};
use ring::digest::{SHA256, digest};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};

use crate::merkle::Hash;

/// The algorithm byte of Ed25519 keys in signed notes.
const ED25519_ALG: u8 = 0x01;
/// The dash that starts a signature line (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a checkpoint could not be made or checked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The signing key could not be made.
    #[error("invalid signing key")]
    Key,
    /// The text is not a checkpoint note.
    #[error("malformed checkpoint: {0}")]
    Malformed(&'static str),
    /// The verifier key is not of the `<name>+<id>+<key>` form.
    #[error("malformed verifier key")]
    VerifierKey,
    /// No signature by the given key verifies.
    #[error("no valid signature by this key")]
    BadSignature,
}

/// A tree head: what a checkpoint states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's name (e.g. `baomi.example/audit`).
    pub origin: String,
    /// Number of events in the tree.
    pub size: u64,
    /// The Merkle root over them.
    pub root: Hash,
}

impl Checkpoint {
    /// The note's body, which the signature covers.
    pub fn body(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(&self.root)
        )
    }
}

/// Signs checkpoints with an Ed25519 key.
pub struct CheckpointSigner {
    name: String,
    key: Ed25519KeyPair,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn key_id(name: &str, public: &[u8]) -> [u8; 4] {
    let mut input = Vec::with_capacity(name.len() + 2 + public.len());
    input.extend_from_slice(name.as_bytes());
    input.push(b'\n');
    input.push(ED25519_ALG);
    input.extend_from_slice(public);
    let d = digest(&SHA256, &input);
    let mut id = [0u8; 4];
    id.copy_from_slice(&d.as_ref()[..4]);
    id
}

impl CheckpointSigner {
    /// A signer named `name` (no spaces, no `+`) with the Ed25519 key of a 32-byte seed.
    pub fn new(name: &str, seed: &[u8; 32]) -> Result<Self, CheckpointError> {
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '+') {
            return Err(CheckpointError::Key);
        }
        let key = Ed25519KeyPair::from_seed_unchecked(seed).map_err(|_| CheckpointError::Key)?;
        Ok(Self {
            name: name.to_owned(),
            key,
        })
    }

    /// The verifier key to publish: `<name>+<key id>+<base64(0x01 ‖ public key)>`.
    pub fn verifier_key(&self) -> String {
        let public = self.key.public_key().as_ref();
        let mut encoded = vec![ED25519_ALG];
        encoded.extend_from_slice(public);
        format!(
            "{}+{}+{}",
            self.name,
            HEXLOWER.encode(&key_id(&self.name, public)),
            BASE64.encode(&encoded)
        )
    }

    /// Signs `message` for `context` (a name for the kind of document, e.g.
    /// `baomi-consent-receipt/1`) with the same key: the standard base64 of the Ed25519
    /// signature of `context ‖ "\n" ‖ message`. A checkpoint's signed text is the log's
    /// origin, a decimal size and a hash on three lines, so the two never pass for each other.
    pub fn sign_detached(&self, context: &str, message: &[u8]) -> String {
        let signature = self.key.sign(&detached_input(context, message));
        BASE64.encode(signature.as_ref())
    }

    /// The signed note of `checkpoint`.
    pub fn sign(&self, checkpoint: &Checkpoint) -> String {
        let body = checkpoint.body();
        let signature = self.key.sign(body.as_bytes());
        let mut blob = key_id(&self.name, self.key.public_key().as_ref()).to_vec();
        blob.extend_from_slice(signature.as_ref());
        format!(
            "{body}\n{SIGNATURE_PREFIX}{} {}\n",
            self.name,
            BASE64.encode(&blob)
        )
    }
}

/// A verifier key's name, key id and Ed25519 public key.
fn parse_verifier_key(verifier_key: &str) -> Result<(&str, [u8; 4], Vec<u8>), CheckpointError> {
    let mut parts = verifier_key.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(CheckpointError::VerifierKey);
    };
    let key = BASE64
        .decode(key_b64.as_bytes())
        .map_err(|_| CheckpointError::VerifierKey)?;
    let Some((&ED25519_ALG, public)) = key.split_first() else {
        return Err(CheckpointError::VerifierKey);
    };
    let id = key_id(name, public);
    if HEXLOWER.encode(&id) != id_hex {
        return Err(CheckpointError::VerifierKey);
    }
    Ok((name, id, public.to_vec()))
}

fn detached_input(context: &str, message: &[u8]) -> Vec<u8> {
    let mut input = Vec::with_capacity(context.len() + 1 + message.len());
    input.extend_from_slice(context.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(message);
    input
}

/// Checks a signature made by [`CheckpointSigner::sign_detached`] against a verifier key.
pub fn verify_detached(
    context: &str,
    message: &[u8],
    signature: &str,
    verifier_key: &str,
) -> Result<(), CheckpointError> {
    let (_, _, public) = parse_verifier_key(verifier_key)?;
    let signature = BASE64
        .decode(signature.as_bytes())
        .map_err(|_| CheckpointError::BadSignature)?;
    UnparsedPublicKey::new(&ED25519, &public)
        .verify(&detached_input(context, message), &signature)
        .map_err(|_| CheckpointError::BadSignature)
}

/// Checks that `verifier_key` has the `<name>+<key id>+<key>` form and a matching key id.
pub fn check_verifier_key(verifier_key: &str) -> Result<(), CheckpointError> {
    parse_verifier_key(verifier_key).map(|_| ())
}

/// Checks a signed checkpoint note against a verifier key and returns what it states.
pub fn verify(note: &str, verifier_key: &str) -> Result<Checkpoint, CheckpointError> {
    let (name, id, public) = parse_verifier_key(verifier_key)?;
    let (body, signatures) = note.split_once("\n\n").ok_or(CheckpointError::Malformed(
        "no blank line before the signatures",
    ))?;
    let body = format!("{body}\n");
    let checkpoint = parse_body(&body)?;
    let verifier = UnparsedPublicKey::new(&ED25519, &public);
    for line in signatures.lines() {
        let Some(rest) = line.strip_prefix(SIGNATURE_PREFIX) else {
            continue;
        };
        let Some((signer, b64)) = rest.split_once(' ') else {
            continue;
        };
        let Ok(blob) = BASE64.decode(b64.as_bytes()) else {
            continue;
        };
        if signer == name
            && blob.len() == 68
            && blob[..4] == id
            && verifier.verify(body.as_bytes(), &blob[4..]).is_ok()
        {
            return Ok(checkpoint);
        }
    }
    Err(CheckpointError::BadSignature)
}

fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
    let mut lines = body.lines();
    let origin = lines
        .next()
        .filter(|o| !o.is_empty())
        .ok_or(CheckpointError::Malformed("no origin"))?;
    let size = lines
        .next()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or(CheckpointError::Malformed("no tree size"))?;
    let root = lines
        .next()
        .and_then(|r| BASE64.decode(r.as_bytes()).ok())
        .and_then(|r| <[u8; 32]>::try_from(r.as_slice()).ok())
        .ok_or(CheckpointError::Malformed("no root hash"))?;
    Ok(Checkpoint {
        origin: origin.to_owned(),
        size,
        root,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::leaf_hash;

    fn signer() -> CheckpointSigner {
        CheckpointSigner::new("baomi-test", &[7u8; 32]).unwrap()
    }

    fn checkpoint() -> Checkpoint {
        Checkpoint {
            origin: "baomi.test/audit".to_owned(),
            size: 42,
            root: leaf_hash(b"root"),
        }
    }

    #[test]
    fn signed_notes_verify_and_say_what_was_signed() {
        let s = signer();
        let note = s.sign(&checkpoint());
        assert!(note.starts_with("baomi.test/audit\n42\n"));
        assert!(note.contains("\n\n\u{2014} baomi-test "));
        assert_eq!(verify(&note, &s.verifier_key()).unwrap(), checkpoint());
    }

    #[test]
    fn altered_notes_and_other_keys_fail() {
        let s = signer();
        let note = s.sign(&checkpoint());
        let bigger = note.replacen("\n42\n", "\n43\n", 1);
        assert_eq!(
            verify(&bigger, &s.verifier_key()),
            Err(CheckpointError::BadSignature)
        );
        let other = CheckpointSigner::new("baomi-test", &[8u8; 32]).unwrap();
        assert!(verify(&note, &other.verifier_key()).is_err());
        let renamed = CheckpointSigner::new("someone-else", &[7u8; 32]).unwrap();
        assert!(verify(&note, &renamed.verifier_key()).is_err());
        assert!(verify("nonsense", &s.verifier_key()).is_err());
        assert_eq!(verify(&note, "x+y"), Err(CheckpointError::VerifierKey));
        assert!(CheckpointSigner::new("has space", &[1u8; 32]).is_err());
    }
}
