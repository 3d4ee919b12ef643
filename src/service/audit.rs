//! Building access events for the trail, and appending them fail-closed.

use baomi_audit::AuditSink;
use baomi_types::{AccessEvent, Action, Actor, Outcome, RequestId};

use crate::auth::Caller;
use crate::service::{RequestContext, ServiceError, now_ms};

/// The actor of an event.
pub fn actor(caller: &Caller) -> Actor {
    let (id, role, certificate) = match caller {
        Caller::Key {
            id,
            role,
            certificate,
            ..
        } => (id, role.as_str(), certificate),
        Caller::Subject {
            token_id,
            certificate,
            ..
        } => (token_id, "subject", certificate),
    };
    Actor {
        certificate: certificate.as_deref().cloned(),
        ..Actor::new(id.clone(), role)
    }
}

/// A new event for this caller and request. An act through a subject token names the key
/// that minted it as the issuer and, unless the request names one, the operator who had it
/// minted: attribution is never lost on the way to the trail.
pub fn event(caller: &Caller, ctx: &RequestContext, action: Action) -> AccessEvent {
    let mut e = AccessEvent::new(
        now_ms(),
        action,
        actor(caller),
        ctx.operator.as_ref(),
        &ctx.request_id,
    );
    if let Caller::Subject {
        issuer, operator, ..
    } = caller
    {
        e.issuer = Some(issuer.clone());
        if e.operator.is_none() {
            e.operator = operator.clone();
        }
    }
    e
}

/// An event about an object that is not a subject (a keyring, a key).
pub fn about(caller: &Caller, ctx: &RequestContext, action: Action, target: &str) -> AccessEvent {
    let mut e = event(caller, ctx, action);
    e.target = Some(target.to_owned());
    e.count = 1;
    e
}

/// An event of Baomi's own doing (scheduled rotation, start-up replay) or of its command
/// line (`actor_id` says which), about `target`.
pub fn system(actor_id: &str, action: Action, target: &str) -> AccessEvent {
    let mut bytes = [0u8; 12];
    // A request id for correlation only; should the system RNG fail, zeros do no harm.
    let _ = ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes);
    let mut e = AccessEvent::new(
        now_ms(),
        action,
        Actor::new(actor_id, "system"),
        None,
        &RequestId::from_random(bytes),
    );
    e.target = Some(target.to_owned());
    e.count = 1;
    e
}

/// Moves the events a state change wrote to the outbox into the trail, before the response
/// leaves. Should that fail, the events stay durable in the outbox and the next append or
/// the once-a-second pass moves them: the change succeeded and is not reported as failed.
pub async fn settle(sink: &dyn AuditSink) {
    if let Err(e) = sink.integrate_outbox().await {
        tracing::warn!(error = %e, "moving state-change events into the trail is delayed");
    }
}

/// A denied event with `code`.
pub fn denied(mut event: AccessEvent, code: impl std::fmt::Display) -> AccessEvent {
    event.outcome = Outcome::Denied {
        code: code.to_string(),
    };
    event
}

/// Appends events; if the trail cannot take them, the request fails (503) and whatever it
/// read is not returned: no access without its record.
pub async fn append(sink: &dyn AuditSink, events: &[AccessEvent]) -> Result<(), ServiceError> {
    Ok(sink.append(events).await?)
}

/// Checks the `outcome` filter of a search of the trail: `allowed` or `denied`.
pub fn check_outcome(outcome: Option<&str>) -> Result<(), ServiceError> {
    match outcome {
        None | Some("allowed" | "denied") => Ok(()),
        Some(_) => Err(ServiceError::invalid("outcome", "allowed or denied")),
    }
}

/// Records an officer's or admin's read of the trail itself (its events, proofs, alerts,
/// or a console page showing them) before the read is answered: fail closed.
pub async fn audited_read(
    state: &crate::service::Services,
    caller: &Caller,
    ctx: &RequestContext,
    what: &str,
) -> Result<(), ServiceError> {
    crate::service::authenticate::require_role(
        caller,
        &[crate::auth::Role::Officer, crate::auth::Role::Admin],
    )?;
    let event = about(caller, ctx, Action::AuditRead, what);
    append(state.audit.as_ref(), &[event]).await
}
