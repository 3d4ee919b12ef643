//! Logging with `tracing`: pretty lines for people or JSON for collectors, on standard
//! output. Nothing logs a personal-information value or a secret: handlers log route
//! templates and ids, and `Debug` of every type that holds a secret is redacted.

use tracing_subscriber::EnvFilter;

use crate::config::{Config, LogFormat};

/// Installs the global subscriber; `RUST_LOG`, when set, overrides `log_level`. Does nothing
/// if a subscriber is installed already.
pub fn init(config: &Config) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.log_level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_writer(std::io::stdout);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}
