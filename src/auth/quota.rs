//! Quotas: how much PI a key may read under a purpose, and each operator it names, before it
//! is refused. They contain a stolen key: it yields at most its quota.
//!
//! Four limits, each counted over a fixed window:
//! - requests per second;
//! - distinct subjects read per hour, and per day;
//! - fields read in the plain view per day.
//!
//! The limits in force come in layers: the configuration's defaults (`[quotas.key]`,
//! `[quotas.operator]`), then what the key's grant of the purpose sets, then a break-glass
//! raise while it lasts. Each layer names only what it changes; `0` means no limit.

use baomi_consent::PurposeId;
use serde::{Deserialize, Serialize};

/// One of the limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Limit {
    /// Requests per second.
    RequestsPerSecond,
    /// Distinct subjects read per hour.
    SubjectsPerHour,
    /// Distinct subjects read per day.
    SubjectsPerDay,
    /// Fields read in the plain view per day.
    PlainFieldsPerDay,
}

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counts {
    /// Each request once.
    Requests,
    /// Each subject once per window.
    Subjects,
    /// Each field read in the plain view.
    PlainFields,
}

const SECOND_MS: i64 = 1000;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

impl Limit {
    /// Every limit.
    pub const ALL: [Limit; 4] = [
        Limit::RequestsPerSecond,
        Limit::SubjectsPerHour,
        Limit::SubjectsPerDay,
        Limit::PlainFieldsPerDay,
    ];

    /// The limit's name, as configured and as a refusal names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Limit::RequestsPerSecond => "requests_per_second",
            Limit::SubjectsPerHour => "subjects_per_hour",
            Limit::SubjectsPerDay => "subjects_per_day",
            Limit::PlainFieldsPerDay => "plain_fields_per_day",
        }
    }

    /// What it counts.
    pub fn counts(self) -> Counts {
        match self {
            Limit::RequestsPerSecond => Counts::Requests,
            Limit::SubjectsPerHour | Limit::SubjectsPerDay => Counts::Subjects,
            Limit::PlainFieldsPerDay => Counts::PlainFields,
        }
    }

    /// The window holding `now_ms`, as `[start, end)` in Unix milliseconds. Days (and hours,
    /// for offsets that are not whole hours) begin at local midnight, `utc_offset_minutes`
    /// ahead of UTC.
    pub fn window(self, now_ms: i64, utc_offset_minutes: i32) -> (i64, i64) {
        let length = match self {
            Limit::RequestsPerSecond => SECOND_MS,
            Limit::SubjectsPerHour => HOUR_MS,
            Limit::SubjectsPerDay | Limit::PlainFieldsPerDay => DAY_MS,
        };
        let offset = i64::from(utc_offset_minutes) * 60_000;
        let start = (now_ms + offset).div_euclid(length) * length - offset;
        (start, start + length)
    }
}

/// The most any limit may be set to.
pub const MAX_LIMIT: u64 = 1_000_000_000;

/// Limits as a layer sets them: each absent one is left to the layer below; `0` means no
/// limit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaLimits {
    /// Requests per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_second: Option<u64>,
    /// Distinct subjects read per hour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects_per_hour: Option<u64>,
    /// Distinct subjects read per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subjects_per_day: Option<u64>,
    /// Fields read in the plain view per day.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plain_fields_per_day: Option<u64>,
}

impl QuotaLimits {
    /// What this layer sets for `limit`.
    pub fn get(&self, limit: Limit) -> Option<u64> {
        match limit {
            Limit::RequestsPerSecond => self.requests_per_second,
            Limit::SubjectsPerHour => self.subjects_per_hour,
            Limit::SubjectsPerDay => self.subjects_per_day,
            Limit::PlainFieldsPerDay => self.plain_fields_per_day,
        }
    }

    /// Whether this layer sets nothing.
    pub fn is_empty(&self) -> bool {
        Limit::ALL.iter().all(|l| self.get(*l).is_none())
    }

    /// These limits laid over `below`.
    pub fn over(&self, below: Limits) -> Limits {
        let mut out = below;
        for limit in Limit::ALL {
            if let Some(v) = self.get(limit) {
                out.set(limit, v);
            }
        }
        out
    }

    /// Checks each value is at most [`MAX_LIMIT`]; the error names the limit.
    pub fn validate(&self) -> Result<(), String> {
        self.over(Limits::default()).validate()
    }

    /// The limits set, as `name:value` (for the trail).
    pub fn describe(&self) -> Vec<String> {
        Limit::ALL
            .iter()
            .filter_map(|l| self.get(*l).map(|v| format!("{}:{v}", l.as_str())))
            .collect()
    }
}

/// Limits in force: every one set, `0` meaning none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Requests per second.
    pub requests_per_second: u64,
    /// Distinct subjects read per hour.
    pub subjects_per_hour: u64,
    /// Distinct subjects read per day.
    pub subjects_per_day: u64,
    /// Fields read in the plain view per day.
    pub plain_fields_per_day: u64,
}

impl Limits {
    /// The value of `limit`; `None` when it does not limit.
    pub fn get(&self, limit: Limit) -> Option<u64> {
        let v = match limit {
            Limit::RequestsPerSecond => self.requests_per_second,
            Limit::SubjectsPerHour => self.subjects_per_hour,
            Limit::SubjectsPerDay => self.subjects_per_day,
            Limit::PlainFieldsPerDay => self.plain_fields_per_day,
        };
        (v > 0).then_some(v)
    }

    fn set(&mut self, limit: Limit, value: u64) {
        match limit {
            Limit::RequestsPerSecond => self.requests_per_second = value,
            Limit::SubjectsPerHour => self.subjects_per_hour = value,
            Limit::SubjectsPerDay => self.subjects_per_day = value,
            Limit::PlainFieldsPerDay => self.plain_fields_per_day = value,
        }
    }

    /// Checks each value is at most [`MAX_LIMIT`]; the error names the limit.
    pub fn validate(&self) -> Result<(), String> {
        for limit in Limit::ALL {
            if self.get(limit).is_some_and(|v| v > MAX_LIMIT) {
                return Err(format!("{} is at most {MAX_LIMIT}", limit.as_str()));
            }
        }
        Ok(())
    }
}

/// A key's own quota under one purpose, as its grant sets it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GrantQuota {
    /// For the key (all its operators together).
    #[serde(default, skip_serializing_if = "QuotaLimits::is_empty")]
    pub key: QuotaLimits,
    /// For each operator the key names.
    #[serde(default, skip_serializing_if = "QuotaLimits::is_empty")]
    pub operator: QuotaLimits,
}

impl GrantQuota {
    /// Whether it sets nothing.
    pub fn is_empty(&self) -> bool {
        self.key.is_empty() && self.operator.is_empty()
    }

    /// Checks each value; the error names the limit.
    pub fn validate(&self) -> Result<(), String> {
        self.key.validate().map_err(|e| format!("key.{e}"))?;
        self.operator
            .validate()
            .map_err(|e| format!("operator.{e}"))
    }
}

/// Break-glass: a key's quota under a purpose raised by an admin, for a bounded time, with a
/// written reason. Recorded in the trail (the reason by its SHA-256) and shown in the
/// console while it lasts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaRaise {
    /// The purpose whose quota is raised.
    pub purpose: PurposeId,
    /// The raised limits, laid over the grant's.
    pub quota: GrantQuota,
    /// Why (PI must not be written here; the trail keeps its digest only).
    pub reason: String,
    /// The admin key that raised it.
    pub raised_by: String,
    /// Unix seconds.
    pub raised_at: i64,
    /// Unix seconds; from then on the raise no longer counts.
    pub expires_at: i64,
}

impl QuotaRaise {
    /// Whether it counts at `now` (Unix seconds).
    pub fn in_force(&self, now: i64) -> bool {
        now < self.expires_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_fixed_and_days_begin_at_local_midnight() {
        // 2026-12-03 15:59:59.500 UTC is 23:59:59.500 in China.
        let t = 1_796_313_599_500;
        let (start, end) = Limit::SubjectsPerDay.window(t, 480);
        assert_eq!(end - start, DAY_MS);
        assert_eq!(end, t + 500, "the China day ends at 16:00 UTC");
        assert_eq!(Limit::SubjectsPerDay.window(t, 0).1, 1_796_342_400_000);
        let (start, end) = Limit::RequestsPerSecond.window(t, 480);
        assert_eq!((start, end), (t - 500, t + 500));
        let (start, _) = Limit::SubjectsPerHour.window(t, 480);
        assert_eq!(start, t + 500 - HOUR_MS);
        assert!(Limit::SubjectsPerDay.window(-1, 0).0 < 0, "before 1970 too");
    }

    #[test]
    fn each_layer_changes_only_what_it_names() {
        let config = Limits {
            requests_per_second: 100,
            subjects_per_hour: 10,
            subjects_per_day: 50,
            plain_fields_per_day: 500,
        };
        let grant = QuotaLimits {
            subjects_per_day: Some(80),
            plain_fields_per_day: Some(0),
            ..QuotaLimits::default()
        };
        let raise = QuotaLimits {
            subjects_per_day: Some(1000),
            ..QuotaLimits::default()
        };
        let in_force = raise.over(grant.over(config));
        assert_eq!(in_force.get(Limit::SubjectsPerDay), Some(1000));
        assert_eq!(in_force.get(Limit::SubjectsPerHour), Some(10));
        assert_eq!(
            in_force.get(Limit::PlainFieldsPerDay),
            None,
            "0 is no limit"
        );
        assert_eq!(
            raise.describe(),
            vec!["subjects_per_day:1000".to_owned()],
            "the trail names what changed"
        );
        assert!(
            QuotaLimits {
                requests_per_second: Some(MAX_LIMIT + 1),
                ..QuotaLimits::default()
            }
            .validate()
            .unwrap_err()
            .contains("requests_per_second")
        );
    }
}
