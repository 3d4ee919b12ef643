//! The HTTP client Baomi sends with (alert webhooks, witnesses): https verified against the
//! system's roots and an optional CA file, no redirects, a time limit. Plain http reaches
//! only a relay on this host; the configuration refuses it elsewhere.

use std::path::Path;
use std::time::Duration;

use crate::service::ServiceError;

/// A client trusting the CA certificates in `ca_file` (PEM) besides the system's; `setting`
/// names that file's setting in errors.
pub fn client(
    ca_file: Option<&Path>,
    setting: &str,
    timeout: Duration,
) -> Result<reqwest::Client, ServiceError> {
    crate::server::tls::install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = ca_file {
        let unusable =
            |why: &str| ServiceError::Internal(format!("{setting} {}: {why}", path.display()));
        let pem = std::fs::read(path).map_err(|e| unusable(&e.to_string()))?;
        let roots = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|_| unusable("not PEM certificates"))?;
        if roots.is_empty() {
            return Err(unusable("no certificate"));
        }
        for root in roots {
            builder = builder.add_root_certificate(root);
        }
    }
    builder
        .build()
        .map_err(|e| ServiceError::Internal(format!("{setting}: the HTTP client: {e}")))
}
