//! Building access events for the trail, and appending them fail-closed.

use baomi_audit::{AccessEvent, Action, Actor, AuditSink, Outcome};

use crate::auth::Caller;
use crate::service::{RequestContext, ServiceError, now_ms};

/// The actor of an event.
pub fn actor(caller: &Caller) -> Actor {
    match caller {
        Caller::Key { id, role, .. } => Actor {
            id: id.clone(),
            role: role.as_str().to_owned(),
        },
        Caller::Subject { token_id, .. } => Actor {
            id: token_id.clone(),
            role: "subject".to_owned(),
        },
    }
}

/// A new event for this caller and request.
pub fn event(caller: &Caller, ctx: &RequestContext, action: Action) -> AccessEvent {
    AccessEvent::new(
        now_ms(),
        action,
        actor(caller),
        ctx.operator.as_ref(),
        &ctx.request_id,
    )
}

/// An event about an object that is not a subject (a keyring, a key).
pub fn about(caller: &Caller, ctx: &RequestContext, action: Action, target: &str) -> AccessEvent {
    let mut e = event(caller, ctx, action);
    e.target = Some(target.to_owned());
    e.count = 1;
    e
}

/// A denied event with `code`.
pub fn denied(mut event: AccessEvent, code: &str) -> AccessEvent {
    event.outcome = Outcome::Denied {
        code: code.to_owned(),
    };
    event
}

/// Appends events; if the trail cannot take them, the request fails (503) and whatever it
/// read is not returned: no access without its record.
pub async fn append(sink: &dyn AuditSink, events: &[AccessEvent]) -> Result<(), ServiceError> {
    Ok(sink.append(events).await?)
}
