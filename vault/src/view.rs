//! A simple masked view of a decrypted value, per field type, used until the masking
//! crate's policies are wired in: the characters that identify a value least are kept,
//! as Chinese payment apps show them (bank card first 6 and last 4, mobile first 3 and
//! last 4, ID number first 1 and last 2, name the first character).

use crate::field::FieldType;

/// The masked form of `value`.
pub fn masked(kind: FieldType, value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let (first, last) = match kind {
        FieldType::BankCard => (6, 4),
        FieldType::Mobile | FieldType::Landline => (3, 4),
        FieldType::IdNumber => (1, 2),
        FieldType::Passport => (1, 3),
        FieldType::Name => (1, 0),
        FieldType::Email => return masked_email(value),
        FieldType::BirthDate => (4, 0),
        FieldType::Address => (6, 0),
        FieldType::Text => (0, 0),
    };
    keep(&chars, first, last)
}

/// Keeps `first` and `last` characters, but never more than half of a short value.
fn keep(chars: &[char], first: usize, last: usize) -> String {
    let n = chars.len();
    let (first, last) = if first + last >= n {
        let half = n / 2;
        (
            first.min(half),
            last.min(half.saturating_sub(first.min(half))),
        )
    } else {
        (first, last)
    };
    chars
        .iter()
        .enumerate()
        .map(|(i, c)| if i < first || i >= n - last { *c } else { '*' })
        .collect()
}

fn masked_email(value: &str) -> String {
    match value.rsplit_once('@') {
        Some((local, domain)) => {
            let local: Vec<char> = local.chars().collect();
            format!("{}@{domain}", keep(&local, 1, 0))
        }
        None => keep(&value.chars().collect::<Vec<_>>(), 1, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payment_app_conventions() {
        assert_eq!(
            masked(FieldType::BankCard, "6222021234567890123"),
            "622202*********0123"
        );
        assert_eq!(masked(FieldType::Mobile, "13800138000"), "138****8000");
        assert_eq!(
            masked(FieldType::IdNumber, "11010119900307777X"),
            "1***************7X"
        );
        assert_eq!(masked(FieldType::Name, "张三"), "张*");
        assert_eq!(masked(FieldType::Name, "欧阳娜娜"), "欧***");
        assert_eq!(
            masked(FieldType::Email, "zhang.san@example.cn"),
            "z********@example.cn"
        );
        assert_eq!(masked(FieldType::Text, "anything"), "********");
        assert_eq!(masked(FieldType::BirthDate, "1990-03-07"), "1990******");
    }

    #[test]
    fn short_values_never_show_more_than_half() {
        assert_eq!(masked(FieldType::BankCard, "1234"), "12**");
        assert_eq!(masked(FieldType::Mobile, "12"), "1*");
        assert_eq!(masked(FieldType::Name, "张"), "*");
        assert_eq!(masked(FieldType::Mobile, ""), "");
    }
}
