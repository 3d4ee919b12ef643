//! Alert rules over the trail, evaluated event by event in sequence order:
//!
//! - `bulk_access`: one actor (API key) or operator (staff member) reads more than
//!   `max_subjects` distinct subjects within `window_secs`: a bulk export;
//! - `off_hours`: personal information read outside the configured office hours (once per
//!   actor or operator per clock hour);
//! - `denial_spike`: one actor or operator is refused more than `max_denials` times within
//!   `window_secs`;
//! - `withdrawn_consent_read`: a read under a purpose the subject has withdrawn their
//!   consent to (refused by the consent gate, but an attempt an officer should see; once
//!   per actor or operator and purpose per clock hour). Always on.
//!
//! - `witness_refused`, `witness_silent`: a witness refused to cosign a checkpoint, or has
//!   cosigned none for too long (each recorded once by the log as an event of its own).
//!   Always on.
//!
//! A rule fires when its count goes past the threshold (a count equal to it is quiet), then
//! stays quiet for that actor or operator for one window. Windows follow the events' own
//! times, so evaluating the same events gives the same alerts on every node.

use std::collections::{HashMap, VecDeque};

use baomi_types::{AccessEvent, Action, Outcome};

use crate::Alert;

/// Office hours in local time: from `start` to `end` minutes after midnight, at a UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OfficeHours {
    /// Minutes after local midnight when office hours start.
    pub start: u32,
    /// Minutes after local midnight when they end (exclusive; up to 1440).
    pub end: u32,
    /// The local time's offset from UTC, in minutes (+480 for China).
    pub utc_offset: i32,
}

impl OfficeHours {
    /// Parses `HH:MM-HH:MM` (end up to `24:00`; an end before the start spans midnight).
    pub fn parse(hours: &str, utc_offset: i32) -> Result<Self, String> {
        let minutes = |t: &str| -> Option<u32> {
            let (h, m) = t.trim().split_once(':')?;
            let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
            (m < 60 && (h < 24 || (h == 24 && m == 0))).then_some(h * 60 + m)
        };
        let (start, end) = hours
            .split_once('-')
            .and_then(|(s, e)| Some((minutes(s)?, minutes(e)?)))
            .ok_or_else(|| format!("{hours:?} is not of the form HH:MM-HH:MM"))?;
        if start == end || start == 24 * 60 {
            return Err(format!("{hours:?} is an empty range"));
        }
        if !(-14 * 60..=14 * 60).contains(&utc_offset) {
            return Err("the UTC offset must be within ±14 hours".to_owned());
        }
        Ok(Self {
            start,
            end,
            utc_offset,
        })
    }

    /// Whether a time (Unix milliseconds) falls within office hours.
    pub fn contains(&self, at_ms: i64) -> bool {
        let local_min = (at_ms.div_euclid(60_000) + i64::from(self.utc_offset)).rem_euclid(1440);
        let m = u32::try_from(local_min).unwrap_or(0);
        if self.start < self.end {
            (self.start..self.end).contains(&m)
        } else {
            m >= self.start || m < self.end
        }
    }
}

/// The thresholds; a rule without its setting is off.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertRules {
    /// `bulk_access` fires past this many distinct subjects in the window.
    pub bulk_max_subjects: Option<u32>,
    /// The `bulk_access` window, seconds.
    pub bulk_window_secs: u64,
    /// `off_hours` watches reads outside these hours.
    pub office_hours: Option<OfficeHours>,
    /// `denial_spike` fires past this many refusals in the window.
    pub denial_max: Option<u32>,
    /// The `denial_spike` window, seconds.
    pub denial_window_secs: u64,
}

/// A sliding window of one actor's or operator's recent events.
#[derive(Default)]
struct Window {
    /// `(time, subject)` of the events in the window, oldest first.
    events: VecDeque<(i64, Option<String>)>,
    /// How many events in the window name each subject.
    subjects: HashMap<String, u32>,
    /// No new alert from this window before this time.
    quiet_until: i64,
}

impl Window {
    fn push(&mut self, at_ms: i64, subject: Option<&str>, window_ms: i64) {
        while let Some((t, _)) = self.events.front() {
            if *t > at_ms - window_ms {
                break;
            }
            if let Some((_, Some(s))) = self.events.pop_front()
                && let Some(n) = self.subjects.get_mut(&s)
            {
                *n -= 1;
                if *n == 0 {
                    self.subjects.remove(&s);
                }
            }
        }
        if let Some(s) = subject {
            *self.subjects.entry(s.to_owned()).or_default() += 1;
        }
        self.events.push_back((at_ms, subject.map(str::to_owned)));
    }

    /// Whether `count` has gone past `max` and the window is not quiet; if so, it stays
    /// quiet for the next `window_ms`.
    fn crossed(&mut self, count: usize, max: u32, at_ms: i64, window_ms: i64) -> bool {
        let crossed = count > max as usize && at_ms >= self.quiet_until;
        if crossed {
            self.quiet_until = at_ms + window_ms;
        }
        crossed
    }
}

/// Evaluates [`AlertRules`] over events fed in sequence order.
#[derive(Default)]
pub struct AlertEngine {
    rules: AlertRules,
    bulk: HashMap<String, Window>,
    denials: HashMap<String, Window>,
    /// The clock hour of the last `off_hours` alert per key.
    off_hours: HashMap<String, i64>,
    /// The clock hour of the last `withdrawn_consent_read` alert per key and purpose.
    withdrawn: HashMap<(String, String), i64>,
    /// The clock hour of the last `quota_exceeded` alert per key and purpose.
    quota: HashMap<(String, String), i64>,
    /// Events seen since state that can no longer matter was last dropped.
    since_sweep: u32,
}

/// The code of a read refused because one of the key's quotas ran out.
pub const QUOTA_EXCEEDED: &str = "quota.exceeded";

/// Every this many events, keys whose windows and hours are over are forgotten (callers
/// choose operator ids: memory must not grow with them).
const SWEEP_EVERY: u32 = 10_000;

impl AlertEngine {
    /// An engine with these rules and no history.
    pub fn new(rules: AlertRules) -> Self {
        Self {
            rules,
            ..Self::default()
        }
    }

    /// Forgets what can no longer raise an alert at time `now_ms`.
    fn sweep(&mut self, now_ms: i64) {
        let hour = now_ms.div_euclid(3_600_000);
        let bulk_ms = secs_to_ms(self.rules.bulk_window_secs);
        let denial_ms = secs_to_ms(self.rules.denial_window_secs);
        let stale = |w: &Window, window_ms: i64| {
            w.quiet_until <= now_ms
                && w.events
                    .back()
                    .is_none_or(|(t, _)| *t <= now_ms - window_ms)
        };
        self.bulk.retain(|_, w| !stale(w, bulk_ms));
        self.denials.retain(|_, w| !stale(w, denial_ms));
        self.off_hours.retain(|_, h| *h >= hour);
        self.withdrawn.retain(|_, h| *h >= hour);
        self.quota.retain(|_, h| *h >= hour);
    }

    /// Keys tracked (for tests of the sweep).
    pub fn tracked(&self) -> usize {
        self.bulk.len()
            + self.denials.len()
            + self.off_hours.len()
            + self.withdrawn.len()
            + self.quota.len()
    }

    /// Feeds one event; returns the alerts it raises.
    pub fn observe(&mut self, seq: i64, event: &AccessEvent) -> Vec<Alert> {
        self.since_sweep += 1;
        if self.since_sweep >= SWEEP_EVERY {
            self.since_sweep = 0;
            self.sweep(event.at_ms);
        }
        // A subject token's acts count against the key that minted it: one token per subject
        // must not slip under the thresholds.
        let mut keys = vec![format!("actor:{}", event.accountable())];
        if let Some(op) = &event.operator {
            keys.push(format!("operator:{op}"));
        }
        let mut out = Vec::new();
        let alert = |rule: &str, key: &str, detail: serde_json::Value| Alert {
            id: None,
            rule: rule.to_owned(),
            key: key.to_owned(),
            trigger_seq: seq,
            at_ms: event.at_ms,
            detail,
            delivered_at: None,
        };
        if matches!(event.action, Action::WitnessRefused | Action::WitnessSilent) {
            let code = match &event.outcome {
                Outcome::Denied { code } => Some(code.as_str()),
                Outcome::Allowed => None,
            };
            out.push(alert(
                event.action.as_str(),
                event.target.as_deref().unwrap_or("witness"),
                serde_json::json!({ "code": code }),
            ));
            return out;
        }
        let allowed_read = event.action.reads_pi() && event.outcome == Outcome::Allowed;
        for key in &keys {
            if let (Some(max), true) = (self.rules.bulk_max_subjects, allowed_read)
                && event.subject.is_some()
            {
                let window_ms = secs_to_ms(self.rules.bulk_window_secs);
                let w = self.bulk.entry(key.clone()).or_default();
                w.push(event.at_ms, event.subject.as_deref(), window_ms);
                let distinct = w.subjects.len();
                if w.crossed(distinct, max, event.at_ms, window_ms) {
                    out.push(alert(
                        "bulk_access",
                        key,
                        serde_json::json!({
                            "distinct_subjects": distinct,
                            "threshold": max,
                            "window_secs": self.rules.bulk_window_secs,
                        }),
                    ));
                }
            }
            if let Some(hours) = self.rules.office_hours
                && event.action.reads_pi()
                && !hours.contains(event.at_ms)
            {
                let hour = event.at_ms.div_euclid(3_600_000);
                if self.off_hours.insert(key.clone(), hour) != Some(hour) {
                    out.push(alert(
                        "off_hours",
                        key,
                        serde_json::json!({ "action": event.action.as_str() }),
                    ));
                }
            }
            if let Outcome::Denied { code } = &event.outcome
                && code == "consent.withdrawn"
                && event.action.reads_pi()
            {
                let hour = event.at_ms.div_euclid(3_600_000);
                let purpose = event.purpose.clone().unwrap_or_default();
                if self.withdrawn.insert((key.clone(), purpose.clone()), hour) != Some(hour) {
                    out.push(alert(
                        "withdrawn_consent_read",
                        key,
                        serde_json::json!({ "purpose": purpose }),
                    ));
                }
            }
            // A read refused because a quota ran out: once an hour per key (or operator)
            // and purpose, whatever the limit; per-second limits only slow a caller down.
            if let Outcome::Denied { code } = &event.outcome
                && code == QUOTA_EXCEEDED
            {
                let hour = event.at_ms.div_euclid(3_600_000);
                let purpose = event.purpose.clone().unwrap_or_default();
                if self.quota.insert((key.clone(), purpose.clone()), hour) != Some(hour) {
                    out.push(alert(
                        "quota_exceeded",
                        key,
                        serde_json::json!({
                            "purpose": purpose,
                            "limits": event.fields,
                            "refusals": event.count,
                        }),
                    ));
                }
            }
            if let (Some(max), Outcome::Denied { .. }) = (self.rules.denial_max, &event.outcome) {
                let window_ms = secs_to_ms(self.rules.denial_window_secs);
                let w = self.denials.entry(key.clone()).or_default();
                w.push(event.at_ms, None, window_ms);
                let denied = w.events.len();
                if w.crossed(denied, max, event.at_ms, window_ms) {
                    out.push(alert(
                        "denial_spike",
                        key,
                        serde_json::json!({
                            "denials": denied,
                            "threshold": max,
                            "window_secs": self.rules.denial_window_secs,
                        }),
                    ));
                }
            }
        }
        out
    }
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs.saturating_mul(1000)).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use baomi_types::{Action, Actor, RequestId};

    fn read(at_ms: i64, actor: &str, subject: &str) -> AccessEvent {
        let mut e = AccessEvent::new(
            at_ms,
            Action::Decrypt,
            Actor::new(actor, "service"),
            None,
            &RequestId::parse("r").unwrap(),
        );
        e.subject = Some(subject.into());
        e
    }

    fn bulk(max: u32) -> AlertEngine {
        AlertEngine::new(AlertRules {
            bulk_max_subjects: Some(max),
            bulk_window_secs: 60,
            ..AlertRules::default()
        })
    }

    #[test]
    fn bulk_access_fires_past_the_threshold_once_per_window() {
        let mut engine = bulk(3);
        let mut fired = Vec::new();
        for (i, subject) in ["a", "b", "a", "c"].iter().enumerate() {
            fired.extend(engine.observe(i as i64, &read(1000 + i as i64, "k", subject)));
        }
        assert!(fired.is_empty(), "three distinct subjects is the threshold");
        fired.extend(engine.observe(10, &read(2000, "k", "d")));
        assert_eq!(fired.len(), 1);
        assert_eq!(
            (fired[0].rule.as_str(), fired[0].key.as_str()),
            ("bulk_access", "actor:k")
        );
        assert_eq!(fired[0].trigger_seq, 10);
        assert!(
            engine.observe(11, &read(3000, "k", "e")).is_empty(),
            "quiet in the window"
        );
        // Another actor has its own window.
        assert!(engine.observe(12, &read(3000, "other", "a")).is_empty());
        // After the window, the old reads have left it.
        assert!(engine.observe(13, &read(70_000, "k", "f")).is_empty());
    }

    #[test]
    fn bulk_access_ignores_refused_reads_and_writes() {
        let mut engine = bulk(1);
        let mut denied = read(1, "k", "a");
        denied.outcome = Outcome::Denied { code: "x".into() };
        let mut store = read(2, "k", "b");
        store.action = Action::Store;
        assert!(engine.observe(1, &denied).is_empty());
        assert!(engine.observe(2, &store).is_empty());
        assert!(engine.observe(3, &read(3, "k", "c")).is_empty());
    }

    #[test]
    fn operators_are_watched_as_well_as_actors() {
        let mut engine = bulk(1);
        let op = baomi_types::OperatorId::parse("agent-7").unwrap();
        let mut fired = Vec::new();
        for (i, (actor, subject)) in [("k1", "a"), ("k2", "b")].iter().enumerate() {
            let mut e = read(i as i64, actor, subject);
            e.operator = Some(op.as_str().to_owned());
            fired.extend(engine.observe(i as i64, &e));
        }
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].key, "operator:agent-7");
    }

    #[test]
    fn off_hours_fires_outside_office_hours_once_an_hour() {
        // 09:00-18:00 at UTC+8 is 01:00-10:00 UTC.
        let hours = OfficeHours::parse("09:00-18:00", 480).unwrap();
        let mut engine = AlertEngine::new(AlertRules {
            office_hours: Some(hours),
            ..AlertRules::default()
        });
        let utc = |h: i64, m: i64| (h * 60 + m) * 60_000;
        assert!(engine.observe(1, &read(utc(1, 0), "k", "a")).is_empty());
        assert!(engine.observe(2, &read(utc(9, 59), "k", "a")).is_empty());
        assert_eq!(engine.observe(3, &read(utc(10, 0), "k", "a")).len(), 1);
        assert!(engine.observe(4, &read(utc(10, 30), "k", "a")).is_empty());
        assert_eq!(engine.observe(5, &read(utc(11, 0), "k", "a")).len(), 1);
        assert!(
            OfficeHours::parse("22:00-06:00", 0)
                .unwrap()
                .contains(utc(23, 0))
        );
        assert!(
            !OfficeHours::parse("22:00-06:00", 0)
                .unwrap()
                .contains(utc(12, 0))
        );
        assert!(
            OfficeHours::parse("00:00-24:00", 0)
                .unwrap()
                .contains(utc(23, 59))
        );
        for bad in ["9-18", "09:00-09:00", "25:00-26:00", "09:60-10:00"] {
            assert!(OfficeHours::parse(bad, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_whose_windows_are_over_are_forgotten() {
        let mut engine = bulk(1_000);
        for i in 0..SWEEP_EVERY as i64 - 1 {
            let mut e = read(i, "k", "a");
            e.operator = Some(format!("op-{i}"));
            engine.observe(i, &e);
        }
        assert!(engine.tracked() > 9_000);
        // One event long after: the sweep drops every window that is over.
        engine.observe(0, &read(10_000_000, "k", "a"));
        assert!(engine.tracked() <= 1, "{}", engine.tracked());
    }

    #[test]
    fn reads_under_a_withdrawn_consent_are_flagged() {
        let mut engine = AlertEngine::new(AlertRules::default());
        let mut e = read(1, "k", "a");
        e.purpose = Some("marketing".into());
        e.outcome = Outcome::Denied {
            code: "consent.withdrawn".into(),
        };
        let fired = engine.observe(1, &e);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].rule, "withdrawn_consent_read");
        assert_eq!(fired[0].detail["purpose"], "marketing");
        assert!(
            engine.observe(2, &e).is_empty(),
            "once an hour per key and purpose"
        );
        e.outcome = Outcome::Denied {
            code: "consent.not_given".into(),
        };
        e.at_ms += 3_600_000;
        assert!(engine.observe(3, &e).is_empty(), "only withdrawals");
    }

    #[test]
    fn a_spent_quota_is_flagged_once_an_hour_and_a_rate_limit_is_not() {
        let mut engine = AlertEngine::new(AlertRules::default());
        let mut e = read(1, "k", "a");
        e.purpose = Some("collection".into());
        e.fields = vec!["quota:key:subjects_per_day".into()];
        e.outcome = Outcome::Denied {
            code: QUOTA_EXCEEDED.into(),
        };
        let fired = engine.observe(1, &e);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].rule, "quota_exceeded");
        assert_eq!(fired[0].key, "actor:k");
        assert_eq!(fired[0].detail["limits"][0], "quota:key:subjects_per_day");
        assert!(engine.observe(2, &e).is_empty(), "once an hour");
        e.at_ms += 3_600_000;
        assert_eq!(engine.observe(3, &e).len(), 1, "and again the next hour");
        e.at_ms += 3_600_000;
        e.outcome = Outcome::Denied {
            code: "quota.rate_limited".into(),
        };
        assert!(engine.observe(4, &e).is_empty(), "slowing down is no alert");
    }

    #[test]
    fn denial_spike_fires_past_its_threshold() {
        let mut engine = AlertEngine::new(AlertRules {
            denial_max: Some(2),
            denial_window_secs: 60,
            ..AlertRules::default()
        });
        let denied = |t| {
            let mut e = read(t, "k", "a");
            e.outcome = Outcome::Denied { code: "x".into() };
            e
        };
        assert!(engine.observe(1, &denied(1)).is_empty());
        assert!(engine.observe(2, &denied(2)).is_empty());
        let fired = engine.observe(3, &denied(3));
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].rule, "denial_spike");
    }
}
