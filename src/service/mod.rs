//! Use cases: what the server does, without HTTP types. Handlers call one function here.

pub mod audit;
pub mod audit_alerts;
pub mod audit_export;
pub mod audit_log;
pub mod authenticate;
pub mod authorize;
pub mod catalogue;
pub mod cluster;
pub mod consent;
mod context;
pub mod erasure_certificates;
pub mod erasure_journal;
mod error;
mod error_code;
pub mod field_values;
pub mod hsm;
pub mod keyrings;
pub mod keys;
pub mod maintenance;
pub mod masking;
pub mod outbound;
pub mod quotas;
pub mod refusals;
pub mod requests;
pub mod self_test;
pub mod setup;
pub mod signing_keys;
pub mod stored;
pub mod subject_tokens;
pub mod ttl_cache;
pub mod vault;
pub mod witnessing;

pub use context::{Dependencies, Limits, Services};
pub use error::{AuthFailure, ServiceError};
pub use error_code::ErrorCode;

use baomi_types::{OperatorId, RequestId};

/// Who and what a request is, for the audit trail and the logs.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request id.
    pub request_id: RequestId,
    /// The operator, if the caller named one.
    pub operator: Option<OperatorId>,
    /// The operator's role on the platform (`X-Baomi-Operator-Role`), which masking
    /// policies match their rules against.
    pub operator_role: Option<String>,
}

/// Waits `every`, or until `stop` fires: `true` to go on, `false` once stopped. The pace of
/// the background duties.
pub async fn wait_or_stop(
    every: std::time::Duration,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(every) => true,
        _ = stop.changed() => false,
    }
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A new random id: `prefix`, `_`, and `bytes` random bytes in lower-case base32.
pub fn random_id(prefix: &str, bytes: usize) -> Result<String, ServiceError> {
    use ring::rand::SecureRandom;
    let mut buf = vec![0u8; bytes];
    ring::rand::SystemRandom::new()
        .fill(&mut buf)
        .map_err(|_| ServiceError::Internal("random number generator failed".to_owned()))?;
    Ok(format!(
        "{prefix}_{}",
        data_encoding::BASE32_NOPAD
            .encode(&buf)
            .to_ascii_lowercase()
    ))
}

/// Formats Unix seconds as RFC 3339 (UTC).
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

/// Formats Unix milliseconds as RFC 3339 (UTC), with milliseconds.
pub fn rfc3339_ms(unix_ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix_ms.to_string())
}

/// The current time in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
