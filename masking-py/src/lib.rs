//! `baomi_masking._native`: Baomi's masking library for Python. The Python package around it
//! (`python/baomi_masking`) adds pandas, Arrow and Spark on top; this module holds only what
//! needs Rust: a policy, its rule for a role and purpose, the detectors and the operators.
//!
//! A row is masked as `baomi mask` masks a CSV row (each cell as its column says), and a
//! key given as bytes is derived as `baomi mask --consistent --key-file` derives its key, so
//! a table masked here and the same table masked by the CLI come out the same.

use arrow_array::{RecordBatch, make_array};
use arrow_data::ArrayData;
use arrow_pyarrow::PyArrowType;
use baomi_masking::{Column, Context, Masker, Policy, PseudonymKey, Rule, Scanner};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// A policy's rule for one role and purpose, with the detectors and the pseudonym key.
#[pyclass(frozen, name = "Masker")]
struct PyMasker {
    scanner: Scanner,
    rule: Option<Rule>,
    key: PseudonymKey,
    year: i32,
}

/// Masking errors name what was wrong, never a value.
fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

impl PyMasker {
    fn masker(&self) -> Masker<'_> {
        Masker::new(&self.scanner, self.rule.as_ref())
    }

    fn context<'c>(&'c self, subject: Option<&'c str>) -> Context<'c> {
        Context {
            key: Some(&self.key),
            subject,
            vault: None,
            year: self.year,
        }
    }
}

#[pymethods]
impl PyMasker {
    /// A masker for `policy` (the TOML text of a `baomi mask` policy), the rule for `role`
    /// and `purpose`, and `key`: the secret of consistent pseudonyms (at least 32 bytes,
    /// the contents of the CLI's key file), or none for a fresh random key.
    #[new]
    #[pyo3(signature = (policy, role=None, purpose=None, key=None, year=None))]
    fn new(
        policy: &str,
        role: Option<&str>,
        purpose: Option<&str>,
        key: Option<&[u8]>,
        year: Option<i32>,
    ) -> PyResult<PyMasker> {
        let policy: Policy =
            toml::from_str(policy).map_err(|e| value_error(format!("invalid policy: {e}")))?;
        // Offline, nobody may see C3 information (passwords, CVV) in the clear.
        policy.validate(&[]).map_err(value_error)?;
        let rule = policy.rule_for(role.unwrap_or(""), purpose).cloned();
        let key = match key {
            Some(secret) => PseudonymKey::derived(secret).map_err(value_error)?,
            None => PseudonymKey::random().map_err(value_error)?,
        };
        Ok(PyMasker {
            scanner: Scanner::new(),
            rule,
            key,
            year: year.unwrap_or_else(current_year),
        })
    }

    /// Masks free text: every finding by the rule's operator for its type.
    fn mask_text(&self, py: Python<'_>, text: &str) -> PyResult<String> {
        py.detach(|| self.masker().text(text, &self.context(None)))
            .map(|m| m.text)
            .map_err(value_error)
    }

    /// Masks many texts (`None` stays `None`).
    fn mask_texts(
        &self,
        py: Python<'_>,
        texts: Vec<Option<String>>,
    ) -> PyResult<Vec<Option<String>>> {
        py.detach(|| {
            let masker = self.masker();
            let ctx = self.context(None);
            texts
                .into_iter()
                .map(|t| t.map(|t| masker.text(&t, &ctx).map(|m| m.text)).transpose())
                .collect::<Result<Vec<_>, _>>()
        })
        .map_err(value_error)
    }

    /// Masks rows as `baomi mask` masks CSV rows: `columns` are the string columns, each a
    /// list of cells (column-major, as Arrow holds them), named by `names`; the policy's
    /// `fields` paths name them. `subject` is the index of the subject's column, if any.
    /// Returns the masked columns.
    #[pyo3(signature = (names, columns, subject=None))]
    fn mask_columns(
        &self,
        py: Python<'_>,
        names: Vec<String>,
        columns: Vec<Vec<Option<String>>>,
        subject: Option<usize>,
    ) -> PyResult<Vec<Vec<Option<String>>>> {
        if names.len() != columns.len() {
            return Err(value_error("one name per column"));
        }
        let rows = columns.first().map_or(0, Vec::len);
        if columns.iter().any(|c| c.len() != rows) {
            return Err(value_error("every column must have as many cells"));
        }
        py.detach(|| {
            let masker = self.masker();
            let kinds: Vec<Column<'_>> = names.iter().map(|n| masker.column(n)).collect();
            let mut cells: Vec<std::vec::IntoIter<Option<String>>> =
                columns.into_iter().map(Vec::into_iter).collect();
            let mut out: Vec<Vec<Option<String>>> =
                (0..names.len()).map(|_| Vec::with_capacity(rows)).collect();
            let mut masked = vec![String::new(); names.len()];
            for r in 0..rows {
                let row: Vec<Option<String>> =
                    cells.iter_mut().map(|c| c.next().flatten()).collect();
                let cells: Vec<Option<&str>> = row.iter().map(Option::as_deref).collect();
                let subject = subject.and_then(|i| cells.get(i).copied().flatten());
                (masker.record_to(
                    &kinds,
                    &cells,
                    &self.context(subject),
                    &mut |_| {},
                    &mut masked,
                ))
                .map_err(|e| format!("row {}: {e}", r + 1))?;
                for ((column, cell), masked) in out.iter_mut().zip(&cells).zip(&mut masked) {
                    column.push(cell.map(|_| std::mem::take(masked)));
                }
            }
            Ok::<_, String>(out)
        })
        .map_err(value_error)
    }

    /// Masks a pyarrow record batch as `mask_columns` masks its string columns (`string`,
    /// `large_string`, `string_view`), in the batch's own buffers: the other columns are
    /// kept, the schema is unchanged. `subject` names the string column that holds the
    /// subject, if any.
    #[pyo3(signature = (batch, subject=None))]
    fn mask_batch(
        &self,
        py: Python<'_>,
        batch: PyArrowType<RecordBatch>,
        subject: Option<&str>,
    ) -> PyResult<PyArrowType<RecordBatch>> {
        let batch = batch.0;
        py.detach(|| {
            let masker = self.masker();
            let mut columns =
                (masker.string_columns(batch.schema_ref())).map_err(|e| e.to_string())?;
            if let Some(name) = subject {
                columns.subject = Some(
                    (columns.names.iter())
                        .position(|n| n == name)
                        .ok_or_else(|| format!("no string column {name:?} (subject)"))?,
                );
            }
            (masker.batch(&batch, &columns, &self.context(None), &mut |_| {}))
                .map_err(|e| e.to_string())
        })
        .map(PyArrowType)
        .map_err(value_error)
    }

    /// Masks a pyarrow string array (`string`, `large_string`, `string_view`, or a
    /// dictionary of them) of free text, cell by cell as `mask_text` masks a text, in the
    /// array's own buffers; nulls stay null.
    fn mask_array(
        &self,
        py: Python<'_>,
        array: PyArrowType<ArrayData>,
    ) -> PyResult<PyArrowType<ArrayData>> {
        let array = make_array(array.0);
        py.detach(|| {
            let masker = self.masker();
            let no_strings = || "the array holds no strings".to_owned();
            let batch = RecordBatch::try_from_iter([("text", array)]).map_err(|e| e.to_string())?;
            // The one column, scanned whatever the rule's paths name.
            let mut columns =
                (masker.string_columns(batch.schema_ref())).map_err(|_| no_strings())?;
            if columns.indexes.is_empty() && columns.dictionaries.is_empty() {
                return Err(no_strings());
            }
            columns.masking.fill(Column::Scanned);
            (columns.dictionaries.iter_mut()).for_each(|(_, masking)| *masking = Column::Scanned);
            let ctx = self.context(None);
            (masker.batch(&batch, &columns, &ctx, &mut |_| {}))
                .map(|masked| masked.column(0).to_data())
                .map_err(|e| e.to_string())
        })
        .map(PyArrowType)
        .map_err(value_error)
    }

    /// The PI found in `text`: (type, start, end, score), offsets in characters.
    fn detect(&self, py: Python<'_>, text: &str) -> Vec<(String, usize, usize, f32)> {
        py.detach(|| {
            self.scanner
                .scan(text)
                .into_iter()
                .map(|f| (f.pi_type.as_str().to_owned(), f.start, f.end, f.score))
                .collect()
        })
    }
}

/// The current calendar year (UTC), for age bands.
fn current_year() -> i32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    i32::try_from(1970 + secs / 31_556_952).unwrap_or(2100)
}

/// The native module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyMasker>()?;
    Ok(())
}
