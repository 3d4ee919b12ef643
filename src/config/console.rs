//! The `[console]` section: how fast sign-ins may come, and how many password checks run at
//! once.

use serde::{Deserialize, Serialize};

/// Limits on the console's sign-in, so that guessing passwords, or flooding the form,
/// costs the attacker time and costs Baomi little.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Sign-in attempts one client address may make per minute (on each node); more are
    /// refused with 429 and counted, not recorded one by one.
    pub signins_per_minute_per_address: u32,
    /// Sign-in attempts per minute from all addresses together (on each node).
    pub signins_per_minute: u32,
    /// Password checks (argon2id, 19 MiB each) run at once; others wait their turn.
    pub password_checks_at_once: usize,
    /// How often, in seconds, attempts refused without being looked at (too fast,
    /// malformed, a name still waiting) are recorded: one audit event per client address
    /// and reason, with their count.
    pub refusals_recorded_every_secs: u64,
    /// Whether officers' console accounts need a second factor (TOTP) as admins' always do:
    /// one signing in without it enrols before any other page opens.
    pub second_factor_for_officers: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            signins_per_minute_per_address: 10,
            signins_per_minute: 300,
            password_checks_at_once: 2,
            refusals_recorded_every_secs: 60,
            second_factor_for_officers: false,
        }
    }
}

impl ConsoleConfig {
    /// Checks the settings; the error names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.signins_per_minute_per_address == 0
            || self.signins_per_minute_per_address > self.signins_per_minute
        {
            return Err(
                "console.signins_per_minute_per_address must be 1 to signins_per_minute".to_owned(),
            );
        }
        if self.signins_per_minute > 100_000 {
            return Err("console.signins_per_minute must be at most 100000".to_owned());
        }
        if self.password_checks_at_once == 0 || self.password_checks_at_once > 64 {
            return Err("console.password_checks_at_once must be 1 to 64".to_owned());
        }
        if self.refusals_recorded_every_secs == 0 || self.refusals_recorded_every_secs > 3600 {
            return Err("console.refusals_recorded_every_secs must be 1 to 3600".to_owned());
        }
        Ok(())
    }
}
