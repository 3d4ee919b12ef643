//! Masking Arrow record batches (the `arrow` feature): each row is masked as a table's row
//! is ([`Masker::record_to`]), as the object of its string columns (`Utf8`, `LargeUtf8`,
//! `Utf8View`), so that a policy's `fields` paths name columns and its types apply to
//! their text. Columns of numbers, dates and times are kept as they are unless a path
//! masks them, nulls stay null, and the schema does not change. A dictionary-encoded string
//! column (a pandas categorical) is masked a distinct value at a time and keeps its keys.
//! Nothing passes in the clear that the rule did not mean to: a column of another type
//! that a path masks, and one that holds text or bytes in a form this cannot mask (strings
//! in lists, structs, maps or unions; binary), are refused, unless the rule keeps that
//! column in the clear on purpose (a path naming it with `keep`, or a rule that scans only
//! its paths and names none of it). `baomi mask` masks Parquet files with it, and the
//! Python package Arrow batches and Spark partitions, in the batches' own buffers.

use std::ops::Range;
use std::sync::Arc;

use arrow_array::builder::{LargeStringBuilder, StringBuilder, StringViewBuilder};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, LargeStringArray, RecordBatch, StringArray, StringViewArray};
use arrow_schema::{ArrowError, DataType, Schema};

use crate::error::Error;
use crate::mask::{Column, Masker};
use crate::operator::{Context, Operator};
use crate::pi_type::PiType;

/// The string columns of a schema, and how each is masked.
#[derive(Debug, Clone)]
pub struct StringColumns<'a> {
    /// Their indexes in the schema.
    pub indexes: Vec<usize>,
    /// Their names, in the same order.
    pub names: Vec<String>,
    /// How each is masked.
    pub masking: Vec<Column<'a>>,
    /// Which of them holds the subject the data is about (for `date_shift`), if one does.
    pub subject: Option<usize>,
    /// The dictionary-encoded string columns: their indexes in the schema, and how each
    /// is masked (a distinct value at a time, the same for every row that holds it).
    pub dictionaries: Vec<(usize, Column<'a>)>,
}

/// A record batch whose dictionary-encoded string columns are masked
/// ([`Masker::dictionaries`]), the rest waiting to be masked a range of rows at a time
/// ([`Masker::batch_rows`]).
pub struct DictionariesMasked<'b> {
    batch: &'b RecordBatch,
    /// The masked dictionaries, by their index in the schema.
    masked: Vec<(usize, ArrayRef)>,
}

/// Why a record batch could not be masked. No message holds a cell.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// A row could not be masked.
    #[error("row {}: {error}", row + 1)]
    Row {
        /// The row, counted from 0 in the batch.
        row: usize,
        /// What went wrong.
        #[source]
        error: Error,
    },
    /// A column the schema says holds strings holds something else.
    #[error("column {} holds no strings", column + 1)]
    NotStrings {
        /// The column, counted from 0 in the schema.
        column: usize,
    },
    /// A column can hold PI in a form that cannot be masked (strings in a list, a struct, a
    /// map or a union; bytes, which cannot be read as text: a photo, or text some writer
    /// stored as bytes), and the rule does not keep it in the clear on purpose.
    #[error(
        "column {} ({name}) holds text or bytes as {data_type}, which cannot be masked; \
         drop, flatten or cast it, or name it in the policy with op \"keep\" to pass it \
         through",
        column + 1
    )]
    Unmaskable {
        /// The column, counted from 0 in the schema.
        column: usize,
        /// Its name.
        name: String,
        /// Its type.
        data_type: DataType,
    },
    /// A path of the rule masks a column that holds no strings (a mobile stored as a
    /// number, say): its masked value would not be of the column's type, and the schema
    /// stays as it is, so the column is refused rather than passed through in the clear.
    #[error(
        "the policy masks column {} ({name}), which is {data_type}: only string columns \
         are masked in place; cast it to a string first",
        column + 1
    )]
    NotText {
        /// The column, counted from 0 in the schema.
        column: usize,
        /// Its name.
        name: String,
        /// Its type.
        data_type: DataType,
    },
    /// A dictionary-encoded column is masked a value at a time, the same for every row,
    /// which `date_shift` by a subject column (each row's own shift) does not allow.
    #[error(
        "column {} ({name}) is dictionary-encoded, and date_shift by a subject column \
         cannot mask its values once for every row; decode it first",
        column + 1
    )]
    DictionaryWithSubject {
        /// The column, counted from 0 in the schema.
        column: usize,
        /// Its name.
        name: String,
    },
    /// The masked columns do not make a batch of the schema.
    #[error("cannot rebuild the batch: {0}")]
    Rebuild(#[source] ArrowError),
}

/// Whether `data_type` is a dictionary whose values are of a string type this masks.
fn is_string_dictionary(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Dictionary(_, values) if is_string(values))
}

/// Whether `data_type` is one of the string types this masks.
fn is_string(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    )
}

/// Whether a value of `data_type` can hold a string or bytes: it is one, or holds one
/// among its children (lists, structs, maps, unions, dictionaries, run-end encoding).
fn holds_text(data_type: &DataType) -> bool {
    match data_type {
        t if is_string(t) => true,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => true,
        DataType::List(f)
        | DataType::LargeList(f)
        | DataType::ListView(f)
        | DataType::LargeListView(f)
        | DataType::FixedSizeList(f, _)
        | DataType::Map(f, _) => holds_text(f.data_type()),
        DataType::Struct(fields) => fields.iter().any(|f| holds_text(f.data_type())),
        DataType::Union(fields, _) => fields.iter().any(|(_, f)| holds_text(f.data_type())),
        DataType::Dictionary(_, values) => holds_text(values),
        DataType::RunEndEncoded(_, values) => holds_text(values.data_type()),
        _ => false,
    }
}

impl<'a> Masker<'a> {
    /// The string columns of `schema` and its dictionary-encoded ones, each masked as
    /// [`Masker::column`] says for its name, with no subject column. Nothing passes in the
    /// clear that the rule did not mean to: a column of another type that a path of the
    /// rule masks is refused ([`BatchError::NotText`]), and one that can hold text or
    /// bytes in another form ([`BatchError::Unmaskable`]) unless the rule keeps it in the
    /// clear on purpose. Columns of numbers, dates and times that no path names are kept,
    /// and booleans and nulls whatever names them: as in a JSON document, text is
    /// scanned, numbers are not.
    pub fn string_columns(&self, schema: &Schema) -> Result<StringColumns<'a>, BatchError> {
        let mut columns = StringColumns {
            indexes: Vec::new(),
            names: Vec::new(),
            masking: Vec::new(),
            subject: None,
            dictionaries: Vec::new(),
        };
        for (i, field) in schema.fields().iter().enumerate() {
            let masking = self.column(field.name());
            if is_string(field.data_type()) {
                columns.indexes.push(i);
                columns.names.push(field.name().clone());
                columns.masking.push(masking);
            } else if is_string_dictionary(field.data_type()) {
                columns.dictionaries.push((i, masking));
            } else if matches!(masking, Column::Field(_))
                && !kept_in_the_clear(masking)
                && !matches!(field.data_type(), DataType::Boolean | DataType::Null)
            {
                return Err(BatchError::NotText {
                    column: i,
                    name: field.name().clone(),
                    data_type: field.data_type().clone(),
                });
            } else if holds_text(field.data_type()) && !kept_in_the_clear(masking) {
                return Err(BatchError::Unmaskable {
                    column: i,
                    name: field.name().clone(),
                    data_type: field.data_type().clone(),
                });
            }
        }
        Ok(columns)
    }

    /// `batch` (of the schema `columns` were read from), every column masked: the string
    /// columns row by row, the dictionaries a value at a time. `ctx` is every row's context
    /// but for the subject, which is the row's cell in the subject column; `found` is
    /// called with the type of each finding. Its columns of other types are kept.
    pub fn batch(
        &self,
        batch: &RecordBatch,
        columns: &StringColumns<'_>,
        ctx: &Context<'_>,
        found: &mut dyn FnMut(PiType),
    ) -> Result<RecordBatch, BatchError> {
        let dictionaries = self.dictionaries(batch, columns, ctx, found, 1)?;
        self.batch_rows(&dictionaries, columns, 0..batch.num_rows(), ctx, found)
    }

    /// The first of two steps that mask a batch in pieces (on several threads, say): its
    /// dictionary-encoded string columns masked, each distinct value once for the whole
    /// batch, on up to `jobs` threads (an error names the first row that holds a value
    /// that failed), and `found` called for each of their rows' findings. A piece of a
    /// dictionary keeps all of its values, so masking them piece by piece would mask each
    /// value again in every piece.
    pub fn dictionaries<'b>(
        &self,
        batch: &'b RecordBatch,
        columns: &StringColumns<'_>,
        ctx: &Context<'_>,
        found: &mut dyn FnMut(PiType),
        jobs: usize,
    ) -> Result<DictionariesMasked<'b>, BatchError> {
        let mut masked = Vec::with_capacity(columns.dictionaries.len());
        for &(i, masking) in &columns.dictionaries {
            if columns.subject.is_some() && shifts_by_subject(masking) {
                return Err(BatchError::DictionaryWithSubject {
                    column: i,
                    name: batch.schema().field(i).name().clone(),
                });
            }
            let column = batch.column(i);
            masked.push((
                i,
                self.dictionary_rows(column, i, masking, ctx, found, jobs)?,
            ));
        }
        Ok(DictionariesMasked { batch, masked })
    }

    /// The second step: the rows `range` of the batch, its string columns masked (their
    /// findings passed to `found`) and its dictionaries as [`Masker::dictionaries`] masked
    /// them. `ctx` is as for [`Masker::batch`]. The columns of other types are sliced, not
    /// copied.
    pub fn batch_rows(
        &self,
        batch: &DictionariesMasked<'_>,
        columns: &StringColumns<'_>,
        range: Range<usize>,
        ctx: &Context<'_>,
        found: &mut dyn FnMut(PiType),
    ) -> Result<RecordBatch, BatchError> {
        let (masked_dictionaries, batch) = (&batch.masked, batch.batch);
        let cells = (columns.indexes.iter())
            .map(|&i| StringColumn::of(batch.column(i)).ok_or(BatchError::NotStrings { column: i }))
            .collect::<Result<Vec<_>, _>>()?;
        let mut built: Vec<Built> = cells.iter().map(|c| c.builder(range.len())).collect();
        let (mut row, mut masked) = (Vec::new(), vec![String::new(); cells.len()]);
        for r in range.clone() {
            row.clear();
            row.extend(cells.iter().map(|column| column.get(r)));
            let subject = columns.subject.and_then(|s| row[s]);
            let ctx = Context { subject, ..*ctx };
            self.record_to(&columns.masking, &row, &ctx, found, &mut masked)
                .map_err(|error| BatchError::Row { row: r, error })?;
            for ((cell, masked), out) in row.iter().zip(&masked).zip(&mut built) {
                out.append(cell.map(|_| masked.as_str()));
            }
        }
        let mut arrays: Vec<ArrayRef> = (batch.columns().iter())
            .map(|a| a.slice(range.start, range.len()))
            .collect();
        for (&i, column) in columns.indexes.iter().zip(built) {
            arrays[i] = column.finish();
        }
        for (i, dictionary) in masked_dictionaries {
            arrays[*i] = dictionary.slice(range.start, range.len());
        }
        RecordBatch::try_new(batch.schema(), arrays).map_err(BatchError::Rebuild)
    }

    /// The dictionary-encoded string column `array` (column `index`), its values masked
    /// as `masking` says on `jobs` threads: each value a row holds once (an error names
    /// the first row that holds a value that failed), and `found` called for each row's
    /// findings; the values no row holds are emptied (nulls), so that none is written in
    /// the clear. The keys are kept.
    fn dictionary_rows(
        &self,
        array: &ArrayRef,
        index: usize,
        masking: Column<'_>,
        ctx: &Context<'_>,
        found: &mut dyn FnMut(PiType),
        jobs: usize,
    ) -> Result<ArrayRef, BatchError> {
        let not_strings = || BatchError::NotStrings { column: index };
        let dictionary = array.as_any_dictionary_opt().ok_or_else(not_strings)?;
        let values = StringColumn::of(dictionary.values()).ok_or_else(not_strings)?;
        // The first row that holds each value, and how many rows do.
        let mut held = vec![(usize::MAX, 0usize); values.len()];
        let keys = dictionary.keys();
        for (row, key) in dictionary.normalized_keys().into_iter().enumerate() {
            if keys.is_valid(row) {
                let (first, rows) = &mut held[key];
                *first = (*first).min(row);
                *rows += 1;
            }
        }
        let wanted: Vec<(usize, &str)> = (0..values.len())
            .filter(|&key| held[key].1 > 0)
            .filter_map(|key| values.get(key).map(|cell| (key, cell)))
            .collect();
        let masked = in_parallel(jobs, wanted.len(), |i| {
            let (mut text, mut types) = (String::new(), Vec::new());
            let cell = wanted[i].1;
            (self.cell_to(masking, cell, ctx, &mut |t| types.push(t), &mut text))
                .map(|()| (text, types))
        });
        let mut by_key: Vec<Option<String>> = vec![None; values.len()];
        // The failure of the first row, as a scan in order would have met it.
        let mut failed: Option<BatchError> = None;
        for (&(key, _), done) in wanted.iter().zip(masked) {
            let (first, rows) = held[key];
            match done {
                Ok((text, types)) => {
                    for t in types {
                        (0..rows).for_each(|_| found(t));
                    }
                    by_key[key] = Some(text);
                }
                Err(error) => {
                    if !matches!(failed, Some(BatchError::Row { row, .. }) if row < first) {
                        failed = Some(BatchError::Row { row: first, error });
                    }
                }
            }
        }
        if let Some(e) = failed {
            return Err(e);
        }
        let mut built = values.builder(by_key.len());
        by_key.iter().for_each(|text| built.append(text.as_deref()));
        Ok(dictionary.with_values(built.finish()))
    }
}

/// `work(i)` for each `i` of `0..items` on up to `jobs` threads, which take pieces of
/// the range in turn (the costs of values differ); the results in order.
fn in_parallel<T: Send>(jobs: usize, items: usize, work: impl Fn(usize) -> T + Sync) -> Vec<T> {
    const PIECE: usize = 64;
    let pieces = items.div_ceil(PIECE);
    if jobs <= 1 || pieces <= 1 {
        return (0..items).map(work).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let piece = || {
        let mut done = Vec::new();
        loop {
            let p = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if p >= pieces {
                return done;
            }
            done.push((
                p,
                (p * PIECE..items.min((p + 1) * PIECE)).map(&work).collect(),
            ));
        }
    };
    let mut done: Vec<(usize, Vec<T>)> = std::thread::scope(|s| {
        let others: Vec<_> = (1..jobs.min(pieces)).map(|_| s.spawn(piece)).collect();
        let mut done = piece();
        for other in others {
            // A masking thread does not panic; if one did, its panic is this one's.
            done.extend(
                other
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            );
        }
        done
    });
    done.sort_unstable_by_key(|(p, _)| *p);
    done.into_iter().flat_map(|(_, results)| results).collect()
}

/// Whether a column's cells are masked by `date_shift`, which shifts each subject's dates
/// its own way (the only operator that reads the subject).
fn shifts_by_subject(masking: Column<'_>) -> bool {
    matches!(masking, Column::Field(field) if matches!(field.operator, Operator::DateShift { .. }))
}

/// Whether the rule leaves a column as it is on purpose: it scans only its paths and none
/// names the column, or a path names it with an operator that shows it in the clear.
fn kept_in_the_clear(masking: Column<'_>) -> bool {
    match masking {
        Column::Kept => true,
        Column::Field(field) => field.operator.reveals(),
        Column::Scanned => false,
    }
}

/// A string column of a record batch, in either offset width or as views.
enum StringColumn<'a> {
    Utf8(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> StringColumn<'a> {
    /// `array` as strings; `None` when it holds something else.
    fn of(array: &'a ArrayRef) -> Option<StringColumn<'a>> {
        let any = array.as_any();
        (any.downcast_ref::<StringArray>().map(StringColumn::Utf8))
            .or_else(|| {
                any.downcast_ref::<LargeStringArray>()
                    .map(StringColumn::Large)
            })
            .or_else(|| {
                any.downcast_ref::<StringViewArray>()
                    .map(StringColumn::View)
            })
    }

    /// How many values it holds, nulls too.
    fn len(&self) -> usize {
        match self {
            StringColumn::Utf8(a) => a.len(),
            StringColumn::Large(a) => a.len(),
            StringColumn::View(a) => a.len(),
        }
    }

    /// The value of row `r`, or `None` for a null.
    fn get(&self, r: usize) -> Option<&'a str> {
        match self {
            StringColumn::Utf8(a) => a.is_valid(r).then(|| a.value(r)),
            StringColumn::Large(a) => a.is_valid(r).then(|| a.value(r)),
            StringColumn::View(a) => a.is_valid(r).then(|| a.value(r)),
        }
    }

    /// An empty column of the same type, for `rows` values.
    fn builder(&self, rows: usize) -> Built {
        // Masked values are about as long as the originals, and the originals of these
        // rows are about an equal share of the whole.
        let bytes = |total: usize, all_rows: usize| total / all_rows.max(1) * rows;
        match self {
            StringColumn::Utf8(a) => Built::Utf8(StringBuilder::with_capacity(
                rows,
                bytes(a.values().len(), a.len()),
            )),
            StringColumn::Large(a) => Built::Large(LargeStringBuilder::with_capacity(
                rows,
                bytes(a.values().len(), a.len()),
            )),
            StringColumn::View(_) => Built::View(StringViewBuilder::with_capacity(rows)),
        }
    }
}

/// A masked string column as it is built, of its original's type.
enum Built {
    Utf8(StringBuilder),
    Large(LargeStringBuilder),
    View(StringViewBuilder),
}

impl Built {
    /// Appends a value (`None`, a null).
    fn append(&mut self, value: Option<&str>) {
        match self {
            Built::Utf8(b) => b.append_option(value),
            Built::Large(b) => b.append_option(value),
            Built::View(b) => b.append_option(value),
        }
    }

    fn finish(self) -> ArrayRef {
        match self {
            Built::Utf8(mut b) => Arc::new(b.finish()),
            Built::Large(mut b) => Arc::new(b.finish()),
            Built::View(mut b) => Arc::new(b.finish()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;
    use arrow_array::Int64Array;
    use arrow_schema::Field;

    fn batch() -> RecordBatch {
        let schema = Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("birth", DataType::Utf8, true),
            Field::new("note", DataType::LargeUtf8, true),
            Field::new("remark", DataType::Utf8View, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                Arc::new(StringArray::from(vec![
                    Some("1990-03-07"),
                    None,
                    Some("1984-02-15"),
                ])),
                Arc::new(LargeStringArray::from(vec![
                    Some("电话13800138000"),
                    Some("无"),
                    None,
                ])),
                Arc::new(StringViewArray::from(vec![
                    None,
                    Some("tel 13800138000, a view longer than twelve bytes"),
                    Some("ok"),
                ])),
            ],
        )
        .unwrap()
    }

    /// `batch` masked whole by `masker`, and the types it found.
    fn masked(
        masker: &Masker<'_>,
        batch: &RecordBatch,
        columns: &StringColumns<'_>,
    ) -> (RecordBatch, Vec<PiType>) {
        let mut found = Vec::new();
        let masked = masker.batch(batch, columns, &Context::default(), &mut |t| found.push(t));
        (masked.unwrap(), found)
    }

    /// A policy of one rule for the role `any`: its field paths and what it scans.
    fn policy(fields: serde_json::Value, scan: &str) -> Policy {
        serde_json::from_value(serde_json::json!({"rules": [{
            "roles": ["any"], "scan": scan, "fields": fields}]}))
        .unwrap()
    }

    #[test]
    fn string_columns_are_masked_as_rows_and_the_rest_kept() {
        let policy = policy(
            serde_json::json!([{"path": "$.birth", "type": "BIRTH_DATE",
                                "operator": {"op": "generalize", "to": "year"}}]),
            "all",
        );
        let scanner = crate::Scanner::new();
        let masker = Masker::new(&scanner, policy.rule_for("any", None));
        let batch = batch();
        let columns = masker.string_columns(&batch.schema()).unwrap();
        assert_eq!(columns.indexes, [1, 2, 3]);
        let (masked, found) = masked(&masker, &batch, &columns);
        let ctx = Context::default();
        assert_eq!(masked.schema(), batch.schema());
        assert_eq!(masked.column(0), batch.column(0), "numbers are kept");
        let birth = masked
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(
            birth.iter().collect::<Vec<_>>(),
            [Some("1990"), None, Some("1984")]
        );
        let note = (masked.column(2).as_any())
            .downcast_ref::<LargeStringArray>()
            .unwrap();
        assert_eq!(note.value(0), "电话138****8000");
        assert_eq!(note.value(1), "无");
        assert!(note.is_null(2), "nulls stay null");
        let remark = (masked.column(3).as_any())
            .downcast_ref::<StringViewArray>()
            .unwrap();
        assert!(remark.is_null(0));
        let long = "tel 138****8000, a view longer than twelve bytes";
        assert_eq!(remark.value(1), long);
        assert_eq!(remark.value(2), "ok");
        let (date, mobile) = (PiType::BirthDate, PiType::CnMobile);
        assert_eq!(found, [date, mobile, mobile, date]);
        // A range is those rows alone.
        let dictionaries = masker.dictionaries(&batch, &columns, &ctx, &mut |_| {}, 2);
        let tail = masker
            .batch_rows(&dictionaries.unwrap(), &columns, 1..3, &ctx, &mut |_| {})
            .unwrap();
        assert_eq!(tail.num_rows(), 2);
        assert_eq!(
            tail.column(0).as_ref(),
            &Int64Array::from(vec![2, 3]) as &dyn Array
        );
    }

    #[test]
    fn a_row_that_cannot_be_masked_is_named_without_its_cells() {
        let policy = policy(
            serde_json::json!([{"path": "$.birth", "type": "BIRTH_DATE",
                                "operator": {"op": "date_shift", "max_days": 30}}]),
            "all",
        );
        let scanner = crate::Scanner::new();
        let masker = Masker::new(&scanner, policy.rule_for("any", None));
        let batch = batch();
        let columns = masker.string_columns(&batch.schema()).unwrap();
        let e = masker
            .batch(&batch, &columns, &Context::default(), &mut |_| {})
            .unwrap_err();
        assert!(matches!(e, BatchError::Row { row: 0, .. }), "{e}");
        assert!(!e.to_string().contains("1990"), "{e}");
    }

    #[test]
    fn text_in_other_types_is_refused_unless_the_rule_keeps_it_in_the_clear() {
        use arrow_schema::Fields;

        let string = |name: &str| Field::new(name, DataType::Utf8, true);
        let nested = [
            DataType::Binary,
            DataType::LargeBinary,
            DataType::BinaryView,
            DataType::FixedSizeBinary(16),
            DataType::List(Arc::new(Field::new("item", DataType::Binary, true))),
            DataType::List(Arc::new(string("item"))),
            DataType::Struct(Fields::from(vec![string("phone")])),
            DataType::Map(
                Arc::new(Field::new(
                    "entries",
                    DataType::Struct(Fields::from(vec![
                        Field::new("key", DataType::Utf8, false),
                        string("value"),
                    ])),
                    false,
                )),
                false,
            ),
        ];
        let scanner = crate::Scanner::new();
        for data_type in nested {
            let schema = Schema::new(vec![
                string("note"),
                Field::new("contacts", data_type.clone(), true),
                Field::new("id", DataType::Int64, false),
            ]);
            let scans = policy(serde_json::json!([]), "all");
            let e = Masker::new(&scanner, scans.rule_for("any", None))
                .string_columns(&schema)
                .unwrap_err();
            assert!(
                matches!(&e, BatchError::Unmaskable { column: 1, .. }),
                "{data_type}: {e}"
            );
            assert!(e.to_string().contains("column 2 (contacts)"), "{e}");
            let kept = policy(
                serde_json::json!([{"path": "$.contacts", "operator": {"op": "keep"}}]),
                "all",
            );
            let columns = Masker::new(&scanner, kept.rule_for("any", None))
                .string_columns(&schema)
                .unwrap();
            assert_eq!(columns.indexes, [0], "{data_type}");
            let paths_only = policy(serde_json::json!([]), "paths");
            assert!(
                Masker::new(&scanner, paths_only.rule_for("any", None))
                    .string_columns(&schema)
                    .is_ok()
            );
        }
    }

    #[test]
    fn a_column_a_path_masks_is_refused_unless_it_holds_strings() {
        let schema = Schema::new(vec![
            Field::new("mobile", DataType::Int64, false),
            Field::new("vip", DataType::Boolean, true),
            Field::new("note", DataType::Utf8, true),
        ]);
        let scanner = crate::Scanner::new();
        let columns = |fields: serde_json::Value| {
            let policy = policy(fields, "all");
            let masker = Masker::new(&scanner, policy.rule_for("any", None));
            masker.string_columns(&schema).map(|c| c.indexes)
        };
        // Numbers no path names are kept, as a JSON document's are.
        assert_eq!(columns(serde_json::json!([])).unwrap(), [2]);
        let e = columns(serde_json::json!([{"path": "$.mobile", "type": "CN_MOBILE",
                                            "operator": {"op": "hash"}}]))
        .unwrap_err();
        assert!(matches!(e, BatchError::NotText { column: 0, .. }), "{e}");
        assert!(
            e.to_string().contains("column 1 (mobile), which is Int64"),
            "{e}"
        );
        // The whole record masked masks its numbers too.
        let whole = serde_json::json!([{"path": "$", "operator": {"op": "redact"}}]);
        assert!(matches!(
            columns(whole),
            Err(BatchError::NotText { column: 0, .. })
        ));
        let kept = serde_json::json!([{"path": "$.mobile", "operator": {"op": "keep"}}]);
        assert!(columns(kept).is_ok(), "kept in the clear on purpose");
        // A JSON document's booleans are never masked; nor are a batch's.
        let vip = serde_json::json!([{"path": "$.vip", "operator": {"op": "redact"}}]);
        assert!(columns(vip).is_ok());
    }

    #[test]
    fn a_dictionary_masked_on_threads_is_what_one_thread_makes_of_it() {
        use arrow_array::types::Int16Type;
        use arrow_array::{DictionaryArray, Int16Array};

        // 300 values, each held by two rows (the first half in reverse), one never.
        let values: StringArray = (0..301)
            .map(|i| Some(format!("{i}号，手机{}", 13_800_138_000u64 + i)))
            .collect();
        let keys: Int16Array = (0..300).rev().chain(0..300).map(Some).collect();
        let dictionary = DictionaryArray::<Int16Type>::try_new(keys, Arc::new(values)).unwrap();
        let batch =
            RecordBatch::try_from_iter([("note", Arc::new(dictionary) as ArrayRef)]).unwrap();
        let scanner = crate::Scanner::new();
        let masker = Masker::new(&scanner, None);
        let columns = masker.string_columns(&batch.schema()).unwrap();
        let ctx = Context::default();
        let masked = |jobs: usize| {
            let mut found = Vec::new();
            let done = masker.dictionaries(&batch, &columns, &ctx, &mut |t| found.push(t), jobs);
            let piece = masker.batch_rows(&done.unwrap(), &columns, 0..600, &ctx, &mut |_| {});
            (piece.unwrap(), found)
        };
        let (one, found) = masked(1);
        assert_eq!(found, vec![PiType::CnMobile; 600], "once a row");
        assert_eq!(masked(2), (one.clone(), found));
        let values = one.column(0).as_dictionary::<Int16Type>().values().clone();
        let values = values.as_string::<i32>();
        assert_eq!(values.value(299), "299号，手机138****8299");
        assert!(values.is_null(300), "a value no row holds is not written");
        // Every value fails without a subject: the error is the first row's (which holds
        // the last value), whichever thread met it.
        let policy = policy(
            serde_json::json!([{"path": "$.note", "type": "DATE",
                                "operator": {"op": "date_shift", "max_days": 30}}]),
            "all",
        );
        let shifting = Masker::new(&scanner, policy.rule_for("any", None));
        let columns = shifting.string_columns(&batch.schema()).unwrap();
        for jobs in [1, 2] {
            let e = shifting
                .dictionaries(&batch, &columns, &ctx, &mut |_| {}, jobs)
                .err()
                .unwrap();
            assert!(matches!(e, BatchError::Row { row: 0, .. }), "{jobs}: {e}");
        }
    }

    #[test]
    fn a_dictionary_is_masked_a_value_at_a_time_and_keeps_its_keys() {
        use arrow_array::types::Int8Type;
        use arrow_array::{DictionaryArray, Int8Array};

        let keys = Int8Array::from(vec![Some(0), Some(1), Some(0), None]);
        let values = StringArray::from(vec!["手机13800138000", "无", "身份证510104199003071114"]);
        let dictionary = DictionaryArray::<Int8Type>::try_new(keys, Arc::new(values)).unwrap();
        let batch = RecordBatch::try_from_iter([
            (
                "uid",
                Arc::new(StringArray::from(vec!["a", "b", "c", "d"])) as ArrayRef,
            ),
            ("note", Arc::new(dictionary) as ArrayRef),
        ])
        .unwrap();
        let scanner = crate::Scanner::new();
        let masker = Masker::new(&scanner, None);
        let mut columns = masker.string_columns(&batch.schema()).unwrap();
        assert_eq!((columns.indexes.len(), columns.dictionaries.len()), (1, 1));
        let (masked, mut found) = masked(&masker, &batch, &columns);
        let ctx = Context::default();
        assert_eq!(masked.schema(), batch.schema());
        let note = masked.column(1).as_dictionary::<Int8Type>();
        assert_eq!(
            note.keys(),
            batch.column(1).as_dictionary::<Int8Type>().keys()
        );
        let values = note.values().as_string::<i32>();
        assert_eq!(values.value(0), "手机138****8000");
        assert_eq!(values.value(1), "无");
        assert!(values.is_null(2), "a value no row holds is not written");
        assert_eq!(found, [PiType::CnMobile, PiType::CnMobile], "once a row");
        // Masked in pieces, the batch's values are masked once, before the pieces, and
        // every piece shares them.
        found.clear();
        let dictionaries = masker
            .dictionaries(&batch, &columns, &ctx, &mut |t| found.push(t), 2)
            .unwrap();
        assert_eq!(found, [PiType::CnMobile, PiType::CnMobile]);
        let pieces = [0..1, 1..3, 3..4].map(|range| {
            let piece = masker.batch_rows(&dictionaries, &columns, range, &ctx, &mut |_| {});
            piece.unwrap().column(1).as_dictionary::<Int8Type>().clone()
        });
        assert_eq!(pieces[1].keys(), &Int8Array::from(vec![Some(1), Some(0)]));
        for piece in &pieces {
            assert_eq!(piece.values(), note.values(), "as the whole batch's");
            assert!(
                Arc::ptr_eq(piece.values(), pieces[0].values()),
                "shared, not copied"
            );
        }
        // A subject column changes nothing for scanned text; date_shift by it would shift
        // each row's value its own way.
        columns.subject = Some(0);
        assert!(masker.batch(&batch, &columns, &ctx, &mut |_| {}).is_ok());
        let policy = policy(
            serde_json::json!([{"path": "$.note", "type": "DATE",
                                "operator": {"op": "date_shift", "max_days": 30}}]),
            "all",
        );
        let shifting = Masker::new(&scanner, policy.rule_for("any", None));
        let mut columns = shifting.string_columns(&batch.schema()).unwrap();
        columns.subject = Some(0);
        let e = shifting
            .batch(&batch, &columns, &ctx, &mut |_| {})
            .unwrap_err();
        assert!(
            matches!(e, BatchError::DictionaryWithSubject { column: 1, .. }),
            "{e}"
        );
    }
}
