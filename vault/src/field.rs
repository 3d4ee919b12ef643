//! Field names and types: what a value is, for binding ciphertexts and masking views.

use crate::{Error, Result};

/// The kinds of personal information the vault knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Resident identity card number (居民身份证号).
    IdNumber,
    /// Mobile phone number.
    Mobile,
    /// Landline number.
    Landline,
    /// Bank card number.
    BankCard,
    /// Person's name.
    Name,
    /// E-mail address.
    Email,
    /// Postal address.
    Address,
    /// Passport or travel permit number.
    Passport,
    /// Date of birth.
    BirthDate,
    /// Any other text.
    Text,
}

impl FieldType {
    /// Every type, in documentation order.
    pub const ALL: [FieldType; 10] = [
        FieldType::IdNumber,
        FieldType::Mobile,
        FieldType::Landline,
        FieldType::BankCard,
        FieldType::Name,
        FieldType::Email,
        FieldType::Address,
        FieldType::Passport,
        FieldType::BirthDate,
        FieldType::Text,
    ];

    /// The type's name in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::IdNumber => "id_number",
            FieldType::Mobile => "mobile",
            FieldType::Landline => "landline",
            FieldType::BankCard => "bank_card",
            FieldType::Name => "name",
            FieldType::Email => "email",
            FieldType::Address => "address",
            FieldType::Passport => "passport",
            FieldType::BirthDate => "birth_date",
            FieldType::Text => "text",
        }
    }

    /// The longest value accepted, in bytes of UTF-8.
    pub fn max_len(self) -> usize {
        match self {
            FieldType::Text => 64 * 1024,
            FieldType::Address => 1024,
            _ => 256,
        }
    }
}

/// A field: its type, optionally with a label to tell two fields of one type apart
/// (`mobile`, `mobile.emergency_contact`). The whole name is bound into every ciphertext.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FieldName {
    kind: FieldType,
    name: String,
}

impl FieldName {
    /// Parses `<type>` or `<type>.<label>`; labels are 1 to 32 of `a-z`, `0-9`, `_`.
    pub fn parse(raw: &str) -> Result<Self> {
        let (type_name, label) = match raw.split_once('.') {
            Some((t, l)) => (t, Some(l)),
            None => (raw, None),
        };
        let kind = FieldType::ALL
            .into_iter()
            .find(|t| t.as_str() == type_name)
            .ok_or(Error::InvalidField)?;
        if let Some(label) = label {
            let ok = !label.is_empty()
                && label.len() <= 32
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !ok {
                return Err(Error::InvalidField);
            }
        }
        Ok(Self {
            kind,
            name: raw.to_owned(),
        })
    }

    /// The field's type.
    pub fn kind(&self) -> FieldType {
        self.kind
    }

    /// The whole name.
    pub fn as_str(&self) -> &str {
        &self.name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels() {
        let f = FieldName::parse("mobile.emergency_contact").unwrap();
        assert_eq!(f.kind(), FieldType::Mobile);
        assert_eq!(f.as_str(), "mobile.emergency_contact");
        for t in FieldType::ALL {
            assert_eq!(FieldName::parse(t.as_str()).unwrap().kind(), t);
        }
        for bad in [
            "",
            "phone",
            "mobile.",
            "mobile.A",
            "mobile.a.b",
            ".x",
            "Mobile",
        ] {
            assert!(FieldName::parse(bad).is_err(), "{bad}");
        }
    }
}
