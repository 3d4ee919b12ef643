//! `baomi mask`: mask a CSV, JSON Lines, JSON or text file offline under a policy.
//!
//! The file is streamed in batches (at most [`BATCH_BYTES`] or [`BATCH_RECORDS`] records;
//! CSV is read with the `csv` crate): a batch is cut into pieces that `--jobs` threads take
//! in turn, masked, and written in its original order before the next one is read, so
//! memory stays bounded whatever the file's size (JSON, one document, is the exception: it
//! is read whole). The output goes to a temporary file beside OUT that replaces OUT only
//! once everything is written: a failed or interrupted run leaves OUT as it was.
//!
//! No message, error or summary ever contains a value read from the file: errors name the
//! line and what was wrong, the summary counts findings per type.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use anyhow::{Context as _, anyhow, bail};
use baomi_masking::{Column, Context, Masker, PiType, Policy, PseudonymKey, Scanner};
use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use serde_json::Value;
use zeroize::Zeroizing;

use output::Syncing;

mod output;
mod parquet;

/// How many pieces a batch is cut into for each masking thread (see [`in_pieces`]): a
/// thread that finishes its last piece waits for the others to finish theirs, half a piece
/// on average, so pieces are small.
const PIECES_PER_JOB: usize = 32;

/// A batch is cut once it holds this many bytes…
const BATCH_BYTES: usize = 8 << 20;
/// …or this many records.
const BATCH_RECORDS: usize = 10_000;
/// One record (a line, or a CSV record with its quoted line breaks) may not be longer: an
/// unclosed quote must not pull the whole file into memory.
const MAX_RECORD: usize = 64 << 20;

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
    /// Apache Parquet: the string columns are masked, the others kept (a file, not a
    /// stream: its footer comes last).
    Parquet,
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
            Some("parquet") => Format::Parquet,
            _ => Format::Text,
        }
    }
}

/// What a whole run (or one chunk of a batch) did.
#[derive(Default)]
struct Tally {
    records: u64,
    /// Findings per type, at the type's place in the enum (a map cost more than a finding's
    /// masking did).
    findings: [u64; PiType::ALL.len()],
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.records += other.records;
        for (n, more) in self.findings.iter_mut().zip(other.findings) {
            *n += more;
        }
    }

    fn found(&mut self, pi_type: PiType) {
        if let Some(n) = self.findings.get_mut(pi_type as usize) {
            *n += 1;
        }
    }

    /// The types found, in the enum's order, with their counts.
    fn by_type(&self) -> impl Iterator<Item = (PiType, u64)> + '_ {
        let mut types = PiType::ALL;
        types.sort();
        (types.into_iter())
            .filter_map(|t| Some((t, *self.findings.get(t as usize)?)))
            .filter(|&(_, n)| n > 0)
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
        Format::Csv | Format::Parquet => {
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

    let (input, size) = if format == Format::Parquet {
        if args.input == Path::new("-") || args.output == Path::new("-") {
            bail!("Parquet is read from a file and written to one, not standard input or output");
        }
        let file = std::fs::File::open(&args.input)
            .with_context(|| format!("cannot open {}", args.input.display()))?;
        let size = file.metadata().ok().map(|m| m.len());
        (Source::File(file), size)
    } else if args.input == Path::new("-") {
        let stdin: Box<dyn Read> = Box::new(std::io::stdin().lock());
        (
            Source::Stream(BufReader::with_capacity(1 << 20, stdin)),
            None,
        )
    } else {
        let file = std::fs::File::open(&args.input)
            .with_context(|| format!("cannot open {}", args.input.display()))?;
        let size = file.metadata().ok().map(|m| m.len());
        let file: Box<dyn Read> = Box::new(file);
        (
            Source::Stream(BufReader::with_capacity(1 << 20, file)),
            size,
        )
    };

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
        let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout());
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
        let mut out = BufWriter::with_capacity(1 << 20, Syncing::new(temp));
        // On any error `out` is dropped here, and the temporary file with it.
        let tally = job.run(format, input, &mut out)?;
        let temp = out
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(Syncing::into_inner)
            .with_context(|| format!("cannot write {}", args.output.display()))?;
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
    if consistent {
        let path = key_file
            .ok_or_else(|| anyhow!("--consistent needs --key-file (or BAOMI_MASK_KEY_FILE)"))?;
        let secret = Zeroizing::new(
            std::fs::read(path)
                .with_context(|| format!("cannot read the key file {}", path.display()))?,
        );
        return PseudonymKey::derived(&secret)
            .with_context(|| format!("the key file {}", path.display()));
    }
    PseudonymKey::random().context("no random numbers from the operating system")
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

/// Where a run reads: a stream, or for Parquet the file.
enum Source {
    Stream(BufReader<Box<dyn Read>>),
    File(std::fs::File),
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

/// A CSV file's header: how each column is masked, and where the subject is.
struct Header<'a> {
    columns: Vec<Column<'a>>,
    subject: Option<usize>,
}

impl<'a> Job<'a> {
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
        input: Source,
        out: &mut (impl Write + Send),
    ) -> anyhow::Result<Tally> {
        let mut input = match input {
            Source::File(file) => return self.parquet(file, out),
            Source::Stream(input) => input,
        };
        match format {
            Format::Parquet => bail!("Parquet is read from a file"),
            Format::Json => self.whole_json(input, out),
            Format::Csv => self.csv(input, out),
            Format::Text | Format::Jsonl => {
                let mut line = 1;
                self.pipeline(
                    out,
                    |batch: &mut Lines| {
                        line = read_lines(&mut input, batch, line)?;
                        Ok(())
                    },
                    |batch: &Lines, range| self.chunk(format, batch, range),
                )
            }
        }
    }

    /// A CSV file, read with the `csv` crate: the header, then batches of records. A
    /// byte-order mark and the line ending (CRLF or LF, as the header's) are kept; fields
    /// are quoted where they need it.
    fn csv(&self, mut input: impl BufRead, out: &mut impl Write) -> anyhow::Result<Tally> {
        const BOM: &[u8] = b"\xEF\xBB\xBF";
        let head = input.fill_buf().context("cannot read the input")?;
        let bom = head.starts_with(BOM);
        if bom {
            input.consume(BOM.len());
            out.write_all(BOM).context("cannot write the output")?;
        }
        let head = input.fill_buf().context("cannot read the input")?;
        let crlf = head
            .iter()
            .position(|&b| b == b'\n')
            .is_some_and(|i| i > 0 && head[i - 1] == b'\r');
        let read_so_far = Arc::new(AtomicU64::new(0));
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .buffer_capacity(1 << 20)
            .from_reader(Bounded {
                inner: input,
                since_record: Arc::clone(&read_so_far),
                quotes: 0,
            });
        let mut names = csv::ByteRecord::new();
        if !reader.read_byte_record(&mut names).map_err(csv_error)? {
            return Ok(Tally::default());
        }
        read_so_far.store(0, Ordering::Relaxed);
        let header = self.header(&names)?;
        let mut writer = csv_writer(crlf, Vec::new());
        writer
            .write_byte_record(&names)
            .and_then(|()| writer.flush().map_err(csv::Error::from))
            .map_err(csv_error)?;
        out.write_all(writer.get_ref())
            .context("cannot write the output")?;
        let mut at = reader.position().byte();
        self.progress
            .advance(usize::try_from(at).unwrap_or(usize::MAX), 0);
        let tally = self.pipeline(
            out,
            |rows: &mut Rows| {
                // Records are read into those of an earlier batch, whose buffers have
                // grown to the size records have: a new record would grow its own again.
                rows.len = 0;
                while rows.len < BATCH_RECORDS {
                    if rows.len == rows.records.len() {
                        rows.records.push(csv::ByteRecord::new());
                    }
                    if !reader
                        .read_byte_record(&mut rows.records[rows.len])
                        .map_err(csv_error)?
                    {
                        break;
                    }
                    rows.len += 1;
                    read_so_far.store(0, Ordering::Relaxed);
                    if reader.position().byte() - at >= BATCH_BYTES as u64 {
                        break;
                    }
                }
                let end = reader.position().byte();
                rows.bytes = usize::try_from(end - at).unwrap_or(usize::MAX);
                at = end;
                Ok(())
            },
            |rows: &Rows, range| self.csv_chunk(&rows.records[range], &header, crlf),
        )?;
        if reader.get_ref().quotes % 2 == 1 {
            bail!(
                "line {}: a quote is left open at the end of the input",
                reader.position().line()
            );
        }
        Ok(tally)
    }

    /// Reads the header record: the column names, and where the subject is.
    fn header(&self, record: &csv::ByteRecord) -> anyhow::Result<Header<'a>> {
        let names = record
            .iter()
            .map(|name| utf8(name, 1).map(str::to_owned))
            .collect::<anyhow::Result<Vec<String>>>()?;
        if let Some((j, i)) = repeated_name(&names) {
            bail!(
                "line 1: columns {} and {} have the same name; each needs its own",
                j + 1,
                i + 1
            );
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
        Ok(Header {
            columns: names.iter().map(|n| self.masker.column(n)).collect(),
            subject,
        })
    }

    /// Reads batches of records, masks each batch in parallel and writes it in order.
    /// While the threads mask one batch, this thread writes the previous one and reads the
    /// next, so at most three batches are in memory. `read` fills a batch (none at the end
    /// of the input); `mask` masks a range of a batch's records into output bytes.
    fn pipeline<B: Batch>(
        &self,
        out: &mut impl Write,
        mut read: impl FnMut(&mut B) -> anyhow::Result<()>,
        mask: impl Fn(&B, std::ops::Range<usize>) -> anyhow::Result<(Vec<u8>, Tally)> + Sync,
    ) -> anyhow::Result<Tally> {
        let mut tally = Tally::default();
        let mut current = B::default();
        let mut next = B::default();
        let mut pending: Vec<Vec<u8>> = Vec::new();
        read(&mut current)?;
        loop {
            // Checked first: an interruption while waiting for input ends the run even when
            // the input then ends normally.
            if INTERRUPTED.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            let records = current.records();
            if records == 0 {
                write_all(out, &pending)?;
                return Ok(tally);
            }
            let (results, read) = in_pieces(
                self.jobs,
                records,
                |range| mask(&current, range),
                || write_all(out, &pending).and_then(|()| read(&mut next)),
            );
            // A record of this batch comes before anything wrong in the next.
            pending.clear();
            for result in results {
                let (bytes, part) = result?;
                pending.push(bytes);
                tally.add(part);
            }
            self.progress.advance(current.bytes(), records as u64);
            read?;
            std::mem::swap(&mut current, &mut next);
        }
    }

    /// Masks consecutive records of a batch into one output buffer.
    fn chunk(
        &self,
        format: Format,
        batch: &Lines,
        range: std::ops::Range<usize>,
    ) -> anyhow::Result<(Vec<u8>, Tally)> {
        let (buf, records) = (&batch.bytes, &batch.records[range]);
        let size: usize = records.iter().map(|r| r.end - r.start).sum();
        let mut out = Vec::with_capacity(size + size / 8);
        let mut tally = Tally::default();
        for r in records {
            if INTERRUPTED.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            let text = utf8(&buf[r.start..r.end], r.line)?;
            let (body, eol) = split_eol(text);
            match format {
                Format::Jsonl => self.jsonl_record(body, r.line, &mut out, &mut tally)?,
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
        self.masker
            .json_counted(doc, &self.context(subject.as_deref()), &mut |t| {
                tally.found(t)
            })
    }

    /// CSV rows, each cell masked as its column says, written back in their column order.
    fn csv_chunk(
        &self,
        records: &[csv::ByteRecord],
        header: &Header<'_>,
        crlf: bool,
    ) -> anyhow::Result<(Vec<u8>, Tally)> {
        let size: usize = records.iter().map(|r| r.as_slice().len()).sum();
        let mut writer = csv_writer(crlf, Vec::with_capacity(size + size / 4));
        let mut tally = Tally::default();
        let width = header.columns.len();
        let (mut cells, mut masked) = (Vec::with_capacity(width), vec![String::new(); width]);
        for record in records {
            if INTERRUPTED.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            let line = record.position().map_or(0, csv::Position::line);
            if record.len() != width {
                bail!(
                    "line {line}: {} fields where the header has {width}",
                    record.len()
                );
            }
            cells.clear();
            for cell in record {
                cells.push(Some(utf8(cell, line)?));
            }
            let subject = header.subject.and_then(|i| cells[i]);
            (self.masker)
                .record_to(
                    &header.columns,
                    &cells,
                    &self.context(subject),
                    &mut |t| tally.found(t),
                    &mut masked,
                )
                .map_err(|e| anyhow!("line {line}: {e}"))?;
            let fields = masked.iter().map(String::as_bytes);
            writer
                .write_record(fields)
                .map_err(|e| anyhow!("line {line}: {}", csv_error(e)))?;
            tally.records += 1;
        }
        let out = writer
            .into_inner()
            .map_err(|e| anyhow!("cannot write the output: {}", e.error()))?;
        Ok((out, tally))
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
    // `simdutf8` checks many bytes at a time (the standard library's check, a few times
    // slower on Chinese text, runs only to say where it failed).
    simdutf8::basic::from_utf8(bytes).or_else(|_| {
        std::str::from_utf8(bytes).map_err(|e| {
            let before = bytes[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            anyhow!("line {}: not valid UTF-8", line + before as u64)
        })
    })
}

/// The positions of the first name in `names` that an earlier one repeats, and of that
/// earlier one. A policy's paths name columns by name, as members of an object: two
/// columns of one name would be one member.
fn repeated_name(names: &[String]) -> Option<(usize, usize)> {
    (names.iter().enumerate())
        .find_map(|(i, name)| names[..i].iter().position(|n| n == name).map(|j| (j, i)))
}

/// Runs `work` over `0..items` on `jobs` threads, in pieces that the threads take in turn
/// (one that finishes early takes the next piece, so no core waits while another masks its
/// last records), and `beside` on this thread meanwhile. The pieces' results come back in
/// order; after a piece fails no further piece is begun, and every piece before it has been
/// done, so the first error in order is the first error of the input.
fn in_pieces<T: Send, R>(
    jobs: usize,
    items: usize,
    work: impl Fn(std::ops::Range<usize>) -> anyhow::Result<T> + Sync,
    beside: impl FnOnce() -> R,
) -> (Vec<anyhow::Result<T>>, R) {
    let piece = items.div_ceil(jobs * PIECES_PER_JOB).max(1);
    let pieces = items.div_ceil(piece);
    let (next, failed) = (AtomicUsize::new(0), AtomicBool::new(false));
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..jobs.min(pieces))
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    while !failed.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= pieces {
                            break;
                        }
                        let result = work(i * piece..((i + 1) * piece).min(items));
                        failed.fetch_or(result.is_err(), Ordering::Relaxed);
                        done.push((i, result));
                    }
                    done
                })
            })
            .collect();
        let beside = beside();
        let mut results = Vec::with_capacity(pieces);
        for thread in threads {
            match thread.join() {
                Ok(done) => results.extend(done),
                Err(_) => results.push((pieces, Err(anyhow!("a masking thread failed")))),
            }
        }
        results.sort_by_key(|(i, _)| *i);
        (results.into_iter().map(|(_, r)| r).collect(), beside)
    })
}

/// What the pipeline masks a batch at a time.
trait Batch: Default + Sync {
    /// How many records it holds (0 at the end of the input).
    fn records(&self) -> usize;
    /// How many bytes of input they took.
    fn bytes(&self) -> usize;
}

/// Records of a line format (text, JSON Lines), in one buffer.
#[derive(Default)]
struct Lines {
    bytes: Vec<u8>,
    records: Vec<Record>,
}

impl Batch for Lines {
    fn records(&self) -> usize {
        self.records.len()
    }

    fn bytes(&self) -> usize {
        self.bytes.len()
    }
}

/// CSV records, as the `csv` crate read them.
#[derive(Default)]
struct Rows {
    /// The batch's records, then records kept from earlier batches for their buffers.
    records: Vec<csv::ByteRecord>,
    /// How many of `records` are this batch's.
    len: usize,
    bytes: usize,
}

impl Batch for Rows {
    fn records(&self) -> usize {
        self.len
    }

    fn bytes(&self) -> usize {
        self.bytes
    }
}

/// Fills `batch` with the next lines (none at the end of the input), the first being
/// `line`; returns the line after them.
fn read_lines(input: &mut impl BufRead, batch: &mut Lines, mut line: u64) -> anyhow::Result<u64> {
    batch.bytes.clear();
    batch.records.clear();
    while batch.bytes.len() < BATCH_BYTES && batch.records.len() < BATCH_RECORDS {
        let start = batch.bytes.len();
        if !read_line(input, &mut batch.bytes, line)? {
            break;
        }
        batch.records.push(Record {
            start,
            end: batch.bytes.len(),
            line,
        });
        line += 1;
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

/// Appends one line to `buf`; false at the end of the input.
fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>, line: u64) -> anyhow::Result<bool> {
    let start = buf.len();
    let n = input
        .by_ref()
        .take(MAX_RECORD as u64)
        .read_until(b'\n', buf)
        .context("cannot read the input")?;
    if buf.len() - start >= MAX_RECORD && buf.last() != Some(&b'\n') {
        bail!("line {line}: a record longer than {} MiB", MAX_RECORD >> 20);
    }
    Ok(n > 0)
}

/// The input of the CSV reader, failing once a single record has read [`MAX_RECORD`]
/// bytes: an unclosed quote must not pull the whole file into memory. The caller resets
/// `since_record` after each record (the reader reads ahead by its buffer, which the limit
/// is far above).
struct Bounded<R> {
    inner: R,
    since_record: Arc<AtomicU64>,
    /// How many `"` it has read: odd at the end when a quote was left open (the `csv`
    /// crate ends such a field at the end of the input without an error).
    quotes: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.quotes += buf[..n].iter().filter(|&&b| b == b'"').count() as u64;
        let total = self.since_record.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if total > MAX_RECORD as u64 {
            return Err(std::io::Error::other(format!(
                "a record longer than {} MiB (is a quote left open?)",
                MAX_RECORD >> 20
            )));
        }
        Ok(n)
    }
}

/// A CSV writer that quotes only the fields that need it and ends records as the input.
fn csv_writer<W: Write>(crlf: bool, out: W) -> csv::Writer<W> {
    csv::WriterBuilder::new()
        .terminator(if crlf {
            csv::Terminator::CRLF
        } else {
            csv::Terminator::Any(b'\n')
        })
        .from_writer(out)
}

/// A CSV error without any of the data: what went wrong, and on which line.
fn csv_error(e: csv::Error) -> anyhow::Error {
    let line = e.position().map(csv::Position::line);
    let what = match e.into_kind() {
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => "malformed CSV".to_owned(),
    };
    match line {
        Some(line) => anyhow!("line {line}: {what}"),
        None => anyhow!("cannot read the CSV: {what}"),
    }
}

/// The one-line summary on standard error; counts only, never a value.
fn summary(tally: &Tally, bytes: u64, started: Instant) {
    let secs = started.elapsed().as_secs_f64();
    let mb = bytes as f64 / 1e6;
    let mut found = String::new();
    for (t, n) in tally.by_type() {
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
    fn every_type_is_counted_in_a_place_of_its_own() {
        let mut tally = Tally::default();
        for (i, t) in PiType::ALL.into_iter().enumerate() {
            for _ in 0..=i {
                tally.found(t);
            }
        }
        let mut sum = Tally::default();
        sum.add(tally);
        let counted: Vec<(PiType, u64)> = sum.by_type().collect();
        let mut expected: Vec<(PiType, u64)> = (PiType::ALL.into_iter().enumerate())
            .map(|(i, t)| (t, i as u64 + 1))
            .collect();
        expected.sort();
        assert_eq!(counted, expected);
    }

    #[test]
    fn a_record_longer_than_the_limit_is_refused() {
        let since_record = Arc::new(AtomicU64::new(0));
        let mut input = Bounded {
            inner: std::io::repeat(b'x'),
            since_record: Arc::clone(&since_record),
            quotes: 0,
        };
        let mut buf = vec![0; 1 << 20];
        let mut read = 0;
        let err = loop {
            match input.read(&mut buf) {
                Ok(n) => read += n,
                Err(e) => break e,
            }
        };
        assert!(read <= MAX_RECORD, "{read}");
        assert!(err.to_string().contains("longer than 64 MiB"), "{err}");
        since_record.store(0, Ordering::Relaxed);
        assert!(
            input.read(&mut buf).is_ok(),
            "the next record starts afresh"
        );
    }

    #[test]
    fn pieces_cover_the_items_in_order_and_stop_at_a_failure() {
        for (jobs, items) in [(1, 1), (2, 3), (2, 1000), (3, 997)] {
            let (results, beside) = in_pieces(jobs, items, Ok, || "beside");
            assert_eq!(beside, "beside");
            assert!(results.len() <= jobs * PIECES_PER_JOB, "{jobs} {items}");
            let ranges: Vec<_> = results.into_iter().map(Result::unwrap).collect();
            assert_eq!(ranges.first().map(|r| r.start), Some(0));
            assert_eq!(ranges.last().map(|r| r.end), Some(items));
            assert!(
                ranges.windows(2).all(|w| w[0].end == w[1].start),
                "{ranges:?}"
            );
        }
        // The piece holding item 500 fails: every piece before it is done, and its error is
        // the first in order.
        let (results, ()) = in_pieces(
            2,
            1000,
            |range| match range.contains(&500) {
                true => Err(anyhow!("item 500")),
                false => Ok(range),
            },
            || (),
        );
        let first_error = results.iter().position(Result::is_err).unwrap();
        let done: Vec<_> = results[..first_error].iter().flatten().collect();
        assert_eq!(done.first().map(|r| r.start), Some(0));
        assert!(
            done.last()
                .is_some_and(|r| r.end <= 500 && r.end + 63 > 500),
            "{done:?}"
        );
        assert!(done.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(
            results[first_error].as_ref().unwrap_err().to_string(),
            "item 500"
        );
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let e = utf8(b"ok\nstill ok\n\xff", 5).unwrap_err();
        assert_eq!(e.to_string(), "line 7: not valid UTF-8");
    }
}
