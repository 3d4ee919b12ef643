//! Sending the audit log's checkpoints to its witnesses (C2SP `tlog-witness`), keeping
//! their cosignatures, and recording when a witness refuses or falls silent.
//!
//! On the node that holds the fleet's duty, once a second, each configured witness is sent
//! the newest signed checkpoint with a consistency proof from the checkpoint it holds (as
//! far as this node knows: the newest cosignature kept, corrected by the witness's 409
//! answer). A cosignature is checked against the witness's verifier key before it is kept
//! (`audit_cosignatures`, append-only) and served with `GET /v1/audit/checkpoint`.
//!
//! A refusal is recorded once, as a `witness_refused` event whose outcome names why
//! (`witness.inconsistent`, `witness.fork`, `witness.holds_larger_tree`, …), until the
//! witness cosigns again; a witness that has cosigned nothing newer for
//! `audit.witness_silence_alert_secs` is recorded once as `witness_silent`. Both are events
//! in the trail and raise alerts of the same name, on every node, with the webhook.

use std::sync::Arc;
use std::time::Duration;

use baomi_audit::witness::{AddCheckpoint, SIZE_MEDIA_TYPE, verify_cosignature};
use baomi_audit::{AuditSink, StoredCheckpoint};
use baomi_types::Action;

use crate::config::AuditConfig;
use crate::service::audit_log::AuditLog;
use crate::service::cluster::Duty;
use crate::service::{ServiceError, audit, now_ms};
use crate::store::cosignatures::{CosignatureStore, StoredCosignature};

/// What one witness holds and what has been recorded about it, as this node knows.
#[derive(Debug)]
struct Tracked {
    name: String,
    endpoint: String,
    verifier_key: String,
    /// The size of the checkpoint the witness holds; `None` until read from the kept
    /// cosignatures.
    held: Option<u64>,
    /// Since when it has been known to hold the newest checkpoint (Unix milliseconds): when
    /// it last cosigned or was found up to date, or when this node started following it.
    current_since_ms: i64,
    /// The refusal recorded, until the witness cosigns again.
    refusal_recorded: Option<&'static str>,
    /// Whether its silence has been recorded, until it cosigns again.
    silence_recorded: bool,
}

/// How a submission ended.
#[derive(Debug, PartialEq, Eq)]
enum Submitted {
    /// Cosigned (or nothing new to send).
    Cosigned,
    /// Refused, for this reason.
    Refused(&'static str),
    /// Not answered (unreachable, timed out, 5xx): tried again on the next pass.
    Unanswered,
}

/// The witnesses of the log, and what it knows of each.
pub struct Witnessing {
    log: Arc<AuditLog>,
    cosignatures: Arc<dyn CosignatureStore>,
    sink: Arc<dyn AuditSink>,
    client: reqwest::Client,
    silence_ms: i64,
    witnesses: Vec<Tracked>,
}

impl Witnessing {
    /// The witnesses `config` names; `None` when it names none.
    pub fn new(
        config: &AuditConfig,
        log: Arc<AuditLog>,
        cosignatures: Arc<dyn CosignatureStore>,
        sink: Arc<dyn AuditSink>,
    ) -> Result<Option<Self>, ServiceError> {
        if config.witnesses.is_empty() {
            return Ok(None);
        }
        let client = crate::service::outbound::client(
            config.witness_ca_file.as_deref(),
            "audit.witness_ca_file",
            Duration::from_secs(10),
        )?;
        let started = now_ms();
        let witnesses = config
            .witnesses
            .iter()
            .map(|w| Tracked {
                name: baomi_audit::checkpoint::verifier_key_name(&w.verifier_key).to_owned(),
                endpoint: format!("{}/add-checkpoint", w.url.trim_end_matches('/')),
                verifier_key: w.verifier_key.clone(),
                held: None,
                current_since_ms: started,
                refusal_recorded: None,
                silence_recorded: false,
            })
            .collect();
        Ok(Some(Self {
            log,
            cosignatures,
            sink,
            client,
            silence_ms: i64::try_from(config.witness_silence_alert_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            witnesses,
        }))
    }

    /// Every `every`, until `stop` fires, on the node that holds the fleet's duty: a pass
    /// over the witnesses.
    pub async fn run(
        mut self,
        every: Duration,
        duty: Arc<Duty>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        while crate::service::wait_or_stop(every, &mut stop).await {
            if !duty.leads() {
                // Another node sends; what it learns is in the kept cosignatures.
                for w in &mut self.witnesses {
                    w.held = None;
                }
                continue;
            }
            if let Err(e) = self.pass().await {
                tracing::warn!(error = %e, "witnessing the audit log failed; will retry");
            }
        }
    }

    /// Sends the newest checkpoint to each witness that does not hold it yet.
    pub async fn pass(&mut self) -> Result<(), ServiceError> {
        let Some(newest) = self.log.checkpoint().await? else {
            return Ok(());
        };
        if self.witnesses.iter().any(|w| w.held.is_none()) {
            let names: Vec<String> = self.witnesses.iter().map(|w| w.name.clone()).collect();
            let kept = self.cosignatures.newest_cosignatures(&names).await?;
            for w in self.witnesses.iter_mut().filter(|w| w.held.is_none()) {
                let mine = kept.iter().find(|c| c.witness == w.name);
                w.held = Some(mine.map_or(0, |c| u64::try_from(c.tree_size).unwrap_or(0)));
            }
        }
        for i in 0..self.witnesses.len() {
            let outcome = self.submit(i, &newest).await?;
            self.record(i, outcome).await;
        }
        Ok(())
    }

    /// Sends `newest` to witness `i`, from the size it holds; follows the witness's 409 to
    /// the size it says it holds, once.
    async fn submit(
        &mut self,
        i: usize,
        newest: &StoredCheckpoint,
    ) -> Result<Submitted, ServiceError> {
        for _ in 0..2 {
            let old = self.witnesses[i].held.unwrap_or(0);
            if newest.tree_size <= old {
                return Ok(if newest.tree_size == old {
                    Submitted::Cosigned
                } else {
                    Submitted::Refused("witness.holds_larger_tree")
                });
            }
            let proof = if old == 0 {
                Vec::new()
            } else {
                self.log.consistency(old, newest.tree_size).await?
            };
            let body = AddCheckpoint {
                old_size: old,
                proof,
                note: newest.note.clone(),
            }
            .to_body();
            let w = &self.witnesses[i];
            let reply = match self.client.post(&w.endpoint).body(body).send().await {
                Ok(reply) => reply,
                Err(e) => {
                    tracing::warn!(witness = %w.name, error = %e, "a witness did not answer");
                    return Ok(Submitted::Unanswered);
                }
            };
            let status = reply.status().as_u16();
            let size_answer = reply
                .headers()
                .get(reqwest::header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes().starts_with(SIZE_MEDIA_TYPE.as_bytes()));
            let Ok(text) = reply.text().await else {
                return Ok(Submitted::Unanswered);
            };
            match status {
                200 => return self.keep(i, newest, &text).await,
                409 if size_answer => {
                    let Some(held) = text.trim_end_matches('\n').parse::<u64>().ok() else {
                        return Ok(Submitted::Refused("witness.malformed_answer"));
                    };
                    if held > newest.tree_size {
                        return Ok(Submitted::Refused("witness.holds_larger_tree"));
                    }
                    if held == old {
                        // It holds the size the log sent from, yet refuses: the same size
                        // with another root.
                        return Ok(Submitted::Refused("witness.fork"));
                    }
                    self.witnesses[i].held = Some(held);
                }
                422 => return Ok(Submitted::Refused("witness.inconsistent")),
                403 => return Ok(Submitted::Refused("witness.not_signed_by_the_log")),
                404 => return Ok(Submitted::Refused("witness.unknown_log")),
                400..=499 => return Ok(Submitted::Refused("witness.request_refused")),
                _ => {
                    tracing::warn!(witness = %w.name, status, "a witness failed to answer");
                    return Ok(Submitted::Unanswered);
                }
            }
        }
        Ok(Submitted::Refused("witness.stale_old_size"))
    }

    /// Checks and keeps witness `i`'s cosignature of `newest`.
    async fn keep(
        &mut self,
        i: usize,
        newest: &StoredCheckpoint,
        answer: &str,
    ) -> Result<Submitted, ServiceError> {
        let w = &mut self.witnesses[i];
        let note = format!("{}{answer}", newest.note);
        let cosigned_at = match verify_cosignature(&note, &w.verifier_key) {
            Ok((checkpoint, at)) if checkpoint.size == newest.tree_size => at,
            _ => return Ok(Submitted::Refused("witness.invalid_cosignature")),
        };
        // Only the witness's own line is kept beside the log's note.
        let line = answer
            .lines()
            .find(|l| l.starts_with(&format!("\u{2014} {} ", w.name)))
            .unwrap_or_default();
        let received = now_ms();
        self.cosignatures
            .add_cosignature(&StoredCosignature {
                witness: w.name.clone(),
                tree_size: i64::try_from(newest.tree_size).unwrap_or(i64::MAX),
                note: format!("{}{line}\n", newest.note),
                cosigned_at: i64::try_from(cosigned_at).unwrap_or(i64::MAX),
                received_at: received,
            })
            .await?;
        w.held = Some(newest.tree_size);
        Ok(Submitted::Cosigned)
    }

    /// Records a refusal or a silence once, and clears both once the witness cosigns.
    async fn record(&mut self, i: usize, outcome: Submitted) {
        let silence_ms = self.silence_ms;
        let w = &mut self.witnesses[i];
        let target = format!("witness:{}", w.name);
        let event = match outcome {
            Submitted::Cosigned => {
                if w.refusal_recorded.take().is_some() || w.silence_recorded {
                    tracing::info!(witness = %w.name, "a witness cosigns again");
                }
                w.silence_recorded = false;
                w.current_since_ms = now_ms();
                return;
            }
            Submitted::Refused(code) if w.refusal_recorded != Some(code) => {
                tracing::warn!(witness = %w.name, code, "a witness refused the log's checkpoint");
                w.refusal_recorded = Some(code);
                audit::denied(
                    audit::system("baomi", Action::WitnessRefused, &target),
                    code,
                )
            }
            _ if !w.silence_recorded && now_ms() - w.current_since_ms > silence_ms => {
                tracing::warn!(witness = %w.name, "a witness has cosigned nothing newer for too long");
                w.silence_recorded = true;
                audit::system("baomi", Action::WitnessSilent, &target)
            }
            _ => return,
        };
        if let Err(e) = self.sink.append(&[event]).await {
            tracing::warn!(error = %e, "recording a witness's refusal or silence failed; will retry");
            let w = &mut self.witnesses[i];
            w.refusal_recorded = None;
            w.silence_recorded = false;
        }
    }
}
