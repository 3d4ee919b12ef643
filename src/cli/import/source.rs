//! The subjects to import, read from a CSV file (with a header row) or a JSON Lines file,
//! a batch at a time, each batch ending at a byte offset an interrupted import resumes from.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use anyhow::{Context, bail};
use zeroize::Zeroizing;

/// How the input is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header row naming the subject column and the fields.
    Csv,
    /// One JSON object per line: the subject's id and its fields, each a string.
    Jsonl,
}

impl Format {
    /// The format a file's extension says (`.csv`; `.jsonl`, `.ndjson`).
    pub fn of(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// One subject read from the input: its id and field name → value (PI). Empty values are
/// left out. Deliberately not `Debug`.
pub struct Row {
    /// The subject's id.
    pub subject_id: String,
    /// Field name → value.
    pub fields: BTreeMap<String, Zeroizing<String>>,
}

/// A record that could not be read as a subject, with why (never its content).
pub struct Unreadable {
    /// Its number in the input, counting from 1 (the header row is not counted).
    pub record: u64,
    /// Why.
    pub reason: String,
}

/// One record's outcome.
pub type Record = Result<Row, Unreadable>;

/// Reads records from where a previous run stopped.
pub enum Source {
    /// A CSV file: the header's names, and the reader after them.
    Csv {
        /// The columns' names.
        header: Vec<String>,
        /// Which column is the subject's id.
        subject: usize,
        /// The records.
        reader: csv::Reader<File>,
        /// The first record's offset in the file (the reader counts from there).
        base: u64,
    },
    /// A JSON Lines file.
    Jsonl {
        /// The lines.
        reader: BufReader<File>,
        /// The key that holds the subject's id.
        subject: String,
        /// The offset of the next line.
        offset: u64,
    },
}

impl Source {
    /// Opens `path` at `offset` (0 for a new import: after the header row, for a CSV file).
    pub fn open(path: &Path, format: Format, subject: &str, offset: u64) -> anyhow::Result<Self> {
        let open = || File::open(path).with_context(|| format!("cannot read {}", path.display()));
        match format {
            Format::Csv => {
                let mut headed = csv::ReaderBuilder::new().from_reader(open()?);
                let header: Vec<String> = headed
                    .headers()
                    .context("cannot read the CSV header row")?
                    .iter()
                    .map(|h| h.trim().to_owned())
                    .collect();
                let Some(at) = header.iter().position(|h| h == subject) else {
                    bail!("the CSV header has no column named {subject:?} (--subject-column)");
                };
                let base = offset.max(headed.position().byte());
                let mut file = open()?;
                file.seek(SeekFrom::Start(base))?;
                let reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(file);
                Ok(Source::Csv {
                    header,
                    subject: at,
                    reader,
                    base,
                })
            }
            Format::Jsonl => {
                let mut file = open()?;
                file.seek(SeekFrom::Start(offset))?;
                Ok(Source::Jsonl {
                    reader: BufReader::new(file),
                    subject: subject.to_owned(),
                    offset,
                })
            }
        }
    }

    /// The offset of the next record: where a run that stops now resumes.
    pub fn offset(&self) -> u64 {
        match self {
            Source::Csv { reader, base, .. } => base + reader.position().byte(),
            Source::Jsonl { offset, .. } => *offset,
        }
    }

    /// The next record, numbered `number`; `None` at the end of the input. Fails only when
    /// the file itself cannot be read.
    pub fn next(&mut self, number: u64) -> anyhow::Result<Option<Record>> {
        match self {
            Source::Csv {
                header,
                subject,
                reader,
                ..
            } => {
                let mut record = csv::StringRecord::new();
                match reader.read_record(&mut record) {
                    Ok(false) => Ok(None),
                    Ok(true) => Ok(Some(csv_row(header, *subject, &record, number))),
                    Err(e) if e.is_io_error() => Err(e.into()),
                    Err(e) => Ok(Some(Err(Unreadable {
                        record: number,
                        reason: csv_reason(&e),
                    }))),
                }
            }
            Source::Jsonl {
                reader,
                subject,
                offset,
            } => loop {
                let mut line = Zeroizing::new(Vec::new());
                let read = reader.read_until(b'\n', &mut line)?;
                if read == 0 {
                    return Ok(None);
                }
                *offset += read as u64;
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Ok(Some(json_row(&line, subject, number)));
            },
        }
    }
}

/// What a CSV error says, without the record's content.
fn csv_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "the record is not valid UTF-8".to_owned(),
        csv::ErrorKind::UnequalLengths { .. } => {
            "the record has another number of columns than the header".to_owned()
        }
        _ => "the record cannot be read as CSV".to_owned(),
    }
}

fn csv_row(header: &[String], subject: usize, record: &csv::StringRecord, number: u64) -> Record {
    if record.len() != header.len() {
        return Err(Unreadable {
            record: number,
            reason: format!(
                "the record has {} columns and the header {}",
                record.len(),
                header.len()
            ),
        });
    }
    let subject_id = record.get(subject).unwrap_or_default().trim().to_owned();
    let fields = header
        .iter()
        .zip(record.iter())
        .enumerate()
        .filter(|(i, (_, value))| *i != subject && !value.is_empty())
        .map(|(_, (name, value))| (name.clone(), Zeroizing::new(value.to_owned())))
        .collect();
    Ok(Row { subject_id, fields })
}

fn json_row(line: &[u8], subject: &str, number: u64) -> Record {
    let unreadable = |reason: &str| Unreadable {
        record: number,
        reason: reason.to_owned(),
    };
    let Ok(serde_json::Value::Object(object)) = serde_json::from_slice(line) else {
        return Err(unreadable("the line is not a JSON object"));
    };
    let mut subject_id = None;
    let mut fields = BTreeMap::new();
    for (name, value) in object {
        let text = match value {
            serde_json::Value::String(s) => Zeroizing::new(s),
            serde_json::Value::Null => continue,
            _ => {
                return Err(Unreadable {
                    record: number,
                    reason: format!("{name:?} is not a string"),
                });
            }
        };
        if name == subject {
            subject_id = Some(text.trim().to_owned());
        } else if !text.is_empty() {
            fields.insert(name, text);
        }
    }
    match subject_id {
        Some(subject_id) => Ok(Row { subject_id, fields }),
        None => Err(Unreadable {
            record: number,
            reason: format!("the line has no {subject:?} (--subject-column)"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(path: &Path, format: Format, offset: u64) -> (Vec<Record>, Vec<u64>) {
        let mut source = Source::open(path, format, "subject_id", offset).unwrap();
        let (mut records, mut offsets) = (Vec::new(), Vec::new());
        let mut n = 0;
        while let Some(r) = source.next(n + 1).unwrap() {
            n += 1;
            records.push(r);
            offsets.push(source.offset());
        }
        (records, offsets)
    }

    fn ids(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .map(|r| match r {
                Ok(row) => row.subject_id.clone(),
                Err(e) => format!("!{}", e.record),
            })
            .collect()
    }

    #[test]
    fn csv_with_a_bom_quotes_and_newlines_resumes_at_each_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(
            &path,
            "\u{feff}subject_id,name,address\r\nu-1,\"张, 三\",\"line one\nline two\"\r\nu-2,李四,\r\nu-3,王五,x\r\n",
        )
        .unwrap();
        let (records, offsets) = read_all(&path, Format::Csv, 0);
        assert_eq!(ids(&records), ["u-1", "u-2", "u-3"]);
        let Ok(first) = &records[0] else { panic!() };
        assert_eq!(first.fields["name"].as_str(), "张, 三");
        assert_eq!(first.fields["address"].as_str(), "line one\nline two");
        let Ok(second) = &records[1] else { panic!() };
        assert!(
            !second.fields.contains_key("address"),
            "empty cells are left out"
        );
        // Resuming after each record reads exactly the records after it.
        let (rest, _) = read_all(&path, Format::Csv, offsets[0]);
        assert_eq!(ids(&rest), ["u-2", "u-3"]);
        let (rest, _) = read_all(&path, Format::Csv, offsets[1]);
        assert_eq!(ids(&rest), ["u-3"]);
        let (rest, _) = read_all(&path, Format::Csv, offsets[2]);
        assert!(rest.is_empty());
    }

    #[test]
    fn jsonl_reports_bad_lines_by_number_without_their_content() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.jsonl");
        std::fs::write(
            &path,
            "{\"subject_id\":\"u-1\",\"mobile\":\"13800138000\"}\n\n[\"13900139000\"]\n{\"mobile\":13700137000,\"subject_id\":\"u-3\"}\n{\"subject_id\":\"u-4\",\"mobile\":null}\n",
        )
        .unwrap();
        let (records, offsets) = read_all(&path, Format::Jsonl, 0);
        assert_eq!(ids(&records), ["u-1", "!2", "!3", "u-4"]);
        for r in &records {
            if let Err(e) = r {
                assert!(!e.reason.contains("139") && !e.reason.contains("137"));
            }
        }
        let (rest, _) = read_all(&path, Format::Jsonl, offsets[1]);
        assert_eq!(ids(&rest), ["!1", "u-4"]);
    }

    #[test]
    fn a_csv_without_the_subject_column_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, "id,mobile\nu-1,13800138000\n").unwrap();
        let e = Source::open(&path, Format::Csv, "subject_id", 0)
            .err()
            .unwrap();
        assert!(e.to_string().contains("subject_id"), "{e}");
    }
}
