//! HTTPS with rustls: the server's configuration built from PEM files (TLS 1.2 and 1.3
//! only, client certificates checked against the platform's CA when one is set), and
//! reloaded, without dropping a connection, when the files change or on SIGHUP.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::sync::watch;
use zeroize::Zeroizing;

use crate::config::TlsFiles;

/// Makes ring, the one cryptographic provider Baomi builds rustls with, the process's
/// default, which HTTPS clients (the alert webhook's, `baomi probe`'s) need. Idempotent.
pub fn install_crypto_provider() {
    // Err means a provider is installed already: ours, by an earlier call.
    let _ = ring_provider().install_default();
}

/// The cryptographic provider Baomi builds rustls with: *ring*, the crate its own digests
/// and HMACs come from. rustls 0.23.48 deprecates it because it has no post-quantum key
/// exchange (X25519MLKEM768 is aws-lc-rs's, a C build); changing providers is a decision
/// of its own, so the deprecation is allowed here, in the one place the provider is named.
#[allow(deprecated)]
fn ring_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// Why the TLS configuration could not be built. Never quotes the files' contents.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file holds no usable PEM object of the kind expected.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: &'static str,
    },
    /// rustls refused the certificates or the key (e.g. a key that is not the
    /// certificate's).
    #[error("TLS configuration: {0}")]
    Rustls(String),
}

/// The server's TLS configuration, as last loaded from its files.
pub struct Certificates {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
    /// SHA-256 of the files' contents as last loaded, to reload only on a change.
    loaded: Mutex<[u8; 32]>,
}

impl Certificates {
    /// Loads the files; fails if they do not make a working configuration.
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let contents = Contents::read(&files)?;
        let config = contents.server_config(&files)?;
        Ok(Arc::new(Self {
            loaded: Mutex::new(contents.digest()),
            current: RwLock::new(Arc::new(config)),
            files,
        }))
    }

    /// The configuration new connections are accepted with.
    pub fn current(&self) -> Arc<ServerConfig> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Reads the files again and, if they changed (or `force`), switches new connections
    /// to them. Connections already open keep their session. On an error the previous
    /// configuration stays in use. Says whether it switched.
    pub fn reload(&self, force: bool) -> Result<bool, TlsError> {
        let contents = Contents::read(&self.files)?;
        let digest = contents.digest();
        let mut loaded = self.loaded.lock().unwrap_or_else(|e| e.into_inner());
        if !force && *loaded == digest {
            return Ok(false);
        }
        let config = contents.server_config(&self.files)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(config);
        *loaded = digest;
        Ok(true)
    }
}

/// The files' bytes; the private key's are wiped when dropped.
struct Contents {
    cert: Vec<u8>,
    key: Zeroizing<Vec<u8>>,
    client_ca: Option<Vec<u8>>,
}

impl Contents {
    fn read(files: &TlsFiles) -> Result<Self, TlsError> {
        Ok(Self {
            cert: read(&files.cert)?,
            key: Zeroizing::new(read(&files.key)?),
            client_ca: files.client_ca.as_deref().map(read).transpose()?,
        })
    }

    fn digest(&self) -> [u8; 32] {
        let mut context = ring::digest::Context::new(&ring::digest::SHA256);
        for part in [
            &self.cert[..],
            &self.key[..],
            self.client_ca.as_deref().unwrap_or_default(),
        ] {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part);
        }
        let mut digest = [0u8; 32];
        digest.copy_from_slice(context.finish().as_ref());
        digest
    }

    fn server_config(&self, files: &TlsFiles) -> Result<ServerConfig, TlsError> {
        let pem = |path: &Path, what| TlsError::Pem {
            path: path.to_path_buf(),
            what,
        };
        let chain = certificates(&self.cert).map_err(|what| pem(&files.cert, what))?;
        let key = PrivateKeyDer::from_pem_slice(&self.key)
            .map_err(|_| pem(&files.key, "no PEM private key (PKCS#8, PKCS#1 or SEC1)"))?;
        let provider = Arc::new(ring_provider());
        let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        let builder = match (&self.client_ca, &files.client_ca) {
            (Some(ca), Some(path)) => {
                let mut roots = rustls::RootCertStore::empty();
                for certificate in certificates(ca).map_err(|what| pem(path, what))? {
                    roots
                        .add(certificate)
                        .map_err(|_| pem(path, "a certificate is not a usable CA"))?;
                }
                // Optional at the handshake: the console's browsers hold no certificate.
                // Which calls need one is decided when the credential is checked.
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                        .allow_unauthenticated()
                        .build()
                        .map_err(|e| TlsError::Rustls(e.to_string()))?;
                builder.with_client_cert_verifier(verifier)
            }
            _ => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(chain, key)
            .map_err(|e| TlsError::Rustls(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(config)
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Every certificate in a PEM file; at least one.
fn certificates(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, &'static str> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "a PEM certificate cannot be read")?;
    if certificates.is_empty() {
        return Err("no PEM certificate");
    }
    Ok(certificates)
}

/// Reloads `certificates` every `every` when the files changed, and at once on SIGHUP,
/// until `stop`. A failed reload is logged and counted; the previous configuration stays.
pub async fn keep_reloading(
    certificates: Arc<Certificates>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        #[cfg(unix)]
        let signalled = async {
            match hangup.as_mut() {
                Some(s) => s.recv().await.is_some(),
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let signalled = std::future::pending::<bool>();
        let force = tokio::select! {
            _ = tick.tick() => false,
            true = signalled => true,
            _ = stop.changed() => return,
        };
        match certificates.reload(force) {
            Ok(true) => {
                tracing::info!("TLS certificates reloaded");
                metrics::counter!("baomi_tls_reloads_total", "result" => "reloaded").increment(1);
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "TLS certificates not reloaded; the previous ones stay in use");
                metrics::counter!("baomi_tls_reloads_total", "result" => "failed").increment(1);
            }
        }
    }
}
