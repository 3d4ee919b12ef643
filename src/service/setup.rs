//! Start-up: the data directory, the unseal passphrase, and the root key (created and sealed
//! on first start together with the bootstrap admin key, unsealed on every later one).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use baomi_vault::{KdfParams, Passphrase, RootKey, seal_root_key, unseal_root_key};
use data_encoding::BASE64URL_NOPAD;
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::auth::Role;
use crate::config::Config;
use crate::config::HsmConfig;
use crate::service::keys::{self, NewKey};
use crate::service::{ServiceError, now};
use crate::store::{SetupStore, StoreError, StoredRoot};
use baomi_vault::hsm::Hsm;

/// The name of the development passphrase file in the data directory.
pub const DEV_PASSPHRASE_FILE: &str = "dev-unseal-passphrase";

/// Why Baomi could not start.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// No passphrase was configured, and `--dev` was not given.
    #[error(
        "no unseal passphrase: set BAOMI_UNSEAL_PASSPHRASE, or unseal_passphrase_file in the \
         configuration, or run with --dev to generate a development passphrase"
    )]
    NoPassphrase,
    /// The passphrase does not open this database's root key.
    #[error(
        "the unseal passphrase does not open the root key stored in this database \
         (wrong passphrase, or a different database than intended); nothing was changed"
    )]
    WrongPassphrase,
    /// A new root key would be sealed under a too-short passphrase.
    #[error("the unseal passphrase must be at least {0} characters long")]
    WeakPassphrase(usize),
    /// A file or directory could not be used.
    #[error("{path}: {reason}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What went wrong (the I/O error kind).
        reason: String,
    },
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

impl From<baomi_vault::Error> for SetupError {
    fn from(e: baomi_vault::Error) -> Self {
        match e {
            baomi_vault::Error::WrongPassphrase => SetupError::WrongPassphrase,
            baomi_vault::Error::WeakPassphrase { min } => SetupError::WeakPassphrase(min),
            other => SetupError::Other(other.to_string()),
        }
    }
}

/// The environment variable that holds the unseal passphrase; it wins over the settings.
pub const PASSPHRASE_VARIABLE: &str = "BAOMI_UNSEAL_PASSPHRASE";

/// Where the passphrase came from; said in the start-up log (never the passphrase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PassphraseSource {
    /// `BAOMI_UNSEAL_PASSPHRASE`.
    Environment,
    /// `unseal_passphrase` in the configuration file.
    Configured,
    /// A passphrase file named in the configuration.
    File(PathBuf),
    /// The development passphrase file in the data directory (`--dev`).
    Development {
        /// The file.
        path: PathBuf,
        /// Whether it was made just now.
        created: bool,
    },
    /// No passphrase: the root key is sealed by an HSM (`[hsm]`), whose PIN came from
    /// `BAOMI_HSM_PIN` or `hsm.pin_file`.
    Hsm,
}

/// How this start will open the root key, decided before the database is opened.
pub enum Protection {
    /// Sealed under this passphrase.
    Passphrase(Passphrase, PassphraseSource),
    /// Sealed by the HSM of these settings.
    Hsm(HsmConfig),
}

/// The root key's protection this configuration asks for: the HSM of `[hsm]`, else the
/// passphrase (see [`resolve_passphrase`]).
pub fn protection(config: &Config, dev: bool) -> Result<Protection, SetupError> {
    if let Some(hsm) = &config.hsm {
        return Ok(Protection::Hsm(hsm.clone()));
    }
    let (passphrase, source) = resolve_passphrase(config, dev)?;
    Ok(Protection::Passphrase(passphrase, source))
}

impl Protection {
    /// Where the secret that opens the root key came from (for the start-up log).
    pub fn source(&self) -> PassphraseSource {
        match self {
            Protection::Passphrase(_, source) => source.clone(),
            Protection::Hsm(_) => PassphraseSource::Hsm,
        }
    }
}

/// Unseals (or, on an empty database, creates) the root key as `protection` says, after
/// the cryptographic self-test: nothing is unsealed by a cipher that computes wrong answers.
pub async fn unseal(
    store: &dyn SetupStore,
    protection: Protection,
    kdf: KdfParams,
) -> Result<Unsealed, SetupError> {
    unseal_after(&crate::service::self_test::run(), store, protection, kdf).await
}

/// [`unseal`] once the self-test gave `self_test`: any failure refuses before the store is
/// touched.
async fn unseal_after(
    self_test: &[crate::service::self_test::SelfTestResult],
    store: &dyn SetupStore,
    protection: Protection,
    kdf: KdfParams,
) -> Result<Unsealed, SetupError> {
    crate::service::self_test::require(self_test).map_err(SetupError::Other)?;
    tracing::info!(
        algorithms = self_test.len(),
        "cryptographic self-test passed"
    );
    match protection {
        Protection::Passphrase(passphrase, _) => unseal_or_initialize(store, passphrase, kdf).await,
        Protection::Hsm(config) => crate::service::hsm::unseal(store, &config).await,
    }
}

/// The vault over `store`, its KEKs sealed by the HSM when the root key is in one.
pub fn vault(
    unsealed: &Unsealed,
    store: Arc<dyn baomi_vault::VaultStore>,
    options: baomi_vault::VaultOptions,
) -> Result<baomi_vault::Vault, baomi_vault::Error> {
    match &unsealed.hsm {
        Some(hsm) => baomi_vault::Vault::with_kek_wrapper(
            &unsealed.root,
            Arc::new(crate::service::hsm::HsmKekWrapper::new(Arc::clone(hsm))),
            store,
            options,
        ),
        None => baomi_vault::Vault::new(&unsealed.root, store, options),
    }
}

/// Creates the data directory if it is missing (readable by its owner only).
pub fn ensure_data_dir(dir: &Path) -> Result<(), SetupError> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
    restrict(dir, 0o700)
}

/// Finds the unseal passphrase: `BAOMI_UNSEAL_PASSPHRASE`, else the configured value or the
/// configured file (not both), else (with `dev`) the development file in the data
/// directory, generated on first use.
pub fn resolve_passphrase(
    config: &Config,
    dev: bool,
) -> Result<(Passphrase, PassphraseSource), SetupError> {
    if let Ok(raw) = std::env::var(PASSPHRASE_VARIABLE) {
        let raw = Zeroizing::new(raw);
        return Ok((Passphrase::new(&raw), PassphraseSource::Environment));
    }
    if config.unseal_passphrase.is_some() && config.unseal_passphrase_file.is_some() {
        return Err(SetupError::Other(
            "set unseal_passphrase or unseal_passphrase_file, not both".to_owned(),
        ));
    }
    if let Some(secret) = &config.unseal_passphrase {
        return Ok((
            Passphrase::new(secret.expose_secret()),
            PassphraseSource::Configured,
        ));
    }
    if let Some(path) = &config.unseal_passphrase_file {
        let text = read_secret_file(path)?;
        return Ok((Passphrase::new(&text), PassphraseSource::File(path.clone())));
    }
    if !dev {
        return Err(SetupError::NoPassphrase);
    }
    let path = config.data_dir.join(DEV_PASSPHRASE_FILE);
    if path.exists() {
        let text = read_secret_file(&path)?;
        return Ok((
            Passphrase::new(&text),
            PassphraseSource::Development {
                path,
                created: false,
            },
        ));
    }
    let mut bytes = Zeroizing::new([0u8; 32]);
    SystemRandom::new()
        .fill(bytes.as_mut())
        .map_err(|_| SetupError::Other("the system random number generator failed".into()))?;
    let text = Zeroizing::new(BASE64URL_NOPAD.encode(bytes.as_ref()));
    write_secret_file(&path, &text)?;
    Ok((
        Passphrase::new(&text),
        PassphraseSource::Development {
            path,
            created: true,
        },
    ))
}

/// The result of start-up: the root key, and the bootstrap admin key if this start created
/// the store (to be shown once).
pub struct Unsealed {
    /// The unsealed root key.
    pub root: RootKey,
    /// The bootstrap admin key, if this call initialised the database.
    pub bootstrap_admin_key: Option<SecretString>,
    /// The HSM that holds the root key, when one does.
    pub hsm: Option<Arc<Hsm>>,
}

/// The bootstrap admin key of a new database: its record and its secret (shown once).
pub(crate) fn bootstrap_admin()
-> Result<(crate::auth::api_key::ApiKeyRecord, SecretString), SetupError> {
    keys::prepare(
        &NewKey {
            name: "bootstrap admin".to_owned(),
            role: Role::Admin,
            grants: keys::GrantRequest::default(),
            client_certificate: None,
        },
        None,
    )
    .map_err(|e: ServiceError| SetupError::Other(e.to_string()))
}

/// Unseals the stored root key or, on an empty database, creates, seals and stores one with
/// a bootstrap admin key. Safe when several nodes start at once on one database: one of them
/// initialises it, the others unseal what it stored.
pub async fn unseal_or_initialize(
    store: &dyn SetupStore,
    passphrase: Passphrase,
    kdf: KdfParams,
) -> Result<Unsealed, SetupError> {
    let passphrase = Arc::new(passphrase);
    for _ in 0..2 {
        match store.sealed_root_key().await? {
            Some(StoredRoot::Passphrase(sealed)) => {
                let pass = Arc::clone(&passphrase);
                let root = blocking(move || unseal_root_key(&sealed, &pass)).await??;
                return Ok(Unsealed {
                    root,
                    bootstrap_admin_key: None,
                    hsm: None,
                });
            }
            Some(StoredRoot::Hsm { .. }) => {
                return Err(SetupError::Other(
                    "this database's root key is held by an HSM: configure [hsm]".to_owned(),
                ));
            }
            None => {}
        }
        passphrase.check_strength()?;
        let pass = Arc::clone(&passphrase);
        let (root, sealed) = blocking(move || {
            let root = RootKey::generate()?;
            let sealed = seal_root_key(&root, &pass, kdf)?;
            Ok::<_, baomi_vault::Error>((root, sealed))
        })
        .await??;
        let (admin, secret) = bootstrap_admin()?;
        if store
            .initialize(&StoredRoot::Passphrase(sealed), &admin, now())
            .await?
        {
            tracing::info!(key_id = %admin.id, "root key created and sealed; bootstrap admin key created");
            return Ok(Unsealed {
                root,
                bootstrap_admin_key: Some(secret),
                hsm: None,
            });
        }
        tracing::info!("another node initialised the database first; unsealing its root key");
    }
    Err(SetupError::Other(
        "the database was initialised and then emptied during start-up".to_owned(),
    ))
}

pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, SetupError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SetupError::Other(format!("a start-up task failed: {e}")))
}

pub(crate) fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, SetupError> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|e| io_error(path, &e))
}

/// Writes a new file only the owner can read (never over an existing one), synced.
pub(crate) fn write_secret_file(path: &Path, text: &str) -> Result<(), SetupError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| io_error(path, &e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| io_error(path, &e))
}

#[cfg(unix)]
fn restrict(path: &Path, mode: u32) -> Result<(), SetupError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| io_error(path, &e))
}

#[cfg(not(unix))]
fn restrict(_path: &Path, _mode: u32) -> Result<(), SetupError> {
    Ok(())
}

fn io_error(path: &Path, e: &std::io::Error) -> SetupError {
    SetupError::Io {
        path: path.to_path_buf(),
        reason: e.kind().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A store that fails the test if anything reads or writes it.
    struct Untouchable;

    #[async_trait::async_trait]
    impl SetupStore for Untouchable {
        async fn sealed_root_key(&self) -> Result<Option<StoredRoot>, StoreError> {
            panic!("the store was read after a failed self-test")
        }
        async fn initialize(
            &self,
            _: &StoredRoot,
            _: &crate::auth::api_key::ApiKeyRecord,
            _: i64,
        ) -> Result<bool, StoreError> {
            panic!("the store was written after a failed self-test")
        }
        async fn ping(&self) -> Result<(), StoreError> {
            panic!("the store was pinged after a failed self-test")
        }
        async fn close(&self) {}
    }

    /// A self-test with one wrong answer refuses to start, naming the algorithm, before
    /// the database is looked at.
    #[tokio::test]
    async fn a_failed_self_test_refuses_before_the_store_is_touched() {
        let mut results = crate::service::self_test::run();
        let broken = results
            .iter_mut()
            .find(|r| r.algorithm == "SM4-GCM")
            .unwrap();
        broken.passed = false;
        let passphrase = Passphrase::new("a passphrase long enough for the check");
        let protection = Protection::Passphrase(passphrase, PassphraseSource::Environment);
        let refused = unseal_after(&results, &Untouchable, protection, KdfParams::default())
            .await
            .err()
            .expect("refused");
        let message = refused.to_string();
        assert!(message.contains("SM4-GCM"), "{message}");
        assert!(message.contains("refusing to start"), "{message}");
    }
}
