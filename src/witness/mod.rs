//! `baomi witness serve`: Baomi as a C2SP `tlog-witness` for other logs, Baomi's own audit
//! trail among them.
//!
//! A witness is run by someone other than the log's operators (another team, another
//! company, a regulator). It follows the logs whose verifier keys it is given, keeps the
//! latest checkpoint it cosigned for each in a state file of its own, and cosigns a new
//! checkpoint only if a consistency proof shows that it extends that one. A log that forks,
//! or cuts and rewrites its history, gets no cosignature; the witness keeps the request as
//! evidence.
//!
//! The protocol and the checks are in `baomi_audit::witness`; here are the state
//! ([`state`]), the service that makes check-and-record atomic ([`Witness`]) and the HTTP
//! interface ([`http`]).

pub mod http;
pub mod state;

use std::collections::HashMap;

use baomi_audit::checkpoint::CheckpointError;
use baomi_audit::witness::{self, AddCheckpoint, Cosigner, Refusal};
use tokio::sync::Mutex;

use crate::store::StoreError;
use state::WitnessState;

/// Why an `add-checkpoint` request got no cosignature.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    /// The protocol's refusal.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The state file failed.
    #[error("the witness state: {0}")]
    State(#[from] StoreError),
}

/// The logs a witness follows: each origin with its verifier keys.
#[derive(Debug, Clone, Default)]
pub struct Logs(HashMap<String, Vec<String>>);

impl Logs {
    /// The logs of these verifier keys (`<origin>+<key id>+<key>`: a log's key name is its
    /// origin). Several keys of one origin are all trusted, for a log that rotates.
    pub fn from_verifier_keys(keys: &[String]) -> Result<Self, CheckpointError> {
        let mut logs: HashMap<String, Vec<String>> = HashMap::new();
        for key in keys {
            baomi_audit::checkpoint::check_verifier_key(key)?;
            let origin = baomi_audit::checkpoint::verifier_key_name(key).to_owned();
            logs.entry(origin).or_default().push(key.clone());
        }
        Ok(Self(logs))
    }

    fn keys(&self, origin: &str) -> &[String] {
        self.0.get(origin).map_or(&[], Vec::as_slice)
    }
}

/// A witness: its key, the logs it follows, and its state.
#[derive(Debug)]
pub struct Witness {
    cosigner: Cosigner,
    logs: Logs,
    state: WitnessState,
    /// Checking against the held checkpoint and recording the new one happen under this
    /// lock, so that two requests cannot both pass the check and the smaller one be
    /// recorded last (the state's compare-and-set catches it too).
    serial: Mutex<()>,
}

impl Witness {
    /// A witness with this key, following these logs, keeping its state in `state`.
    pub fn new(cosigner: Cosigner, logs: Logs, state: WitnessState) -> Self {
        Self {
            cosigner,
            logs,
            state,
            serial: Mutex::new(()),
        }
    }

    /// The witness's verifier key.
    pub fn verifier_key(&self) -> String {
        self.cosigner.verifier_key()
    }

    /// Handles an `add-checkpoint` request body: the cosignature line if the checkpoint is
    /// signed by the log and extends the one held for it, which it then replaces.
    pub async fn add_checkpoint(&self, body: &str) -> Result<String, WitnessError> {
        let request = AddCheckpoint::parse(body).map_err(Refusal::Malformed)?;
        let origin = witness::origin(&request.note).ok_or(Refusal::Malformed("no origin"))?;
        let keys = self.logs.keys(origin);
        let _serial = self.serial.lock().await;
        let held = if keys.is_empty() {
            None
        } else {
            self.state.held(origin).await?
        };
        let at = crate::service::now_ms() / 1000;
        let checkpoint = match witness::check(&request, keys, held) {
            Ok(checkpoint) => checkpoint,
            Err(refusal) => {
                if refusal.is_misbehaviour() {
                    let held_size = held.map_or(0, |h| h.size);
                    self.state
                        .keep_evidence(origin, refusal.code(), held_size, body, at)
                        .await?;
                    tracing::warn!(
                        origin,
                        code = refusal.code(),
                        held_size,
                        "a log sent a checkpoint that does not extend the one witnessed: kept \
                         as evidence"
                    );
                }
                return Err(refusal.into());
            }
        };
        if !self
            .state
            .advance(held, &checkpoint, &request.note, at)
            .await?
        {
            // Another process changed the state file under this one.
            let recorded = self.state.held(origin).await?.map_or(0, |h| h.size);
            return Err(Refusal::StaleOldSize { recorded }.into());
        }
        tracing::info!(origin, size = checkpoint.size, "cosigned");
        Ok(self
            .cosigner
            .cosign(&checkpoint, u64::try_from(at).unwrap_or(0)))
    }
}
