//! Group commit for the audit trail: many concurrent requests share one database commit.
//!
//! Every read of PI must have its event durably written before the response leaves (fail
//! closed), and a commit costs an fsync (~250–300 µs here): one commit per request would cap
//! the server at a few thousand reads a second. Instead, appends queue to one writer task,
//! which takes everything queued, writes it as one multi-row `INSERT` (one transaction, one
//! fsync), and then acknowledges each waiting request with the common outcome. While it
//! commits, the next batch gathers.

use std::sync::Arc;

use async_trait::async_trait;
use baomi_audit::{AuditFailure, AuditSink};
use baomi_types::AccessEvent;
use tokio::sync::{mpsc, oneshot};

/// Most events written in one commit.
const MAX_BATCH_EVENTS: usize = 2000;
/// At most this many yields while a batch is still growing.
const GATHER_ROUNDS: usize = 8;
/// Requests that may wait for the writer before new ones are told to back off.
const QUEUE: usize = 8192;

struct Job {
    events: Vec<AccessEvent>,
    drain_outbox: bool,
    done: oneshot::Sender<Result<(), AuditFailure>>,
}

/// An [`AuditSink`] that batches appends from concurrent requests into shared commits.
pub struct GroupCommit {
    jobs: mpsc::Sender<Job>,
}

impl GroupCommit {
    /// Starts the writer task over `inner` (which must write each call in one commit).
    pub fn start(inner: Arc<dyn AuditSink>) -> Self {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(writer(inner, queue));
        Self { jobs }
    }
}

async fn writer(inner: Arc<dyn AuditSink>, mut queue: mpsc::Receiver<Job>) {
    let mut batch: Vec<Job> = Vec::new();
    let mut events: Vec<AccessEvent> = Vec::new();
    while let Some(first) = queue.recv().await {
        batch.push(first);
        let mut count = batch[0].events.len();
        // Requests woken by the last commit are still queueing their next events: yield
        // while more keep arriving, so that they share this commit instead of the next.
        for _ in 0..GATHER_ROUNDS {
            tokio::task::yield_now().await;
            let before = count;
            while count < MAX_BATCH_EVENTS {
                match queue.try_recv() {
                    Ok(job) => {
                        count += job.events.len();
                        batch.push(job);
                    }
                    Err(_) => break,
                }
            }
            if count == before || count >= MAX_BATCH_EVENTS {
                break;
            }
        }
        let mut drain_outbox = false;
        for job in &mut batch {
            events.append(&mut job.events);
            drain_outbox |= job.drain_outbox;
        }
        let outcome = inner.append_with(&events, drain_outbox).await;
        metrics::histogram!("baomi_audit_commit_events").record(events.len() as f64);
        events.clear();
        for job in batch.drain(..) {
            let _ = job.done.send(outcome.clone());
        }
    }
}

#[async_trait]
impl AuditSink for GroupCommit {
    async fn append_with(
        &self,
        events: &[AccessEvent],
        drain_outbox: bool,
    ) -> Result<(), AuditFailure> {
        if events.is_empty() && !drain_outbox {
            return Ok(());
        }
        let (done, wait) = oneshot::channel();
        let job = Job {
            events: events.to_vec(),
            drain_outbox,
            done,
        };
        self.jobs
            .send(job)
            .await
            .map_err(|_| AuditFailure("the audit writer has stopped".to_owned()))?;
        wait.await
            .map_err(|_| AuditFailure("the audit writer has stopped".to_owned()))?
    }
}
