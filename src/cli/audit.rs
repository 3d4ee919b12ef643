//! `baomi audit export|verify|verify-erasure`: the trail as JSON Lines, its verification
//! offline (an export) or against the live database, and erasure certificates' offline.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use baomi_audit::erasure::verify_certificate;
use baomi_audit::verify::{Outside, Report, TrustedKey, verify_export_extending};
use clap::Subcommand;

use super::StoreArgs;
use crate::config::Config;
use crate::service::audit_export::{Exporter, verify_store_extending};
use crate::store;

/// Audit trail commands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Write the trail up to the newest signed checkpoint as JSON Lines.
    Export {
        /// The file to write (written whole, then renamed into place); standard output if
        /// absent.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Recompute the Merkle tree of an export (or of the database), check every signed
    /// checkpoint, and name the sequence numbers of edited, deleted, inserted or reordered
    /// events. Exits with 1 if anything is wrong.
    Verify {
        /// The export to check (JSON Lines from `baomi audit export` or GET /v1/audit/export).
        #[arg(required_unless_present = "database", conflicts_with = "database")]
        export: Option<PathBuf>,
        /// A checkpoint verifier key, `<name>+<id>+<key>` (GET /v1/audit/checkpoint shows
        /// it), trusted for any tree size; repeat for several. Obtain it from a copy you
        /// trust, not from the export.
        #[arg(long, required_unless_present = "keys")]
        public_key: Vec<String>,
        /// The history of the log's signing keys, as GET /v1/audit/keys answers it (saved
        /// from a copy you trust): each key is trusted up to the tree size at which the
        /// next generation took over.
        #[arg(long)]
        keys: Option<PathBuf>,
        /// Check the live database at this URL (sqlite://… or postgres://…) instead.
        #[arg(long)]
        database: Option<String>,
        /// A signed checkpoint kept outside the database (the note of GET
        /// /v1/audit/checkpoint saved earlier, or a witness's): the trail must extend it, or
        /// the report says that events were removed from the end or history rewritten.
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// A witness's verifier key whose cosignature the kept checkpoint must carry (a
        /// witness's note says who vouches for it only if checked); repeat to demand
        /// several.
        #[arg(long, requires = "checkpoint")]
        witness_key: Vec<String>,
    },
    /// Check an erasure certificate (GET /v1/subjects/{id}/erasure-certificate) offline:
    /// signed by the log, its audit event in a checkpoint the log signed and, with
    /// `--witness-key`, that witness cosigned. Exits with 1 if it does not hold.
    VerifyErasure {
        /// The certificate (JSON).
        certificate: PathBuf,
        /// A verifier key of the log, `<name>+<id>+<key>`; repeat for several. Obtain it
        /// from a copy you trust, not from the certificate.
        #[arg(long, required_unless_present = "keys")]
        public_key: Vec<String>,
        /// The history of the log's signing keys, as GET /v1/audit/keys answers it.
        #[arg(long)]
        keys: Option<PathBuf>,
        /// A witness's verifier key whose cosignature the certificate's checkpoint must
        /// carry; repeat to demand several.
        #[arg(long)]
        witness_key: Vec<String>,
    },
}

pub(super) async fn run(config_file: Option<&Path>, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Export { out, store } => {
            let config = Config::load(config_file, &store.overrides())?;
            let store = store::open(&config).await?;
            let result = export(Arc::clone(&store), &config.audit_origin, out.as_deref()).await;
            store.close().await;
            result
        }
        AuditCommand::Verify {
            export,
            public_key,
            keys,
            database,
            checkpoint,
            witness_key,
        } => {
            let trusted = trusted_keys(public_key, keys.as_deref())?;
            let kept = checkpoint
                .map(|path| {
                    std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read {}", path.display()))
                })
                .transpose()?;
            // A witness's cosignature time bounds the age of every leaf appended after the
            // tree it cosigned, by a clock the log's operators do not hold.
            let mut appended_after: Option<(u64, i64)> = None;
            if let Some(note) = &kept {
                for key in &witness_key {
                    let name = baomi_audit::checkpoint::verifier_key_name(key);
                    match baomi_audit::witness::verify_cosignature(note, key) {
                        Ok((cosigned, at)) => {
                            println!(
                                "the kept checkpoint of tree size {} is cosigned by {name}",
                                cosigned.size
                            );
                            let at_ms = i64::try_from(at)
                                .unwrap_or(i64::MAX / 1000)
                                .saturating_mul(1000);
                            appended_after = Some(match appended_after {
                                Some((size, seen)) if seen <= at_ms => (size, seen),
                                _ => (cosigned.size, at_ms),
                            });
                        }
                        Err(_) => {
                            println!("FAIL the kept checkpoint is not cosigned by {name}");
                            anyhow::bail!("the kept checkpoint is not cosigned as demanded");
                        }
                    }
                }
            }
            let outside = Outside {
                kept: kept.as_deref(),
                appended_after,
                now_ms: Some(crate::service::now_ms()),
            };
            let report = match (export, database) {
                (Some(path), _) => {
                    let file = std::fs::File::open(&path)
                        .with_context(|| format!("cannot open {}", path.display()))?;
                    verify_export_extending(
                        BufReader::with_capacity(1 << 20, file),
                        &trusted,
                        &outside,
                    )?
                }
                (None, Some(url)) => {
                    let config = Config::load(
                        config_file,
                        &crate::config::Overrides {
                            database_url: Some(url),
                            ..Default::default()
                        },
                    )?;
                    let store = store::open(&config).await?;
                    let report = verify_store_extending(store.as_ref(), &trusted, &outside).await;
                    store.close().await;
                    report?
                }
                (None, None) => anyhow::bail!("name an export file or --database"),
            };
            print_report(&report)
        }
        AuditCommand::VerifyErasure {
            certificate,
            public_key,
            keys,
            witness_key,
        } => {
            let trusted = trusted_keys(public_key, keys.as_deref())?;
            let text = std::fs::read_to_string(&certificate)
                .with_context(|| format!("cannot read {}", certificate.display()))?;
            match verify_certificate(&text, &trusted, &witness_key) {
                Ok(erasure) => {
                    println!(
                        "OK: subject {} was erased at {} (receipt {}); the erasure is event \
                         seq {}, leaf {} of the tree of size {} that the log signed{}",
                        erasure.subject,
                        crate::service::rfc3339(erasure.erased_at),
                        erasure.receipt_id,
                        erasure.seq,
                        erasure.leaf_index,
                        erasure.tree_size,
                        if erasure.witnesses.is_empty() {
                            String::new()
                        } else {
                            format!(" and {} cosigned", erasure.witnesses.join(", "))
                        }
                    );
                    Ok(())
                }
                Err(e) => {
                    println!("FAIL {e}");
                    anyhow::bail!("the erasure certificate does not hold")
                }
            }
        }
    }
}

/// A saved GET /v1/audit/keys.
#[derive(serde::Deserialize)]
struct SavedKeys {
    keys: Vec<TrustedKey>,
}

/// The keys a verification trusts: each `--public-key` for any size, and each key of a
/// saved history up to its bound.
fn trusted_keys(
    public_keys: Vec<String>,
    history: Option<&Path>,
) -> anyhow::Result<Vec<TrustedKey>> {
    let mut trusted: Vec<TrustedKey> = public_keys.iter().map(|k| TrustedKey::current(k)).collect();
    if let Some(path) = history {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let saved: SavedKeys = serde_json::from_str(&text)
            .with_context(|| format!("{} is not the JSON of GET /v1/audit/keys", path.display()))?;
        trusted.extend(saved.keys);
    }
    Ok(trusted)
}

async fn export(
    store: Arc<dyn store::Store>,
    origin: &str,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let mut exporter = Exporter::start(store, origin)
        .await?
        .context("the trail has no signed checkpoint yet: nothing to export")?;
    let size = exporter.tree_size();
    match out {
        None => {
            let mut stdout = std::io::stdout().lock();
            while let Some(chunk) = exporter.next_chunk().await? {
                stdout.write_all(chunk.as_bytes())?;
            }
            stdout.flush()?;
        }
        Some(path) => {
            // Written beside the target and renamed when complete: a failed export never
            // leaves a file that looks whole.
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty());
            let mut file = tempfile::NamedTempFile::new_in(dir.unwrap_or(Path::new(".")))?;
            while let Some(chunk) = exporter.next_chunk().await? {
                file.write_all(chunk.as_bytes())?;
            }
            file.as_file().sync_all()?;
            file.persist(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    eprintln!("exported {size} events");
    Ok(())
}

fn print_report(report: &Report) -> anyhow::Result<()> {
    println!(
        "{} events checked ({} pruned by retention), {} signed checkpoints matched, \
         verified through tree size {}",
        report.leaves, report.pruned, report.checkpoints, report.verified_size
    );
    if let Some(size) = report.kept_extended {
        println!("the kept checkpoint of tree size {size} holds: the trail extends it");
    }
    for finding in &report.findings {
        println!("FAIL {finding}");
    }
    if report.more_findings > 0 {
        println!("FAIL … and {} more", report.more_findings);
    }
    if report.unsigned > 0 && report.findings.is_empty() {
        println!(
            "note: the {} newest event(s) are not yet covered by a signed checkpoint (one is \
             signed every second while events arrive); their leaf hashes were checked",
            report.unsigned
        );
    }
    if report.is_intact() {
        println!("OK: the trail is intact");
        Ok(())
    } else if report.findings.is_empty() {
        anyhow::bail!("no signed checkpoint vouches for the trail yet")
    } else {
        anyhow::bail!("the trail does not verify")
    }
}
