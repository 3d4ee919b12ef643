//! Parquet files for `baomi mask`, through the `parquet` crate's Arrow reader and writer.
//!
//! A file is read a record batch at a time. Each row is masked as a CSV row is: an object
//! of its string columns (`Utf8`, `LargeUtf8`, `Utf8View`), so the policy's `fields` paths
//! name columns and its types apply to their text (`baomi_masking::batch`). Columns of
//! numbers, dates and times that no path names are written back as they were; nulls stay
//! null. Dictionary-encoded string columns are masked a value at a time and stay
//! dictionaries. A file with text or bytes in other types (strings in lists, structs, maps
//! or unions; binary) is refused unless the policy keeps those columns in the clear on
//! purpose, and so is one where a path masks a column that holds no strings. The output
//! has the input's schema, and each column the compression it had in the input's first row
//! group (Snappy for a file without rows), and a dictionary only where the input's pages
//! were all dictionary-encoded there. Every codec of the format is read: Snappy, gzip,
//! LZ4, Zstandard and Brotli.

use std::io::Write;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{anyhow, bail};
use arrow_array::RecordBatch;
use baomi_masking::batch::{BatchError, DictionariesMasked, StringColumns};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, Encoding};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

use super::{INTERRUPTED, Job, Subject, Tally, in_pieces, repeated_name};

/// Rows a record batch holds as it is read. The threads meet at the end of each batch (the
/// last piece's thread works while the other waits, then the batches change hands): at
/// 8,192 rows that cost about a tenth of two cores' time, at 32,768 it is a quarter of
/// that, for about 35 MB more at the peak on a 200-byte row.
const BATCH_ROWS: usize = 32_768;
/// Rows of an output row group.
const ROW_GROUP_ROWS: usize = 65_536;

/// How a column was written in the input's first row group, by its path: what the output
/// keeps.
struct InputColumn {
    path: ColumnPath,
    /// Its codec: a warehouse that exports Zstandard gets Zstandard back. The format records
    /// no level; each codec's default is written.
    codec: Compression,
    /// Whether its data pages were all dictionary-encoded; `None` when the file does not
    /// say (no page encoding statistics), and the writer's default holds. A column that
    /// filled its dictionary and fell back to plain pages (free text, identifiers) is
    /// written plain from the start instead of being interned again until it overflows.
    dictionary: Option<bool>,
}

/// The columns of the input's first row group (none for a file without rows).
fn input_columns(metadata: &ParquetMetaData) -> impl Iterator<Item = InputColumn> + '_ {
    (metadata.row_groups().first().into_iter())
        .flat_map(|group| group.columns())
        .map(|column| InputColumn {
            path: column.column_path().clone(),
            codec: column.compression(),
            dictionary: column.page_encoding_stats_mask().map(|pages| {
                column.dictionary_page_offset().is_some()
                    && (pages.is_only(Encoding::RLE_DICTIONARY)
                        || pages.is_only(Encoding::PLAIN_DICTIONARY))
            }),
        })
}

/// The writer's properties: each column as [`input_columns`] found it, Snappy for the rest,
/// row groups of [`ROW_GROUP_ROWS`] (the writer holds a row group in memory until it is
/// full).
fn output_properties(metadata: &ParquetMetaData) -> WriterProperties {
    input_columns(metadata)
        .fold(WriterProperties::builder(), |properties, column| {
            let properties = properties.set_column_compression(column.path.clone(), column.codec);
            match column.dictionary {
                Some(on) => properties.set_column_dictionary_enabled(column.path, on),
                None => properties,
            }
        })
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .build()
}

impl Job<'_> {
    /// Masks a Parquet file into `out`.
    pub(super) fn parquet(
        &self,
        input: std::fs::File,
        out: &mut (impl Write + Send),
    ) -> anyhow::Result<Tally> {
        let size = input.metadata().map_or(0, |m| m.len());
        let builder = ParquetRecordBatchReaderBuilder::try_new(input)
            .map_err(|e| anyhow!("not a Parquet file: {}", parquet_error(&e)))?;
        let schema = Arc::clone(builder.schema());
        let total_rows = builder.metadata().file_metadata().num_rows().max(1) as u64;
        let mut columns = self.masker.string_columns(&schema)?;
        let (indexes, names) = (&columns.indexes, &columns.names);
        if let Some((j, i)) = repeated_name(names) {
            bail!(
                "columns {} and {} have the same name; each needs its own",
                indexes[j] + 1,
                indexes[i] + 1
            );
        }
        if let Some(Subject::Column(c)) = &self.subject {
            columns.subject = Some(
                (names.iter())
                    .position(|n| n == c)
                    .ok_or_else(|| anyhow!("no string column {c:?} (--subject-column)"))?,
            );
        }
        let properties = output_properties(builder.metadata());
        let reader = builder
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| anyhow!("cannot read the Parquet file: {}", parquet_error(&e)))?;
        let mut writer = ArrowWriter::try_new(out, Arc::clone(&schema), Some(properties))
            .map_err(write_error)?;
        // Three stages at once: a thread decodes the next batch and another encodes the
        // last masked one while this one is masked (decoding and encoding alone kept a
        // core half idle). Each hand-over holds one batch; the order is kept.
        std::thread::scope(|s| {
            let (read, batches) = std::sync::mpsc::sync_channel(1);
            s.spawn(move || {
                for batch in reader {
                    // The masking stage stopped (an error): stop reading.
                    if read.send(batch).is_err() || INTERRUPTED.load(Ordering::Relaxed) {
                        break;
                    }
                }
            });
            let (masked, to_write) = std::sync::mpsc::sync_channel::<Vec<RecordBatch>>(1);
            let writing = s.spawn(move || -> anyhow::Result<()> {
                for pieces in to_write {
                    for piece in pieces {
                        writer.write(&piece).map_err(write_error)?;
                    }
                }
                writer.close().map_err(write_error)?;
                Ok(())
            });
            let mut tally = Tally::default();
            let mut row = 0u64;
            for batch in batches {
                if INTERRUPTED.load(Ordering::Relaxed) {
                    bail!("interrupted");
                }
                let batch = batch.map_err(|e| anyhow!("row {}: cannot read: {e}", row + 1))?;
                let rows = batch.num_rows() as u64;
                // The writing stage stopped: its error is the one to report.
                if masked
                    .send(self.parquet_batch(&batch, &columns, row, &mut tally)?)
                    .is_err()
                {
                    break;
                }
                row += rows;
                self.progress.advance(
                    usize::try_from(size * rows / total_rows).unwrap_or(usize::MAX),
                    rows,
                );
            }
            // The reader stops at an interruption, which then reads as the end of the file:
            // the run must fail, not end with the batches read so far.
            if INTERRUPTED.load(Ordering::Relaxed) {
                bail!("interrupted");
            }
            drop(masked);
            writing
                .join()
                .unwrap_or_else(|_| Err(anyhow!("the writing thread failed")))?;
            Ok(tally)
        })
    }

    /// One record batch, its rows split among the threads: the masked pieces, in order.
    /// `first_row` numbers errors.
    fn parquet_batch(
        &self,
        batch: &RecordBatch,
        columns: &StringColumns<'_>,
        first_row: u64,
        tally: &mut Tally,
    ) -> anyhow::Result<Vec<RecordBatch>> {
        let rows = batch.num_rows();
        if rows == 0 || columns.masking.is_empty() && columns.dictionaries.is_empty() {
            tally.records += rows as u64;
            return Ok(vec![batch.clone()]);
        }
        // Dictionaries first, whole (a piece of one keeps every value of it), their values
        // shared among the threads.
        let dictionaries = (self.masker)
            .dictionaries(
                batch,
                columns,
                &self.context(None),
                &mut |t| tally.found(t),
                self.jobs,
            )
            .map_err(|e| row_error(e, first_row, 0))?;
        let (parts, ()) = in_pieces(
            self.jobs,
            rows,
            |range| self.parquet_rows(&dictionaries, columns, range, first_row),
            || (),
        );
        let mut pieces = Vec::with_capacity(parts.len());
        for part in parts {
            let (piece, part_tally) = part?;
            tally.add(part_tally);
            pieces.push(piece);
        }
        Ok(pieces)
    }

    /// Masks the rows of `range` of `batch`: those rows, their string columns masked (the
    /// ArrowWriter takes batches of any size, so the pieces need not be joined again).
    fn parquet_rows(
        &self,
        batch: &DictionariesMasked<'_>,
        columns: &StringColumns<'_>,
        range: Range<usize>,
        first_row: u64,
    ) -> anyhow::Result<(RecordBatch, Tally)> {
        // A piece is a few hundred rows: an interruption is seen within milliseconds.
        if INTERRUPTED.load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        let mut tally = Tally::default();
        let start = range.start;
        let piece = (self.masker)
            .batch_rows(batch, columns, range, &self.context(None), &mut |t| {
                tally.found(t)
            })
            .map_err(|e| row_error(e, first_row, start))?;
        tally.records += piece.num_rows() as u64;
        Ok((piece, tally))
    }
}

/// An error of the batch whose first row is `first_row` of the file, naming a row of the
/// file: the one it names (counted in the batch), or else the batch's row `at`.
fn row_error(e: BatchError, first_row: u64, at: usize) -> anyhow::Error {
    let row = |in_batch: usize| first_row + in_batch as u64 + 1;
    match e {
        BatchError::Row { row: r, error } => anyhow!("row {}: {error}", row(r)),
        other => anyhow!("row {}: {other}", row(at)),
    }
}

/// An error of the Parquet writer, as the run reports it.
fn write_error(e: parquet::errors::ParquetError) -> anyhow::Error {
    anyhow!("cannot write the output: {}", parquet_error(&e))
}

/// A Parquet error's text: what the crate says about the file's structure, which holds no
/// cell of it.
fn parquet_error(e: &parquet::errors::ParquetError) -> String {
    e.to_string()
}
