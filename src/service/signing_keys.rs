//! The keys that sign the audit log's checkpoints (and consent receipts): keys of their own,
//! never derivable from the root key alone, so that someone holding the passphrase and the
//! database cannot re-sign a rewritten history with the published key.
//!
//! - **Sealed** (the default): generated at random on first start and kept in
//!   `audit_signing_keys`, sealed with AES-256-GCM under a key derived from the root key
//!   and bound to the key's verifier key. Rotated with `POST /v1/audit/keys/rotate`.
//! - **From files**: PKCS#8 PEM files (`audit.signing_key_files`); replacing the files and
//!   restarting starts a new generation.
//! - **Derived**: releases before this one derived the keys from the root key. On upgrade
//!   that key is recorded as the first generation, retired at the tree size the upgrade
//!   found, and a sealed generation takes over: the derived key, which anyone with the
//!   passphrase can recompute, is trusted for no larger tree.
//!
//! Each generation takes over at a tree size (`from_size`). The previous generation may
//! have signed trees up to that size and no larger; verifiers hold it to that (see
//! `baomi_audit::verify::TrustedKey`). The history is published at `GET /v1/audit/keys`.

use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use baomi_audit::checkpoint::{CheckpointSigner, KeyMaterial, SignatureAlgorithm};
use baomi_audit::{AccessEvent, LogStore};
use baomi_vault::{AeadKey, RootKey};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::service::{ServiceError, now_ms};
use crate::store::signing_keys::{SigningKeyStore, StoredSigningKey};

/// Where the keys of a generation come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// Generated at random, sealed under the root key.
    Sealed,
    /// Read from PKCS#8 PEM files.
    File,
    /// Derived from the root key (releases before keys of their own).
    Derived,
}

impl KeySource {
    /// The stored and published name.
    pub fn as_str(self) -> &'static str {
        match self {
            KeySource::Sealed => "sealed",
            KeySource::File => "file",
            KeySource::Derived => "derived",
        }
    }
}

/// What the configuration asks to sign with.
pub enum Wanted {
    /// Keys of these algorithms (primary first), generated and sealed.
    Sealed(Vec<SignatureAlgorithm>),
    /// The keys of these PEM files, of these algorithms, in this order.
    Files(Vec<(SignatureAlgorithm, PathBuf)>),
}

/// One key of the published history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishedKey {
    /// Its generation.
    pub generation: i64,
    /// Its algorithm.
    pub algorithm: String,
    /// Its verifier key.
    pub verifier_key: String,
    /// `sealed`, `file` or `derived`.
    pub source: String,
    /// When it was made (Unix milliseconds).
    pub created_at: i64,
    /// The tree size when its generation took over.
    pub from_size: u64,
    /// The largest tree it may have signed, once a later generation took over.
    pub until_size: Option<u64>,
    /// Whether it signs now.
    pub current: bool,
}

/// The generation that signs now.
struct Current {
    generation: i64,
    signer: CheckpointSigner,
}

/// The checkpoint signing keys of one log, shared by every part of a node that signs.
pub struct SigningKeys {
    store: Arc<dyn SigningKeyStore>,
    tree: Arc<dyn LogStore>,
    sealer: AeadKey,
    origin: String,
    wanted: Wanted,
    current: RwLock<Arc<Current>>,
}

fn internal(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(format!("audit signing keys: {e}"))
}

/// The label of the key that seals signing keys.
const SEAL_LABEL: &str = "audit-signing-key-seal/v1";
/// How many times opening retries when other nodes write a generation at the same time.
const ATTEMPTS: usize = 4;

impl SigningKeys {
    /// The keys of the log named `origin` in `store`: the newest generation if it is what
    /// `wanted` asks for, else a new generation (recording a pre-upgrade derived key first,
    /// once). Safe when several nodes start at once: one writes a generation, the others
    /// read it.
    pub async fn open(
        store: Arc<dyn SigningKeyStore>,
        tree: Arc<dyn LogStore>,
        root: &RootKey,
        origin: &str,
        wanted: Wanted,
    ) -> Result<Self, ServiceError> {
        let sealer = root
            .derive(SEAL_LABEL)
            .and_then(|k| k.with_bytes(AeadKey::from_bytes))
            .map_err(internal)?;
        let file_signer = match &wanted {
            Wanted::Files(files) => Some(signer_from_files(origin, files)?),
            Wanted::Sealed(_) => None,
        };
        for _ in 0..ATTEMPTS {
            let rows = store.signing_keys().await?;
            let newest = newest_generation(&rows);
            let matches = match (&wanted, &file_signer) {
                (Wanted::Files(_), Some(signer)) => {
                    !newest.is_empty() && verifier_keys(newest) == verifier_keys_of(signer)
                }
                (Wanted::Sealed(algorithms), _) => {
                    !newest.is_empty()
                        && newest
                            .iter()
                            .all(|k| k.source == KeySource::Sealed.as_str())
                        && newest
                            .iter()
                            .map(|k| SignatureAlgorithm::parse(&k.algorithm))
                            .eq(algorithms.iter().map(|a| Some(*a)))
                }
                (Wanted::Files(_), None) => false,
            };
            if matches {
                let generation = newest[0].generation;
                let signer = match file_signer {
                    Some(signer) => signer,
                    None => unseal(&sealer, origin, newest)?,
                };
                return Ok(Self::with(
                    store, tree, sealer, origin, wanted, generation, signer,
                ));
            }
            let mut next = newest.first().map_or(1, |k| k.generation + 1);
            if rows.is_empty() && tree.latest_checkpoint().await?.is_some() {
                // A trail signed before keys of their own: its derived key becomes the
                // first generation, retired where the next one takes over.
                if !store
                    .add_signing_keys(&derived_generation(root, origin)?, &[])
                    .await?
                {
                    continue;
                }
                next = 2;
            }
            let from_size = tree_size(tree.as_ref()).await?;
            let (rows, signer) = match file_signer {
                Some(ref signer) => (
                    file_generation(signer, next, from_size),
                    None::<CheckpointSigner>,
                ),
                None => {
                    let Wanted::Sealed(algorithms) = &wanted else {
                        unreachable!("file keys are read above")
                    };
                    let (rows, signer) =
                        sealed_generation(&sealer, origin, algorithms, next, from_size)?;
                    (rows, Some(signer))
                }
            };
            if store.add_signing_keys(&rows, &[]).await? {
                tracing::info!(
                    generation = next,
                    source = rows[0].source,
                    "a new generation of audit signing keys"
                );
                let signer = match (signer, file_signer) {
                    (Some(s), _) | (None, Some(s)) => s,
                    (None, None) => unreachable!("one of the two is set"),
                };
                return Ok(Self::with(
                    store, tree, sealer, origin, wanted, next, signer,
                ));
            }
        }
        Err(internal(
            "other nodes kept writing new generations during start-up",
        ))
    }

    fn with(
        store: Arc<dyn SigningKeyStore>,
        tree: Arc<dyn LogStore>,
        sealer: AeadKey,
        origin: &str,
        wanted: Wanted,
        generation: i64,
        signer: CheckpointSigner,
    ) -> Self {
        Self {
            store,
            tree,
            sealer,
            origin: origin.to_owned(),
            wanted,
            current: RwLock::new(Arc::new(Current { generation, signer })),
        }
    }

    fn current(&self) -> Arc<Current> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Runs `f` with the signer of the generation in use.
    pub fn with_signer<T>(&self, f: impl FnOnce(&CheckpointSigner) -> T) -> T {
        f(&self.current().signer)
    }

    /// The generation in use.
    pub fn generation(&self) -> i64 {
        self.current().generation
    }

    /// Takes up a generation another node wrote (a rotation), if there is one. Called before
    /// every checkpoint and once a second on every node.
    pub async fn refresh(&self) -> Result<(), ServiceError> {
        let Some(newest) = self.store.newest_signing_generation().await? else {
            return Ok(());
        };
        if newest <= self.generation() {
            return Ok(());
        }
        let rows = self.store.signing_keys().await?;
        let keys = newest_generation(&rows);
        let signer = match &self.wanted {
            Wanted::Sealed(_) => unseal(&self.sealer, &self.origin, keys)?,
            Wanted::Files(files) => {
                let signer = signer_from_files(&self.origin, files)?;
                if verifier_keys(keys) != verifier_keys_of(&signer) {
                    return Err(internal(
                        "another node signs with other key files than this node's",
                    ));
                }
                signer
            }
        };
        self.install(newest, signer);
        Ok(())
    }

    fn install(&self, generation: i64, signer: CheckpointSigner) {
        let mut current = self.current.write().unwrap_or_else(|e| e.into_inner());
        if generation > current.generation {
            *current = Arc::new(Current { generation, signer });
        }
    }

    /// Rotates sealed keys: a new generation of the same algorithms takes over at the
    /// current tree size, recorded by the events `audit` makes of the new verifier keys.
    /// Keys from files are rotated by replacing the files and restarting.
    pub async fn rotate(
        &self,
        audit: impl FnOnce(i64, &[String]) -> Vec<AccessEvent>,
    ) -> Result<Vec<PublishedKey>, ServiceError> {
        let Wanted::Sealed(algorithms) = &self.wanted else {
            return Err(ServiceError::Conflict {
                code: "audit.signing_keys_from_files",
                detail: "the signing keys are read from key files: replace the files and \
                         restart to rotate them"
                    .to_owned(),
            });
        };
        self.refresh().await?;
        let next = self.generation() + 1;
        let from_size = tree_size(self.tree.as_ref()).await?;
        let (rows, signer) =
            sealed_generation(&self.sealer, &self.origin, algorithms, next, from_size)?;
        let verifiers: Vec<String> = rows.iter().map(|r| r.verifier_key.clone()).collect();
        if !self
            .store
            .add_signing_keys(&rows, &audit(next, &verifiers))
            .await?
        {
            return Err(ServiceError::Conflict {
                code: "audit.rotation_in_progress",
                detail: "another rotation took this generation; read GET /v1/audit/keys".to_owned(),
            });
        }
        self.install(next, signer);
        let history = self.history().await?;
        Ok(history
            .into_iter()
            .filter(|k| k.generation == next)
            .collect())
    }

    /// Every key, oldest generation first, with the tree sizes each may have signed.
    pub async fn history(&self) -> Result<Vec<PublishedKey>, ServiceError> {
        let rows = self.store.signing_keys().await?;
        let current = self.generation();
        Ok(rows
            .iter()
            .map(|row| {
                let until_size = rows
                    .iter()
                    .find(|r| r.generation > row.generation)
                    .map(|r| size(r.from_size));
                PublishedKey {
                    generation: row.generation,
                    algorithm: row.algorithm.clone(),
                    verifier_key: row.verifier_key.clone(),
                    source: row.source.clone(),
                    created_at: row.created_at,
                    from_size: size(row.from_size),
                    until_size,
                    current: row.generation == current,
                }
            })
            .collect())
    }
}

fn size(stored: i64) -> u64 {
    u64::try_from(stored).unwrap_or(0)
}

async fn tree_size(tree: &dyn LogStore) -> Result<i64, ServiceError> {
    i64::try_from(tree.tree_size().await?).map_err(internal)
}

/// The rows of the newest generation, primary first.
fn newest_generation(rows: &[StoredSigningKey]) -> &[StoredSigningKey] {
    let Some(last) = rows.last() else {
        return &[];
    };
    let start = rows
        .iter()
        .position(|r| r.generation == last.generation)
        .unwrap_or(0);
    &rows[start..]
}

fn verifier_keys(rows: &[StoredSigningKey]) -> Vec<String> {
    rows.iter().map(|r| r.verifier_key.clone()).collect()
}

fn verifier_keys_of(signer: &CheckpointSigner) -> Vec<String> {
    signer.verifier_keys().into_iter().map(|(_, k)| k).collect()
}

fn signer_from_files(
    origin: &str,
    files: &[(SignatureAlgorithm, PathBuf)],
) -> Result<CheckpointSigner, ServiceError> {
    let mut pems = Vec::with_capacity(files.len());
    for (_, path) in files {
        let pem = std::fs::read_to_string(path).map_err(|e| {
            ServiceError::Internal(format!(
                "cannot read the signing key {}: {e}",
                path.display()
            ))
        })?;
        pems.push(Zeroizing::new(pem));
    }
    let material: Vec<KeyMaterial<'_>> = pems.iter().map(|p| KeyMaterial::Pkcs8Pem(p)).collect();
    let signer = CheckpointSigner::from_material(origin, &material).map_err(|_| {
        ServiceError::Internal(
            "audit.signing_key_files: a file is not an Ed25519 or SM2 private key in PKCS#8 PEM"
                .to_owned(),
        )
    })?;
    for ((algorithm, path), found) in files.iter().zip(signer.algorithms()) {
        if *algorithm != found {
            return Err(ServiceError::Internal(format!(
                "audit.signing_key_files: {} holds an {} key where audit.signature_algorithms \
                 names {}",
                path.display(),
                found.as_str(),
                algorithm.as_str()
            )));
        }
    }
    Ok(signer)
}

fn file_generation(
    signer: &CheckpointSigner,
    generation: i64,
    from_size: i64,
) -> Vec<StoredSigningKey> {
    let created_at = now_ms();
    signer
        .verifier_keys()
        .into_iter()
        .zip(0..)
        .map(|((algorithm, verifier_key), position)| StoredSigningKey {
            generation,
            position,
            algorithm: algorithm.as_str().to_owned(),
            verifier_key,
            source: KeySource::File.as_str().to_owned(),
            sealed: None,
            from_size,
            created_at,
        })
        .collect()
}

/// The keys releases before this one derived from the root key, both algorithms (whichever
/// signed), as generation 1 from tree size 0.
fn derived_generation(root: &RootKey, origin: &str) -> Result<Vec<StoredSigningKey>, ServiceError> {
    let created_at = now_ms();
    let mut rows = Vec::new();
    for (position, algorithm) in [SignatureAlgorithm::Ed25519, SignatureAlgorithm::Sm2]
        .into_iter()
        .enumerate()
    {
        let seed = legacy_seed(root, algorithm)?;
        let signer =
            CheckpointSigner::with_keys(origin, &[(algorithm, &seed)]).map_err(internal)?;
        rows.push(StoredSigningKey {
            generation: 1,
            position: position as i64,
            algorithm: algorithm.as_str().to_owned(),
            verifier_key: signer.verifier_key(),
            source: KeySource::Derived.as_str().to_owned(),
            sealed: None,
            from_size: 0,
            created_at,
        });
    }
    Ok(rows)
}

/// The seed releases before keys of their own derived from the root key for `algorithm`.
pub fn legacy_seed(
    root: &RootKey,
    algorithm: SignatureAlgorithm,
) -> Result<Zeroizing<[u8; 32]>, ServiceError> {
    let seed = match algorithm {
        SignatureAlgorithm::Ed25519 => root.derive("audit-checkpoint/v1"),
        SignatureAlgorithm::Sm2 => {
            root.derive_in(baomi_vault::Family::ShangMi, "audit-checkpoint/sm2/v1")
        }
    }
    .map_err(internal)?;
    Ok(Zeroizing::new(seed.with_bytes(|b| *b)))
}

/// A new generation of random keys, sealed, and the signer that uses them.
fn sealed_generation(
    sealer: &AeadKey,
    origin: &str,
    algorithms: &[SignatureAlgorithm],
    generation: i64,
    from_size: i64,
) -> Result<(Vec<StoredSigningKey>, CheckpointSigner), ServiceError> {
    let random = SystemRandom::new();
    let mut seeds = Vec::with_capacity(algorithms.len());
    for &algorithm in algorithms {
        let mut seed = Zeroizing::new([0u8; 32]);
        random
            .fill(seed.as_mut_slice())
            .map_err(|_| internal("the system random number generator failed"))?;
        seeds.push((algorithm, seed));
    }
    let keys: Vec<(SignatureAlgorithm, &[u8; 32])> =
        seeds.iter().map(|(a, s)| (*a, &**s)).collect();
    let signer = CheckpointSigner::with_keys(origin, &keys).map_err(internal)?;
    let created_at = now_ms();
    let rows = signer
        .verifier_keys()
        .into_iter()
        .zip(&seeds)
        .zip(0..)
        .map(|(((algorithm, verifier_key), (_, seed)), position)| {
            Ok(StoredSigningKey {
                generation,
                position,
                algorithm: algorithm.as_str().to_owned(),
                sealed: Some(
                    sealer
                        .seal(verifier_key.as_bytes(), seed.as_slice())
                        .map_err(internal)?,
                ),
                verifier_key,
                source: KeySource::Sealed.as_str().to_owned(),
                from_size,
                created_at,
            })
        })
        .collect::<Result<Vec<_>, ServiceError>>()?;
    Ok((rows, signer))
}

/// The signer of a sealed generation; an error if a key does not open, or opens to a key
/// other than its row's verifier key.
fn unseal(
    sealer: &AeadKey,
    origin: &str,
    rows: &[StoredSigningKey],
) -> Result<CheckpointSigner, ServiceError> {
    let mut seeds = Vec::with_capacity(rows.len());
    for row in rows {
        let algorithm = SignatureAlgorithm::parse(&row.algorithm)
            .ok_or_else(|| internal("a stored key of an unknown algorithm"))?;
        let sealed = row
            .sealed
            .as_deref()
            .ok_or_else(|| internal("a sealed key without its sealed secret"))?;
        let opened = sealer
            .open(row.verifier_key.as_bytes(), sealed)
            .map_err(|_| internal("a stored key does not open under this root key"))?;
        let seed: [u8; 32] = opened
            .as_slice()
            .try_into()
            .map_err(|_| internal("a stored key of the wrong length"))?;
        seeds.push((algorithm, Zeroizing::new(seed)));
    }
    let keys: Vec<(SignatureAlgorithm, &[u8; 32])> =
        seeds.iter().map(|(a, s)| (*a, &**s)).collect();
    let signer = CheckpointSigner::with_keys(origin, &keys).map_err(internal)?;
    if verifier_keys_of(&signer) != verifier_keys(rows) {
        return Err(internal(
            "a stored key opens to another key than its row says",
        ));
    }
    Ok(signer)
}
