//! Masking Arrow record batches (the `arrow` feature): each row is masked as a table's row
//! is ([`Masker::record_to`]), as the object of its string columns (`Utf8`, `LargeUtf8`,
//! `Utf8View`),
//! so that a policy's `fields` paths name columns and its types apply to their text.
//! Columns of other types (numbers, dates, binary) are kept as they are, nulls stay null,
//! and the schema does not change. `baomi mask` masks Parquet files with it, and the Python
//! package Arrow batches and Spark partitions, cell by cell in the batch's own buffers.

use std::ops::Range;
use std::sync::Arc;

use arrow_array::builder::{LargeStringBuilder, StringBuilder, StringViewBuilder};
use arrow_array::{Array, ArrayRef, LargeStringArray, RecordBatch, StringArray, StringViewArray};
use arrow_schema::{ArrowError, DataType, Schema};

use crate::error::Error;
use crate::mask::{Column, Masker};
use crate::operator::Context;
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
    /// The masked columns do not make a batch of the schema.
    #[error("cannot rebuild the batch: {0}")]
    Rebuild(#[source] ArrowError),
}

impl<'a> Masker<'a> {
    /// The string columns of `schema`, each masked as [`Masker::column`] says for its
    /// name, with no subject column.
    pub fn string_columns(&self, schema: &Schema) -> StringColumns<'a> {
        let (indexes, names): (Vec<usize>, Vec<String>) = (schema.fields().iter().enumerate())
            .filter(|(_, f)| {
                matches!(
                    f.data_type(),
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
                )
            })
            .map(|(i, f)| (i, f.name().clone()))
            .unzip();
        StringColumns {
            masking: names.iter().map(|n| self.column(n)).collect(),
            indexes,
            names,
            subject: None,
        }
    }

    /// The rows `range` of `batch` (of the schema `columns` were read from), their string
    /// columns masked. `ctx` is every row's context but for the subject, which is the
    /// row's cell in the subject column; `found` is called with the type of each finding.
    /// The batch's columns of other types are sliced, not copied.
    pub fn batch_rows(
        &self,
        batch: &RecordBatch,
        columns: &StringColumns<'_>,
        range: Range<usize>,
        ctx: &Context<'_>,
        found: &mut dyn FnMut(PiType),
    ) -> Result<RecordBatch, BatchError> {
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
        RecordBatch::try_new(batch.schema(), arrays).map_err(BatchError::Rebuild)
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

    #[test]
    fn string_columns_are_masked_as_rows_and_the_rest_kept() {
        let policy: Policy = serde_json::from_value(serde_json::json!({"rules": [{
            "roles": ["any"],
            "fields": [{"path": "$.birth", "type": "BIRTH_DATE",
                        "operator": {"op": "generalize", "to": "year"}}]}]}))
        .unwrap();
        let scanner = crate::Scanner::new();
        let masker = Masker::new(&scanner, policy.rule_for("any", None));
        let batch = batch();
        let columns = masker.string_columns(&batch.schema());
        assert_eq!(columns.indexes, [1, 2, 3]);
        let mut found = Vec::new();
        let ctx = Context::default();
        let masked = masker
            .batch_rows(&batch, &columns, 0..3, &ctx, &mut |t| found.push(t))
            .unwrap();
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
        let tail = masker
            .batch_rows(&batch, &columns, 1..3, &ctx, &mut |_| {})
            .unwrap();
        assert_eq!(tail.num_rows(), 2);
        assert_eq!(
            tail.column(0).as_ref(),
            &Int64Array::from(vec![2, 3]) as &dyn Array
        );
    }

    #[test]
    fn a_row_that_cannot_be_masked_is_named_without_its_cells() {
        let policy: Policy = serde_json::from_value(serde_json::json!({"rules": [{
            "roles": ["any"],
            "fields": [{"path": "$.birth", "type": "BIRTH_DATE",
                        "operator": {"op": "date_shift", "max_days": 30}}]}]}))
        .unwrap();
        let scanner = crate::Scanner::new();
        let masker = Masker::new(&scanner, policy.rule_for("any", None));
        let batch = batch();
        let columns = masker.string_columns(&batch.schema());
        let e = masker
            .batch_rows(&batch, &columns, 0..3, &Context::default(), &mut |_| {})
            .unwrap_err();
        assert!(matches!(e, BatchError::Row { row: 0, .. }), "{e}");
        assert!(!e.to_string().contains("1990"), "{e}");
    }
}
