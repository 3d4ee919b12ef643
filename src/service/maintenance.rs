//! Background upkeep of the key hierarchy: automatic rotation of keyrings that are due,
//! and re-sealing subjects' data keys under the newest KEK after a rotation.

use std::sync::Arc;
use std::time::Duration;

use baomi_vault::Vault;

/// Data keys re-sealed per store round trip.
const RESEAL_BATCH: u32 = 500;

/// What one pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tick {
    /// Keyrings rotated because their period was over.
    pub rotated: usize,
    /// Data keys re-sealed under their keyring's newest KEK.
    pub resealed: u64,
}

/// One pass at time `now` (Unix seconds).
pub async fn tick(vault: &Vault, now: i64) -> Result<Tick, baomi_vault::Error> {
    let mut done = Tick::default();
    for name in vault.due_for_rotation(now).await? {
        match vault.rotate(&name, now).await {
            Ok(k) => {
                tracing::info!(keyring = %name, version = k.latest_version, "keyring rotated on schedule");
                done.rotated += 1;
            }
            // Another node rotated it at the same moment: fine.
            Err(baomi_vault::Error::RotationConflict) => {}
            Err(e) => return Err(e),
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
    }
    Ok(done)
}

/// Runs [`tick`] every `every` until `stop` fires.
pub async fn run(vault: Arc<Vault>, every: Duration, mut stop: tokio::sync::watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        match tick(&vault, crate::service::now()).await {
            Ok(t) if t.rotated > 0 || t.resealed > 0 => {
                tracing::info!(
                    rotated = t.rotated,
                    resealed = t.resealed,
                    "key maintenance"
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "key maintenance failed; will retry"),
        }
    }
}
