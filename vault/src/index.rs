//! Blind indexes: search for a value without decrypting anything.
//!
//! The index entry of a value is HMAC-SHA256 over its normalised form, under a key derived
//! with HKDF-SHA256 from the root key for one keyring and one field
//! (`blind-index/v1|<keyring>|<field>`). Equal values give equal entries within a field, so
//! an exact-match search is one lookup; the entry reveals nothing else, and it does not
//! change when the keyring rotates (rotation concerns encryption keys, not index keys).

use crate::field::FieldType;

/// The normalised form of a value, so that the ways people write one value index alike:
/// full-width characters become ASCII; mobile numbers lose `+86`/`0086`, spaces, hyphens and
/// brackets; bank cards and landlines keep only digits; ID numbers and passports lose spaces
/// and are upper-cased (`x` = `X`); e-mail addresses are lower-cased; other text has its
/// white space trimmed and collapsed.
pub fn normalize(kind: FieldType, value: &str) -> String {
    let ascii: String = value.chars().map(half_width).collect();
    match kind {
        FieldType::Mobile => {
            let digits: String = ascii.chars().filter(char::is_ascii_digit).collect();
            let international =
                ascii.trim_start().starts_with('+') || ascii.trim_start().starts_with("00");
            if international {
                digits
                    .strip_prefix("0086")
                    .or_else(|| digits.strip_prefix("86"))
                    .unwrap_or(&digits)
                    .to_owned()
            } else if digits.len() == 13 && digits.starts_with("86") {
                digits[2..].to_owned()
            } else {
                digits
            }
        }
        FieldType::BankCard | FieldType::Landline => {
            ascii.chars().filter(char::is_ascii_digit).collect()
        }
        FieldType::IdNumber | FieldType::Passport => ascii
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        FieldType::Email => ascii.trim().to_lowercase(),
        FieldType::Name | FieldType::Address | FieldType::BirthDate | FieldType::Text => {
            ascii.split_whitespace().collect::<Vec<_>>().join(" ")
        }
    }
}

/// Full-width forms (U+FF01–U+FF5E) and the ideographic space to their ASCII equivalents.
fn half_width(c: char) -> char {
    match c {
        '\u{3000}' => ' ',
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        _ => c,
    }
}

/// The label of the index key of one keyring and field.
pub(crate) fn key_label(keyring: &str, field: &str) -> String {
    format!("blind-index/v1|{keyring}|{field}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobile_forms_agree() {
        for form in [
            "13800138000",
            "+86 138-0013-8000",
            "+8613800138000",
            "0086 138 0013 8000",
            "8613800138000",
            "(138) 0013 8000",
            "１３８００１３８０００",
        ] {
            assert_eq!(normalize(FieldType::Mobile, form), "13800138000", "{form}");
        }
    }

    #[test]
    fn id_cards_emails_and_names() {
        assert_eq!(
            normalize(FieldType::IdNumber, "11010519491231002x"),
            normalize(FieldType::IdNumber, "110105 19491231 002X")
        );
        assert_eq!(
            normalize(FieldType::Email, " Zhang.San@Example.CN "),
            "zhang.san@example.cn"
        );
        assert_eq!(
            normalize(FieldType::BankCard, "6222 0212 3456 7890 123"),
            "6222021234567890123"
        );
        assert_eq!(normalize(FieldType::Name, " 张  三 "), "张 三");
        assert_eq!(
            normalize(FieldType::Landline, "010-8888 6666"),
            "01088886666"
        );
    }
}
