//! Background upkeep of the key hierarchy: automatic rotation of keyrings that are due,
//! and re-sealing subjects' data keys under the newest KEK after a rotation.

use std::sync::Arc;
use std::time::Duration;

use baomi_types::Action;
use baomi_vault::Vault;

use crate::service::audit;
use crate::service::audit_log::AuditLog;

/// Data keys re-sealed per store round trip.
const RESEAL_BATCH: u32 = 500;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Keyrings rotated because their period was over.
    pub rotated: usize,
    /// Data keys re-sealed under their keyring's newest KEK.
    pub resealed: u64,
    /// Stored fields re-encrypted under their keyring's newest version.
    pub reencrypted: u64,
}

/// One pass at time `now` (Unix seconds).
pub async fn tick(vault: &Vault, now: i64) -> Result<Tick, baomi_vault::Error> {
    let mut done = Tick::default();
    for name in vault.due_for_rotation(now).await? {
        // Re-checked against a fresh read: another node may have rotated it just now.
        let event = |version: u32| {
            let mut e = audit::system("baomi", Action::KeyringRotate, name.as_str());
            e.fields = vec![format!("version:{version}")];
            vec![e]
        };
        if vault.rotate_if_due(&name, now, &event).await? {
            tracing::info!(keyring = %name, "keyring rotated on schedule");
            done.rotated += 1;
        }
    }
    for keyring in vault.keyrings().await? {
        loop {
            let n = vault.reseal_data_keys(&keyring.name, RESEAL_BATCH).await?;
            done.resealed += n;
            if n < u64::from(RESEAL_BATCH) {
                break;
            }
        }
        // Rows that cannot be re-encrypted are skipped, so go on while any progress is made.
        loop {
            let n = vault
                .reencrypt_stored_fields(&keyring.name, RESEAL_BATCH, now)
                .await?;
            done.reencrypted += n;
            if n == 0 {
                break;
            }
        }
    }
    Ok(done)
}

/// Runs [`tick`] and the audit trail's retention every `every` until `stop` fires, on the
/// node that holds the fleet's duty.
pub async fn run(
    vault: Arc<Vault>,
    audit_log: Arc<AuditLog>,
    retention_days: u32,
    every: Duration,
    duty: Arc<crate::service::cluster::Duty>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    while crate::service::wait_or_stop(every, &mut stop).await {
        if !duty.leads() {
            continue;
        }
        match audit_log
            .prune(crate::service::now_ms(), retention_days)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, retention_days, "audit event bodies pruned"),
            Err(e) => tracing::warn!(error = %e, "audit retention failed; will retry"),
        }
        match tick(&vault, crate::service::now()).await {
            Ok(t) if t != Tick::default() => {
                tracing::info!(
                    rotated = t.rotated,
                    resealed = t.resealed,
                    reencrypted = t.reencrypted,
                    "key maintenance"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "key maintenance failed; will retry"),
        }
    }
}
