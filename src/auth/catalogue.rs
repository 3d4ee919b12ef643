//! The field catalogue: which PI category each stored field belongs to, so that a purpose's
//! categories say which fields it may read.
//!
//! Every built-in field type is its own category (`mobile` and `mobile.work` are `mobile`).
//! The platform declares the rest: a whole field name (`text.occupation`) or a type (`text`)
//! mapped to a category (`occupation`). The most specific entry wins: the whole name, then
//! the type, then the built-in default. The catalogue is versioned and audited like
//! purposes; every version is kept.

use std::collections::BTreeMap;

use baomi_vault::{FieldName, FieldType};
use serde::{Deserialize, Serialize};

/// The most entries a catalogue holds.
pub const MAX_ENTRIES: usize = 1000;

/// Field name or type → category.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FieldCatalogue(BTreeMap<String, String>);

/// Why a catalogue was refused (never quoting a value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueError {
    /// Too many entries.
    #[error("a catalogue holds at most 1000 entries")]
    TooLarge,
    /// An entry's key is not a field name or type.
    #[error("an entry's key is not a field type or field name (type, or type.label)")]
    InvalidField,
    /// An entry's category is not a category name.
    #[error("a category is 1 to 64 of a-z, 0-9, '_', '.' and '-'")]
    InvalidCategory,
}

impl FieldCatalogue {
    /// Validates entries of field names or types → categories.
    pub fn new(entries: BTreeMap<String, String>) -> Result<Self, CatalogueError> {
        if entries.len() > MAX_ENTRIES {
            return Err(CatalogueError::TooLarge);
        }
        for (field, category) in &entries {
            if FieldName::parse(field).is_err() {
                return Err(CatalogueError::InvalidField);
            }
            if !valid_category(category) {
                return Err(CatalogueError::InvalidCategory);
            }
        }
        Ok(Self(entries))
    }

    /// The entries the platform declared.
    pub fn entries(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// The category of `field`: its whole name's entry, else its type's, else its type.
    pub fn category_of<'a>(&'a self, field: &'a FieldName) -> &'a str {
        self.0
            .get(field.as_str())
            .or_else(|| self.0.get(field.kind().as_str()))
            .map_or(field.kind().as_str(), String::as_str)
    }

    /// The built-in defaults: every field type is its own category.
    pub fn built_in() -> impl Iterator<Item = &'static str> {
        FieldType::ALL.iter().map(|t| t.as_str())
    }
}

fn valid_category(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(f: &str) -> FieldName {
        FieldName::parse(f).unwrap()
    }

    #[test]
    fn the_most_specific_entry_wins() {
        let c = FieldCatalogue::new(BTreeMap::from([
            ("text".to_owned(), "free_text".to_owned()),
            ("text.occupation".to_owned(), "occupation".to_owned()),
        ]))
        .unwrap();
        assert_eq!(c.category_of(&field("text.occupation")), "occupation");
        assert_eq!(c.category_of(&field("text.hobby")), "free_text");
        assert_eq!(c.category_of(&field("mobile.work")), "mobile");
        assert_eq!(
            FieldCatalogue::default().category_of(&field("text.x")),
            "text"
        );
    }

    #[test]
    fn keys_and_categories_are_checked() {
        let one = |k: &str, v: &str| FieldCatalogue::new(BTreeMap::from([(k.into(), v.into())]));
        assert_eq!(one("phone", "x"), Err(CatalogueError::InvalidField));
        assert_eq!(
            one("mobile", "Bad Name"),
            Err(CatalogueError::InvalidCategory)
        );
        assert_eq!(one("mobile", ""), Err(CatalogueError::InvalidCategory));
        assert!(one("mobile.work", "work_contact").is_ok());
    }
}
