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
    /// Hours an account that needs a second factor and has none may enrol one with its
    /// password alone, from when the password was set. Past that, a password found or
    /// guessed later cannot enrol the thief's authenticator: an admin sets a new password
    /// (`baomi console add-user`), which opens a new window.
    pub enrolment_window_hours: u32,
    /// Checkpoint verifier keys (`<name>+<id>+<key>`) the console's in-browser proof check
    /// trusts, pinned here, in the configuration, rather than read from the database the
    /// checkpoints are kept in: a checkpoint none of them signed fails the check. List the
    /// old and the new key across a rotation. Empty (the default): the check uses the
    /// server's current keys and says that they are not pinned.
    pub verifier_keys: Vec<String>,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        Self {
            signins_per_minute_per_address: 10,
            signins_per_minute: 300,
            password_checks_at_once: 2,
            refusals_recorded_every_secs: 60,
            second_factor_for_officers: false,
            enrolment_window_hours: 72,
            verifier_keys: Vec::new(),
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
        if self.enrolment_window_hours == 0 || self.enrolment_window_hours > 8760 {
            return Err("console.enrolment_window_hours must be 1 to 8760".to_owned());
        }
        if self
            .verifier_keys
            .iter()
            .any(|k| baomi_audit::checkpoint::check_verifier_key(k).is_err())
        {
            return Err(
                "console.verifier_keys must each be a checkpoint verifier key, \
                 <name>+<id>+<key> (GET /v1/audit/keys lists them)"
                    .to_owned(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_verifier_keys_must_be_verifier_keys() {
        let key = baomi_audit::checkpoint::CheckpointSigner::new("baomi/audit", &[1; 32])
            .unwrap()
            .verifier_key();
        let mut config = ConsoleConfig {
            verifier_keys: vec![key],
            ..ConsoleConfig::default()
        };
        assert!(config.validate().is_ok());
        config.verifier_keys.push("baomi/audit+00+AAAA".to_owned());
        let error = config.validate().unwrap_err();
        assert!(error.starts_with("console.verifier_keys"), "{error}");
    }
}
