//! A record of a table (a CSV line, a Parquet row) as the JSON object a policy's paths name:
//! `{column name: cell}`.

use std::borrow::Cow;

use serde_json::{Map, Value};

/// One object for record after record: each record's cells are put into the strings the
/// last one left where they can be (an object per record cost a string per name and per
/// cell, and a tree to build).
pub(super) struct Row<'n> {
    names: &'n [String],
    doc: Value,
}

impl<'n> Row<'n> {
    /// An object of the columns `names` (distinct).
    pub(super) fn new(names: &'n [String]) -> Row<'n> {
        Row {
            names,
            doc: Value::Null,
        }
    }

    /// The object holding `cells`, in the order of the names (`None` is a null), to mask.
    pub(super) fn fill<'c>(
        &mut self,
        cells: impl IntoIterator<Item = Option<&'c str>>,
    ) -> &mut Value {
        // A rule on the whole document (`$`) may have replaced the object.
        if !self.doc.is_object() {
            self.doc = Value::Object(Map::new());
        }
        if let Value::Object(map) = &mut self.doc {
            for (name, cell) in self.names.iter().zip(cells) {
                match (map.get_mut(name), cell) {
                    (Some(Value::String(value)), Some(cell)) => {
                        value.clear();
                        value.push_str(cell);
                    }
                    (Some(value), cell) => *value = cell.map_or(Value::Null, Value::from),
                    (None, cell) => {
                        map.insert(name.clone(), cell.map_or(Value::Null, Value::from));
                    }
                }
            }
        }
        &mut self.doc
    }

    /// The masked cell of the column `name`: `None` for a null; a value a rule made other
    /// than a string, as JSON.
    pub(super) fn cell(&self, name: &str) -> Option<Cow<'_, str>> {
        match self.doc.get(name) {
            Some(Value::String(s)) => Some(Cow::Borrowed(s)),
            Some(Value::Null) | None => None,
            Some(other) => Some(Cow::Owned(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_record_replaces_the_last_ones_cells() {
        let names = ["a".to_owned(), "b".to_owned()];
        let mut row = Row::new(&names);
        *row.fill([Some("one"), None]) = serde_json::json!("masked whole");
        let doc = row.fill([Some("two"), Some("three")]).clone();
        assert_eq!(doc, serde_json::json!({"a": "two", "b": "three"}));
        if let Value::Object(map) = row.fill([None, Some("")]) {
            map.insert("a".into(), serde_json::json!(5));
        }
        assert_eq!(row.cell("a").as_deref(), Some("5"));
        assert_eq!(row.cell("b").as_deref(), Some(""));
        row.fill([None, None]);
        assert_eq!((row.cell("a"), row.cell("b")), (None, None));
    }
}
