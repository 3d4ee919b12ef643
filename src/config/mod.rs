//! Configuration: defaults, then a TOML file, then `BAOMI_*` environment variables, then
//! command-line flags, each overriding the one before. `deploy/baomi.example.toml` documents
//! every setting.

mod audit;
mod connections;
mod console;
mod hsm;
mod quotas;
mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub use audit::{
    AlertConfig, AuditConfig, MIN_RETENTION_DAYS, OperatorDisplay, SignatureSetting, WitnessSetting,
};
pub use connections::ConnectionsConfig;
pub use console::ConsoleConfig;
pub use hsm::{HsmConfig, PIN_VARIABLE as HSM_PIN_VARIABLE};
pub use quotas::QuotasConfig;
pub use tls::{PlainReason, TlsConfig, TlsFiles, Transport};

/// The `[masking]` section.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MaskingConfig {
    /// Roles that may see JR/T 0171 C3 information (passwords, card verification codes,
    /// card expiry, biometrics) in the clear under a masking policy; none by default, so a
    /// policy that would show it to anyone is refused.
    pub clear_c3_roles: Vec<String>,
}

/// The database a configuration names, read from `database_url` in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Database<'a> {
    /// No `database_url`: the embedded SQLite file in the data directory
    /// ([`Config::sqlite_path`]).
    Embedded,
    /// A `sqlite:` URL.
    Sqlite(&'a str),
    /// A `postgres://` or `postgresql://` URL: a node of a fleet.
    Postgres(&'a str),
}

impl<'a> Database<'a> {
    /// The database `url` names (`None`: the embedded one), or `None` for a URL of another
    /// kind.
    fn of(url: Option<&'a str>) -> Option<Self> {
        match url {
            None => Some(Database::Embedded),
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                Some(Database::Postgres(u))
            }
            Some(u) if u.starts_with("sqlite:") => Some(Database::Sqlite(u)),
            Some(_) => None,
        }
    }

    /// The PostgreSQL URL, if it is PostgreSQL.
    pub fn postgres_url(self) -> Option<&'a str> {
        match self {
            Database::Postgres(url) => Some(url),
            _ => None,
        }
    }
}

/// Everything Baomi can be configured with. Its `Debug` hides the passphrase and the
/// password in a database URL.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// HTTPS on the listener, and client certificates.
    pub tls: TlsConfig,
    /// Directory for the embedded database and other local state.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; the default is `baomi.db` in the data directory.
    pub database_url: Option<String>,
    /// Most database connections this node opens.
    pub database_max_connections: u32,
    /// SQLite only: `full` (default; nothing acknowledged is lost on power failure) or
    /// `normal` (faster; a power cut may lose the last transactions, a crash does not).
    pub sqlite_synchronous: SqliteSynchronous,
    /// The passphrase that unseals the root key, written in the configuration file. Prefer
    /// `unseal_passphrase_file`, or the `BAOMI_UNSEAL_PASSPHRASE` variable (read as it is, not
    /// through this setting, and stronger than both).
    #[serde(skip_serializing)]
    pub unseal_passphrase: Option<SecretString>,
    /// A file that holds the unseal passphrase (surrounding white space is ignored).
    pub unseal_passphrase_file: Option<PathBuf>,
    /// argon2id parameters used when a root key is sealed for the first time.
    pub kdf: baomi_vault::KdfParams,
    /// Log format: `pretty` for people, `json` for collectors.
    pub log_format: LogFormat,
    /// Log filter in `tracing` syntax, e.g. `info` or `baomi=debug,info`.
    pub log_level: String,
    /// Largest request body accepted, in bytes (larger ones get 413).
    pub max_body_bytes: usize,
    /// Limits on open connections and on the time to send a request's head.
    pub connections: ConnectionsConfig,
    /// Longest time one request may take, in seconds (then 503 `request.timeout`).
    pub request_timeout_secs: u64,
    /// Default lifetime of a subject token, in seconds.
    pub subject_token_ttl_secs: u64,
    /// Longest lifetime a caller may ask for a subject token, in seconds.
    pub subject_token_max_ttl_secs: u64,
    /// Most items in one encrypt, decrypt or rewrap request.
    pub max_batch_items: usize,
    /// The audit log's name in its signed checkpoints (no spaces, no `+`), e.g.
    /// `pay.example/baomi-audit`.
    pub audit_origin: String,
    /// How long an API key record or a purpose definition is served from memory, in seconds
    /// (0: always read). A key revoked, or a purpose changed, on another node sharing the
    /// database shows here at most this much later. Consents are never cached.
    pub auth_cache_ttl_secs: u64,
    /// Memory, in bytes, that the unwrapped subject data keys kept in memory may take
    /// together (least recently used go first). An AES-256-GCM key with its expanded key
    /// schedule and its place in the cache takes about 800 bytes, an SM4-GCM one less.
    pub key_cache_bytes: usize,
    /// Longest an unwrapped data key stays in memory, in seconds; also the longest another
    /// node sharing the database may keep using an erased subject's cached key.
    pub key_cache_ttl_secs: u64,
    /// The erasure journal: one line per erasure, kept outside the database (put it on other
    /// storage than the database's) and replayed at start-up, so that restoring an older
    /// backup never brings an erased subject back. Default: `erasure-journal.jsonl` in the
    /// data directory.
    pub erasure_journal: Option<PathBuf>,
    /// Days a data subject's rights request may stay open before it is overdue.
    pub rights_request_due_days: u32,
    /// Seconds between runs of background maintenance (on the node that holds the fleet's
    /// duties): keyrings due for rotation rotated, data keys re-sealed under their
    /// keyring's newest KEK, stored fields re-encrypted, event bodies past retention pruned.
    pub maintenance_every_secs: u64,
    /// The audit trail: retention, the subject's view, alerts.
    pub audit: AuditConfig,
    /// A PostgreSQL read replica (`postgres://…`) that officer queries, proofs, exports and
    /// subjects' access logs read from, sparing the primary; unset: the primary. Appends
    /// and every other read stay on the primary.
    pub audit_replica_url: Option<String>,
    /// Masking: who may see authentication data in the clear.
    pub masking: MaskingConfig,
    /// The console's sign-in limits.
    pub console: ConsoleConfig,
    /// Default quotas on reads of PI, per key and purpose and per operator.
    pub quotas: QuotasConfig,
    /// Where Prometheus scrapes `/metrics`: unset, on the API's listener; set (e.g.
    /// `"10.0.0.5:9090"`, an internal scrape network), there only, over plain HTTP, and the
    /// API's listener answers 404 for it.
    pub metrics_listen: Option<SocketAddr>,
    /// A root key held in an HSM through PKCS#11 instead of one sealed under the unseal
    /// passphrase (chosen when the database is initialised; it cannot change afterwards).
    pub hsm: Option<HsmConfig>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field("tls", &self.tls)
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_deref().map(redact_url),
            )
            .field("database_max_connections", &self.database_max_connections)
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .field(
                "unseal_passphrase",
                &self.unseal_passphrase.as_ref().map(|_| "<redacted>"),
            )
            .field("unseal_passphrase_file", &self.unseal_passphrase_file)
            .field("kdf", &self.kdf)
            .field("log_format", &self.log_format)
            .field("log_level", &self.log_level)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("connections", &self.connections)
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("subject_token_ttl_secs", &self.subject_token_ttl_secs)
            .field(
                "subject_token_max_ttl_secs",
                &self.subject_token_max_ttl_secs,
            )
            .field("max_batch_items", &self.max_batch_items)
            .field("audit_origin", &self.audit_origin)
            .field("auth_cache_ttl_secs", &self.auth_cache_ttl_secs)
            .field("key_cache_bytes", &self.key_cache_bytes)
            .field("key_cache_ttl_secs", &self.key_cache_ttl_secs)
            .field("erasure_journal", &self.erasure_journal)
            .field("rights_request_due_days", &self.rights_request_due_days)
            .field("maintenance_every_secs", &self.maintenance_every_secs)
            .field("audit", &self.audit)
            .field(
                "audit_replica_url",
                &self.audit_replica_url.as_deref().map(redact_url),
            )
            .field("masking", &self.masking)
            .field("console", &self.console)
            .field("quotas", &self.quotas)
            .field("metrics_listen", &self.metrics_listen)
            .field("hsm", &self.hsm)
            .finish()
    }
}

/// Whether `url`'s host is this machine's loopback: `localhost`, 127.0.0.0/8 or `::1`.
pub fn is_loopback_url(url: &str) -> bool {
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    match parsed.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

/// `scheme://user:password@host/…` with the password replaced by `***`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// SQLite's `synchronous` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSynchronous {
    /// fsync at every commit.
    Full,
    /// fsync at WAL checkpoints only.
    Normal,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            tls: TlsConfig::default(),
            data_dir: PathBuf::from("./baomi-data"),
            database_url: None,
            database_max_connections: 16,
            sqlite_synchronous: SqliteSynchronous::Full,
            unseal_passphrase: None,
            unseal_passphrase_file: None,
            kdf: baomi_vault::KdfParams::default(),
            log_format: LogFormat::Pretty,
            log_level: "info".to_owned(),
            max_body_bytes: 1024 * 1024,
            connections: ConnectionsConfig::default(),
            request_timeout_secs: 30,
            subject_token_ttl_secs: 15 * 60,
            subject_token_max_ttl_secs: 24 * 60 * 60,
            max_batch_items: 1000,
            audit_origin: "baomi/audit".to_owned(),
            auth_cache_ttl_secs: 5,
            key_cache_bytes: baomi_vault::DEFAULT_KEY_CACHE_BYTES,
            key_cache_ttl_secs: 60,
            erasure_journal: None,
            rights_request_due_days: 15,
            maintenance_every_secs: 60,
            audit: AuditConfig::default(),
            audit_replica_url: None,
            masking: MaskingConfig::default(),
            console: ConsoleConfig::default(),
            quotas: QuotasConfig::default(),
            metrics_listen: None,
            hsm: None,
        }
    }
}

/// Settings given on the command line; each one set overrides the file and the environment.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<SocketAddr>,
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--database-url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file or an environment variable holds something Baomi does not accept.
    #[error("configuration: {0}")]
    Invalid(String),
    /// The named configuration file does not exist.
    #[error("configuration file {0} not found")]
    Missing(PathBuf),
}

impl Config {
    /// Loads the configuration: defaults ← `file` ← `BAOMI_*` variables ← `overrides`.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(ConfigError::Missing(file.to_path_buf()));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment
            .merge(
                // BAOMI_UNSEAL_PASSPHRASE and BAOMI_HSM_PIN are read as they are by the
                // set-up (figment would parse them as TOML and keep a copy); BAOMI_CONFIG
                // names the file; BAOMI_API_KEY and BAOMI_URL are `baomi import`'s, a client.
                Env::prefixed("BAOMI_")
                    .ignore(&["config", "unseal_passphrase", "hsm_pin", "api_key", "url"])
                    .split("__"),
            )
            .merge(Serialized::defaults(overrides));
        let config: Config = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(describe(&e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Parses a configuration file's text alone (defaults ← `text`), validated as
    /// [`Config::load`] validates: what `load` does with a file, without the environment.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let config: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(text))
            .extract()
            .map_err(|e| ConfigError::Invalid(describe(&e)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if self.max_body_bytes < 1024 {
            return bad("max_body_bytes must be at least 1024");
        }
        if self.request_timeout_secs == 0 {
            return bad("request_timeout_secs must be at least 1");
        }
        if self.max_batch_items == 0 || self.max_batch_items > 100_000 {
            return bad("max_batch_items must be 1 to 100000");
        }
        if self.key_cache_bytes < 64 << 10 {
            return bad("key_cache_bytes must be at least 65536 (64 KiB)");
        }
        if self.database_max_connections == 0 {
            return bad("database_max_connections must be at least 1");
        }
        if Database::of(self.database_url.as_deref()).is_none() {
            return bad("database_url must start with sqlite: or postgres://");
        }
        if let Some(replica) = &self.audit_replica_url {
            let replica = Database::of(Some(replica.as_str())).and_then(Database::postgres_url);
            let primary = self.database().and_then(Database::postgres_url);
            if replica.is_none() || primary.is_none() {
                return bad(
                    "audit_replica_url is a PostgreSQL replica of a PostgreSQL database_url",
                );
            }
        }
        if self.subject_token_ttl_secs == 0
            || self.subject_token_ttl_secs > self.subject_token_max_ttl_secs
        {
            return bad("subject_token_ttl_secs must be between 1 and subject_token_max_ttl_secs");
        }
        if self.rights_request_due_days == 0 || self.rights_request_due_days > 90 {
            return bad("rights_request_due_days must be 1 to 90");
        }
        if self.maintenance_every_secs == 0 || self.maintenance_every_secs > 3600 {
            return bad("maintenance_every_secs must be 1 to 3600");
        }
        if let Some(hsm) = &self.hsm {
            hsm.validate().map_err(ConfigError::Invalid)?;
        }
        if self.audit.signing_key_in_hsm && self.hsm.is_none() {
            return bad("audit.signing_key_in_hsm needs the [hsm] section");
        }
        self.connections.validate().map_err(ConfigError::Invalid)?;
        self.tls.validate().map_err(ConfigError::Invalid)?;
        self.console.validate().map_err(ConfigError::Invalid)?;
        self.quotas.validate().map_err(ConfigError::Invalid)?;
        self.audit.validate().map_err(ConfigError::Invalid)
    }

    /// The embedded SQLite database file, used when no `database_url` is set.
    pub fn sqlite_path(&self) -> PathBuf {
        self.data_dir.join("baomi.db")
    }

    /// The erasure journal's path.
    pub fn erasure_journal_path(&self) -> PathBuf {
        self.erasure_journal
            .clone()
            .unwrap_or_else(|| self.data_dir.join("erasure-journal.jsonl"))
    }

    /// The database this configuration names; `None` for a `database_url` of neither kind
    /// (which loading refuses).
    pub fn database(&self) -> Option<Database<'_>> {
        Database::of(self.database_url.as_deref())
    }

    /// Which backend is configured: `postgresql` or `sqlite`.
    pub fn backend_name(&self) -> &'static str {
        match self.database() {
            Some(Database::Postgres(_)) => "postgresql",
            _ => "sqlite",
        }
    }
}

/// Describes a configuration error without echoing values (a misplaced secret could be one).
fn describe(error: &figment::Error) -> String {
    let mut out = String::new();
    for e in error.clone() {
        let key = if e.path.is_empty() {
            "(top level)".to_owned()
        } else {
            e.path.join(".")
        };
        let what = match &e.kind {
            figment::error::Kind::UnknownField(field, _) => format!("unknown setting `{field}`"),
            figment::error::Kind::MissingField(field) => format!("missing setting `{field}`"),
            figment::error::Kind::InvalidType(_, expected) => format!("expected {expected}"),
            figment::error::Kind::InvalidValue(_, expected) => format!("expected {expected}"),
            _ => "not a valid value".to_owned(),
        };
        let source = e
            .metadata
            .as_ref()
            .map(|m| format!(" (from {})", m.name))
            .unwrap_or_default();
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(&format!("{key}: {what}{source}"));
    }
    out
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_point_at_the_embedded_database() {
        let config = Config::default();
        config.validate().unwrap();
        assert_eq!(config.backend_name(), "sqlite");
        assert!(config.sqlite_path().ends_with("baomi.db"));
    }

    #[test]
    fn signature_algorithms_and_hsm_settings_are_checked() {
        use crate::config::audit::SignatureSetting::{Ed25519, Sm2};
        for (algs, ok) in [
            (vec![Ed25519], true),
            (vec![Sm2], true),
            (vec![Ed25519, Sm2], true),
            (vec![Sm2, Ed25519], true),
            (vec![], false),
            (vec![Sm2, Sm2], false),
            (vec![Ed25519, Sm2, Ed25519], false),
        ] {
            let mut config = Config::default();
            config.audit.signature_algorithms = algs.clone();
            assert_eq!(config.validate().is_ok(), ok, "{algs:?}");
        }
        let hsm = HsmConfig {
            module: "/usr/lib/softhsm/libsofthsm2.so".into(),
            token_label: None,
            slot: None,
            pin_file: None,
            key_label: "baomi-root".to_owned(),
        };
        let mut config = Config {
            hsm: Some(hsm.clone()),
            ..Config::default()
        };
        assert!(config.validate().is_err(), "no token named");
        config.hsm = Some(HsmConfig {
            slot: Some(0),
            ..hsm
        });
        assert!(config.validate().is_ok());
        // A checkpoint key in the HSM: one Ed25519 key, with [hsm], and no key files.
        config.audit.signing_key_in_hsm = true;
        assert!(config.validate().is_ok());
        config.audit.signature_algorithms = vec![Ed25519, Sm2];
        assert!(config.validate().is_err(), "SM2 beside an HSM key");
        config.audit.signature_algorithms = vec![Ed25519];
        config.audit.signing_key_files = vec!["k.pem".into()];
        assert!(config.validate().is_err(), "a key file and an HSM key");
        config.audit.signing_key_files.clear();
        config.hsm = None;
        assert!(config.validate().is_err(), "no [hsm]");
        let toml = "[hsm]\nmodule = \"/m.so\"\ntoken_label = \"baomi\"\n";
        let parsed: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(toml))
            .extract()
            .unwrap();
        assert_eq!(parsed.hsm.unwrap().key_label, "baomi-root");
    }

    #[test]
    fn witnesses_need_a_safe_url_a_witness_key_and_a_name_of_their_own() {
        let pem = baomi_audit::witness::Cosigner::generate_pem().unwrap();
        let key = |name: &str| {
            baomi_audit::witness::Cosigner::from_pkcs8_pem(name, &pem)
                .unwrap()
                .verifier_key()
        };
        let log_key = baomi_audit::checkpoint::CheckpointSigner::new("w.example/1", &[1u8; 32])
            .unwrap()
            .verifier_key();
        let setting = |url: &str, verifier_key: String| WitnessSetting {
            url: url.to_owned(),
            verifier_key,
        };
        for (witnesses, ok) in [
            (vec![setting("https://w.example", key("w.example/1"))], true),
            (
                vec![setting("http://127.0.0.1:7380", key("w.example/1"))],
                true,
            ),
            (vec![setting("http://w.example", key("w.example/1"))], false),
            (vec![setting("https://w.example", log_key)], false),
            (
                vec![
                    setting("https://a.example", key("w.example/1")),
                    setting("https://b.example", key("w.example/1")),
                ],
                false,
            ),
            (
                vec![
                    setting("https://a.example", key("w.example/1")),
                    setting("https://b.example", key("w.example/2")),
                ],
                true,
            ),
        ] {
            let mut config = Config::default();
            config.audit.witnesses = witnesses.clone();
            assert_eq!(config.validate().is_ok(), ok, "{witnesses:?}");
        }
        let toml = "[[audit.witnesses]]\nurl = \"https://w.example\"\nverifier_key = \"k\"\n";
        let parsed: Config = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::string(toml))
            .extract()
            .unwrap();
        assert_eq!(parsed.audit.witnesses[0].url, "https://w.example");
    }

    #[test]
    fn the_database_url_is_read_in_one_place() {
        let with = |url: Option<&str>| Config {
            database_url: url.map(str::to_owned),
            ..Config::default()
        };
        assert_eq!(with(None).database(), Some(Database::Embedded));
        let sqlite = with(Some("sqlite:///var/lib/baomi/b.db"));
        assert_eq!(
            sqlite.database(),
            Some(Database::Sqlite("sqlite:///var/lib/baomi/b.db"))
        );
        let pg = with(Some("postgresql://db/baomi"));
        assert_eq!(
            pg.database().and_then(Database::postgres_url),
            Some("postgresql://db/baomi")
        );
        assert_eq!(pg.backend_name(), "postgresql");
        let other = with(Some("mysql://db/baomi"));
        assert_eq!(other.database(), None);
        let refused = other.validate().unwrap_err().to_string();
        assert!(
            refused.contains("database_url must start with"),
            "{refused}"
        );
        assert!(!refused.contains("mysql"), "no value echoed: {refused}");
    }

    #[test]
    fn a_read_replica_needs_postgresql() {
        let sqlite = Config {
            audit_replica_url: Some("postgres://replica/baomi".to_owned()),
            ..Config::default()
        };
        assert!(sqlite.validate().is_err(), "SQLite has no replicas");
        let pg = Config {
            database_url: Some("postgres://primary/baomi".to_owned()),
            audit_replica_url: Some("postgres://replica/baomi".to_owned()),
            ..Config::default()
        };
        assert!(pg.validate().is_ok());
    }

    #[test]
    fn the_example_configuration_is_valid_and_states_the_defaults() {
        // Inside a Jail: it serialises with the tests that set BAOMI_* variables.
        figment::Jail::expect_with(|_| {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/baomi.example.toml");
            let example = Config::load(Some(&path), &Overrides::default()).unwrap();
            let expected = serde_json::to_value(Config::default()).unwrap();
            assert_eq!(serde_json::to_value(example).unwrap(), expected);
            // The text alone reads the same (the config fuzz target drives `from_toml`).
            let text = std::fs::read_to_string(&path).unwrap();
            let from_text = Config::from_toml(&text).unwrap();
            assert_eq!(serde_json::to_value(from_text).unwrap(), expected);
            assert!(Config::from_toml("max_batch_items = 0").is_err());
            Ok(())
        });
    }

    #[test]
    fn the_shipped_configurations_are_valid_and_serve_https() {
        for file in ["baomi.production.toml", "baomi.container.toml"] {
            let path = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("deploy")
                .join(file);
            let config = Config::from_toml(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert!(
                matches!(
                    config.tls.transport(config.listen, false),
                    Ok(Transport::Tls(_))
                ),
                "{file}"
            );
        }
    }

    #[test]
    fn debug_hides_secrets() {
        let config = Config {
            database_url: Some("postgres://baomi:hunter22@db:5432/baomi".to_owned()),
            unseal_passphrase: Some(SecretString::from("correct horse battery")),
            ..Config::default()
        };
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter22") && !shown.contains("horse"),
            "{shown}"
        );
        assert!(shown.contains("postgres://baomi:***@db:5432/baomi"));
    }

    #[test]
    fn file_then_environment_then_flags() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "baomi.toml",
                "listen = \"127.0.0.1:9000\"\nlog_format = \"json\"\nmax_body_bytes = 4096\n",
            )?;
            jail.set_env("BAOMI_MAX_BODY_BYTES", "8192");
            jail.set_env("BAOMI_KDF__T_COST", "3");
            let flags = Overrides {
                listen: Some("127.0.0.1:9100".parse().unwrap()),
                ..Overrides::default()
            };
            let config = Config::load(Some(Path::new("baomi.toml")), &flags).unwrap();
            assert_eq!(config.listen.port(), 9100);
            assert_eq!(config.log_format, LogFormat::Json);
            assert_eq!(config.max_body_bytes, 8192);
            assert_eq!(config.kdf.t_cost, 3);
            Ok(())
        });
    }

    #[test]
    fn errors_name_the_setting_but_not_the_value() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("baomi.toml", "listen = \"s3cr3t-value\"\nbogus = 1\n")?;
            let err = Config::load(Some(Path::new("baomi.toml")), &Overrides::default())
                .unwrap_err()
                .to_string();
            assert!(err.contains("listen") || err.contains("bogus"), "{err}");
            assert!(!err.contains("s3cr3t-value"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn the_alert_webhook_is_https_or_a_relay_on_this_host() {
        let with = |url: &str| {
            let mut config = Config::default();
            config.audit.alerts.webhook_url = Some(url.to_owned());
            config.validate().is_ok()
        };
        for good in [
            "https://alerts.pay.example/baomi",
            "https://10.0.0.7:8443/hook",
            "http://127.0.0.1:9000/hook",
            "http://localhost/hook",
            "http://[::1]:9000/hook",
        ] {
            assert!(with(good), "{good}");
        }
        for bad in [
            "http://alerts.pay.example/hook",
            "http://10.0.0.7/hook",
            "http://127.0.0.1.evil.example/hook",
            "http://localhost.evil.example/hook",
            "ftp://127.0.0.1/hook",
            "https://",
        ] {
            assert!(!with(bad), "{bad}");
        }
    }
}
