//! Start-up and serving: open the store, unseal the root key, serve until told to stop.

pub(crate) mod connections;
pub mod tls;

use crate::service::cluster::{Cluster, Duty};
use crate::service::masking::MaskingState;
use std::future::Future;
use std::sync::Arc;

use axum::Router;
use secrecy::SecretString;
use tokio::net::TcpListener;

use crate::app;
use crate::service::{Limits, ServiceError, audit, maintenance, now};
use std::time::Duration;

use baomi_vault::{KeyringName, Vault, VaultOptions};

use crate::auth::subject_token::Signer;
use crate::config::{Config, Database, PlainReason, Transport};
use crate::console::guard::SigninGuard;
use crate::service::audit_alerts::{self, AlertWatch, Webhook};
use crate::service::audit_log::{self, AuditLog};
use crate::service::erasure_journal::ErasureJournal;
use crate::service::quotas::{self, QuotaMeter};
use crate::service::setup::{self, PassphraseSource, SetupError};
use crate::service::signing_keys::{SigningKeys, Wanted};
use crate::service::witnessing::Witnessing;
use crate::store::group_commit::GroupCommit;
use crate::store::{self, QuotaStore, Store};
use baomi_audit::AuditSink;

/// A Baomi that has opened its store and unsealed its root key, ready to serve.
pub struct Opened {
    /// The router with its state.
    pub router: Router,
    /// The store (to close it after serving).
    pub store: Arc<dyn Store>,
    /// The vault (for the background key maintenance).
    pub vault: Arc<Vault>,
    /// The audit trail's Merkle log (for the background integration).
    pub audit_log: Arc<AuditLog>,
    /// The bootstrap admin key, if this start initialised the database. Show it once.
    pub bootstrap_admin_key: Option<SecretString>,
    /// Where the passphrase came from.
    pub passphrase_source: PassphraseSource,
    /// Appends to the trail (the one group-commit writer).
    pub audit: Arc<dyn AuditSink>,
    /// The alert rules' watch over the trail.
    pub alerts: AlertWatch,
    /// How often the alert rules run.
    pub alerts_every: Duration,
    /// Days audit event bodies are kept.
    pub retention_days: u32,
    /// How often background maintenance runs.
    pub maintenance_every: Duration,
    /// Whether this node does the fleet's background duties (checkpoints, alerts,
    /// retention, scheduled rotation).
    pub duty: Arc<Duty>,
    /// Limits on open connections.
    pub connections: crate::config::ConnectionsConfig,
    /// The console's sign-in guard, whose counts are recorded every
    /// `console.refusals_recorded_every_secs`.
    pub signin_guard: Arc<SigninGuard>,
    /// How often the sign-in guard's counts are recorded.
    pub signin_counts_every: Duration,
    /// This node's quota counting, whose refusals are recorded every
    /// `quotas.refusals_recorded_every_secs`.
    pub quotas: Arc<QuotaMeter>,
    /// Sends checkpoints to the configured witnesses, if any.
    pub witnessing: Option<Witnessing>,
    /// Where `/metrics` is served instead of the API's listener, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

/// Opens the data directory and the store, runs migrations, and unseals (or on first start
/// creates) the root key.
pub async fn open(config: &Config, dev: bool) -> Result<Opened, SetupError> {
    setup::ensure_data_dir(&config.data_dir)?;
    let protection = setup::protection(config, dev)?;
    let passphrase_source = protection.source();
    if let PassphraseSource::Development { path, created } = &passphrase_source {
        tracing::warn!(
            path = %path.display(),
            created,
            "DEVELOPMENT MODE: the unseal passphrase is kept in a file next to the data it \
             protects. Never use --dev for real personal information."
        );
    }
    let store = store::open(config).await?;
    let unsealed = match setup::unseal(store.as_ref(), protection, config.kdf).await {
        Ok(u) => u,
        Err(e) => {
            store.close().await;
            return Err(e);
        }
    };
    let tokens = Signer::new(&unsealed.root)?;
    let vault = Arc::new(setup::vault(
        &unsealed,
        Arc::clone(&store) as Arc<dyn baomi_vault::VaultStore>,
        vault_options(config),
    )?);
    vault
        .ensure_keyring(
            &KeyringName::default_name(),
            now(),
            &[audit::system(
                "baomi",
                baomi_types::Action::KeyringCreate,
                KeyringName::default_name().as_str(),
            )],
        )
        .await
        .map_err(|e| SetupError::Other(format!("default keyring: {e}")))?;
    let erasure_journal = Arc::new(ErasureJournal::new(config.erasure_journal_path()));
    let replayed = erasure_journal
        .replay(&vault, store.as_ref())
        .await
        .map_err(|e| SetupError::Other(e.to_string()))?;
    if replayed > 0 {
        tracing::info!(erasures = replayed, "erasure journal replayed");
    }
    let swept = vault
        .sweep_erased()
        .await
        .map_err(|e| SetupError::Other(format!("sweeping erased subjects: {e}")))?;
    if swept > 0 {
        tracing::warn!(rows = swept, "rows of erased subjects removed at start-up");
    }
    warn_of_undeclared_purposes(store.as_ref()).await;
    let signing_keys = Arc::new(
        SigningKeys::open(
            Arc::clone(&store) as Arc<dyn crate::store::SigningKeyStore>,
            Arc::clone(&store) as Arc<dyn baomi_audit::LogStore>,
            &unsealed.root,
            &config.audit_origin,
            wanted_signing_keys(&config.audit, unsealed.hsm.as_ref())?,
        )
        .await
        .map_err(|e| SetupError::Other(format!("audit signing keys: {e}")))?,
    );
    let audit_log = Arc::new(
        AuditLog::new(
            Arc::clone(&store) as Arc<dyn baomi_audit::LogStore>,
            Arc::clone(&signing_keys),
            &unsealed.root,
            &config.audit_origin,
            config.audit.subject_view_operator,
        )
        .map_err(|e| SetupError::Other(format!("audit log: {e}")))?,
    );
    // Officer queries, proofs, exports and subjects' access logs may read from a replica;
    // the signing keys are the primary's.
    let audit_reads = match &config.audit_replica_url {
        None => Arc::clone(&audit_log),
        Some(url) => {
            let replica = crate::store::postgres::PgStore::connect_replica(
                url,
                config.database_max_connections,
            )
            .await
            .map_err(|e| SetupError::Other(format!("audit replica: {e}")))?;
            Arc::new(
                AuditLog::new(
                    Arc::new(replica) as Arc<dyn baomi_audit::LogStore>,
                    Arc::clone(&signing_keys),
                    &unsealed.root,
                    &config.audit_origin,
                    config.audit.subject_view_operator,
                )
                .map_err(|e| SetupError::Other(format!("audit replica: {e}")))?,
            )
        }
    };
    let alerts = alert_watch(config, &store, &audit_log)
        .await
        .map_err(|e| SetupError::Other(format!("audit alerts: {e}")))?;
    // Every append goes through this one writer from here on (see `GroupCommit`).
    let audit: Arc<dyn AuditSink> =
        Arc::new(GroupCommit::start(Arc::clone(&store) as Arc<dyn AuditSink>));
    let fleet_url = config.database().and_then(Database::postgres_url);
    let duty = match fleet_url {
        Some(url) => Duty::campaign(url).await,
        None => Duty::alone(),
    };
    let witnessing = Witnessing::new(
        &config.audit,
        Arc::clone(&audit_log),
        Arc::clone(&store) as Arc<dyn crate::store::CosignatureStore>,
        Arc::clone(&audit),
    )
    .map_err(|e| SetupError::Other(format!("audit witnesses: {e}")))?;
    let signin_guard = SigninGuard::new(&config.console);
    let quotas = Arc::new(QuotaMeter::new(
        Arc::clone(&store) as Arc<dyn QuotaStore>,
        config.quotas.clone(),
    ));
    let router = app::build(app::Parts {
        store: Arc::clone(&store),
        tokens,
        vault: Arc::clone(&vault),
        erasure_journal,
        audit_log: Arc::clone(&audit_log),
        audit_reads,
        audit: Arc::clone(&audit),
        masking: MaskingState::new(
            &unsealed.root,
            config.masking.clear_c3_roles.clone(),
            Duration::from_secs(config.auth_cache_ttl_secs),
        )
        .map_err(|e| SetupError::Other(format!("masking: {e}")))?,
        cluster: match fleet_url {
            Some(url) => Some(
                Cluster::join(url)
                    .await
                    .map_err(|e| SetupError::Other(format!("joining the fleet: {e}")))?,
            ),
            None => None,
        },
        duty: Arc::clone(&duty),
        limits: Limits::from_config(config),
        signin_guard: Arc::clone(&signin_guard),
        quotas: Arc::clone(&quotas),
        second_factor: Arc::new(
            crate::console::second_factor::SecretSealer::new(&unsealed.root)
                .map_err(|e| SetupError::Other(format!("console second factor: {e}")))?,
        ),
    });
    Ok(Opened {
        router,
        store,
        vault,
        audit_log,
        bootstrap_admin_key: unsealed.bootstrap_admin_key,
        passphrase_source,
        audit,
        alerts,
        alerts_every: Duration::from_millis(config.audit.alerts.evaluate_every_ms),
        maintenance_every: Duration::from_secs(config.maintenance_every_secs),
        retention_days: config.audit.retention_days,
        duty,
        connections: config.connections.clone(),
        signin_guard,
        signin_counts_every: Duration::from_secs(config.console.refusals_recorded_every_secs),
        quotas,
        witnessing,
        metrics_listen: config.metrics_listen,
    })
}

/// The vault's options from the configuration: its data-key cache's size and lifetime.
pub fn vault_options(config: &Config) -> VaultOptions {
    VaultOptions {
        key_cache_bytes: config.key_cache_bytes,
        key_cache_ttl: Duration::from_secs(config.key_cache_ttl_secs),
        ..VaultOptions::default()
    }
}

/// What `[audit]` asks to sign checkpoints with: its key files, or sealed keys of its
/// algorithms.
fn wanted_signing_keys(
    audit: &crate::config::AuditConfig,
    hsm: Option<&Arc<baomi_vault::hsm::Hsm>>,
) -> Result<Wanted, SetupError> {
    let algorithms = audit.signature_algorithms.iter().map(|s| s.algorithm());
    if audit.signing_key_in_hsm {
        let hsm = hsm.ok_or_else(|| {
            SetupError::Other("audit.signing_key_in_hsm needs the root key in the HSM".to_owned())
        })?;
        Ok(Wanted::Hsm(Arc::clone(hsm)))
    } else if audit.signing_key_files.is_empty() {
        Ok(Wanted::Sealed(algorithms.collect()))
    } else {
        Ok(Wanted::Files(
            algorithms
                .zip(audit.signing_key_files.iter().cloned())
                .collect(),
        ))
    }
}

async fn alert_watch(
    config: &Config,
    store: &Arc<dyn Store>,
    audit_log: &AuditLog,
) -> Result<AlertWatch, ServiceError> {
    let settings = &config.audit.alerts;
    let rules = settings.rules().map_err(ServiceError::Internal)?;
    let webhook = settings
        .webhook_url
        .as_deref()
        .map(|url| {
            Webhook::new(
                url,
                settings.webhook_ca_file.as_deref(),
                settings.webhook_secret.as_ref(),
            )
        })
        .transpose()?;
    AlertWatch::start(
        Arc::clone(store) as Arc<dyn baomi_audit::LogStore>,
        rules,
        webhook,
        crate::service::now_ms(),
        audit_log.alerts_progress(),
    )
    .await
}

/// HTTPS on the listener: its certificates, and how often their files are checked.
pub struct Https {
    /// The certificates, reloaded in place.
    pub certificates: Arc<tls::Certificates>,
    /// How often the files are checked for a change.
    pub reload_every: Duration,
}

/// What the listener on `config.listen` speaks: HTTPS from the configured files, or plain
/// HTTP where that is allowed on purpose (`tls.enabled = false`, warned of; `--dev` on
/// loopback without certificates). Fails when neither holds, or the files do not load.
pub fn https(config: &Config, dev: bool) -> Result<Option<Https>, SetupError> {
    match config
        .tls
        .transport(config.listen, dev)
        .map_err(SetupError::Other)?
    {
        Transport::Tls(files) => Ok(Some(Https {
            certificates: tls::Certificates::load(files)
                .map_err(|e| SetupError::Other(e.to_string()))?,
            reload_every: Duration::from_secs(config.tls.reload_check_secs),
        })),
        Transport::Plain(PlainReason::Disabled) => {
            tracing::warn!(
                "tls.enabled = false: serving plain HTTP; personal information and keys cross \
                 the network in the clear unless a proxy in front terminates TLS"
            );
            Ok(None)
        }
        Transport::Plain(PlainReason::DevelopmentLoopback) => {
            tracing::info!("development mode on loopback: serving plain HTTP");
            Ok(None)
        }
    }
}

/// How often a checkpoint of the audit tree is signed (when it grew).
const AUDIT_INTEGRATION_EVERY: Duration = Duration::from_secs(1);

/// Serves `opened` on `listener`, over HTTPS when `https` is set, until `shutdown`
/// completes, then lets requests in flight finish and closes the store.
pub async fn serve(
    listener: TcpListener,
    opened: Opened,
    https: Option<Https>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let metrics_listener = match opened.metrics_listen {
        Some(address) => Some(TcpListener::bind(address).await?),
        None => None,
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let scrapes = metrics_listener.map(|listener| {
        let mut stopping = stop.subscribe();
        let limits = opened.connections.clone();
        tokio::spawn(async move {
            let stopped = async move {
                let _ = stopping.changed().await;
            };
            connections::serve(listener, app::metrics_router(), &limits, None, stopped).await;
        })
    });
    let reloads = https.as_ref().map(|https| {
        tokio::spawn(tls::keep_reloading(
            Arc::clone(&https.certificates),
            https.reload_every,
            stop.subscribe(),
        ))
    });
    let upkeep = tokio::spawn(maintenance::run(
        Arc::clone(&opened.vault),
        Arc::clone(&opened.audit_log),
        opened.retention_days,
        opened.maintenance_every,
        Arc::clone(&opened.duty),
        stopped,
    ));
    let alerts = tokio::spawn(audit_alerts::run(
        opened.alerts,
        opened.alerts_every,
        Arc::clone(&opened.duty),
        stop.subscribe(),
    ));
    let signins = tokio::spawn(crate::console::guard::keep_recording(
        Arc::clone(&opened.signin_guard),
        Arc::clone(&opened.audit),
        opened.signin_counts_every,
        stop.subscribe(),
    ));
    let quota_refusals = tokio::spawn(quotas::keep_recording(
        Arc::clone(&opened.quotas),
        Arc::clone(&opened.audit),
        stop.subscribe(),
    ));
    let witnessing = opened.witnessing.map(|witnessing| {
        tokio::spawn(witnessing.run(
            AUDIT_INTEGRATION_EVERY,
            Arc::clone(&opened.duty),
            stop.subscribe(),
        ))
    });
    let indexing = tokio::spawn(audit_log::keep_indexing(
        Arc::clone(&opened.audit_log),
        Arc::clone(&opened.duty),
        stop.subscribe(),
    ));
    let integration = tokio::spawn(audit_log::run(
        Arc::clone(&opened.audit_log),
        Arc::clone(&opened.audit),
        AUDIT_INTEGRATION_EVERY,
        Arc::clone(&opened.duty),
        stop.subscribe(),
    ));
    let certificates = https.map(|https| https.certificates);
    connections::serve(
        listener,
        opened.router,
        &opened.connections,
        certificates,
        shutdown,
    )
    .await;
    let _ = stop.send(true);
    if let Some(reloads) = reloads {
        let _ = reloads.await;
    }
    let _ = upkeep.await;
    let _ = integration.await;
    let _ = indexing.await;
    let _ = alerts.await;
    let _ = signins.await;
    let _ = quota_refusals.await;
    if let Some(witnessing) = witnessing {
        let _ = witnessing.await;
    }
    if let Some(scrapes) = scrapes {
        let _ = scrapes.await;
    }
    // A checkpoint covers whatever arrived in the last moments before the store closes.
    let _ = opened.audit.integrate_outbox().await;
    let _ = opened.audit_log.checkpoint_now(now()).await;
    opened.store.close().await;
    Ok(())
}

/// Completes on SIGTERM or Ctrl-C.
///
/// The SIGTERM handler is installed when this is called, not when the future is first
/// polled: a signal that arrives as soon as the server says it is listening is still a
/// graceful stop, not the default kill.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let mut terminate =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let terminate = async {
            match terminate.as_mut() {
                Some(s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let terminate = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {},
            () = terminate => {},
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}

/// Says which active keys hold purposes that are not declared: they cannot use them until
/// an admin declares them (`PUT /v1/purposes/{id}`). Two reads; a failure is logged, not
/// fatal.
async fn warn_of_undeclared_purposes(store: &dyn crate::store::Store) {
    use crate::service::keys;
    let (keys, declared) = match (
        keys::list(store).await,
        keys::declared_purposes(store).await,
    ) {
        (Ok(k), Ok(d)) => (k, d),
        (Err(e), _) | (_, Err(e)) => {
            tracing::warn!(error = %e, "could not check keys for undeclared purposes");
            return;
        }
    };
    let declared: Vec<&str> = declared.iter().map(String::as_str).collect();
    for key in keys.iter().filter(|k| k.revoked_at.is_none()) {
        let missing = key.grants.undeclared(&declared);
        if !missing.is_empty() {
            tracing::warn!(
                key_id = %key.id,
                purposes = %missing.join(","),
                "a key holds purposes that are not declared; it cannot use them until they are"
            );
        }
    }
}
