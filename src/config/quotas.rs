//! The `[quotas]` section: how much PI each key may read under each purpose it holds, and
//! each operator it names, unless the key's grant sets its own (see `crate::auth::quota`).

use serde::{Deserialize, Serialize};

use crate::auth::quota::Limits;

/// Default quotas, and how refusals are recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QuotasConfig {
    /// For each key under each purpose it holds (all its operators together); `0` is no
    /// limit.
    pub key: Limits,
    /// For each operator (`X-Baomi-Operator`) a key names, under each purpose; `0` is no
    /// limit.
    pub operator: Limits,
    /// Days (and hours) begin at local midnight, this many minutes ahead of UTC (480:
    /// China).
    pub utc_offset_minutes: i32,
    /// The most operators one key may name in a day on one node, past which a new one is
    /// refused (429 `quota.exceeded`): each is counted apart, and memory must not grow with
    /// names a caller makes up.
    pub max_operators_per_key: u32,
    /// How often, in seconds, refusals after a window's first are recorded: one audit event
    /// per key, purpose, operator and limit, with their count (the first is recorded at
    /// once).
    pub refusals_recorded_every_secs: u64,
}

impl Default for QuotasConfig {
    fn default() -> Self {
        Self {
            key: Limits {
                requests_per_second: 1_000,
                subjects_per_hour: 20_000,
                subjects_per_day: 100_000,
                plain_fields_per_day: 1_000_000,
            },
            operator: Limits {
                requests_per_second: 50,
                subjects_per_hour: 500,
                subjects_per_day: 2_000,
                plain_fields_per_day: 20_000,
            },
            utc_offset_minutes: 480,
            max_operators_per_key: 2_000,
            refusals_recorded_every_secs: 60,
        }
    }
}

impl QuotasConfig {
    /// Checks the settings; the error names the setting.
    pub fn validate(&self) -> Result<(), String> {
        self.key.validate().map_err(|e| format!("quotas.key.{e}"))?;
        self.operator
            .validate()
            .map_err(|e| format!("quotas.operator.{e}"))?;
        if !(-720..=840).contains(&self.utc_offset_minutes) {
            return Err("quotas.utc_offset_minutes must be -720 to 840".to_owned());
        }
        if self.max_operators_per_key == 0 || self.max_operators_per_key > 1_000_000 {
            return Err("quotas.max_operators_per_key must be 1 to 1000000".to_owned());
        }
        if self.refusals_recorded_every_secs == 0 || self.refusals_recorded_every_secs > 3600 {
            return Err("quotas.refusals_recorded_every_secs must be 1 to 3600".to_owned());
        }
        Ok(())
    }
}
