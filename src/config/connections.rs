//! The `[connections]` section: how many connections the server holds open, and how long
//! a client may take to send a request's head.

use serde::{Deserialize, Serialize};

/// Limits on connections, so that one client (or many) cannot hold the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionsConfig {
    /// Most connections open at once; more are closed as they arrive.
    pub max_open: usize,
    /// Most connections open at once from one client address (a platform's backends behind
    /// one NAT address share it).
    pub max_per_address: usize,
    /// Seconds a client has to send a request's line and headers, from when the connection
    /// opens or the previous answer was sent; then the connection is closed.
    pub header_read_timeout_secs: u64,
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        Self {
            max_open: 4096,
            max_per_address: 1024,
            header_read_timeout_secs: 10,
        }
    }
}

impl ConnectionsConfig {
    /// Checks the settings; the error names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_open == 0 || self.max_open > 1_000_000 {
            return Err("connections.max_open must be 1 to 1000000".to_owned());
        }
        if self.max_per_address == 0 || self.max_per_address > self.max_open {
            return Err("connections.max_per_address must be 1 to max_open".to_owned());
        }
        if self.header_read_timeout_secs == 0 || self.header_read_timeout_secs > 300 {
            return Err("connections.header_read_timeout_secs must be 1 to 300".to_owned());
        }
        Ok(())
    }
}
