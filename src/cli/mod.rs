//! The command line: `baomi serve`, `baomi init`, `baomi keys …`, `baomi audit …`,
//! `baomi mask`, `baomi import`, `baomi backup`, `baomi restore`, `baomi openapi`, `baomi witness …`.

mod audit;
mod backup;
mod consent;
mod console;
mod import;
mod keys;
mod mask;
mod witness;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

use crate::config::{Config, Overrides};
use crate::server;
use crate::service::setup as server_setup;

/// Baomi (保密): personal-data protection for internet-finance platforms.
#[derive(Debug, Parser)]
#[command(name = "baomi", version, about)]
pub struct Cli {
    /// A TOML configuration file (see deploy/baomi.example.toml).
    #[arg(long, global = true, env = "BAOMI_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the HTTP server (creates and seals the root key on first start).
    Serve(ServeArgs),
    /// Create the database and the root key, and print the bootstrap admin key.
    Init(StoreArgs),
    /// Manage API keys directly in the database (needs the unseal passphrase).
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// Export the audit trail, or verify an export or the database.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Check consent receipts.
    #[command(subcommand)]
    Consent(consent::ConsentCommand),
    /// The officer console (served at /console): accounts.
    #[command(subcommand)]
    Console(console::ConsoleCommand),
    /// Mask a CSV, JSON Lines, JSON or text file under a policy, offline (no database, no
    /// passphrase); the output replaces OUT only once it is complete.
    Mask(mask::MaskArgs),
    /// Import subjects from a CSV or JSON Lines file in batches, through a running server or
    /// straight into the database, resuming where an interrupted import stopped.
    Import(import::ImportArgs),
    /// Back up the database (SQLite: a consistent snapshot, online; PostgreSQL: pg_dump).
    Backup(backup::BackupArgs),
    /// Restore a SQLite backup (Baomi stopped) and re-apply every erasure recorded since.
    Restore(backup::RestoreArgs),
    /// Ask a running Baomi whether it is healthy (exit 0) or not (exit 1): the container
    /// image's health check, which has no shell or curl.
    Probe {
        /// The URL to ask.
        #[arg(long, default_value = "http://127.0.0.1:8080/healthz")]
        url: String,
        /// Over https, accept the server's certificate without checking it: for a health
        /// check of the server on this host, whose certificate names its service, not
        /// 127.0.0.1. Only loopback URLs are accepted with it.
        #[arg(long)]
        loopback_unverified: bool,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Cryptography: the known-answer self-test of every algorithm.
    #[command(subcommand)]
    Crypto(CryptoCommand),
    /// Witness other logs' checkpoints (C2SP tlog-witness): a witness run by another team,
    /// company or regulator keeps a log's operators from forking or cutting its history.
    #[command(subcommand)]
    Witness(witness::WitnessCommand),
}

#[derive(Debug, Subcommand)]
enum CryptoCommand {
    /// Run every algorithm on its known-answer vector and print the results; exit 1 if any
    /// fails (the server runs the same test at start-up and refuses to start on a failure).
    SelfTest,
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long)]
    listen: Option<std::net::SocketAddr>,
    #[command(flatten)]
    store: StoreArgs,
}

/// Where the state is, and how to unseal it.
#[derive(Debug, Args, Clone)]
pub struct StoreArgs {
    /// Data directory [default: ./baomi-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Database URL (sqlite://… or postgres://…) [default: SQLite in the data directory].
    #[arg(long)]
    database_url: Option<String>,
    /// Development mode: without a configured passphrase, generate one and keep it in the
    /// data directory. Never for real data.
    #[arg(long)]
    dev: bool,
}

impl StoreArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            ..Overrides::default()
        }
    }
}

/// Parses the command line and runs it; the process's exit code.
pub fn main() -> ExitCode {
    quiet_panics();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `baomi probe`: GETs `url` within 3 seconds and fails unless it answers 200.
async fn probe(url: &str, loopback_unverified: bool) -> anyhow::Result<()> {
    server::tls::install_crypto_provider();
    if loopback_unverified && !crate::config::is_loopback_url(url) {
        anyhow::bail!("--loopback-unverified probes this host only (127.0.0.1, ::1, localhost)");
    }
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .danger_accept_invalid_certs(loopback_unverified)
        .build()?;
    let status = client.get(url).send().await?.status();
    if status != reqwest::StatusCode::OK {
        anyhow::bail!("{url} answered {status}");
    }
    Ok(())
}

/// Replaces the default panic message (which prints the panic's text, and a text can hold a
/// value) with a log line that names only where it happened.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_else(|| "unknown".to_owned());
        tracing::error!(%location, "panic (message withheld: it may contain data)");
    }));
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let mut overrides = args.store.overrides();
            overrides.listen = args.listen;
            let config = Config::load(cli.config.as_deref(), &overrides)?;
            crate::telemetry::init(&config);
            serve(config, args.store.dev).await
        }
        Command::Init(args) => {
            let config = Config::load(cli.config.as_deref(), &args.overrides())?;
            crate::telemetry::init(&config);
            let opened = server::open(&config, args.dev).await?;
            opened.store.close().await;
            match &opened.bootstrap_admin_key {
                Some(key) => print_bootstrap_key(key),
                None => eprintln!(
                    "Baomi is already initialised here; the passphrase unseals its root key."
                ),
            }
            Ok(())
        }
        Command::Keys(command) => keys::run(cli.config.as_deref(), command).await,
        Command::Audit(command) => audit::run(cli.config.as_deref(), command).await,
        Command::Consent(command) => consent::run(command),
        Command::Console(command) => console::run(cli.config.as_deref(), command).await,
        Command::Mask(args) => mask::run(args),
        Command::Import(args) => import::run(cli.config.as_deref(), args).await,
        Command::Backup(args) => backup::backup(cli.config.as_deref(), args).await,
        Command::Restore(args) => backup::restore(cli.config.as_deref(), args).await,
        Command::Probe {
            url,
            loopback_unverified,
        } => probe(&url, loopback_unverified).await,
        Command::Openapi => {
            let config = Config::load(cli.config.as_deref(), &Overrides::default())?;
            let doc = crate::app::openapi(&crate::service::Limits::from_config(&config));
            println!("{}", serde_json::to_string_pretty(&doc)?);
            Ok(())
        }
        Command::Witness(command) => {
            let config = Config::load(cli.config.as_deref(), &Overrides::default())?;
            crate::telemetry::init(&config);
            witness::run(command).await
        }
        Command::Crypto(CryptoCommand::SelfTest) => {
            let results = crate::service::self_test::run();
            for r in &results {
                let verdict = if r.passed { "ok  " } else { "FAIL" };
                println!(
                    "{verdict} {:<38} {:<42} {}",
                    r.algorithm, r.implementation, r.vector
                );
            }
            crate::service::self_test::require(&results).map_err(|e| anyhow::anyhow!(e))?;
            println!("all {} algorithms gave their known answers", results.len());
            Ok(())
        }
    }
}

async fn serve(mut config: Config, dev: bool) -> anyhow::Result<()> {
    // Before the root key is unsealed: a listener that may not start fails at once.
    let https = server::https(&config, dev)?;
    let opened = server::open(&config, dev).await?;
    // The root key is unsealed: the passphrase is not needed for the rest of the run.
    config.unseal_passphrase = None;
    if let server_setup::PassphraseSource::Development { path, .. } = &opened.passphrase_source {
        eprintln!(
            "\n!!! DEVELOPMENT MODE: the unseal passphrase is stored in {} beside the data it\n\
             !!! protects. Anyone who can read the data directory can read everything.\n\
             !!! Never use --dev for real personal information.\n",
            path.display()
        );
    }
    if let Some(key) = &opened.bootstrap_admin_key {
        print_bootstrap_key(key);
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    let addr = listener.local_addr()?;
    // The signal handler first: from the moment the address is announced, SIGTERM stops
    // gracefully.
    let shutdown = server::shutdown_signal();
    let scheme = if https.is_some() { "https" } else { "http" };
    tracing::info!(%addr, scheme, database = config.backend_name(), "baomi is serving");
    server::serve(listener, opened, https, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Shows the bootstrap admin key on standard error, once, apart from the logs.
pub fn print_bootstrap_key(key: &SecretString) {
    eprintln!(
        "\n==================================================================\n\
         Baomi created its root key and a bootstrap admin key.\n\
         The key is shown only now; store it in your secret manager:\n\n    {}\n\n\
         Use it to create service and officer keys (POST /v1/keys).\n\
         ==================================================================\n",
        key.expose_secret()
    );
}
