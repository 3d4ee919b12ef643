//! Values checked against their field's type before they are written: a field named after a
//! PI type with a validator (resident ID number, mobile number, bank card, e-mail address)
//! must hold a value of that type, written any usual way (normalised as search does), unless
//! the platform says the field is free-form.

use baomi_vault::{FieldName, FieldType};

use crate::service::ErrorCode;

/// The code of a value that is not of its field's type.
pub const INVALID_VALUE: ErrorCode = ErrorCode::VaultInvalidValue;

/// Checks `value` for `field`; the error says what the field must hold (never the value).
pub fn check(field: &FieldName, value: &str) -> Result<(), &'static str> {
    let kind = field.kind();
    if value.len() > kind.max_len() {
        // Too long for its field at all: the vault's own refusal (`vault.value_too_long`)
        // says so more plainly than a shape would.
        return Ok(());
    }
    let n = baomi_vault::index::normalize(kind, value);
    let (ok, what) = match kind {
        FieldType::IdNumber => (
            baomi_masking::validate::cn_id(&n, current_year()),
            "a resident identity number (GB 11643: region, birth date, check digit)",
        ),
        FieldType::Mobile => (
            baomi_masking::validate::cn_mobile(&n),
            "an 11-digit mainland mobile number in an allocated block",
        ),
        FieldType::BankCard => (
            baomi_masking::validate::bank_card(&n),
            "a bank card number of 16 to 19 digits that passes the Luhn check",
        ),
        FieldType::Email => (email(&n), "an e-mail address"),
        _ => (true, ""),
    };
    if ok { Ok(()) } else { Err(what) }
}

/// One `@` between a non-empty local part and a domain with a dot, no white space.
fn email(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !s.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

fn current_year() -> u32 {
    u32::try_from(time::OffsetDateTime::now_utc().year()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(f: &str) -> FieldName {
        FieldName::parse(f).unwrap()
    }

    #[test]
    fn typed_fields_hold_values_of_their_type() {
        assert!(check(&field("mobile"), "+86 138-0013-8000").is_ok());
        assert!(check(&field("mobile.work"), "139123456789999").is_err());
        assert!(check(&field("id_number"), "11010519491231002X").is_ok());
        assert!(check(&field("id_number"), "110105194912310021").is_err());
        assert!(check(&field("bank_card"), "6222 0212 3456 7890 128").is_ok());
        assert!(check(&field("bank_card"), "6222021234567890123").is_err());
        assert!(check(&field("email"), "Zhang.San@Example.cn").is_ok());
        assert!(check(&field("email"), "zhang san@example").is_err());
        assert!(check(&field("text.note"), "anything at all").is_ok());
        assert!(check(&field("name"), "张三").is_ok());
    }
}
