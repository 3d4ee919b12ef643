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
    /// The certificate chain (PEM) to serve HTTPS with; reloaded when the file changes or
    /// on SIGHUP.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP on an address other than loopback, on purpose (behind a proxy that
    /// terminates TLS). Without it, and without a certificate, only loopback is served.
    #[arg(long, conflicts_with = "tls_cert")]
    plain_http: bool,
}

/// How often the certificate's files are checked for a change.
const TLS_RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

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
    let certificates = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(
            crate::server::tls::Certificates::load(crate::config::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: None,
            })
            .context("the witness's certificate")?,
        ),
        _ if args.listen.ip().is_loopback() => None,
        _ if args.plain_http => {
            tracing::warn!(
                "--plain-http: serving plain HTTP; put a proxy that terminates TLS in front"
            );
            None
        }
        _ => anyhow::bail!(
            "a witness listening beyond loopback serves HTTPS: give --tls-cert and --tls-key, \
             or --plain-http to serve plain HTTP on purpose behind a TLS proxy"
        ),
    };
    let witness = Arc::new(Witness::new(cosigner, logs, state.clone()));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        %addr,
        https = certificates.is_some(),
        verifier_key = %witness.verifier_key(),
        "the witness is serving"
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let reloads = certificates.as_ref().map(|certificates| {
        tokio::spawn(crate::server::tls::keep_reloading(
            Arc::clone(certificates),
            TLS_RELOAD_EVERY,
            stopped,
        ))
    });
    crate::server::connections::serve(
        listener,
        crate::witness::http::router(witness),
        &crate::config::ConnectionsConfig::default(),
        certificates,
        crate::server::shutdown_signal(),
    )
    .await;
    let _ = stop.send(true);
    if let Some(reloads) = reloads {
        let _ = reloads.await;
    }
    state.close().await;
    tracing::info!("stopped");
    Ok(())
}
