//! The root key in an HSM (`[hsm]`): start-up (the PIN, opening the token's key or
//! generating it for a new database) and the KEK wrapper that runs the token's blocking
//! PKCS#11 calls off the async runtime, with a time limit.

use std::sync::Arc;
use std::time::Duration;

use baomi_vault::hsm::{Hsm, HsmSettings};
use baomi_vault::wrap::KekWrapper;
use baomi_vault::{Family, RootKey};
use zeroize::Zeroizing;

use crate::config::{HSM_PIN_VARIABLE, HsmConfig};
use crate::service::now;
use crate::service::setup::{SetupError, Unsealed, blocking, bootstrap_admin, read_secret_file};
use crate::store::{SetupStore, StoredRoot};

/// Longest an HSM call may take before the request fails with `vault.hsm_unavailable`.
const CALL_LIMIT: Duration = Duration::from_secs(10);

/// Seals and opens KEKs with the token's key, each call on the blocking pool. Every KEK,
/// whatever its keyring's suite, is sealed with the token's AES-256-GCM key (SoftHSM2 has no
/// SM4).
pub struct HsmKekWrapper {
    hsm: Arc<Hsm>,
}

impl HsmKekWrapper {
    /// The wrapper of `hsm`.
    pub fn new(hsm: Arc<Hsm>) -> Self {
        Self { hsm }
    }

    async fn run<T: Send + 'static>(
        &self,
        call: impl FnOnce(&Hsm) -> baomi_vault::Result<T> + Send + 'static,
    ) -> baomi_vault::Result<T> {
        let hsm = Arc::clone(&self.hsm);
        match tokio::time::timeout(CALL_LIMIT, tokio::task::spawn_blocking(move || call(&hsm)))
            .await
        {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(baomi_vault::Error::Hsm("the HSM call panicked".to_owned())),
            Err(_) => Err(baomi_vault::Error::Hsm(format!(
                "no answer from the HSM within {} s",
                CALL_LIMIT.as_secs()
            ))),
        }
    }
}

#[async_trait::async_trait]
impl KekWrapper for HsmKekWrapper {
    async fn seal(
        &self,
        _family: Family,
        aad: &[u8],
        material: &[u8],
    ) -> baomi_vault::Result<Vec<u8>> {
        let (aad, material) = (aad.to_vec(), Zeroizing::new(material.to_vec()));
        self.run(move |hsm| hsm.encrypt(&aad, &material)).await
    }

    async fn open(
        &self,
        _family: Family,
        aad: &[u8],
        blob: &[u8],
    ) -> baomi_vault::Result<Zeroizing<Vec<u8>>> {
        let (aad, blob) = (aad.to_vec(), blob.to_vec());
        self.run(move |hsm| hsm.decrypt(&aad, &blob)).await
    }
}

/// The token settings of `config`, with the PIN from `BAOMI_HSM_PIN` or `pin_file`.
fn settings(config: &HsmConfig) -> Result<HsmSettings, SetupError> {
    let pin = match std::env::var(HSM_PIN_VARIABLE) {
        Ok(pin) => Zeroizing::new(pin),
        Err(_) => match &config.pin_file {
            Some(path) => Zeroizing::new(read_secret_file(path)?.trim().to_owned()),
            None => {
                return Err(SetupError::Other(format!(
                    "no HSM PIN: set {HSM_PIN_VARIABLE}, or hsm.pin_file in the configuration"
                )));
            }
        },
    };
    Ok(HsmSettings {
        module: config.module.clone(),
        token_label: config.token_label.clone(),
        slot: config.slot,
        pin,
    })
}

/// Opens the root key of a database initialised with an HSM: the token's key is the one
/// labelled as the database records.
async fn open_existing(
    settings: HsmSettings,
    key_label: String,
    sealed: Vec<u8>,
) -> Result<Unsealed, SetupError> {
    let (hsm, root) = blocking(move || {
        let hsm = Hsm::open(settings, &key_label)?;
        let root = hsm.open_root(&sealed);
        Ok::<_, baomi_vault::Error>((hsm, root))
    })
    .await??;
    let root = root.map_err(|e| match e {
        baomi_vault::Error::Hsm(detail) => {
            SetupError::Other(format!("hardware security module: {detail}"))
        }
        _ => SetupError::Other(
            "the HSM's key does not open this database's root key; nothing was changed".to_owned(),
        ),
    })?;
    Ok(Unsealed {
        root,
        bootstrap_admin_key: None,
        hsm: Some(Arc::new(hsm)),
    })
}

/// Unseals the root key held by the HSM of `config` or, on an empty database, generates a
/// key in the token, seals a new root secret with it and stores it with a bootstrap admin
/// key. A node that loses the race to initialise destroys the key it generated and opens the
/// winner's.
pub async fn unseal(store: &dyn SetupStore, config: &HsmConfig) -> Result<Unsealed, SetupError> {
    let settings = settings(config)?;
    match store.sealed_root_key().await? {
        Some(StoredRoot::Hsm { key_label, sealed }) => {
            return open_existing(settings, key_label, sealed).await;
        }
        Some(StoredRoot::Passphrase(_)) => return Err(passphrase_database()),
        None => {}
    }
    let prefix = config.key_label.clone();
    let generate_settings = settings.clone();
    let (hsm, root, sealed) = blocking(move || {
        let hsm = Hsm::generate(generate_settings, &prefix)?;
        let root = RootKey::generate()?;
        let sealed = hsm.seal_root(&root)?;
        Ok::<_, baomi_vault::Error>((hsm, root, sealed))
    })
    .await??;
    let hsm = Arc::new(hsm);
    let stored = StoredRoot::Hsm {
        key_label: hsm.key_label().to_owned(),
        sealed,
    };
    let (admin, secret) = bootstrap_admin()?;
    let initialized = store.initialize(&stored, &admin, now()).await;
    if let Ok(true) = initialized {
        tracing::info!(key_id = %admin.id, key_label = hsm.key_label(),
            "root key generated in the HSM; bootstrap admin key created");
        return Ok(Unsealed {
            root,
            bootstrap_admin_key: Some(secret),
            hsm: Some(hsm),
        });
    }
    // Lost the race, or the store failed: this key seals nothing that was kept.
    let ours = Arc::clone(&hsm);
    if let Err(e) = blocking(move || ours.destroy_key())
        .await
        .and_then(|r| r.map_err(SetupError::from))
    {
        tracing::warn!(error = %e, key_label = hsm.key_label(),
            "could not destroy an unused HSM key; delete it by hand");
    }
    initialized?;
    tracing::info!("another node initialised the database first; opening its root key");
    match store.sealed_root_key().await? {
        Some(StoredRoot::Hsm { key_label, sealed }) => {
            open_existing(settings, key_label, sealed).await
        }
        Some(StoredRoot::Passphrase(_)) => Err(passphrase_database()),
        None => Err(SetupError::Other(
            "the database was initialised and then emptied during start-up".to_owned(),
        )),
    }
}

fn passphrase_database() -> SetupError {
    SetupError::Other(
        "this database's root key is sealed under a passphrase, not by an HSM: remove [hsm] \
         from the configuration (moving an existing database into an HSM is not supported)"
            .to_owned(),
    )
}
