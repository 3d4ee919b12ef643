//! The `[hsm]` section: a root key held in a hardware security module through PKCS#11.
//! Absent (the default), the root key is sealed under the unseal passphrase instead.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The environment variable that holds the HSM user PIN; it wins over `pin_file`.
pub const PIN_VARIABLE: &str = "BAOMI_HSM_PIN";

/// Where the HSM is, which token and key, and where the PIN comes from.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HsmConfig {
    /// The PKCS#11 module (e.g. `/usr/lib/softhsm/libsofthsm2.so`).
    pub module: PathBuf,
    /// The token's label (preferred: some modules renumber slots).
    pub token_label: Option<String>,
    /// The slot id, when no label is given.
    pub slot: Option<u64>,
    /// A file holding the user PIN (e.g. a mounted secret); `BAOMI_HSM_PIN` wins over it.
    pub pin_file: Option<PathBuf>,
    /// The prefix of the label of Baomi's root key on the token: the first start generates
    /// the key there labelled `<key_label>-<16 random hex digits>` and records that label
    /// with the sealed root.
    #[serde(default = "default_key_label")]
    pub key_label: String,
}

fn default_key_label() -> String {
    "baomi-root".to_owned()
}

impl HsmConfig {
    /// Checks the settings; the error names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.token_label.is_none() && self.slot.is_none() {
            return Err("hsm: set token_label (or slot)".to_owned());
        }
        if self.key_label.is_empty() || self.key_label.len() > 46 {
            return Err("hsm.key_label must be 1 to 46 characters".to_owned());
        }
        Ok(())
    }
}
