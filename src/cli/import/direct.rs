//! `baomi import --offline`: straight into the database, without a server, for the operator
//! who holds the unseal passphrase (as `baomi keys` does). The writes are the server's own:
//! the same checks, one transaction per batch, and each batch's audit event committed with
//! it, naming the operator. The events wait in the database's outbox and enter the trail
//! when a server next runs on it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use baomi_types::{AccessEvent, Action, Actor, OperatorId, RequestId};
use serde_json::{Value, json};

use super::super::StoreArgs;
use crate::config::Config;
use crate::service::stored::{self, BulkStoreRequest};
use crate::service::{now_ms, setup};
use crate::store::{self, Store};

/// The actor of an offline import's events: the CLI, acting for the named operator.
const ACTOR: &str = "baomi-import";

/// The vault over the database, unsealed here.
pub struct Direct {
    vault: baomi_vault::Vault,
    store: Arc<dyn Store>,
    operator: OperatorId,
}

impl Direct {
    /// Opens the configured database and unseals its root key (creating both if missing, as
    /// the server would, and printing the bootstrap admin key then).
    pub async fn open(
        config_file: Option<&Path>,
        args: &StoreArgs,
        operator: &str,
    ) -> anyhow::Result<Self> {
        let operator =
            OperatorId::parse(operator).map_err(|e| anyhow::anyhow!("--operator: {e}"))?;
        let config = Config::load(config_file, &args.overrides())?;
        setup::ensure_data_dir(&config.data_dir)?;
        let protection = setup::protection(&config, args.dev)?;
        let store = store::open(&config).await?;
        let opened = async {
            let unsealed = setup::unseal(store.as_ref(), protection, config.kdf).await?;
            if let Some(key) = &unsealed.bootstrap_admin_key {
                super::super::print_bootstrap_key(key);
            }
            let vault = setup::vault(
                &unsealed,
                Arc::clone(&store) as Arc<dyn baomi_vault::VaultStore>,
                crate::server::vault_options(&config),
            )?;
            anyhow::Ok(vault)
        }
        .await;
        match opened {
            Ok(vault) => Ok(Self {
                vault,
                store,
                operator,
            }),
            Err(e) => {
                store.close().await;
                Err(e)
            }
        }
    }

    /// Stores a batch; one answer per subject, shaped as `POST /v1/store` answers.
    pub async fn store(
        &self,
        request: BulkStoreRequest,
        request_id: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let request_id = RequestId::parse(request_id).context("the batch's request id")?;
        let ids: Vec<String> = request.subjects.iter().map(|(id, _)| id.clone()).collect();
        let results = stored::store_subjects(&self.vault, request, |keyring| {
            let mut event = AccessEvent::new(
                now_ms(),
                Action::Store,
                Actor::new(ACTOR, "system"),
                Some(&self.operator),
                &request_id,
            );
            event.target = Some(format!("keyring:{}", keyring.as_str()));
            event
        })
        .await?;
        Ok(ids
            .into_iter()
            .zip(results)
            .map(|(subject_id, result)| match result {
                Ok(tokens) => json!({"subject_id": subject_id, "tokens": tokens}),
                Err(e) => json!({
                    "subject_id": subject_id,
                    "error": {"code": e.code.as_str(), "detail": e.detail},
                }),
            })
            .collect())
    }

    /// Closes the database.
    pub async fn close(self) {
        self.store.close().await;
    }
}

/// A batch's rows as a bulk store request (the values copied, each copy zeroised on drop).
pub fn request(
    rows: &[&super::Row],
    keyring: Option<&str>,
    searchable: &[String],
    free_form: &[String],
) -> BulkStoreRequest {
    BulkStoreRequest {
        keyring: keyring.map(str::to_owned),
        subjects: rows
            .iter()
            .map(|r| {
                let fields: BTreeMap<_, _> = r
                    .fields
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                (r.subject_id.clone(), fields)
            })
            .collect(),
        searchable: searchable.to_vec(),
        format_preserving_tokens: true,
        free_form: free_form.to_vec(),
    }
}
