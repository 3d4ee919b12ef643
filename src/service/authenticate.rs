//! Turning an `Authorization` header, and the client certificate its connection came
//! with, into a [`Caller`].

use std::sync::Arc;

use baomi_types::ClientCertificate;

use crate::auth::api_key::{self, PresentedKey};
use crate::auth::subject_token::{self, TokenError};
use crate::auth::{Caller, Role};
use crate::service::{AuthFailure, ServiceError, Services, now};

/// Where a credential was presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// An API call: with `tls.client_ca_file` set, an API key needs a client certificate.
    Api,
    /// The console's sign-in form, in a browser that may hold no client certificate: only a
    /// key bound to a certificate needs one.
    Console,
}

/// Authenticates the credential in an `Authorization` header value, if any, presented over
/// a connection that came with the verified client `certificate`, if any.
#[tracing::instrument(skip_all)]
pub async fn authenticate(
    state: &Services,
    authorization: Option<&str>,
    certificate: Option<&Arc<ClientCertificate>>,
    channel: Channel,
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
        subject_caller(state, credential, certificate).await
    } else if credential.starts_with(api_key::PREFIX) {
        key_caller(state, credential, certificate, channel).await
    } else {
        fail(AuthFailure::Malformed)
    }
}

async fn key_caller(
    state: &Services,
    credential: &str,
    certificate: Option<&Arc<ClientCertificate>>,
    channel: Channel,
) -> Result<Caller, ServiceError> {
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
    // Only once the secret is right: a caller without it learns nothing of the binding.
    let required = key.client_certificate.is_some()
        || (channel == Channel::Api && state.limits.keys_need_client_certificates);
    let certificate_ok = match (&key.client_certificate, certificate) {
        (Some(binding), Some(presented)) => binding.matches(presented),
        (_, presented) => presented.is_some() || !required,
    };
    if !certificate_ok {
        return Err(ServiceError::Unauthenticated(
            AuthFailure::ClientCertificateRequired,
        ));
    }
    Ok(Caller::Key {
        id: key.id,
        role: key.role,
        grants: Arc::new(key.grants),
        certificate: certificate.cloned(),
    })
}

async fn subject_caller(
    state: &Services,
    credential: &str,
    certificate: Option<&Arc<ClientCertificate>>,
) -> Result<Caller, ServiceError> {
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
        issuer_grants: Arc::new(issuer.grants),
        operator: claims.op,
        expires_at: claims.exp,
        certificate: certificate.cloned(),
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
