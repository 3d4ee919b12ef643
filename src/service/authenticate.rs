//! Turning an `Authorization` header into a [`Caller`].

use crate::app::AppState;
use crate::auth::api_key::{self, PresentedKey};
use crate::auth::subject_token::{self, TokenError};
use crate::auth::{Caller, Role};
use crate::service::{AuthFailure, ServiceError, now};

/// Authenticates the credential in an `Authorization` header value, if any.
#[tracing::instrument(skip_all)]
pub async fn authenticate(
    state: &AppState,
    authorization: Option<&str>,
) -> Result<Caller, ServiceError> {
    let fail = |f| Err(ServiceError::Unauthenticated(f));
    let Some(header) = authorization else {
        return fail(AuthFailure::Missing);
    };
    let Some((scheme, credential)) = header.split_once(' ') else {
        return fail(AuthFailure::Malformed);
    };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return fail(AuthFailure::Malformed);
    }
    let credential = credential.trim();
    if credential.starts_with(subject_token::PREFIX) {
        subject_caller(state, credential).await
    } else if credential.starts_with(api_key::PREFIX) {
        key_caller(state, credential).await
    } else {
        fail(AuthFailure::Malformed)
    }
}

async fn key_caller(state: &AppState, credential: &str) -> Result<Caller, ServiceError> {
    let invalid = ServiceError::Unauthenticated(AuthFailure::InvalidKey);
    let Some(presented) = PresentedKey::parse(credential) else {
        return Err(invalid);
    };
    let Some(key) = state
        .key_records
        .get(presented.id, state.store.key(presented.id))
        .await?
    else {
        // Pay for the comparison anyway, so that unknown ids cost what known ones do.
        let _ = presented.matches(&[0u8; 32]);
        return Err(invalid);
    };
    if !presented.matches(&key.secret_hash) || key.revoked_at.is_some() {
        return Err(invalid);
    }
    Ok(Caller::Key {
        id: key.id,
        role: key.role,
        grants: std::sync::Arc::new(key.grants),
    })
}

async fn subject_caller(state: &AppState, credential: &str) -> Result<Caller, ServiceError> {
    let invalid = || ServiceError::Unauthenticated(AuthFailure::InvalidToken);
    let (subject, claims) = state
        .tokens
        .verify(credential, now())
        .map_err(|e| match e {
            TokenError::Expired => ServiceError::Unauthenticated(AuthFailure::ExpiredToken),
            _ => invalid(),
        })?;
    // The issuer's grants are read now, not when the token was minted: a token never
    // outlives what its issuer may do.
    let issuer = state
        .key_records
        .get(&claims.iss, state.store.key(&claims.iss))
        .await?
        .filter(|k| k.revoked_at.is_none() && k.role == Role::Service);
    let Some(issuer) = issuer else {
        return Err(invalid());
    };
    if state.store.subject_token_revoked(&claims.jti).await? {
        return Err(invalid());
    }
    Ok(Caller::Subject {
        subject,
        token_id: claims.jti,
        issuer: claims.iss,
        issuer_grants: std::sync::Arc::new(issuer.grants),
        operator: claims.op,
        expires_at: claims.exp,
    })
}

/// Fails with 403 unless the caller holds an API key with one of `roles`.
pub fn require_role(caller: &Caller, roles: &[Role]) -> Result<(), ServiceError> {
    match caller {
        Caller::Key { role, .. } if roles.contains(role) => Ok(()),
        _ => Err(ServiceError::Forbidden(format!(
            "this call needs a key with role {}",
            roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(" or ")
        ))),
    }
}

/// Fails with 403 unless the caller is a data subject; gives the subject.
pub fn require_subject(caller: &Caller) -> Result<&baomi_vault::SubjectId, ServiceError> {
    match caller {
        Caller::Subject { subject, .. } => Ok(subject),
        Caller::Key { .. } => Err(ServiceError::Forbidden(
            "this call needs a subject token".to_owned(),
        )),
    }
}
