//! What the use cases work with: the store, the vault, the trail, caches, the fleet and the
//! configured limits ([`Services`]). The router's state (`crate::service::Services`) holds it
//! beside what only HTTP and the console need, and dereferences to it, so a handler passes
//! `&state` to a use case; the use cases never see the router.

use std::sync::{Arc, Weak};

use baomi_audit::AuditSink;
use baomi_vault::Vault;

use crate::auth::api_key::ApiKeyRecord;
use crate::auth::subject_token::Signer;
use crate::config::Config;
use crate::service::audit_log::AuditLog;
use crate::service::erasure_journal::ErasureJournal;
use crate::service::ttl_cache::TtlCache;
use crate::store::Store;

/// Limits taken from the configuration.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Longest request, in seconds.
    pub request_timeout_secs: u64,
    /// Default subject token lifetime, in seconds.
    pub subject_token_ttl_secs: u64,
    /// Longest subject token lifetime, in seconds.
    pub subject_token_max_ttl_secs: u64,
    /// Most items in one vault batch.
    pub max_batch_items: usize,
    /// How long an API key record is served from memory.
    pub auth_cache_ttl_secs: u64,
    /// Days a rights request may stay open.
    pub rights_request_due_days: u32,
    /// Whether API calls made with a key need a verified client certificate (mutual TLS
    /// with `tls.client_ca_file`).
    pub keys_need_client_certificates: bool,
    /// Whether `/metrics` is served on a listener of its own (`metrics_listen`), and so
    /// not on the API's.
    pub metrics_elsewhere: bool,
    /// Whether officers' console accounts need a second factor (admins' always do).
    pub officers_need_second_factor: bool,
    /// Hours an account may enrol its second factor with its password alone, from when the
    /// password was set.
    pub enrolment_window_hours: u32,
    /// The names of the log's witnesses (`audit.witnesses`): an erasure certificate waits
    /// for a checkpoint they cosigned.
    pub witnesses: Vec<String>,
    /// The checkpoint verifier keys the console pins (`console.verifier_keys`); empty:
    /// none pinned.
    pub console_verifier_keys: Vec<String>,
}

impl Limits {
    /// The limits set in `config`.
    pub fn from_config(config: &Config) -> Self {
        Self {
            max_body_bytes: config.max_body_bytes,
            request_timeout_secs: config.request_timeout_secs,
            subject_token_ttl_secs: config.subject_token_ttl_secs,
            subject_token_max_ttl_secs: config.subject_token_max_ttl_secs,
            max_batch_items: config.max_batch_items,
            auth_cache_ttl_secs: config.auth_cache_ttl_secs,
            rights_request_due_days: config.rights_request_due_days,
            keys_need_client_certificates: config.tls.enabled
                && config.tls.client_ca_file.is_some(),
            metrics_elsewhere: config.metrics_listen.is_some(),
            officers_need_second_factor: config.console.second_factor_for_officers,
            enrolment_window_hours: config.console.enrolment_window_hours,
            witnesses: config
                .audit
                .witnesses
                .iter()
                .map(|w| baomi_audit::checkpoint::verifier_key_name(&w.verifier_key).to_owned())
                .collect(),
            console_verifier_keys: config.console.verifier_keys.clone(),
        }
    }
}

/// The use cases' dependencies, shared by every request and background task.
pub struct Dependencies {
    /// The database.
    pub store: Arc<dyn Store>,
    /// Mints and verifies subject tokens.
    pub tokens: Signer,
    /// The vault.
    pub vault: Arc<Vault>,
    /// The audit trail (group-committed).
    pub audit: Arc<dyn AuditSink>,
    /// The audit trail's Merkle log.
    pub audit_log: Arc<AuditLog>,
    /// The same log as officer queries, proofs, exports and access logs read it: on the
    /// read replica if one is configured.
    pub audit_reads: Arc<AuditLog>,
    /// The erasure journal.
    pub erasure_journal: Arc<ErasureJournal>,
    /// Recently read API key records.
    pub key_records: TtlCache<ApiKeyRecord>,
    /// Recently read purposes.
    pub purposes: TtlCache<baomi_consent::PurposeRecord>,
    /// The field catalogue now (one entry).
    pub catalogue: TtlCache<Arc<crate::auth::catalogue::FieldCatalogue>>,
    /// Detectors, the pseudonym key and cached policies.
    pub masking: crate::service::masking::MaskingState,
    /// This node's membership of a fleet on PostgreSQL (`None` on SQLite).
    pub cluster: Option<Arc<crate::service::cluster::Cluster>>,
    /// Whether this node does the fleet's background duties.
    pub duty: Arc<crate::service::cluster::Duty>,
    /// Configured limits.
    pub limits: Limits,
    /// This node's quota counting.
    pub quotas: Arc<crate::service::quotas::QuotaMeter>,
}

/// A cheaply cloned handle on the [`Dependencies`], which it dereferences to: what every use
/// case takes.
#[derive(Clone)]
pub struct Services(Arc<Dependencies>);

impl Services {
    /// A handle on `dependencies`.
    pub fn new(dependencies: Dependencies) -> Self {
        Self(Arc::new(dependencies))
    }

    /// A handle that does not keep the dependencies alive (a background task's, which ends
    /// when the server's state is dropped).
    pub fn downgrade(&self) -> Weak<Dependencies> {
        Arc::downgrade(&self.0)
    }
}

impl std::ops::Deref for Services {
    type Target = Dependencies;
    fn deref(&self) -> &Dependencies {
        &self.0
    }
}
