//! Signed checkpoints: the tree size and root, in the text form of C2SP's `tlog-checkpoint`,
//! signed as a C2SP signed note with Ed25519 (ring), SM2 (RustCrypto's `sm2`), or both.
//!
//! ```text
//! <origin>
//! <tree size, decimal>
//! <root hash, standard base64>
//!
//! — <key name> <base64(key id (4 bytes) ‖ signature (64 bytes))>
//! — <key name> <base64(key id ‖ signature)>        (a second line when both sign)
//! ```
//!
//! The signatures cover the note's text up to and including the newline after the root. A
//! key's id is the first four bytes of `SHA-256(key name ‖ "\n" ‖ algorithm byte ‖ public
//! key)`, and its verifier key is published as `<key name>+<key id, hex>+<base64(algorithm
//! byte ‖ public key)>`, so anyone can check a checkpoint offline.
//!
//! - Ed25519: algorithm byte `0x01` (C2SP), 32-byte public key, 64-byte signature.
//! - SM2 (GB/T 32918.2-2016 with SM3 and the standard default user id `1234567812345678`):
//!   algorithm byte `0xff` (C2SP's byte for signature types it does not define; this use is
//!   Baomi's own), the 65-byte uncompressed SEC1 public key, and the signature as `r ‖ s`
//!   (32 bytes each). `openssl dgst -sm3 -verify key.pem -sigopt distid:1234567812345678`
//!   checks the same signature once it is DER-encoded.

use baomi_types::{DetachedVerifier, SignatureAlgorithm};
use data_encoding::{BASE64, HEXLOWER};
use ring::digest::{SHA256, digest};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use sm2::dsa::signature::{Signer, Verifier};

use crate::merkle::Hash;

/// The algorithm byte of Ed25519 keys in signed notes.
const ED25519_ALG: u8 = 0x01;
/// The algorithm byte of SM2 keys in Baomi's signed notes.
const SM2_ALG: u8 = 0xff;
/// The standard default user id (distinguishing identifier) of SM2 signatures.
pub const SM2_DEFAULT_ID: &str = "1234567812345678";
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
    /// A key held elsewhere (an HSM) did not sign.
    #[error("the signing key could not sign: {0}")]
    Signer(String),
}

/// A signing key held outside the process (in an HSM): Baomi sees its public half and asks
/// it to sign, never its secret.
pub trait ExternalKey: Send + Sync {
    /// Its algorithm.
    fn algorithm(&self) -> SignatureAlgorithm;
    /// Its public key: 32 bytes for Ed25519, SEC1 for SM2.
    fn public(&self) -> Vec<u8>;
    /// Signs `message`; the error says why not, without secrets.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String>;
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

/// The signed-note algorithm byte of a signature algorithm (C2SP signed-note).
fn algorithm_byte(algorithm: SignatureAlgorithm) -> u8 {
    match algorithm {
        SignatureAlgorithm::Ed25519 => ED25519_ALG,
        SignatureAlgorithm::Sm2 => SM2_ALG,
    }
}

/// One signing key. Neither ring's Ed25519 key pair nor `sm2`'s signing key wipes its secret
/// when dropped; both live as long as the process, like the root key they come from. An
/// external key's secret never enters the process.
enum SigningKey {
    Ed25519(Ed25519KeyPair),
    Sm2(Box<sm2::dsa::SigningKey>),
    External(std::sync::Arc<dyn ExternalKey>),
}

impl SigningKey {
    fn algorithm(&self) -> SignatureAlgorithm {
        match self {
            SigningKey::Ed25519(_) => SignatureAlgorithm::Ed25519,
            SigningKey::Sm2(_) => SignatureAlgorithm::Sm2,
            SigningKey::External(k) => k.algorithm(),
        }
    }

    fn public(&self) -> Vec<u8> {
        match self {
            SigningKey::Ed25519(k) => k.public_key().as_ref().to_vec(),
            SigningKey::Sm2(k) => k.verifying_key().to_sec1_bytes().to_vec(),
            SigningKey::External(k) => k.public(),
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, CheckpointError> {
        match self {
            SigningKey::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
            SigningKey::Sm2(k) => {
                let signature: sm2::dsa::Signature = k.sign(message);
                Ok(signature.to_bytes().to_vec())
            }
            SigningKey::External(k) => k.sign(message).map_err(CheckpointError::Signer),
        }
    }
}

/// An SM2 signing key from a 32-byte seed: the seed is the secret scalar unless it is zero or
/// not below the group order (odds about 2^-32), in which case its SM3 digest is tried, and
/// so on.
fn sm2_key(seed: &[u8; 32]) -> Result<sm2::dsa::SigningKey, CheckpointError> {
    use sm3::Digest;
    let mut candidate = zeroize::Zeroizing::new(*seed);
    for _ in 0..64 {
        if let Ok(key) = sm2::dsa::SigningKey::from_slice(SM2_DEFAULT_ID, candidate.as_slice()) {
            return Ok(key);
        }
        let next: [u8; 32] = sm3::Sm3::digest(candidate.as_slice()).into();
        *candidate = next;
    }
    Err(CheckpointError::Key)
}

/// Where one checkpoint signing key comes from.
pub enum KeyMaterial<'a> {
    /// A 32-byte seed: the Ed25519 seed, or the SM2 scalar (see `sm2_key`).
    Seed(SignatureAlgorithm, &'a [u8; 32]),
    /// A PKCS#8 private key in PEM (`openssl genpkey -algorithm ed25519`, or
    /// `-algorithm SM2`); the algorithm is the key's own.
    Pkcs8Pem(&'a str),
    /// A key held elsewhere (an HSM), which signs on request.
    External(std::sync::Arc<dyn ExternalKey>),
}

impl KeyMaterial<'_> {
    fn signing_key(&self) -> Result<SigningKey, CheckpointError> {
        match self {
            KeyMaterial::Seed(SignatureAlgorithm::Ed25519, seed) => {
                Ed25519KeyPair::from_seed_unchecked(*seed)
                    .map(SigningKey::Ed25519)
                    .map_err(|_| CheckpointError::Key)
            }
            KeyMaterial::Seed(SignatureAlgorithm::Sm2, seed) => {
                Ok(SigningKey::Sm2(Box::new(sm2_key(seed)?)))
            }
            KeyMaterial::Pkcs8Pem(pem) => {
                use sm2::pkcs8::DecodePrivateKey;
                let document = pkcs8_document(pem)?;
                let der = document.as_bytes();
                if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
                    return Ok(SigningKey::Ed25519(pair));
                }
                let secret =
                    sm2::SecretKey::from_pkcs8_der(der).map_err(|_| CheckpointError::Key)?;
                sm2::dsa::SigningKey::new(SM2_DEFAULT_ID, &secret)
                    .map(|k| SigningKey::Sm2(Box::new(k)))
                    .map_err(|_| CheckpointError::Key)
            }
            KeyMaterial::External(key) => Ok(SigningKey::External(std::sync::Arc::clone(key))),
        }
    }
}

/// A signing key with what is derived from its public half once: the key id of its
/// signature lines and its verifier key.
struct Key {
    signing: SigningKey,
    id: [u8; 4],
    verifier: String,
}

/// Signs checkpoints and documents with one or two keys (Ed25519, SM2, or both).
pub struct CheckpointSigner {
    name: String,
    keys: Vec<Key>,
}

impl std::fmt::Debug for CheckpointSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// A signed-note key id: the first four bytes of `SHA-256(name ‖ "\n" ‖ algorithm ‖ public)`.
pub(crate) fn key_id(name: &str, algorithm: u8, public: &[u8]) -> [u8; 4] {
    let mut input = Vec::with_capacity(name.len() + 2 + public.len());
    input.extend_from_slice(name.as_bytes());
    input.push(b'\n');
    input.push(algorithm);
    input.extend_from_slice(public);
    let d = digest(&SHA256, &input);
    let mut id = [0u8; 4];
    id.copy_from_slice(&d.as_ref()[..4]);
    id
}

impl CheckpointSigner {
    /// A signer named `name` (no spaces, no `+`) with the Ed25519 key of a 32-byte seed.
    pub fn new(name: &str, seed: &[u8; 32]) -> Result<Self, CheckpointError> {
        Self::with_keys(name, &[(SignatureAlgorithm::Ed25519, seed)])
    }

    /// A signer named `name` with one key per entry (each from its own 32-byte seed), in the
    /// order given: the first is the primary key, whose verifier key
    /// [`CheckpointSigner::verifier_key`] returns.
    pub fn with_keys(
        name: &str,
        keys: &[(SignatureAlgorithm, &[u8; 32])],
    ) -> Result<Self, CheckpointError> {
        let material: Vec<KeyMaterial<'_>> = keys
            .iter()
            .map(|(algorithm, seed)| KeyMaterial::Seed(*algorithm, seed))
            .collect();
        Self::from_material(name, &material)
    }

    /// A signer named `name` with one key per entry of `keys`, seeds or PEM files, in the
    /// order given (the first is primary).
    pub fn from_material(name: &str, keys: &[KeyMaterial<'_>]) -> Result<Self, CheckpointError> {
        if !valid_key_name(name) || keys.is_empty() {
            return Err(CheckpointError::Key);
        }
        let keys = keys
            .iter()
            .map(|material| {
                let signing = material.signing_key()?;
                let public = signing.public();
                let alg = algorithm_byte(signing.algorithm());
                let id = key_id(name, alg, &public);
                let mut encoded = vec![alg];
                encoded.extend_from_slice(&public);
                let verifier = format!(
                    "{name}+{}+{}",
                    HEXLOWER.encode(&id),
                    BASE64.encode(&encoded)
                );
                Ok(Key {
                    signing,
                    id,
                    verifier,
                })
            })
            .collect::<Result<Vec<_>, CheckpointError>>()?;
        Ok(Self {
            name: name.to_owned(),
            keys,
        })
    }

    /// The algorithms this signer signs with, primary first.
    pub fn algorithms(&self) -> Vec<SignatureAlgorithm> {
        self.keys.iter().map(|k| k.signing.algorithm()).collect()
    }

    /// The primary key's verifier key, to publish:
    /// `<name>+<key id>+<base64(algorithm byte ‖ public key)>`.
    pub fn verifier_key(&self) -> String {
        self.keys
            .first()
            .map(|k| k.verifier.clone())
            .unwrap_or_default()
    }

    /// Every key's algorithm and verifier key, primary first.
    pub fn verifier_keys(&self) -> Vec<(SignatureAlgorithm, String)> {
        self.keys
            .iter()
            .map(|k| (k.signing.algorithm(), k.verifier.clone()))
            .collect()
    }

    /// Signs `message` for `context` (a name for the kind of document, e.g.
    /// `baomi-consent-receipt/1`) with the primary key: the standard base64 of the signature
    /// of `context ‖ "\n" ‖ message`. A checkpoint's signed text is the log's origin, a
    /// decimal size and a hash on three lines, so the two never pass for each other.
    pub fn sign_detached(&self, context: &str, message: &[u8]) -> Result<String, CheckpointError> {
        let key = self.keys.first().ok_or(CheckpointError::Key)?;
        Ok(BASE64.encode(&key.signing.sign(&detached_input(context, message))?))
    }

    /// [`CheckpointSigner::sign_detached`] with every key: (algorithm, verifier key,
    /// signature), primary first.
    pub fn sign_detached_all(
        &self,
        context: &str,
        message: &[u8],
    ) -> Result<Vec<(SignatureAlgorithm, String, String)>, CheckpointError> {
        let input = detached_input(context, message);
        self.keys
            .iter()
            .map(|k| {
                let signature = BASE64.encode(&k.signing.sign(&input)?);
                Ok((k.signing.algorithm(), k.verifier.clone(), signature))
            })
            .collect()
    }

    /// The signed note of `checkpoint`, with one signature line per key.
    pub fn sign(&self, checkpoint: &Checkpoint) -> Result<String, CheckpointError> {
        let body = checkpoint.body();
        let mut note = format!("{body}\n");
        for key in &self.keys {
            let mut blob = key.id.to_vec();
            blob.extend_from_slice(&key.signing.sign(body.as_bytes())?);
            note.push_str(&format!(
                "{SIGNATURE_PREFIX}{} {}\n",
                self.name,
                BASE64.encode(&blob)
            ));
        }
        Ok(note)
    }
}

/// A parsed verifier key.
struct VerifierKey<'a> {
    name: &'a str,
    id: [u8; 4],
    algorithm: SignatureAlgorithm,
    public: Vec<u8>,
}

impl VerifierKey<'_> {
    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self.algorithm {
            SignatureAlgorithm::Ed25519 => UnparsedPublicKey::new(&ED25519, &self.public)
                .verify(message, signature)
                .is_ok(),
            SignatureAlgorithm::Sm2 => {
                let Ok(key) = sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DEFAULT_ID, &self.public)
                else {
                    return false;
                };
                let Ok(signature) = sm2::dsa::Signature::from_slice(signature) else {
                    return false;
                };
                key.verify(message, &signature).is_ok()
            }
        }
    }
}

/// Splits a signed-note verifier key `<name>+<key id, hex>+<base64 key>` into its name, its
/// key id as written, and the decoded key (algorithm byte first).
pub(crate) fn split_verifier_key(
    verifier_key: &str,
) -> Result<(&str, &str, Vec<u8>), CheckpointError> {
    let mut parts = verifier_key.splitn(3, '+');
    let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(CheckpointError::VerifierKey);
    };
    let key = BASE64
        .decode(key_b64.as_bytes())
        .map_err(|_| CheckpointError::VerifierKey)?;
    Ok((name, id_hex, key))
}

/// Parses a verifier key of either algorithm, checking its key id.
fn parse_verifier_key(verifier_key: &str) -> Result<VerifierKey<'_>, CheckpointError> {
    let (name, id_hex, key) = split_verifier_key(verifier_key)?;
    let (algorithm, public) = match key.split_first() {
        Some((&ED25519_ALG, public)) if public.len() == 32 => (SignatureAlgorithm::Ed25519, public),
        Some((&SM2_ALG, public)) if public.len() == 65 && public[0] == 0x04 => {
            (SignatureAlgorithm::Sm2, public)
        }
        _ => return Err(CheckpointError::VerifierKey),
    };
    let id = key_id(name, algorithm_byte(algorithm), public);
    if HEXLOWER.encode(&id) != id_hex {
        return Err(CheckpointError::VerifierKey);
    }
    Ok(VerifierKey {
        name,
        id,
        algorithm,
        public: public.to_vec(),
    })
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
    let key = parse_verifier_key(verifier_key)?;
    let signature = BASE64
        .decode(signature.as_bytes())
        .map_err(|_| CheckpointError::BadSignature)?;
    if key.verify(&detached_input(context, message), &signature) {
        Ok(())
    } else {
        Err(CheckpointError::BadSignature)
    }
}

/// A verifier key (`name+id+base64`) as a [`DetachedVerifier`]: how signed documents are
/// checked ([`baomi_types::signed_json::verify`]).
#[derive(Clone, Copy, Debug)]
pub struct TrustedKey<'a>(pub &'a str);

impl DetachedVerifier for TrustedKey<'_> {
    fn verifies(&self, context: &str, message: &[u8], signature: &str) -> bool {
        verify_detached(context, message, signature, self.0).is_ok()
    }
}

/// The algorithm of a verifier key.
pub fn verifier_key_algorithm(verifier_key: &str) -> Result<SignatureAlgorithm, CheckpointError> {
    parse_verifier_key(verifier_key).map(|k| k.algorithm)
}

/// The key name of a verifier key (`<name>+<key id>+<key>`): a log's origin, a witness's
/// name.
pub fn verifier_key_name(verifier_key: &str) -> &str {
    verifier_key.split('+').next().unwrap_or_default()
}

/// Whether `name` may name a key: not empty, no spaces, no `+`.
pub(crate) fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(|c: char| c.is_whitespace() || c == '+')
}

/// The DER of a PKCS#8 private key in PEM (wiped when dropped).
pub(crate) fn pkcs8_document(pem: &str) -> Result<sm2::pkcs8::SecretDocument, CheckpointError> {
    sm2::pkcs8::SecretDocument::from_pem(pem)
        .map(|(_, document)| document)
        .map_err(|_| CheckpointError::Key)
}

/// Checks that `verifier_key` has the `<name>+<key id>+<key>` form and a matching key id.
pub fn check_verifier_key(verifier_key: &str) -> Result<(), CheckpointError> {
    parse_verifier_key(verifier_key).map(|_| ())
}

/// Checks a signed checkpoint note against a verifier key (Ed25519 or SM2) and returns what
/// it states. Signature lines by other keys are passed over.
pub fn verify(note: &str, verifier_key: &str) -> Result<Checkpoint, CheckpointError> {
    let key = parse_verifier_key(verifier_key)?;
    let (body, signatures) = split_note(note)?;
    let checkpoint = parse_body(&body)?;
    let signed = signatures.iter().any(|(signer, blob)| {
        *signer == key.name
            && blob.len() == 68
            && blob[..4] == key.id
            && key.verify(body.as_bytes(), &blob[4..])
    });
    if signed {
        Ok(checkpoint)
    } else {
        Err(CheckpointError::BadSignature)
    }
}

/// A signature line of a note: the key name, and the decoded key id and signature.
pub(crate) type SignatureLine<'a> = (&'a str, Vec<u8>);

/// Splits a signed note into its body (up to and including the newline before the blank
/// line) and its signature lines as (key name, decoded blob); lines that are not signature
/// lines are passed over.
pub(crate) fn split_note(note: &str) -> Result<(String, Vec<SignatureLine<'_>>), CheckpointError> {
    let (body, signatures) = note.split_once("\n\n").ok_or(CheckpointError::Malformed(
        "no blank line before the signatures",
    ))?;
    let lines = signatures
        .lines()
        .filter_map(|line| {
            let (signer, b64) = line.strip_prefix(SIGNATURE_PREFIX)?.split_once(' ')?;
            Some((signer, BASE64.decode(b64.as_bytes()).ok()?))
        })
        .collect();
    Ok((format!("{body}\n"), lines))
}

/// Parses a checkpoint body: origin, size and root, one per line.
pub(crate) fn parse_body(body: &str) -> Result<Checkpoint, CheckpointError> {
    let mut lines = body.lines();
    let origin = lines
        .next()
        .filter(|o| !o.is_empty())
        .ok_or(CheckpointError::Malformed("no origin"))?;
    // C2SP tlog-checkpoint: ASCII decimal, no sign, no leading zero.
    let size = lines
        .next()
        .filter(|s| s.bytes().all(|b| b.is_ascii_digit()) && (*s == "0" || !s.starts_with('0')))
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

    /// Keys made by `openssl genpkey -algorithm ed25519` and `-algorithm SM2` (OpenSSL
    /// 3.0), with their public halves from `openssl pkey -pubout`.
    const OPENSSL_ED25519: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINDlyCCREYpSY18rzj7Zq7wUm1XmSEZ2CSm3EBpoeqV/
-----END PRIVATE KEY-----
";
    const OPENSSL_ED25519_PUBLIC: &str = "HSv0SkckTooD74UWQnLEpTjeMyxkQ1TD74F4obGK6F4=";
    const OPENSSL_SM2: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqBHM9VAYItBG0wawIBAQQg3alvskgPKpkCgnA6
CuOhegQ7yZOycthMtPP493dj1PehRANCAAQbapW4YVJVMF7FRKoarw4PSgXpIcEl
o6vicRTZZvZihYaNA4AQQidDxBQJK5uUqkrovAMkpOW7A/4CVwBA8oDe
-----END PRIVATE KEY-----
";
    const OPENSSL_SM2_PUBLIC: &str =
        "BBtqlbhhUlUwXsVEqhqvDg9KBekhwSWjq+JxFNlm9mKFho0DgBBCJ0PEFAkrm5SqSui8AySk5bsD/gJXAEDygN4=";

    #[test]
    fn keys_from_openssl_pem_files_sign_with_their_own_public_halves() {
        let signer = CheckpointSigner::from_material(
            "baomi-test",
            &[
                KeyMaterial::Pkcs8Pem(OPENSSL_ED25519),
                KeyMaterial::Pkcs8Pem(OPENSSL_SM2),
            ],
        )
        .unwrap();
        let keys = signer.verifier_keys();
        let public = |verifier: &str| {
            let encoded = BASE64
                .decode(verifier.splitn(3, '+').nth(2).unwrap().as_bytes())
                .unwrap();
            BASE64.encode(&encoded[1..])
        };
        assert_eq!(keys[0].0, SignatureAlgorithm::Ed25519);
        assert_eq!(public(&keys[0].1), OPENSSL_ED25519_PUBLIC);
        assert_eq!(keys[1].0, SignatureAlgorithm::Sm2);
        assert_eq!(public(&keys[1].1), OPENSSL_SM2_PUBLIC);
        let note = signer
            .sign(&Checkpoint {
                origin: "baomi-test".into(),
                size: 1,
                root: leaf_hash(b"x"),
            })
            .unwrap();
        for (_, key) in &keys {
            assert_eq!(verify(&note, key).unwrap().size, 1);
        }
        assert!(matches!(
            CheckpointSigner::from_material("baomi-test", &[KeyMaterial::Pkcs8Pem("not a key")]),
            Err(CheckpointError::Key)
        ));
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
        let note = s.sign(&checkpoint()).unwrap();
        assert!(note.starts_with("baomi.test/audit\n42\n"));
        assert!(note.contains("\n\n\u{2014} baomi-test "));
        assert_eq!(verify(&note, &s.verifier_key()).unwrap(), checkpoint());
    }

    #[test]
    fn a_tree_size_is_plain_decimal() {
        let root = BASE64.encode(&leaf_hash(b"root"));
        for size in ["+42", "042", "-1", " 42", "4 2", ""] {
            assert!(
                parse_body(&format!("baomi.test/audit\n{size}\n{root}\n")).is_err(),
                "{size:?}"
            );
        }
        for size in ["0", "42"] {
            assert!(parse_body(&format!("baomi.test/audit\n{size}\n{root}\n")).is_ok());
        }
    }

    fn hex(s: &str) -> Vec<u8> {
        data_encoding::HEXLOWER_PERMISSIVE
            .decode(s.as_bytes())
            .unwrap()
    }

    /// A verifier key for an SM2 public key (65 bytes, uncompressed).
    fn sm2_verifier_key(name: &str, public: &[u8]) -> String {
        let mut encoded = vec![SM2_ALG];
        encoded.extend_from_slice(public);
        format!(
            "{name}+{}+{}",
            HEXLOWER.encode(&key_id(name, SM2_ALG, public)),
            BASE64.encode(&encoded)
        )
    }

    /// The signature example on the recommended curve of GM/T 0003.5-2012 Annex A (as
    /// OpenSSL's `test/sm2_internal_test.c` cites it): user id `1234567812345678`, message
    /// `message digest`.
    #[test]
    fn sm2_verifies_the_standards_example() {
        let key = VerifierKey {
            name: "x",
            id: [0; 4],
            algorithm: SignatureAlgorithm::Sm2,
            public: hex(
                "0409f9df311e5421a150dd7d161e4bc5c672179fad1833fc076bb08ff356f35020\
                 ccea490ce26775a52dc6ea718cc1aa600aed05fbf35e084a6632f6072da9ad13",
            ),
        };
        let mut rs = hex("f5a03b0648d2c4630eeac513e1bb81a15944da3827d5b74143ac7eaceee720b3");
        rs.extend(hex(
            "b1b6aa29df212fd8763182bc0d421ca1bb9038fd1f7f42d4840b69c485bbc1aa",
        ));
        assert!(key.verify(b"message digest", &rs));
        assert!(!key.verify(b"message digesT", &rs));
    }

    /// A signature made by OpenSSL 3 (`openssl dgst -sm3 -sign key.pem -sigopt
    /// distid:1234567812345678`) over `baomi checkpoint test`; the same private scalar as our
    /// seed gives the same public key, and our own signature verifies under it.
    #[test]
    fn sm2_agrees_with_openssl() {
        let d: [u8; 32] = hex("b92f091e84ed3371d1f2154061917b1143b154aa64725b961316f1c04e16a662")
            .try_into()
            .unwrap();
        let public = hex(
            "0449026abb2b898785778092283a2f5b7697cf78c05e1584045ce89c21c7e41632\
             e87190c2ee8c13c8b52b0195a64212732b45b0c88488c2ad41414e9ffd29fd20",
        );
        let signer = CheckpointSigner::with_keys("t", &[(SignatureAlgorithm::Sm2, &d)]).unwrap();
        let key = sm2_verifier_key("t", &public);
        assert_eq!(signer.verifier_key(), key);
        let parsed = parse_verifier_key(&key).unwrap();
        let openssl = hex(
            "6acb1686c60ea03b34dfc0df9ba031164abd01f31c6f97c6a876a71bbf53b945\
             ee4de973284289e1304794542c39fefefa6cc486ce07f3e40d366247f937a0c7",
        );
        assert!(parsed.verify(b"baomi checkpoint test", &openssl));
        let ours = signer.keys[0]
            .signing
            .sign(b"baomi checkpoint test")
            .unwrap();
        assert!(parsed.verify(b"baomi checkpoint test", &ours));
    }

    #[test]
    fn notes_signed_with_both_algorithms_verify_with_either_key() {
        let s = CheckpointSigner::with_keys(
            "baomi-test",
            &[
                (SignatureAlgorithm::Ed25519, &[7u8; 32]),
                (SignatureAlgorithm::Sm2, &[9u8; 32]),
            ],
        )
        .unwrap();
        let note = s.sign(&checkpoint()).unwrap();
        assert_eq!(note.matches(SIGNATURE_PREFIX).count(), 2, "{note}");
        let keys = s.verifier_keys();
        assert_eq!(keys[0].0, SignatureAlgorithm::Ed25519);
        assert_eq!(keys[1].0, SignatureAlgorithm::Sm2);
        // The Ed25519 key is the one an Ed25519-only signer with that seed has.
        assert_eq!(keys[0].1, signer().verifier_key());
        for (alg, key) in &keys {
            assert_eq!(verify(&note, key).unwrap(), checkpoint());
            assert_eq!(verifier_key_algorithm(key).unwrap(), *alg);
            let bigger = note.replacen("\n42\n", "\n43\n", 1);
            assert_eq!(verify(&bigger, key), Err(CheckpointError::BadSignature));
        }
        // An SM2-only signer's note has one line, which the Ed25519 key does not verify.
        let sm2_only =
            CheckpointSigner::with_keys("baomi-test", &[(SignatureAlgorithm::Sm2, &[9u8; 32])])
                .unwrap();
        let note = sm2_only.sign(&checkpoint()).unwrap();
        assert_eq!(verify(&note, &keys[1].1).unwrap(), checkpoint());
        assert!(verify(&note, &keys[0].1).is_err());
        // Detached signatures: one per key, each checked by its own verifier key only.
        let signed = s.sign_detached_all("ctx/1", b"body").unwrap();
        assert_eq!(signed.len(), 2);
        for (_, key, signature) in &signed {
            assert!(verify_detached("ctx/1", b"body", signature, key).is_ok());
            assert!(verify_detached("ctx/2", b"body", signature, key).is_err());
        }
        assert!(verify_detached("ctx/1", b"body", &signed[0].2, &signed[1].1).is_err());
        // Malformed SM2 verifier keys are refused.
        let short = sm2_verifier_key("baomi-test", &[4u8; 33]);
        assert_eq!(verify(&note, &short), Err(CheckpointError::VerifierKey));
    }

    #[test]
    fn altered_notes_and_other_keys_fail() {
        let s = signer();
        let note = s.sign(&checkpoint()).unwrap();
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
