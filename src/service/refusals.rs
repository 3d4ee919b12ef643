//! Refusals that cost the caller nothing to repeat (too many sign-ins, a quota spent),
//! counted and recorded as one audit event per kind with its count, not one event each: a
//! flood must not fill the trail or the disk, and it must still be on the record.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Duration;

use baomi_audit::AuditSink;
use baomi_types::AccessEvent;
use tokio::sync::watch;

use crate::service::{ServiceError, audit};

/// Refusals counted per kind `K`, each kind with the event that will record it.
pub struct CountedRefusals<K> {
    counts: Mutex<HashMap<K, AccessEvent>>,
    max_kinds: usize,
}

impl<K: Hash + Eq + Clone> CountedRefusals<K> {
    /// Counts at most `max_kinds` kinds apart; past that, refusals of a new kind are
    /// counted under the kind the caller of [`CountedRefusals::count`] falls back to.
    pub fn new(max_kinds: usize) -> Self {
        Self {
            counts: Mutex::new(HashMap::new()),
            max_kinds,
        }
    }

    /// Counts one refusal of `kind`, whose event `event` makes (its `count` is set here);
    /// when too many kinds are counted already, counts it under `fallback` instead, whose
    /// event `event` makes from `fallback`.
    pub fn count(
        &self,
        kind: K,
        fallback: impl FnOnce(&K) -> K,
        event: impl FnOnce(&K) -> AccessEvent,
    ) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let kind = if counts.len() < self.max_kinds || counts.contains_key(&kind) {
            kind
        } else {
            fallback(&kind)
        };
        let recorded = counts.entry(kind).or_insert_with_key(|k| {
            let mut e = event(k);
            e.count = 0;
            e
        });
        recorded.count = recorded.count.saturating_add(1);
    }

    /// The kinds counted now (for tests).
    pub fn kinds(&self) -> usize {
        self.counts.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The count of `kind` now (for tests).
    pub fn counted(&self, kind: &K) -> u32 {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(kind).map_or(0, |e| e.count)
    }

    /// Appends one event per kind counted since the last call. Should the trail not take
    /// them, the counts are kept (added to what comes meanwhile) for the next call.
    pub async fn record(&self, sink: &dyn AuditSink) -> Result<(), ServiceError> {
        let taken = std::mem::take(&mut *self.counts.lock().unwrap_or_else(|e| e.into_inner()));
        if taken.is_empty() {
            return Ok(());
        }
        let events: Vec<AccessEvent> = taken.values().cloned().collect();
        if let Err(e) = audit::append(sink, &events).await {
            let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
            for (kind, event) in taken {
                let kept = counts.entry(kind).or_insert_with(|| {
                    let mut e = event.clone();
                    e.count = 0;
                    e
                });
                kept.count = kept.count.saturating_add(event.count);
            }
            return Err(e);
        }
        Ok(())
    }
}

/// Runs `step` every `every` until `stop` fires, and once more then: a node that stops
/// records what it counted. A failed step is logged and retried at the next tick.
pub async fn every<F, Fut>(every: Duration, mut stop: watch::Receiver<bool>, what: &str, step: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), ServiceError>>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        let stopping = tokio::select! {
            _ = tick.tick() => false,
            _ = stop.changed() => true,
        };
        if let Err(e) = step().await {
            tracing::warn!(error = %e, "{what} not recorded yet; kept for the next try");
        }
        if stopping {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use baomi_types::{Action, Actor, RequestId};

    use super::*;

    fn event(kind: &u32) -> AccessEvent {
        let mut e = AccessEvent::new(
            0,
            Action::ConsoleSignin,
            Actor::new("console", "system"),
            None,
            &RequestId::parse("r").unwrap(),
        );
        e.target = Some(format!("kind:{kind}"));
        e
    }

    #[test]
    fn kinds_are_bounded_and_the_rest_fall_back() {
        let refusals = CountedRefusals::new(3);
        for kind in 0..10u32 {
            refusals.count(kind, |_| 0, event);
        }
        refusals.count(1, |_| 0, event);
        assert_eq!(refusals.kinds(), 3);
        assert_eq!(refusals.counted(&1), 2);
        assert_eq!(
            refusals.counted(&0),
            8,
            "kind 0 and the seven that fell back"
        );
    }
}
