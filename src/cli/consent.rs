//! `baomi consent verify-receipt`: check a consent receipt offline.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

/// Consent commands.
#[derive(Debug, Subcommand)]
pub enum ConsentCommand {
    /// Check a consent receipt's signature with Baomi's verifier key; exits with 1 if it
    /// was altered or signed by another key.
    VerifyReceipt {
        /// The receipt (JSON, as GET /v1/consent/receipts/{id} gave it).
        receipt: PathBuf,
        /// The verifier key, `<name>+<id>+<key>` (GET /v1/audit/checkpoint shows it);
        /// obtain it from a copy you trust, not from the receipt.
        #[arg(long)]
        public_key: String,
    },
}

pub(super) fn run(command: ConsentCommand) -> anyhow::Result<()> {
    match command {
        ConsentCommand::VerifyReceipt {
            receipt,
            public_key,
        } => {
            let text = std::fs::read_to_string(&receipt)
                .with_context(|| format!("cannot read {}", receipt.display()))?;
            let body = baomi_consent::receipt::verify_receipt(
                &text,
                &baomi_audit::checkpoint::TrustedKey(&public_key),
            )?;
            println!(
                "OK: receipt {} ({} of {} by {}) is signed by this key",
                body.get("receipt_id")
                    .and_then(|v| v.as_str())
                    .unwrap_or("?"),
                body.get("action").and_then(|v| v.as_str()).unwrap_or("?"),
                body.get("purpose")
                    .and_then(|p| p.get("id"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("?"),
                body.get("subject").and_then(|v| v.as_str()).unwrap_or("?"),
            );
            Ok(())
        }
    }
}
