//! `baomi import`: moves a platform's existing subjects into Baomi, streamed from a CSV or
//! JSON Lines file through a running server in batches.
//!
//! - Into the stored vault (`POST /v1/store`), the default: Baomi keeps the values and the
//!   output holds each subject's tokens.
//! - Through the stateless vault (`POST /v1/encrypt`, `--stateless`): the output holds each
//!   subject's ciphertexts, for the platform to keep.
//!
//! Or, with `--offline`, straight into the database while no server runs (see [`direct`]).
//!
//! Each batch is one request, so one audit event, naming the key, the operator and a request
//! id `import-<run>-<first record>`. An interrupted import run again with the same arguments
//! resumes after its last acknowledged batch (see [`journal`]), and every subject ends up in
//! the output, and in Baomi, exactly once. A refused or throttled batch (429, 503) waits as
//! the server says and is tried again.

mod client;
mod direct;
mod journal;
mod source;

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use self::client::Client;
use self::direct::Direct;
use self::journal::Progress;
use self::source::{Format, Record, Row, Source};
use super::StoreArgs;
use crate::config::{Config, Overrides};

/// `baomi import`'s arguments.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The subjects: a CSV file with a header row, or JSON Lines (one object per line). One
    /// column (or key) holds the subject's id, every other one a field; empty values are
    /// left out.
    input: PathBuf,
    /// Where to write each subject's tokens (or ciphertexts, or error) as JSON Lines. Never
    /// overwritten; an interrupted import resumes into it (its progress is kept beside it,
    /// in OUT.progress).
    #[arg(long)]
    out: PathBuf,
    /// Baomi's base URL. The API key is read from BAOMI_API_KEY (a service key with the
    /// store_data permission; for --stateless, any service key).
    #[arg(long, env = "BAOMI_URL", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// `csv` or `jsonl` [default: from the input's extension].
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// The column (or key) that holds the subject's id.
    #[arg(long, default_value = "subject_id")]
    subject_column: String,
    /// Encrypt through the stateless vault and write the ciphertexts, instead of storing the
    /// values in Baomi and writing tokens.
    #[arg(long)]
    stateless: bool,
    /// The keyring [default: default].
    #[arg(long)]
    keyring: Option<String>,
    /// A field to index for search (stored vault; repeat for several).
    #[arg(long = "searchable", conflicts_with = "stateless")]
    searchable: Vec<String>,
    /// A field kept as given, not checked against its type (repeat for several).
    #[arg(long = "free-form")]
    free_form: Vec<String>,
    /// Subjects per request (stored vault), or values per request (--stateless); at most
    /// the server's max_batch_items.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    batch: u32,
    /// The staff member running the import, named in each batch's audit event (required
    /// with --offline).
    #[arg(long, required_if_eq("offline", "true"))]
    operator: Option<String>,
    /// Write straight into the database (SQLite in --data-dir, or --database-url) instead of
    /// through a server, with the unseal passphrase (BAOMI_UNSEAL_PASSPHRASE). Stored vault
    /// only. Meant for while the server is stopped; the batches' events enter the trail
    /// when it next starts.
    #[arg(long, conflicts_with_all = ["stateless", "server"])]
    offline: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// Where the batches go.
enum Target {
    /// A running server.
    Server(Client),
    /// The database itself (boxed: the vault is large).
    Database(Box<Direct>),
}

/// One batch: its records, how far into the input it ends, and its first record's number.
struct Batch {
    records: Vec<Record>,
    first: u64,
    end: u64,
}

/// Runs an import to its end (or resumes one), printing progress on standard error.
pub(super) async fn run(config_file: Option<&Path>, args: ImportArgs) -> anyhow::Result<()> {
    let overrides = if args.offline {
        args.store.overrides()
    } else {
        Overrides::default()
    };
    crate::telemetry::init(&Config::load(config_file, &overrides)?);
    let target = if args.offline {
        let operator = args.operator.as_deref().unwrap_or_default();
        Target::Database(Box::new(
            Direct::open(config_file, &args.store, operator).await?,
        ))
    } else {
        Target::Server(Client::new(&args.server, args.operator.as_deref())?)
    };
    let result = import(&target, &args).await;
    if let Target::Database(direct) = target {
        direct.close().await;
    }
    result
}

async fn import(target: &Target, args: &ImportArgs) -> anyhow::Result<()> {
    let format = match args.format.or_else(|| Format::of(&args.input)) {
        Some(f) => f,
        None => bail!("say --format csv or --format jsonl: the input's extension says neither"),
    };
    let input_bytes = std::fs::metadata(&args.input)
        .with_context(|| format!("cannot read {}", args.input.display()))?
        .len();
    let mut journal = journal::Journal::open(&args.out, input_bytes, args.stateless)?;
    if journal.resumed {
        eprintln!(
            "resuming: {} records were done, {} imported",
            journal.progress.records, journal.progress.imported
        );
    }
    let source = Source::open(
        &args.input,
        format,
        &args.subject_column,
        journal.progress.input_offset,
    )?;
    let mut batches = Batches { source, held: None };
    let run = run_id(&journal.progress);
    let mut shown = Shown::new(&journal.progress);
    loop {
        let batch = batches.next(
            journal.progress.records + 1,
            args.batch as usize,
            args.stateless,
        )?;
        if batch.records.is_empty() {
            break;
        }
        let request_id = format!("import-{run}-{}", batch.first);
        let (lines, imported) = match target {
            Target::Server(client) if args.stateless => {
                encrypt(client, args, &batch.records, &request_id).await?
            }
            _ => store(target, args, &batch.records, &request_id).await?,
        };
        let p = &journal.progress;
        let count = batch.records.len() as u64;
        let next = Progress {
            input_offset: batch.end,
            records: p.records + count,
            imported: p.imported + imported,
            failed: p.failed + (count - imported),
            ..p.clone()
        };
        journal.commit(&lines, next)?;
        shown.update(&journal.progress);
    }
    let done = journal.finish()?;
    shown.finish(&done);
    Ok(())
}

/// A run's id, the same when it resumes: from the input's size and when the progress file
/// was made is enough to tell imports apart in the trail.
fn run_id(progress: &Progress) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("{}:{}", progress.input_bytes, progress.started_ms).as_bytes(),
    );
    data_encoding::HEXLOWER.encode(&digest.as_ref()[..4])
}

/// The input, read a batch at a time: a record that would overflow a `--stateless` batch
/// is held for the next one.
struct Batches {
    source: Source,
    held: Option<(Record, u64)>,
}

impl Batches {
    /// The next batch, numbered from `first`: `limit` subjects, or with `by_values` as many
    /// subjects as keep the batch's values within `limit` (at least one). Empty at the end.
    fn next(&mut self, first: u64, limit: usize, by_values: bool) -> anyhow::Result<Batch> {
        let mut records = Vec::new();
        let mut values = 0;
        let mut end = self.source.offset();
        while records.len() < limit {
            let number = first + records.len() as u64;
            let (record, after) = match self.held.take() {
                Some(held) => held,
                None => match self.source.next(number)? {
                    Some(record) => (record, self.source.offset()),
                    None => break,
                },
            };
            let size = record.as_ref().map_or(0, |row| row.fields.len());
            if by_values && !records.is_empty() && values + size > limit {
                self.held = Some((record, after));
                break;
            }
            values += size;
            records.push(record);
            end = after;
        }
        Ok(Batch {
            records,
            first,
            end,
        })
    }
}

/// The body of `POST /v1/store`.
#[derive(Serialize)]
struct StoreBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    keyring: Option<&'a str>,
    subjects: Vec<SubjectBody<'a>>,
    searchable: &'a [String],
    free_form: &'a [String],
}

#[derive(Serialize)]
struct SubjectBody<'a> {
    subject_id: &'a str,
    fields: BTreeMap<&'a str, &'a str>,
}

fn fields_of(row: &Row) -> BTreeMap<&str, &str> {
    row.fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

/// An output line for a record that could not be read.
fn unreadable_line(record: u64, reason: &str) -> Value {
    json!({"record": record, "error": {"code": "import.unreadable_record", "detail": reason}})
}

fn push_line(out: &mut Vec<u8>, line: &Value) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *out, line)?;
    out.push(b'\n');
    Ok(())
}

/// Stores a batch; its output lines and how many subjects were stored.
async fn store(
    target: &Target,
    args: &ImportArgs,
    records: &[Record],
    request_id: &str,
) -> anyhow::Result<(Vec<u8>, u64)> {
    let rows: Vec<&Row> = records.iter().filter_map(|r| r.as_ref().ok()).collect();
    let mut answers = Vec::new().into_iter();
    if !rows.is_empty() {
        let items = match target {
            Target::Server(client) => {
                let body = StoreBody {
                    keyring: args.keyring.as_deref(),
                    subjects: rows
                        .iter()
                        .map(|r| SubjectBody {
                            subject_id: &r.subject_id,
                            fields: fields_of(r),
                        })
                        .collect(),
                    searchable: &args.searchable,
                    free_form: &args.free_form,
                };
                let answer = client.post("/v1/store", request_id, &body).await?;
                answer["items"].as_array().cloned().unwrap_or_default()
            }
            Target::Database(direct) => {
                let request = direct::request(
                    &rows,
                    args.keyring.as_deref(),
                    &args.searchable,
                    &args.free_form,
                );
                direct.store(request, request_id).await?
            }
        };
        if items.len() != rows.len() {
            bail!(
                "the server answered {} items for {} subjects",
                items.len(),
                rows.len()
            );
        }
        answers = items.into_iter();
    }
    let mut out = Vec::new();
    let mut imported = 0;
    for record in records {
        match record {
            Ok(_) => {
                let item = answers.next().unwrap_or_default();
                if item.get("tokens").is_some() {
                    imported += 1;
                }
                push_line(&mut out, &item)?;
            }
            Err(e) => push_line(&mut out, &unreadable_line(e.record, &e.reason))?,
        }
    }
    Ok((out, imported))
}

/// The body of `POST /v1/encrypt`.
#[derive(Serialize)]
struct EncryptBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    keyring: Option<&'a str>,
    items: Vec<EncryptItem<'a>>,
}

#[derive(Serialize)]
struct EncryptItem<'a> {
    subject_id: &'a str,
    field: &'a str,
    value: &'a str,
    free_form: bool,
}

/// Encrypts a batch through the stateless vault; its output lines (a subject's ciphertexts,
/// and the errors of the fields that failed) and how many subjects had every field sealed.
async fn encrypt(
    client: &Client,
    args: &ImportArgs,
    records: &[Record],
    request_id: &str,
) -> anyhow::Result<(Vec<u8>, u64)> {
    let items: Vec<EncryptItem> = records
        .iter()
        .filter_map(|r| r.as_ref().ok())
        .flat_map(|row| {
            row.fields.iter().map(|(field, value)| EncryptItem {
                subject_id: &row.subject_id,
                field,
                value,
                free_form: args.free_form.contains(field),
            })
        })
        .collect();
    let mut answers = Vec::new().into_iter();
    if !items.is_empty() {
        let body = EncryptBody {
            keyring: args.keyring.as_deref(),
            items,
        };
        let answer = client.post("/v1/encrypt", request_id, &body).await?;
        answers = answer["items"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter();
    }
    let mut out = Vec::new();
    let mut imported = 0;
    for record in records {
        let row = match record {
            Ok(row) => row,
            Err(e) => {
                push_line(&mut out, &unreadable_line(e.record, &e.reason))?;
                continue;
            }
        };
        let mut sealed = serde_json::Map::new();
        let mut errors = serde_json::Map::new();
        for field in row.fields.keys() {
            let answer = answers
                .next()
                .context("the server answered too few items")?;
            match answer.get("ciphertext") {
                Some(c) => sealed.insert(field.clone(), c.clone()),
                None => errors.insert(field.clone(), answer["error"].clone()),
            };
        }
        let mut line = json!({"subject_id": row.subject_id, "ciphertexts": sealed});
        if errors.is_empty() && !sealed.is_empty() {
            imported += 1;
        } else {
            line["errors"] = Value::Object(errors);
        }
        push_line(&mut out, &line)?;
    }
    Ok((out, imported))
}

/// Progress on standard error: a bar on a terminal, else a line every few seconds.
struct Shown {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    last_line: Instant,
    /// Records done before this run.
    before: u64,
}

impl Shown {
    fn new(p: &Progress) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(p.input_bytes);
            if let Ok(style) = indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} ETA {eta} {msg}",
            ) {
                bar.set_style(style);
            }
            bar
        });
        Self {
            bar,
            started: Instant::now(),
            last_line: Instant::now(),
            before: p.records,
        }
    }

    fn rate(&self, p: &Progress) -> f64 {
        let done_here = p.records - self.before;
        done_here as f64 / self.started.elapsed().as_secs_f64().max(1e-3)
    }

    fn update(&mut self, p: &Progress) {
        let percent = p.input_offset as f64 * 100.0 / p.input_bytes.max(1) as f64;
        let message = format!(
            "{} records, {} imported, {} not ({:.0} records/s)",
            p.records,
            p.imported,
            p.failed,
            self.rate(p)
        );
        match &self.bar {
            Some(bar) => {
                bar.set_position(p.input_offset);
                bar.set_message(message);
            }
            None if self.last_line.elapsed() >= Duration::from_secs(2) => {
                eprintln!("{percent:.1}%: {message}");
                self.last_line = Instant::now();
            }
            None => {}
        }
    }

    fn finish(self, p: &Progress) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        eprintln!(
            "imported {} of {} records in {:.1} s; {} not imported (their errors are in the output)",
            p.imported,
            p.records,
            self.started.elapsed().as_secs_f64(),
            p.failed
        );
    }
}
