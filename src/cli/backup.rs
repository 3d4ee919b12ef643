//! `baomi backup` and `baomi restore`.
//!
//! SQLite: `backup` takes a consistent snapshot while Baomi runs; `restore` (with every Baomi
//! process stopped) swaps a checked backup into place, keeps the replaced file beside it,
//! and re-applies every erasure of the erasure journal, so that a restored backup never
//! brings an erased person back. PostgreSQL: `backup` runs `pg_dump` (custom format) and
//! checks the dump with `pg_restore --list`; restoring is `pg_restore` followed by
//! `baomi restore --replay-erasures`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;

use super::StoreArgs;
use crate::config::Config;
use crate::service::erasure_journal::ErasureJournal;
use crate::service::setup;
use crate::store;
use crate::store::backup::{self as snapshot, BackupSummary};

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// Where to write the backup (never overwritten).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The SQLite backup to restore (made by `baomi backup`).
    #[arg(long, required_unless_present = "replay_erasures")]
    from: Option<PathBuf>,
    /// Only re-apply the erasure journal to the database as it is (after restoring
    /// PostgreSQL with `pg_restore`).
    #[arg(long, conflicts_with = "from")]
    replay_erasures: bool,
    #[command(flatten)]
    store: StoreArgs,
}

fn describe(summary: &BackupSummary) -> String {
    format!(
        "{} bytes, schema version {}, {} audit events",
        summary.bytes, summary.schema_version, summary.audit_events
    )
}

pub(super) async fn backup(config_file: Option<&Path>, args: BackupArgs) -> anyhow::Result<()> {
    let config = Config::load(config_file, &args.store.overrides())?;
    match snapshot::sqlite_file(&config)? {
        Some(db) => {
            if !db.exists() {
                bail!("no database at {}", db.display());
            }
            let summary = snapshot::backup_sqlite(&db, &args.out).await?;
            println!(
                "backup written to {}: {}",
                args.out.display(),
                describe(&summary)
            );
            println!(
                "keep the erasure journal ({}) out of backups: restore re-applies it",
                config.erasure_journal_path().display()
            );
        }
        None => pg_dump(&config, &args.out)?,
    }
    Ok(())
}

/// Runs PostgreSQL's `pg_dump` into `out` and checks the dump with `pg_restore --list`.
fn pg_dump(config: &Config, out: &Path) -> anyhow::Result<()> {
    let Some(url) = config
        .database()
        .and_then(crate::config::Database::postgres_url)
    else {
        bail!("pg_dump backs up a PostgreSQL database; database_url names none");
    };
    if out.exists() {
        bail!("{} exists; a backup never overwrites a file", out.display());
    }
    let tool = |name: &str| {
        std::process::Command::new(name)
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let (Some(dump_version), Some(_)) = (tool("pg_dump"), tool("pg_restore")) else {
        bail!(
            "PostgreSQL is backed up with its own tools, and pg_dump or pg_restore is not \
             installed here (Debian: apt-get install postgresql-client). For point-in-time \
             recovery, use pg_basebackup with WAL archiving instead; after any restore, run \
             `baomi restore --replay-erasures`."
        );
    };
    let partial = out.with_extension("partial");
    let status = std::process::Command::new("pg_dump")
        .args(["--format=custom", "--file"])
        .arg(&partial)
        .arg(url)
        .status()
        .context("cannot run pg_dump")?;
    if !status.success() {
        let _ = std::fs::remove_file(&partial);
        bail!("pg_dump failed ({dump_version}); see its message above");
    }
    let listed = std::process::Command::new("pg_restore")
        .arg("--list")
        .arg(&partial)
        .output()
        .context("cannot run pg_restore")?;
    let has_events = String::from_utf8_lossy(&listed.stdout).contains("TABLE DATA")
        && String::from_utf8_lossy(&listed.stdout).contains("audit_events");
    if !listed.status.success() || !has_events {
        let _ = std::fs::remove_file(&partial);
        bail!("the dump does not read back with pg_restore --list; it was not kept");
    }
    std::fs::rename(&partial, out).with_context(|| format!("cannot write {}", out.display()))?;
    println!("backup written to {} by {dump_version}", out.display());
    println!(
        "restore: pg_restore --clean --if-exists --single-transaction --dbname <url> {}, \
         then baomi restore --replay-erasures",
        out.display()
    );
    Ok(())
}

pub(super) async fn restore(config_file: Option<&Path>, args: RestoreArgs) -> anyhow::Result<()> {
    let config = Config::load(config_file, &args.store.overrides())?;
    setup::ensure_data_dir(&config.data_dir)?;
    if let Some(from) = &args.from {
        let Some(db) = snapshot::sqlite_file(&config)? else {
            bail!(
                "--from restores SQLite backups; restore PostgreSQL with pg_restore, then run \
                 baomi restore --replay-erasures"
            );
        };
        let kept = snapshot::restore_sqlite(&db, from, crate::service::now()).await?;
        println!(
            "restored {} to {} (the replaced database is kept as {})",
            from.display(),
            db.display(),
            kept.display()
        );
    }
    // Re-apply every erasure recorded since, before anything can serve the restored data.
    let protection = setup::protection(&config, args.store.dev)?;
    let store = store::open(&config).await?;
    let result = async {
        let unsealed = setup::unseal(store.as_ref(), protection, config.kdf).await?;
        let vault = setup::vault(
            &unsealed,
            Arc::clone(&store) as Arc<dyn baomi_vault::VaultStore>,
            baomi_vault::VaultOptions::default(),
        )?;
        let journal = ErasureJournal::new(config.erasure_journal_path());
        let replayed = journal.replay(&vault, store.as_ref()).await?;
        let swept = vault.sweep_erased().await?;
        println!(
            "erasure journal {}: {replayed} erasures re-applied, {swept} rows of erased \
             subjects removed",
            config.erasure_journal_path().display()
        );
        anyhow::Ok(())
    }
    .await;
    store.close().await;
    result
}
