//! The `[tls]` section: HTTPS on the listener, and client certificates.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// HTTPS on the listener (rustls; TLS 1.2 and 1.3 only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// Serve HTTPS. `false` serves plain HTTP on purpose (behind a proxy that terminates
    /// TLS), with a warning at start. `serve --dev` on a loopback address may serve plain
    /// HTTP without it.
    pub enabled: bool,
    /// The server's certificate chain, PEM, leaf first.
    pub cert_file: Option<PathBuf>,
    /// The server's private key, PEM (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// The platform's client CA, PEM. Set, every API call made with an API key must come
    /// with a client certificate it signed; subject tokens (the platform's apps) and the
    /// console (a browser) need none. A key bound to a certificate needs that certificate.
    pub client_ca_file: Option<PathBuf>,
    /// How often, in seconds, the files are checked for changes and reloaded (SIGHUP
    /// reloads at once).
    pub reload_check_secs: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            cert_file: None,
            key_file: None,
            client_ca_file: None,
            reload_check_secs: 10,
        }
    }
}

/// What the listener speaks, decided from the settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// HTTPS with these files.
    Tls(TlsFiles),
    /// Plain HTTP, and why that is allowed.
    Plain(PlainReason),
}

/// The PEM files HTTPS is served from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
    /// The client CA, if client certificates are checked.
    pub client_ca: Option<PathBuf>,
}

/// Why plain HTTP is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlainReason {
    /// `tls.enabled = false`.
    Disabled,
    /// `serve --dev` on a loopback address, without certificates.
    DevelopmentLoopback,
}

impl TlsConfig {
    /// Checks the settings; the error names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.reload_check_secs == 0 || self.reload_check_secs > 86_400 {
            return Err("tls.reload_check_secs must be 1 to 86400".to_owned());
        }
        if self.cert_file.is_some() != self.key_file.is_some() {
            return Err("tls.cert_file and tls.key_file are set together".to_owned());
        }
        if self.client_ca_file.is_some() && self.cert_file.is_none() {
            return Err("tls.client_ca_file needs tls.cert_file and tls.key_file".to_owned());
        }
        Ok(())
    }

    /// What the listener on `listen` speaks. Plain HTTP only on purpose: `enabled = false`,
    /// or `--dev` on loopback without certificates. Otherwise certificates are required.
    pub fn transport(&self, listen: SocketAddr, dev: bool) -> Result<Transport, String> {
        if !self.enabled {
            return Ok(Transport::Plain(PlainReason::Disabled));
        }
        match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Ok(Transport::Tls(TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.client_ca_file.clone(),
            })),
            _ if dev && listen.ip().is_loopback() => {
                Ok(Transport::Plain(PlainReason::DevelopmentLoopback))
            }
            _ => Err(
                "HTTPS needs a certificate: set tls.cert_file and tls.key_file \
                 (BAOMI_TLS__CERT_FILE, BAOMI_TLS__KEY_FILE), or set tls.enabled = false to \
                 serve plain HTTP on purpose behind a proxy that terminates TLS"
                    .to_owned(),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_files() -> TlsConfig {
        TlsConfig {
            cert_file: Some("cert.pem".into()),
            key_file: Some("key.pem".into()),
            ..TlsConfig::default()
        }
    }

    const LOOPBACK: &str = "127.0.0.1:8080";
    const ANY: &str = "0.0.0.0:8080";

    #[test]
    fn plain_http_needs_a_reason() {
        let none = TlsConfig::default();
        assert!(none.transport(ANY.parse().unwrap(), false).is_err());
        assert!(none.transport(LOOPBACK.parse().unwrap(), false).is_err());
        assert!(
            none.transport(ANY.parse().unwrap(), true).is_err(),
            "--dev on every address is not loopback"
        );
        assert_eq!(
            none.transport(LOOPBACK.parse().unwrap(), true),
            Ok(Transport::Plain(PlainReason::DevelopmentLoopback))
        );
        assert_eq!(
            none.transport("[::1]:8080".parse().unwrap(), true),
            Ok(Transport::Plain(PlainReason::DevelopmentLoopback))
        );
        let off = TlsConfig {
            enabled: false,
            ..with_files()
        };
        assert_eq!(
            off.transport(ANY.parse().unwrap(), false),
            Ok(Transport::Plain(PlainReason::Disabled))
        );
    }

    #[test]
    fn certificates_mean_https_even_in_development() {
        for dev in [false, true] {
            assert!(matches!(
                with_files().transport(LOOPBACK.parse().unwrap(), dev),
                Ok(Transport::Tls(_))
            ));
        }
    }

    #[test]
    fn half_a_setting_is_refused() {
        let cert_only = TlsConfig {
            key_file: None,
            ..with_files()
        };
        assert!(cert_only.validate().is_err());
        let ca_only = TlsConfig {
            client_ca_file: Some("ca.pem".into()),
            ..TlsConfig::default()
        };
        assert!(ca_only.validate().is_err());
        assert!(with_files().validate().is_ok());
    }
}
