//! `baomi witness`: run a C2SP `tlog-witness` for other logs (see `crate::witness`), and
//! make its key.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use baomi_audit::witness::Cosigner;
use clap::{Args, Subcommand};

use crate::witness::state::WitnessState;
use crate::witness::{Logs, Witness};

/// `baomi witness …`.
#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Make a witness key: a new Ed25519 key in a PKCS#8 PEM file only its owner can read
    /// (never over an existing file); prints the witness's verifier key, for the logs it
    /// will witness.
    NewKey {
        /// The witness's name, e.g. `witness.example.com/w1`.
        #[arg(long)]
        name: String,
        /// Where to write the key.
        #[arg(long)]
        out: PathBuf,
    },
    /// Witness logs: cosign each checkpoint a log sends (POST /add-checkpoint) that extends
    /// the last one cosigned for it, and refuse any other.
    Serve(ServeArgs),
}

/// `baomi witness serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The witness's name, as given to `new-key`.
    #[arg(long)]
    name: String,
    /// The witness's key (PKCS#8 PEM, Ed25519).
    #[arg(long)]
    key: PathBuf,
    /// The state file (SQLite; created if missing): the last checkpoint cosigned for each
    /// log, and the evidence of any fork.
    #[arg(long)]
    state: PathBuf,
    /// The verifier key of a log to witness (`<origin>+<key id>+<key>`, as `GET
    /// /v1/audit/keys` lists them). Repeat it for several logs, or for several keys of one
    /// log (a log that rotated).
    #[arg(long = "log", required = true)]
    logs: Vec<String>,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:7380")]
    listen: std::net::SocketAddr,
}

pub(super) async fn run(command: WitnessCommand) -> anyhow::Result<()> {
    match command {
        WitnessCommand::NewKey { name, out } => {
            let pem = Cosigner::generate_pem()?;
            let cosigner = Cosigner::from_pkcs8_pem(&name, &pem)
                .context("a witness name has no spaces and no `+`")?;
            crate::service::setup::write_secret_file(&out, pem.trim_end())?;
            println!("{}", cosigner.verifier_key());
            Ok(())
        }
        WitnessCommand::Serve(args) => serve(args).await,
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let pem = crate::service::setup::read_secret_file(&args.key)?;
    let cosigner = Cosigner::from_pkcs8_pem(&args.name, &pem).with_context(|| {
        format!(
            "{} is not an Ed25519 key in PKCS#8 PEM, or the name has a space or `+`",
            args.key.display()
        )
    })?;
    let logs = Logs::from_verifier_keys(&args.logs).context("a --log is not a verifier key")?;
    let state = WitnessState::open(&args.state)
        .await
        .with_context(|| format!("cannot open the state file {}", args.state.display()))?;
    let witness = Arc::new(Witness::new(cosigner, logs, state.clone()));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, verifier_key = %witness.verifier_key(), "the witness is serving");
    axum::serve(listener, crate::witness::http::router(witness))
        .with_graceful_shutdown(crate::server::shutdown_signal())
        .await?;
    state.close().await;
    tracing::info!("stopped");
    Ok(())
}
