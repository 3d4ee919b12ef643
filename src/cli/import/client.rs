//! The import's HTTP client: one batch per request, tried again while the server is
//! unreachable, throttling (429) or unavailable (503), waiting as its `Retry-After` says.

use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;

/// Attempts at one batch before the import stops (it resumes when run again).
const ATTEMPTS: u32 = 8;
/// The longest wait between attempts.
const MAX_WAIT: Duration = Duration::from_secs(30);

/// A client of one Baomi server, with the caller's key and operator.
pub struct Client {
    http: reqwest::Client,
    base: String,
    key: SecretString,
    operator: Option<String>,
}

impl Client {
    /// A client of `base`, authenticated by the key in `BAOMI_API_KEY`.
    pub fn new(base: &str, operator: Option<&str>) -> anyhow::Result<Self> {
        crate::server::tls::install_crypto_provider();
        let key = std::env::var("BAOMI_API_KEY")
            .map(SecretString::from)
            .context("set BAOMI_API_KEY to the API key to import with")?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key,
            operator: operator.map(str::to_owned),
        })
    }

    /// POSTs `body` to `path` and returns the answer's JSON. Storing the same batch twice
    /// replaces what the first stored, so a batch whose answer was lost is simply sent again.
    pub async fn post<B: Serialize>(
        &self,
        path: &str,
        request_id: &str,
        body: &B,
    ) -> anyhow::Result<Value> {
        let url = format!("{}{path}", self.base);
        let body = bytes::Bytes::from(serde_json::to_vec(body)?);
        let mut backoff = Duration::from_millis(250);
        for attempt in 1..=ATTEMPTS {
            let mut request = self
                .http
                .post(&url)
                .bearer_auth(self.key.expose_secret())
                .header("x-request-id", request_id)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.clone());
            if let Some(operator) = &self.operator {
                request = request.header("x-baomi-operator", operator);
            }
            let wait = match request.send().await {
                Ok(answer) if answer.status() == StatusCode::OK => {
                    return answer
                        .json()
                        .await
                        .with_context(|| format!("{url} answered with a body that is not JSON"));
                }
                Ok(answer)
                    if matches!(
                        answer.status(),
                        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
                    ) =>
                {
                    retry_after(&answer).unwrap_or(backoff)
                }
                Ok(answer) => {
                    let status = answer.status();
                    let problem: Value = answer.json().await.unwrap_or_default();
                    bail!(
                        "{url} answered {status}: {} ({}); fix that and run the same command \
                         again to resume",
                        problem["code"].as_str().unwrap_or("no code"),
                        problem["detail"].as_str().unwrap_or("no detail")
                    );
                }
                Err(e) if attempt == ATTEMPTS => {
                    return Err(e).with_context(|| format!("cannot reach {url}"));
                }
                Err(_) => backoff,
            };
            tracing::debug!(
                attempt,
                wait_ms = wait.as_millis() as u64,
                "batch to be retried"
            );
            tokio::time::sleep(wait.min(MAX_WAIT)).await;
            backoff = (backoff * 2).min(MAX_WAIT);
        }
        bail!(
            "{url} was still refusing after {ATTEMPTS} attempts; run the same command again to resume"
        )
    }
}

/// The seconds an answer's `Retry-After` asks for.
fn retry_after(answer: &reqwest::Response) -> Option<Duration> {
    let secs: u64 = answer
        .headers()
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}
