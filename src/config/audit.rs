//! The `[audit]` section: retention, the subject's view of their access log, and the alert
//! rules with their webhook.

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

/// The Cybersecurity Law (Art. 21) asks for network logs to be kept at least six months.
pub const MIN_RETENTION_DAYS: u32 = 180;

/// Audit settings.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Days an event's body is kept (at least 180); older bodies are pruned, their leaf
    /// hashes stay so every proof and checkpoint stays valid.
    pub retention_days: u32,
    /// How a subject sees the operators (staff) in their access log: `pseudonymous` (a
    /// stable keyed pseudonym per operator), `raw` (the operator id) or `hidden`.
    pub subject_view_operator: OperatorDisplay,
    /// The alert rules.
    pub alerts: AlertConfig,
    /// What signs checkpoints and consent receipts: `["ed25519"]` (the default),
    /// `["sm2"]`, or both (`["ed25519", "sm2"]`: two signature lines on every checkpoint,
    /// two signatures on every receipt). The first is the primary key.
    pub signature_algorithms: Vec<SignatureSetting>,
    /// The checkpoint signing keys as PKCS#8 PEM files (`openssl genpkey -algorithm
    /// ed25519`, or `-algorithm SM2`), one per entry of `signature_algorithms` in the same
    /// order. Unset (the default): Baomi generates the keys at random and keeps them sealed
    /// under the root key. Either way, never derivable from the root key alone.
    pub signing_key_files: Vec<std::path::PathBuf>,
    /// Whether the checkpoint signing key is generated and held in the HSM of `[hsm]` (an
    /// Ed25519 key pair, private, sensitive and non-extractable on the token), instead of
    /// sealed in the database. Needs `[hsm]`, `signature_algorithms = ["ed25519"]` and no
    /// key files.
    pub signing_key_in_hsm: bool,
    /// The witnesses the log sends each new checkpoint to (C2SP `tlog-witness`), for their
    /// cosignatures. None by default.
    pub witnesses: Vec<WitnessSetting>,
    /// CA certificates (PEM) trusted for the witnesses' https besides the system's.
    pub witness_ca_file: Option<std::path::PathBuf>,
    /// Seconds a witness may go without cosigning a newer checkpoint before the
    /// `witness_silent` alert is raised.
    pub witness_silence_alert_secs: u64,
}

/// A witness of the log's checkpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessSetting {
    /// Its submission prefix (`https://…`, or `http://` to this host); requests go to
    /// `<url>/add-checkpoint`.
    pub url: String,
    /// Its verifier key, `<name>+<key id>+<base64(0x04 ‖ Ed25519 key)>`, as `baomi witness
    /// new-key` printed it.
    pub verifier_key: String,
}

/// A signature algorithm in the settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureSetting {
    /// Ed25519.
    Ed25519,
    /// SM2 with SM3 and the default user id.
    Sm2,
}

impl SignatureSetting {
    /// The audit crate's algorithm.
    pub fn algorithm(self) -> baomi_types::SignatureAlgorithm {
        match self {
            SignatureSetting::Ed25519 => baomi_types::SignatureAlgorithm::Ed25519,
            SignatureSetting::Sm2 => baomi_types::SignatureAlgorithm::Sm2,
        }
    }
}

/// How operator ids are shown to subjects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OperatorDisplay {
    /// A stable keyed pseudonym per operator (`op-…`).
    Pseudonymous,
    /// The operator id as the platform sent it.
    Raw,
    /// Not shown.
    Hidden,
}

/// Alert rules and where alerts go.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertConfig {
    /// `bulk_access`: an actor or operator reading more than this many distinct subjects
    /// within `bulk_window_secs` (0: off).
    pub bulk_max_subjects: u32,
    /// The `bulk_access` window, in seconds.
    pub bulk_window_secs: u64,
    /// `off_hours`: reads outside these local hours, `HH:MM-HH:MM` (unset: off).
    pub office_hours: Option<String>,
    /// The local time's offset from UTC for `office_hours`, in minutes (480: China).
    pub utc_offset_minutes: i32,
    /// `denial_spike`: an actor or operator refused more than this many times within
    /// `denial_window_secs` (0: off).
    pub denial_max: u32,
    /// The `denial_spike` window, in seconds.
    pub denial_window_secs: u64,
    /// Where alerts are POSTed as JSON: `https://`, the server's certificate verified
    /// against the system's trust store, or `http://` to a relay on this host (loopback)
    /// only; unset: alerts are only listed at `GET /v1/audit/alerts`.
    pub webhook_url: Option<String>,
    /// CA certificates (PEM) trusted for the webhook's https besides the system's: the
    /// platform's internal CA.
    pub webhook_ca_file: Option<std::path::PathBuf>,
    /// A secret for `X-Baomi-Signature: sha256=<hex HMAC-SHA256 of the body>`.
    #[serde(skip_serializing)]
    pub webhook_secret: Option<SecretString>,
    /// How often new events are evaluated, in milliseconds.
    pub evaluate_every_ms: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            retention_days: MIN_RETENTION_DAYS,
            subject_view_operator: OperatorDisplay::Pseudonymous,
            alerts: AlertConfig::default(),
            signature_algorithms: vec![SignatureSetting::Ed25519],
            signing_key_files: Vec::new(),
            signing_key_in_hsm: false,
            witnesses: Vec::new(),
            witness_ca_file: None,
            witness_silence_alert_secs: 600,
        }
    }
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            bulk_max_subjects: 200,
            bulk_window_secs: 600,
            office_hours: None,
            utc_offset_minutes: 480,
            denial_max: 50,
            denial_window_secs: 300,
            webhook_url: None,
            webhook_ca_file: None,
            webhook_secret: None,
            evaluate_every_ms: 1000,
        }
    }
}

impl std::fmt::Debug for AuditConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let a = &self.alerts;
        f.debug_struct("AuditConfig")
            .field("retention_days", &self.retention_days)
            .field("subject_view_operator", &self.subject_view_operator)
            .field("signature_algorithms", &self.signature_algorithms)
            .field("signing_key_files", &self.signing_key_files)
            .field("signing_key_in_hsm", &self.signing_key_in_hsm)
            .field(
                "witnesses",
                &self
                    .witnesses
                    .iter()
                    .map(|w| super::redact_url(&w.url))
                    .collect::<Vec<_>>(),
            )
            .field("witness_ca_file", &self.witness_ca_file)
            .field(
                "witness_silence_alert_secs",
                &self.witness_silence_alert_secs,
            )
            .field("bulk_max_subjects", &a.bulk_max_subjects)
            .field("bulk_window_secs", &a.bulk_window_secs)
            .field("office_hours", &a.office_hours)
            .field("utc_offset_minutes", &a.utc_offset_minutes)
            .field("denial_max", &a.denial_max)
            .field("denial_window_secs", &a.denial_window_secs)
            .field(
                "webhook_url",
                &a.webhook_url.as_deref().map(super::redact_url),
            )
            .field("webhook_ca_file", &a.webhook_ca_file)
            .field(
                "webhook_secret",
                &a.webhook_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("evaluate_every_ms", &a.evaluate_every_ms)
            .finish()
    }
}

impl AlertConfig {
    /// The rules these settings describe.
    pub fn rules(&self) -> Result<baomi_audit::alerts::AlertRules, String> {
        let office_hours = self
            .office_hours
            .as_deref()
            .map(|h| baomi_audit::alerts::OfficeHours::parse(h, self.utc_offset_minutes))
            .transpose()
            .map_err(|e| format!("audit.alerts.office_hours: {e}"))?;
        Ok(baomi_audit::alerts::AlertRules {
            bulk_max_subjects: (self.bulk_max_subjects > 0).then_some(self.bulk_max_subjects),
            bulk_window_secs: self.bulk_window_secs,
            office_hours,
            denial_max: (self.denial_max > 0).then_some(self.denial_max),
            denial_window_secs: self.denial_window_secs,
        })
    }
}

impl AuditConfig {
    /// Checks the settings; the error names the setting.
    pub fn validate(&self) -> Result<(), String> {
        let algs = &self.signature_algorithms;
        if algs.is_empty() || (algs.len() == 2 && algs[0] == algs[1]) || algs.len() > 2 {
            return Err(
                "audit.signature_algorithms must name ed25519, sm2 or both, each once".to_owned(),
            );
        }
        if !self.signing_key_files.is_empty() && self.signing_key_files.len() != algs.len() {
            return Err("audit.signing_key_files names one key file per entry of \
                 audit.signature_algorithms, in the same order"
                .to_owned());
        }
        if self.signing_key_in_hsm
            && (!self.signing_key_files.is_empty() || algs != &[SignatureSetting::Ed25519])
        {
            return Err(
                "audit.signing_key_in_hsm holds one Ed25519 key in the HSM: set \
                 audit.signature_algorithms = [\"ed25519\"] and no audit.signing_key_files"
                    .to_owned(),
            );
        }
        if self.retention_days < MIN_RETENTION_DAYS {
            return Err(format!(
                "audit.retention_days must be at least {MIN_RETENTION_DAYS} (six months, \
                 Cybersecurity Law Art. 21)"
            ));
        }
        let a = &self.alerts;
        a.rules()?;
        if a.bulk_window_secs == 0 || a.denial_window_secs == 0 {
            return Err("audit.alerts windows must be at least 1 second".to_owned());
        }
        if a.evaluate_every_ms == 0 {
            return Err("audit.alerts.evaluate_every_ms must be at least 1".to_owned());
        }
        if let Some(url) = a.webhook_url.as_deref() {
            check_outbound_url("audit.alerts.webhook_url", url)?;
        }
        for witness in &self.witnesses {
            check_outbound_url("audit.witnesses.url", &witness.url)?;
            baomi_audit::witness::check_witness_key(&witness.verifier_key).map_err(|_| {
                "audit.witnesses.verifier_key must be a witness's verifier key, as `baomi \
                 witness new-key` prints it"
                    .to_owned()
            })?;
        }
        let mut names: Vec<&str> = self
            .witnesses
            .iter()
            .map(|w| baomi_audit::checkpoint::verifier_key_name(&w.verifier_key))
            .collect();
        names.sort_unstable();
        if names.windows(2).any(|pair| pair[0] == pair[1]) {
            return Err("audit.witnesses names each witness once".to_owned());
        }
        if self.witness_silence_alert_secs == 0 {
            return Err("audit.witness_silence_alert_secs must be at least 1".to_owned());
        }
        Ok(())
    }
}

/// An address Baomi sends to: https, or http to a relay on this host only.
fn check_outbound_url(setting: &str, url: &str) -> Result<(), String> {
    let https = url.starts_with("https://") && reqwest::Url::parse(url).is_ok();
    let local_relay = url.starts_with("http://") && super::is_loopback_url(url);
    if https || local_relay {
        Ok(())
    } else {
        Err(format!(
            "{setting} must be an https:// URL, or http:// to this host (127.0.0.1, ::1, \
             localhost)"
        ))
    }
}
