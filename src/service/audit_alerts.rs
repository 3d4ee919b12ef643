//! Alerts: the rules of `baomi_audit::alerts` evaluated over the trail as events arrive,
//! stored, and delivered to a webhook.
//!
//! Every node tails the trail in sequence order (not just the events it appended), so a
//! bulk read spread over several nodes is still one actor's bulk read; alerts are stored
//! once whichever node raises them first. On start a node re-reads the last two windows of
//! events to rebuild its counts; an alert near a restart may therefore be raised twice
//! under different trigger events.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use baomi_audit::alerts::{AlertEngine, AlertRules};
use baomi_audit::{Alert, LogStore};
use baomi_types::AccessEvent;
use secrecy::{ExposeSecret, SecretString};

use crate::service::ServiceError;

/// Events read per query.
const PAGE: u32 = 5000;
/// Alerts delivered per pass.
const DELIVER: u32 = 100;

/// Where alerts are POSTed.
pub struct Webhook {
    client: reqwest::Client,
    url: String,
    key: Option<ring::hmac::Key>,
}

impl Webhook {
    /// A webhook at `url`, trusting the CA certificates in `ca_file` besides the system's,
    /// signing with `secret` if set.
    pub fn new(
        url: &str,
        ca_file: Option<&std::path::Path>,
        secret: Option<&SecretString>,
    ) -> Result<Self, ServiceError> {
        let client = crate::service::outbound::client(
            ca_file,
            "audit.alerts.webhook_ca_file",
            Duration::from_secs(10),
        )?;
        Ok(Self {
            client,
            url: url.to_owned(),
            key: secret.map(|s| {
                ring::hmac::Key::new(ring::hmac::HMAC_SHA256, s.expose_secret().as_bytes())
            }),
        })
    }

    async fn deliver(&self, alert: &Alert) -> Result<(), String> {
        let body = serde_json::to_vec(&alert_json(alert)).map_err(|e| e.to_string())?;
        let mut request = self
            .client
            .post(&self.url)
            .header("content-type", "application/json");
        if let Some(key) = &self.key {
            let tag = ring::hmac::sign(key, &body);
            request = request.header(
                "x-baomi-signature",
                format!("sha256={}", data_encoding::HEXLOWER.encode(tag.as_ref())),
            );
        }
        let response = request.body(body).send().await.map_err(|e| e.to_string())?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("the webhook answered {}", response.status()))
        }
    }
}

/// An alert as JSON, for the API and the webhook.
pub fn alert_json(alert: &Alert) -> serde_json::Value {
    serde_json::json!({
        "id": alert.id,
        "rule": alert.rule,
        "key": alert.key,
        "trigger_seq": alert.trigger_seq,
        "at": crate::service::rfc3339_ms(alert.at_ms),
        "detail": alert.detail,
    })
}

/// Tails the trail, evaluates the rules, stores and delivers alerts.
pub struct AlertWatch {
    store: Arc<dyn LogStore>,
    engine: AlertEngine,
    cursor: i64,
    progress: Arc<AtomicI64>,
    webhook: Option<Webhook>,
}

impl AlertWatch {
    /// A watch with `rules`, starting two windows before `now_ms` so that its counts hold
    /// the recent past; it reports the last sequence number it evaluated in `progress`.
    pub async fn start(
        store: Arc<dyn LogStore>,
        rules: AlertRules,
        webhook: Option<Webhook>,
        now_ms: i64,
        progress: Arc<AtomicI64>,
    ) -> Result<Self, ServiceError> {
        let window = rules.bulk_window_secs.max(rules.denial_window_secs);
        let since = now_ms - i64::try_from(window.saturating_mul(2000)).unwrap_or(i64::MAX / 2);
        let cursor = store.seq_before(since).await?;
        Ok(Self {
            store,
            engine: AlertEngine::new(rules),
            cursor,
            progress,
            webhook,
        })
    }

    /// Evaluates every event appended since the last step; returns the alerts stored.
    pub async fn step(&mut self) -> Result<u64, ServiceError> {
        let mut raised = 0;
        loop {
            let events = self.store.tail(self.cursor, PAGE).await?;
            for stored in &events {
                // Events are written by this server; one that does not parse is skipped
                // here (verification is what reports tampering).
                if let Ok(event) = serde_json::from_str::<AccessEvent>(&stored.body) {
                    for alert in self.engine.observe(stored.seq, &event) {
                        if self.store.add_alert(&alert).await? {
                            tracing::warn!(rule = %alert.rule, key = %alert.key,
                                seq = alert.trigger_seq, "audit alert");
                            metrics::counter!("baomi_audit_alerts_total", "rule" => alert.rule.clone())
                                .increment(1);
                            raised += 1;
                        }
                    }
                }
                self.cursor = stored.seq;
            }
            self.progress.store(self.cursor, Ordering::Release);
            if events.len() < PAGE as usize {
                break;
            }
        }
        if let Some(webhook) = &self.webhook {
            for alert in self.store.undelivered_alerts(DELIVER).await? {
                match webhook.deliver(&alert).await {
                    Ok(()) => {
                        if let Some(id) = alert.id {
                            self.store
                                .mark_alert_delivered(id, crate::service::now())
                                .await?;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "delivering audit alerts failed; will retry");
                        break;
                    }
                }
            }
        }
        Ok(raised)
    }
}

/// Runs [`AlertWatch::step`] every `every` until `stop` fires, on the node that holds the
/// fleet's duty.
pub async fn run(
    mut watch: AlertWatch,
    every: Duration,
    duty: std::sync::Arc<crate::service::cluster::Duty>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        if duty.leads()
            && let Err(e) = watch.step().await
        {
            tracing::warn!(error = %e, "evaluating audit alerts failed; will retry");
        }
        if !crate::service::wait_or_stop(every, &mut stop).await {
            return;
        }
    }
}
