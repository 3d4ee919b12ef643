//! Managing keyrings: create, read, rotate, change policy. Every change is audited.

use baomi_types::Action;
use baomi_vault::{Keyring, KeyringName, Suite};

use crate::auth::{Caller, Role};
use crate::service::authenticate::require_role;
use crate::service::vault::vault_error;
use crate::service::{ErrorCode, RequestContext, ServiceError, Services, audit, now};

const DAY: u64 = 24 * 60 * 60;

fn name(raw: &str) -> Result<KeyringName, ServiceError> {
    KeyringName::parse(raw).map_err(|_| ServiceError::NotFound {
        code: ErrorCode::VaultUnknownKeyring,
    })
}

/// Creates a keyring.
pub async fn create(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    raw_name: &str,
    suite: Option<&str>,
    rotation_period_days: Option<u32>,
) -> Result<Keyring, ServiceError> {
    require_role(caller, &[Role::Admin])?;
    let name = KeyringName::parse(raw_name).map_err(|e| ServiceError::invalid("name", e))?;
    let suite = match suite {
        None => Suite::Aes256Gcm,
        Some(s) => Suite::parse(s).map_err(|e| ServiceError::invalid("suite", e))?,
    };
    let period = period_secs(rotation_period_days)?;
    let event = audit::about(caller, ctx, Action::KeyringCreate, name.as_str());
    let keyring = state
        .vault
        .create_keyring(&name, suite, period, now(), &[event])
        .await
        .map_err(vault_error)?;
    audit::settle(state.audit.as_ref()).await;
    Ok(keyring)
}

fn period_secs(days: Option<u32>) -> Result<Option<u64>, ServiceError> {
    match days {
        None => Ok(None),
        Some(0) => Err(ServiceError::invalid(
            "rotation_period_days",
            "must be at least 1",
        )),
        Some(d) => Ok(Some(u64::from(d) * DAY)),
    }
}

/// One keyring.
pub async fn get(
    state: &Services,
    caller: &Caller,
    raw_name: &str,
) -> Result<Keyring, ServiceError> {
    require_role(caller, &[Role::Admin, Role::Service])?;
    state
        .vault
        .keyring(&name(raw_name)?)
        .await
        .map_err(vault_error)
}

/// Every keyring.
pub async fn list(state: &Services, caller: &Caller) -> Result<Vec<Keyring>, ServiceError> {
    require_role(caller, &[Role::Admin, Role::Service])?;
    state.vault.keyrings().await.map_err(vault_error)
}

/// Adds a KEK version, in `suite` if given (moving the keyring to it).
pub async fn rotate(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    raw_name: &str,
    suite: Option<&str>,
) -> Result<Keyring, ServiceError> {
    require_role(caller, &[Role::Admin])?;
    let name = name(raw_name)?;
    let suite = suite
        .map(Suite::parse)
        .transpose()
        .map_err(|e| ServiceError::invalid("suite", e))?;
    let event = |version: u32| {
        let mut e = audit::about(caller, ctx, Action::KeyringRotate, name.as_str());
        e.fields = vec![format!("version:{version}")];
        if let Some(suite) = suite {
            e.fields.push(format!("suite:{}", suite.as_str()));
        }
        vec![e]
    };
    let keyring = state
        .vault
        .rotate(&name, suite, now(), &event)
        .await
        .map_err(vault_error)?;
    audit::settle(state.audit.as_ref()).await;
    tracing::info!(keyring = %name, version = keyring.latest_version, "keyring rotated");
    Ok(keyring)
}

/// Changes the minimum decryption version and/or the rotation period (`Some(None)` turns
/// automatic rotation off).
pub async fn set_policy(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    raw_name: &str,
    min_decryption_version: Option<u32>,
    rotation_period_days: Option<Option<u32>>,
) -> Result<Keyring, ServiceError> {
    require_role(caller, &[Role::Admin])?;
    let name = name(raw_name)?;
    let period = match rotation_period_days {
        None => None,
        Some(days) => Some(period_secs(days)?),
    };
    // The event records what was asked; it is written only if the change is made.
    let mut event = audit::about(caller, ctx, Action::KeyringPolicy, name.as_str());
    if let Some(min) = min_decryption_version {
        event.fields.push(format!("min_decryption_version:{min}"));
    }
    if let Some(period) = period {
        event.fields.push(match period {
            Some(secs) => format!("rotation_period_days:{}", secs / DAY),
            None => "rotation_period_days:off".to_owned(),
        });
    }
    let keyring = state
        .vault
        .set_policy(&name, min_decryption_version, period, &[event])
        .await
        .map_err(vault_error)?;
    audit::settle(state.audit.as_ref()).await;
    Ok(keyring)
}
