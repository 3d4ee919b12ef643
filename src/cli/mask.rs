//! `baomi mask`: mask a CSV, JSON Lines, JSON or text file offline under a policy.
//!
//! The file is streamed in batches (at most [`BATCH_BYTES`] or [`BATCH_RECORDS`] records):
//! a batch is split among `--jobs` threads, masked, and written in its original order
//! before the next one is read, so memory stays bounded whatever the file's size (JSON,
//! one document, is the exception: it is read whole). The output goes to a temporary file
//! beside OUT that replaces OUT only once everything is written: a failed or interrupted
//! run leaves OUT as it was.
//!
//! No message, error or summary ever contains a value read from the file: errors name the
//! line and what was wrong, the summary counts findings per type.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{Context as _, anyhow, bail};
use baomi_masking::{Context, Masker, PiType, Policy, PseudonymKey, Scanner};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use serde_json::Value;
use zeroize::Zeroizing;

/// A batch is cut once it holds this many bytes…
const BATCH_BYTES: usize = 8 << 20;
/// …or this many records.
const BATCH_RECORDS: usize = 10_000;
/// One record (a line, or a CSV record with its quoted line breaks) may not be longer: an
/// unclosed quote must not pull the whole file into memory.
const MAX_RECORD: usize = 64 << 20;
/// The least a key file must hold.
const MIN_KEY_FILE: usize = 32;

/// Set by the Ctrl-C handler; the batch loop stops at the next record.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Arguments of `baomi mask`.
#[derive(Debug, Args)]
pub struct MaskArgs {
    /// The masking policy (TOML: `description` and `[[rules]]`, as the server's policies).
    #[arg(long)]
    policy: PathBuf,
    /// The role whose rule applies [default: none, so only rules without roles apply].
    #[arg(long)]
    role: Option<String>,
    /// The purpose whose rule applies.
    #[arg(long)]
    purpose: Option<String>,
    /// The file's format [default: from IN's extension: .csv, .jsonl/.ndjson, .json, else
    /// text]. `json` is one document and is read whole into memory; the others are
    /// streamed.
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Consistent pseudonyms: `hash` gives the same value the same pseudonym in every file
    /// and run masked with the same key file, so joins between masked tables still work.
    /// Without it, a random key per run: pseudonyms are stable within one run only.
    #[arg(long)]
    consistent: bool,
    /// The secret behind consistent pseudonyms (used with --consistent): a file of at
    /// least 32 random bytes.
    #[arg(long, env = "BAOMI_MASK_KEY_FILE")]
    key_file: Option<PathBuf>,
    /// Threads masking in parallel [default: the number of cores].
    #[arg(long)]
    jobs: Option<NonZeroUsize>,
    /// CSV: the column holding the subject each row is about (needed by `date_shift`).
    #[arg(long)]
    subject_column: Option<String>,
    /// JSON and JSON Lines: the top-level field holding the subject (`$.customer_id`),
    /// needed by `date_shift`.
    #[arg(long)]
    subject_path: Option<String>,
    /// The file to mask, or `-` for standard input.
    input: PathBuf,
    /// Where to write the masked file, or `-` for standard output.
    output: PathBuf,
}

/// The formats `baomi mask` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Comma-separated values with a header row (RFC 4180).
    Csv,
    /// One JSON document per line.
    Jsonl,
    /// One JSON document (read whole into memory).
    Json,
    /// Free text, line by line.
    Text,
}

impl Format {
    fn from_path(path: &Path) -> Format {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("csv") => Format::Csv,
            Some("jsonl" | "ndjson") => Format::Jsonl,
            Some("json") => Format::Json,
            _ => Format::Text,
        }
    }
}

/// Findings per type.
type Counts = BTreeMap<PiType, u64>;

/// What a whole run (or one chunk of a batch) did.
#[derive(Default)]
struct Tally {
    records: u64,
    findings: Counts,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.records += other.records;
        for (t, n) in other.findings {
            *self.findings.entry(t).or_default() += n;
        }
    }
    fn found(&mut self, pi_type: PiType) {
        *self.findings.entry(pi_type).or_default() += 1;
    }
}

pub(super) fn run(args: MaskArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let policy = load_policy(&args.policy)?;
    let rule = policy.rule_for(args.role.as_deref().unwrap_or(""), args.purpose.as_deref());
    let key = pseudonym_key(args.consistent, args.key_file.as_deref())?;
    let format = args
        .format
        .unwrap_or_else(|| Format::from_path(&args.input));
    let subject = match format {
        Format::Csv => {
            if args.subject_path.is_some() {
                bail!("--subject-path is for JSON and JSON Lines; use --subject-column");
            }
            args.subject_column.clone().map(Subject::Column)
        }
        Format::Json | Format::Jsonl => {
            if args.subject_column.is_some() {
                bail!("--subject-column is for CSV; use --subject-path");
            }
            args.subject_path
                .as_deref()
                .map(subject_field)
                .transpose()?
        }
        Format::Text => {
            if args.subject_column.is_some() || args.subject_path.is_some() {
                bail!("text has no subject column or path");
            }
            None
        }
    };
    let jobs = args
        .jobs
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get);
    // Ctrl-C stops at the next record and the temporary output is removed; a handler can be
    // set once per process, which is all this command needs.
    // The handler runs on a thread of its own (not in the signal's context): it may print.
    ctrlc::set_handler(|| {
        if !INTERRUPTED.swap(true, Ordering::SeqCst) {
            eprintln!("baomi mask: interrupted; stopping at the next record");
        }
    })
    .context("cannot install the Ctrl-C handler")?;

    let (input, size): (Box<dyn Read>, Option<u64>) = if args.input == Path::new("-") {
        (Box::new(std::io::stdin().lock()), None)
    } else {
        let file = std::fs::File::open(&args.input)
            .with_context(|| format!("cannot open {}", args.input.display()))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Box::new(file), size)
    };
    let input = BufReader::with_capacity(1 << 20, input);

    let scanner = Scanner::new();
    let job = Job {
        masker: Masker::new(&scanner, rule),
        key,
        year: time::OffsetDateTime::now_utc().year(),
        subject,
        jobs,
        progress: Progress::new(size),
    };

    let tally = if args.output == Path::new("-") {
        let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
        let tally = job.run(format, input, &mut out)?;
        out.flush().context("cannot write to standard output")?;
        tally
    } else {
        let dir = match args.output.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let temp = tempfile::Builder::new()
            .prefix(".baomi-mask-")
            .tempfile_in(dir)
            .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, temp);
        // On any error `out` is dropped here, and the temporary file with it.
        let tally = job.run(format, input, &mut out)?;
        let temp = out
            .into_inner()
            .map_err(|e| anyhow!("cannot write {}: {}", args.output.display(), e.error()))?;
        temp.as_file()
            .sync_all()
            .with_context(|| format!("cannot write {}", args.output.display()))?;
        temp.persist(&args.output)
            .map_err(|e| anyhow!("cannot write {}: {}", args.output.display(), e.error))?;
        tally
    };
    job.progress.bar.finish_and_clear();
    summary(&tally, job.progress.bytes.load(Ordering::Relaxed), started);
    Ok(())
}

/// Reads and checks the policy; every error names the file.
fn load_policy(path: &Path) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the policy {}", path.display()))?;
    let policy: Policy =
        toml::from_str(&text).with_context(|| format!("invalid policy {}", path.display()))?;
    // Offline, nobody may see C3 information (passwords, CVV) in the clear.
    policy
        .validate(&[])
        .with_context(|| format!("invalid policy {}", path.display()))?;
    Ok(policy)
}

/// The key of `hash` and `date_shift`: derived from the key file with --consistent, random
/// otherwise.
fn pseudonym_key(consistent: bool, key_file: Option<&Path>) -> anyhow::Result<PseudonymKey> {
    let mut key = Zeroizing::new([0u8; 32]);
    if consistent {
        let path = key_file
            .ok_or_else(|| anyhow!("--consistent needs --key-file (or BAOMI_MASK_KEY_FILE)"))?;
        let secret = Zeroizing::new(
            std::fs::read(path)
                .with_context(|| format!("cannot read the key file {}", path.display()))?,
        );
        if secret.len() < MIN_KEY_FILE {
            bail!(
                "the key file {} holds {} bytes; it needs at least {MIN_KEY_FILE} random bytes",
                path.display(),
                secret.len()
            );
        }
        let salt = ring::hkdf::Salt::new(ring::hkdf::HKDF_SHA256, b"baomi mask");
        salt.extract(&secret)
            .expand(&[b"pseudonym key v1"], ring::hkdf::HKDF_SHA256)
            .and_then(|okm| okm.fill(key.as_mut_slice()))
            .map_err(|_| anyhow!("cannot derive the pseudonym key"))?;
    } else {
        use ring::rand::SecureRandom;
        ring::rand::SystemRandom::new()
            .fill(key.as_mut_slice())
            .map_err(|_| anyhow!("no random numbers from the operating system"))?;
    }
    Ok(PseudonymKey::new(key.as_slice()))
}

/// Where each record's subject is.
enum Subject {
    /// A CSV column, by name.
    Column(String),
    /// A top-level JSON field.
    Field(String),
}

/// Parses `$.name` or `$['name']` for --subject-path.
fn subject_field(path: &str) -> anyhow::Result<Subject> {
    let name = path
        .strip_prefix("$.")
        .or_else(|| {
            path.strip_prefix("$['")
                .and_then(|rest| rest.strip_suffix("']"))
        })
        .filter(|n| !n.is_empty() && !n.contains(['.', '[', ']']))
        .ok_or_else(|| {
            anyhow!("--subject-path must name a top-level field, such as $.customer_id")
        })?;
    Ok(Subject::Field(name.to_owned()))
}

/// The progress bar, and what it counts.
struct Progress {
    bar: ProgressBar,
    bytes: AtomicU64,
    records: Arc<AtomicU64>,
}

impl Progress {
    /// A bar on standard error that hides itself when that is not a terminal.
    fn new(size: Option<u64>) -> Progress {
        let records = Arc::new(AtomicU64::new(0));
        let bar = ProgressBar::with_draw_target(size, ProgressDrawTarget::stderr());
        let template = if size.is_some() {
            "{spinner} {elapsed_precise} [{wide_bar}] {bytes}/{total_bytes} \
             {binary_bytes_per_sec} {records_per_sec} ETA {eta}"
        } else {
            "{spinner} {elapsed_precise} {bytes} {binary_bytes_per_sec} {records_per_sec}"
        };
        let counted = Arc::clone(&records);
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style.with_key(
                "records_per_sec",
                move |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                    let secs = state.elapsed().as_secs_f64().max(1e-3);
                    let n = counted.load(Ordering::Relaxed) as f64;
                    let _ = write!(w, "{:.0} records/s", n / secs);
                },
            ));
        }
        Progress {
            bar,
            bytes: AtomicU64::new(0),
            records,
        }
    }

    fn advance(&self, bytes: usize, records: u64) {
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
        self.records.fetch_add(records, Ordering::Relaxed);
        self.bar.inc(bytes as u64);
    }
}

/// Everything a run needs besides its input and output.
struct Job<'a> {
    masker: Masker<'a>,
    key: PseudonymKey,
    year: i32,
    subject: Option<Subject>,
    jobs: usize,
    progress: Progress,
}

/// One record of a batch: where its bytes are and the line it starts on.
#[derive(Clone, Copy)]
struct Record {
    start: usize,
    end: usize,
    line: u64,
}

/// A CSV file's header: the column names, and where the subject is.
struct Header {
    names: Vec<String>,
    subject: Option<usize>,
}

impl Job<'_> {
    fn context<'c>(&'c self, subject: Option<&'c str>) -> Context<'c> {
        Context {
            key: Some(&self.key),
            subject,
            vault: None,
            year: self.year,
        }
    }

    fn run(
        &self,
        format: Format,
        mut input: impl BufRead,
        out: &mut impl Write,
    ) -> anyhow::Result<Tally> {
        match format {
            Format::Json => self.whole_json(input, out),
            Format::Text | Format::Jsonl => self.stream(format, input, out, None, 0),
            Format::Csv => {
                let mut raw = Vec::new();
                let lines = read_record(&mut input, &mut raw, true, 1)?;
                if raw.is_empty() {
                    return Ok(Tally::default());
                }
                let header = self.header(&raw)?;
                out.write_all(&raw).context("cannot write the output")?;
                self.progress.advance(raw.len(), 0);
                self.stream(format, input, out, Some(&header), lines)
            }
        }
    }

    /// Reads the header record; it is written back verbatim.
    fn header(&self, raw: &[u8]) -> anyhow::Result<Header> {
        let (text, _) = split_eol(utf8(raw, 1)?);
        let fields = split_csv(text, 1)?;
        let names: Vec<String> = fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let name = f.text.as_ref();
                // A byte-order mark belongs to the file, not to the first name.
                let name = if i == 0 {
                    name.trim_start_matches('\u{feff}')
                } else {
                    name
                };
                name.to_owned()
            })
            .collect();
        for (i, name) in names.iter().enumerate() {
            if let Some(j) = names[..i].iter().position(|n| n == name) {
                bail!(
                    "line 1: columns {} and {} have the same name; each needs its own",
                    j + 1,
                    i + 1
                );
            }
        }
        let subject = match &self.subject {
            Some(Subject::Column(c)) => Some(
                names
                    .iter()
                    .position(|n| n == c)
                    .ok_or_else(|| anyhow!("the header has no column {c:?} (--subject-column)"))?,
            ),
            _ => None,
        };
        Ok(Header { names, subject })
    }

    /// Reads batches of records, masks each batch in parallel and writes it in order.
    /// While the threads mask one batch, this thread writes the previous one and reads the
    /// next, so at most three batches are in memory.
    fn stream(
        &self,
        format: Format,
        mut input: impl BufRead,
        out: &mut impl Write,
        header: Option<&Header>,
        lines_before: u64,
    ) -> anyhow::Result<Tally> {
        let csv = format == Format::Csv;
        let mut tally = Tally::default();
        let mut current = Batch::default();
        let mut next = Batch::default();
        let mut pending: Vec<Vec<u8>> = Vec::new();
        let mut line = read_batch(&mut input, &mut current, csv, lines_before + 1)?;
        loop {
            // Checked first: an interruption while waiting for input ends the run even when
            // the input then ends normally.
            if INTERRUPTED.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            if current.records.is_empty() {
                write_all(out, &pending)?;
                return Ok(tally);
            }
            let chunk = current.records.len().div_ceil(self.jobs);
            let (results, read) = std::thread::scope(|s| {
                let handles: Vec<_> = current
                    .records
                    .chunks(chunk)
                    .map(|part| s.spawn(|| self.chunk(format, &current.bytes, part, header)))
                    .collect();
                let read = write_all(out, &pending)
                    .and_then(|()| read_batch(&mut input, &mut next, csv, line));
                let results: Vec<anyhow::Result<(Vec<u8>, Tally)>> = handles
                    .into_iter()
                    .map(|h| {
                        h.join()
                            .unwrap_or_else(|_| Err(anyhow!("a masking thread failed")))
                    })
                    .collect();
                (results, read)
            });
            // A record of this batch comes before anything wrong in the next.
            pending.clear();
            for result in results {
                let (bytes, part) = result?;
                pending.push(bytes);
                tally.add(part);
            }
            self.progress
                .advance(current.bytes.len(), current.records.len() as u64);
            line = read?;
            std::mem::swap(&mut current, &mut next);
        }
    }

    /// Masks consecutive records of a batch into one output buffer.
    fn chunk(
        &self,
        format: Format,
        buf: &[u8],
        records: &[Record],
        header: Option<&Header>,
    ) -> anyhow::Result<(Vec<u8>, Tally)> {
        let size: usize = records.iter().map(|r| r.end - r.start).sum();
        let mut out = Vec::with_capacity(size + size / 8);
        let mut tally = Tally::default();
        for r in records {
            if INTERRUPTED.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            let text = utf8(&buf[r.start..r.end], r.line)?;
            let (body, eol) = split_eol(text);
            match (format, header) {
                (Format::Csv, Some(h)) => self.csv_record(body, h, r.line, &mut out, &mut tally)?,
                (Format::Jsonl, _) => self.jsonl_record(body, r.line, &mut out, &mut tally)?,
                _ => {
                    let masked = self
                        .masker
                        .text(body, &self.context(None))
                        .map_err(|e| anyhow!("line {}: {e}", r.line))?;
                    for f in &masked.findings {
                        tally.found(f.pi_type);
                    }
                    out.extend_from_slice(masked.text.as_bytes());
                }
            }
            out.extend_from_slice(eol.as_bytes());
            tally.records += 1;
        }
        Ok((out, tally))
    }

    /// One JSON document on one line, written back compactly. Blank lines stay.
    fn jsonl_record(
        &self,
        body: &str,
        line: u64,
        out: &mut Vec<u8>,
        tally: &mut Tally,
    ) -> anyhow::Result<()> {
        if body.trim().is_empty() {
            out.extend_from_slice(body.as_bytes());
            return Ok(());
        }
        let mut doc: Value = serde_json::from_str(body)
            .map_err(|e| anyhow!("line {line}: not a JSON document ({})", json_error(&e)))?;
        self.mask_doc(&mut doc, tally)
            .map_err(|e| anyhow!("line {line}: {e}"))?;
        serde_json::to_writer(&mut *out, &doc).map_err(|e| anyhow!("line {line}: {e}"))?;
        Ok(())
    }

    fn mask_doc(&self, doc: &mut Value, tally: &mut Tally) -> baomi_masking::Result<()> {
        let subject = match &self.subject {
            Some(Subject::Field(name)) => subject_of(doc.get(name)),
            _ => None,
        };
        let found = self.masker.json(doc, &self.context(subject.as_deref()))?;
        for f in &found {
            tally.found(f.finding.pi_type);
        }
        Ok(())
    }

    /// A CSV row, as the object {column name: cell} for the policy's paths; the cells are
    /// written back in their order, quoted as they were.
    fn csv_record(
        &self,
        body: &str,
        header: &Header,
        line: u64,
        out: &mut Vec<u8>,
        tally: &mut Tally,
    ) -> anyhow::Result<()> {
        if body.is_empty() {
            return Ok(());
        }
        let fields = split_csv(body, line)?;
        if fields.len() != header.names.len() {
            bail!(
                "line {line}: {} fields where the header has {}",
                fields.len(),
                header.names.len()
            );
        }
        let subject = header.subject.map(|i| fields[i].text.to_string());
        let mut doc = Value::Object(
            header
                .names
                .iter()
                .zip(&fields)
                .map(|(n, f)| (n.clone(), Value::String(f.text.to_string())))
                .collect(),
        );
        let found = self
            .masker
            .json(&mut doc, &self.context(subject.as_deref()))
            .map_err(|e| anyhow!("line {line}: {e}"))?;
        for f in &found {
            tally.found(f.finding.pi_type);
        }
        for (i, (name, field)) in header.names.iter().zip(&fields).enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let masked = match doc.get(name) {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Null) | None => String::new(),
                Some(other) => other.to_string(),
            };
            write_csv_field(out, &masked, field.quoted);
        }
        Ok(())
    }

    /// One JSON document, read whole; written back pretty if it spanned lines.
    fn whole_json(&self, mut input: impl BufRead, out: &mut impl Write) -> anyhow::Result<Tally> {
        let mut raw = Vec::new();
        input
            .read_to_end(&mut raw)
            .context("cannot read the input")?;
        let text = utf8(&raw, 1)?;
        let mut doc: Value = serde_json::from_str(text)
            .map_err(|e| anyhow!("not a JSON document ({})", json_error(&e)))?;
        let mut tally = Tally::default();
        self.mask_doc(&mut doc, &mut tally)?;
        if text.trim().contains('\n') {
            serde_json::to_writer_pretty(&mut *out, &doc)?;
        } else {
            serde_json::to_writer(&mut *out, &doc)?;
        }
        if text.ends_with('\n') {
            out.write_all(if text.ends_with("\r\n") {
                b"\r\n"
            } else {
                b"\n"
            })?;
        }
        tally.records = 1;
        self.progress.advance(raw.len(), 1);
        Ok(tally)
    }
}

/// A subject taken from a JSON value: a string, or a number's text.
fn subject_of(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A JSON syntax error without anything of the document: what and where.
fn json_error(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Syntax => "syntax error",
        Category::Eof => "it ends too early",
        Category::Data => "unexpected data",
        Category::Io => "read error",
    };
    if e.to_string().contains("recursion limit") {
        return "it nests too deep".to_owned();
    }
    format!("{what} at column {}", e.column())
}

/// The text of a record, or an error naming the line of the first invalid byte.
fn utf8(bytes: &[u8], line: u64) -> anyhow::Result<&str> {
    std::str::from_utf8(bytes).map_err(|e| {
        let before = bytes[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        anyhow!("line {}: not valid UTF-8", line + before as u64)
    })
}

/// The records of a batch, in one buffer.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    records: Vec<Record>,
}

/// Fills `batch` with the next records (none at the end of the input), the first starting
/// on `line`; returns the line after them.
fn read_batch(
    input: &mut impl BufRead,
    batch: &mut Batch,
    csv: bool,
    mut line: u64,
) -> anyhow::Result<u64> {
    batch.bytes.clear();
    batch.records.clear();
    while batch.bytes.len() < BATCH_BYTES && batch.records.len() < BATCH_RECORDS {
        let start = batch.bytes.len();
        let lines = read_record(input, &mut batch.bytes, csv, line)?;
        if lines == 0 {
            break;
        }
        batch.records.push(Record {
            start,
            end: batch.bytes.len(),
            line,
        });
        line += lines;
    }
    Ok(line)
}

/// Writes masked chunks in order.
fn write_all(out: &mut impl Write, chunks: &[Vec<u8>]) -> anyhow::Result<()> {
    for c in chunks {
        out.write_all(c).context("cannot write the output")?;
    }
    Ok(())
}

/// Splits the line ending (`\r\n`, `\n` or none) off a record.
fn split_eol(text: &str) -> (&str, &str) {
    if let Some(body) = text.strip_suffix("\r\n") {
        (body, "\r\n")
    } else if let Some(body) = text.strip_suffix('\n') {
        (body, "\n")
    } else {
        (text, "")
    }
}

/// Appends one record to `buf`: one line, or for CSV as many lines as a quoted field
/// spans. Returns how many lines it took (0 at the end of the input).
///
/// CSV records are split by hand rather than with the `csv` crate because the output must
/// keep the input's quoting byte for byte (which fields were quoted, CRLF or LF), and the
/// crate's reader gives only the unquoted values. RFC 4180 quoting makes the rule simple:
/// a record ends at a line break outside quotes, and `""` inside quotes toggles twice.
fn read_record(
    input: &mut impl BufRead,
    buf: &mut Vec<u8>,
    csv: bool,
    line: u64,
) -> anyhow::Result<u64> {
    let start = buf.len();
    let mut lines = 0;
    let mut in_quotes = false;
    loop {
        let from = buf.len();
        let limit = (MAX_RECORD + start).saturating_sub(from) as u64;
        let n = input
            .by_ref()
            .take(limit)
            .read_until(b'\n', buf)
            .context("cannot read the input")?;
        if n == 0 {
            if in_quotes {
                bail!("line {line}: a quoted field is not closed at the end of the input");
            }
            return Ok(lines);
        }
        lines += 1;
        if buf.len() - start >= MAX_RECORD && buf.last() != Some(&b'\n') {
            bail!("line {line}: a record longer than {} MiB", MAX_RECORD >> 20);
        }
        if csv {
            in_quotes ^= buf[from..].iter().filter(|&&b| b == b'"').count() % 2 == 1;
        }
        if !in_quotes {
            return Ok(lines);
        }
    }
}

/// A CSV field: its value, and whether it was quoted.
struct Field<'a> {
    text: std::borrow::Cow<'a, str>,
    quoted: bool,
}

/// Splits a CSV record (without its final line break) into fields.
fn split_csv(record: &str, line: u64) -> anyhow::Result<Vec<Field<'_>>> {
    let mut fields = Vec::new();
    let mut rest = record;
    loop {
        if let Some(quoted) = rest.strip_prefix('"') {
            // Find the closing quote: a `"` not followed by another `"`.
            let mut value = String::new();
            let mut at = quoted;
            let after = loop {
                let Some(i) = at.find('"') else {
                    bail!("line {line}: a quoted field is not closed");
                };
                value.push_str(&at[..i]);
                at = &at[i + 1..];
                match at.strip_prefix('"') {
                    Some(more) => {
                        value.push('"');
                        at = more;
                    }
                    None => break at,
                }
            };
            fields.push(Field {
                text: value.into(),
                quoted: true,
            });
            if after.is_empty() {
                break;
            }
            rest = after.strip_prefix(',').ok_or_else(|| {
                anyhow!(
                    "line {line}: text after the closing quote of field {}",
                    fields.len()
                )
            })?;
        } else {
            let end = rest.find(',').unwrap_or(rest.len());
            let value = &rest[..end];
            if value.contains('"') {
                bail!(
                    "line {line}: field {} holds a quote but is not quoted",
                    fields.len() + 1
                );
            }
            fields.push(Field {
                text: value.into(),
                quoted: false,
            });
            if end == rest.len() {
                break;
            }
            rest = &rest[end + 1..];
        }
    }
    Ok(fields)
}

/// Writes a CSV field, quoted if it was or if the masked value needs it.
fn write_csv_field(out: &mut Vec<u8>, value: &str, was_quoted: bool) {
    if was_quoted || value.contains([',', '"', '\r', '\n']) {
        out.push(b'"');
        out.extend_from_slice(value.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(value.as_bytes());
    }
}

/// The one-line summary on standard error; counts only, never a value.
fn summary(tally: &Tally, bytes: u64, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    let mb = bytes as f64 / 1e6;
    let mut found = String::new();
    for (t, n) in &tally.findings {
        let _ = write!(
            found,
            "{}{} {n}",
            if found.is_empty() { "" } else { ", " },
            t.as_str()
        );
    }
    if found.is_empty() {
        found.push_str("none");
    }
    eprintln!(
        "masked {} records, {:.1} MB in {:.2} s ({:.1} MB/s); findings: {found}",
        tally.records,
        mb,
        secs,
        mb / secs.max(1e-9)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_keep_their_quoting() {
        let f = split_csv(r#"a,"b,c","say ""hi""",,"""#, 1).unwrap();
        let got: Vec<(&str, bool)> = f.iter().map(|f| (f.text.as_ref(), f.quoted)).collect();
        assert_eq!(
            got,
            [
                ("a", false),
                ("b,c", true),
                ("say \"hi\"", true),
                ("", false),
                ("", true)
            ]
        );
        let mut out = Vec::new();
        for (i, f) in f.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_csv_field(&mut out, &f.text, f.quoted);
        }
        assert_eq!(out, br#"a,"b,c","say ""hi""",,"""#);
        assert!(split_csv(r#"a,"b"x"#, 1).is_err());
        assert!(split_csv(r#"a,b"c"#, 1).is_err());
    }

    #[test]
    fn csv_records_span_quoted_line_breaks() {
        let mut input = &b"a,\"x\r\ny\"\r\nb,c\n\"open"[..];
        let mut buf = Vec::new();
        assert_eq!(read_record(&mut input, &mut buf, true, 1).unwrap(), 2);
        assert_eq!(buf, b"a,\"x\r\ny\"\r\n");
        buf.clear();
        assert_eq!(read_record(&mut input, &mut buf, true, 3).unwrap(), 1);
        assert_eq!(buf, b"b,c\n");
        buf.clear();
        assert!(read_record(&mut input, &mut buf, true, 4).is_err());
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let e = utf8(b"ok\nstill ok\n\xff", 5).unwrap_err();
        assert_eq!(e.to_string(), "line 7: not valid UTF-8");
    }
}
