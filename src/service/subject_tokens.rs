//! Minting and revoking subject tokens.

use baomi_vault::SubjectId;
use secrecy::SecretString;

use baomi_types::Action;

use crate::auth::grant::Permission;
use crate::auth::subject_token::{Claims, TokenError};
use crate::auth::{Caller, Role};
use crate::service::authenticate::require_role;
use crate::service::{RequestContext, ServiceError, Services, audit, authorize, now};

/// Mints a token for `subject`, valid for `ttl` seconds (the configured default if `None`),
/// for a service key holding `mint_subject_tokens`. The token carries the request's
/// operator; minting is an audit event (issuer key, operator, subject, token id, lifetime)
/// written before the token is returned.
#[tracing::instrument(skip_all)]
pub async fn mint(
    state: &Services,
    caller: &Caller,
    ctx: &RequestContext,
    subject: &str,
    ttl: Option<u64>,
) -> Result<(SecretString, Claims), ServiceError> {
    authorize::permit(caller, Permission::MintSubjectTokens)?;
    let Caller::Key { id, .. } = caller else {
        return Err(ServiceError::Internal(
            "service caller without key".to_owned(),
        ));
    };
    let subject = SubjectId::parse(subject).map_err(|e| ServiceError::invalid("subject_id", e))?;
    let ttl = ttl.unwrap_or(state.limits.subject_token_ttl_secs);
    if ttl == 0 || ttl > state.limits.subject_token_max_ttl_secs {
        return Err(ServiceError::invalid(
            "ttl_seconds",
            format!(
                "must be 1 to {} seconds",
                state.limits.subject_token_max_ttl_secs
            ),
        ));
    }
    let ttl = i64::try_from(ttl).map_err(|_| ServiceError::invalid("ttl_seconds", "too large"))?;
    let operator = ctx.operator.as_ref().map(|o| o.as_str());
    let (token, claims) = state
        .tokens
        .mint(&subject, id, operator, now(), ttl)
        .map_err(|e| ServiceError::Internal(e.to_string()))?;
    let mut event = audit::about(caller, ctx, Action::TokenMint, &claims.jti);
    event.subject = Some(subject.as_str().to_owned());
    event.fields = vec![format!("ttl_seconds:{ttl}")];
    audit::append(state.audit.as_ref(), &[event]).await?;
    Ok((token, claims))
}

/// Revokes a subject token. A service key may revoke the tokens it minted; an admin key any.
#[tracing::instrument(skip_all)]
pub async fn revoke(state: &Services, caller: &Caller, token: &str) -> Result<(), ServiceError> {
    require_role(caller, &[Role::Service, Role::Admin])?;
    let at = now();
    let (_, claims) = match state.tokens.verify(token, at) {
        Ok(ok) => ok,
        // An expired token is no threat; revoking it is a no-op that succeeds.
        Err(TokenError::Expired) => return Ok(()),
        Err(_) => return Err(ServiceError::invalid("token", "not a valid subject token")),
    };
    if let Caller::Key {
        id,
        role: Role::Service,
        ..
    } = caller
        && *id != claims.iss
    {
        return Err(ServiceError::Forbidden(
            "a service key may revoke only the tokens it minted".to_owned(),
        ));
    }
    state
        .store
        .revoke_subject_token(&claims.jti, claims.exp, at)
        .await?;
    tracing::info!(token_id = %claims.jti, "subject token revoked");
    Ok(())
}
