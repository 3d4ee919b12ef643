//! Tokens that stand for stored values: random and opaque, or format-preserving for the
//! two kinds of PI that other systems validate by shape.
//!
//! - Random: `tok_` and 26 base32 characters (128 random bits).
//! - Bank card: the same length as the card number, its first 6 and last 4 digits kept (the
//!   issuer and the digits people are shown), the middle random, the whole passing Luhn, and
//!   never equal to the card number. Nothing else of the number is in the token.
//! - Mobile: 11 digits with an allocated mainland prefix, random otherwise (nothing of the
//!   number is kept), never equal to the number.
//!
//! Tokens are random, not derived from the value: equal values of two subjects get unrelated
//! tokens, and a token reveals nothing beyond what is listed above. The mapping is stored.

use data_encoding::BASE32_NOPAD;

use crate::field::FieldType;
use crate::index::normalize;

/// How tokens of a field are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenFormat {
    /// `tok_…`, 128 random bits.
    Random,
    /// Bank cards and mobile numbers keep their shape (other types fall back to random).
    FormatPreserving,
}

/// Mainland mobile prefixes a format-preserving mobile token starts with.
const MOBILE_PREFIXES: [&str; 16] = [
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "157",
    "158", "159", "188",
];

/// A new token for `value` of type `kind`.
pub fn new_token(kind: FieldType, value: &str, format: TokenFormat) -> String {
    if format == TokenFormat::FormatPreserving {
        match kind {
            FieldType::BankCard => {
                if let Some(t) = bank_card_token(&normalize(kind, value)) {
                    return t;
                }
            }
            FieldType::Mobile => {
                if let Some(t) = mobile_token(&normalize(kind, value)) {
                    return t;
                }
            }
            _ => {}
        }
    }
    random_token()
}

fn random_token() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    format!("tok_{}", BASE32_NOPAD.encode(&bytes).to_ascii_lowercase())
}

fn random_digit() -> u8 {
    // Rejection sampling keeps the digits uniform.
    loop {
        let mut b = [0u8; 1];
        rand::fill(&mut b);
        if b[0] < 250 {
            return b[0] % 10;
        }
    }
}

fn bank_card_token(digits: &str) -> Option<String> {
    let n = digits.len();
    if !(12..=19).contains(&n) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    loop {
        let mut token: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
        for d in token.iter_mut().take(n - 4).skip(6) {
            *d = random_digit();
        }
        // Fix the Luhn sum with the last middle digit (position n-5).
        let fix = n - 5;
        token[fix] = 0;
        let sum = luhn_sum(&token);
        let weight_doubled = (n - 1 - fix) % 2 == 1;
        let need = u8::try_from((10 - sum % 10) % 10).unwrap_or(0);
        token[fix] = if weight_doubled {
            // Find d with doubled(d) ≡ need (mod 10); doubling is a bijection on 0..=9 mod 10.
            (0..10u8).find(|d| doubled(*d) % 10 == need).unwrap_or(0)
        } else {
            need
        };
        let text: String = token.iter().map(|d| char::from(b'0' + d)).collect();
        if text != digits && luhn_valid(&text) {
            return Some(text);
        }
    }
}

fn mobile_token(digits: &str) -> Option<String> {
    if digits.len() != 11 || !digits.starts_with('1') {
        return None;
    }
    loop {
        let mut pick = [0u8; 1];
        rand::fill(&mut pick);
        let mut token = MOBILE_PREFIXES[usize::from(pick[0]) % MOBILE_PREFIXES.len()].to_owned();
        for _ in 0..8 {
            token.push(char::from(b'0' + random_digit()));
        }
        if token != digits {
            return Some(token);
        }
    }
}

fn doubled(d: u8) -> u8 {
    let x = d * 2;
    if x > 9 { x - 9 } else { x }
}

fn luhn_sum(digits: &[u8]) -> u32 {
    digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(if i % 2 == 1 { doubled(*d) } else { *d }))
        .sum()
}

/// Whether a string of ASCII digits passes the Luhn check.
pub fn luhn_valid(digits: &str) -> bool {
    let ds: Vec<u8> = digits.bytes().map(|b| b.wrapping_sub(b'0')).collect();
    !ds.is_empty() && ds.iter().all(|d| *d <= 9) && luhn_sum(&ds).is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn luhn() {
        assert!(luhn_valid("4111111111111111"));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("41x1"));
        assert!(!luhn_valid("4111111111111112"));
    }

    proptest! {
        #[test]
        fn bank_card_tokens_keep_shape_and_only_first6_last4(middle in "[0-9]{6,9}") {
            let card = format!("622202{middle}1234");
            let token = new_token(FieldType::BankCard, &card, TokenFormat::FormatPreserving);
            prop_assert_eq!(token.len(), card.len());
            prop_assert!(token.bytes().all(|b| b.is_ascii_digit()));
            prop_assert_eq!(&token[..6], "622202");
            prop_assert_eq!(&token[token.len() - 4..], "1234");
            prop_assert!(luhn_valid(&token));
            prop_assert_ne!(&token, &card);
        }

        #[test]
        fn grouped_card_numbers_are_tokenised_by_their_digits(middle in "[0-9]{9}") {
            let card = format!("6222 02{} {} 1234", &middle[..4], &middle[4..]);
            let token = new_token(FieldType::BankCard, &card, TokenFormat::FormatPreserving);
            prop_assert_eq!(token.len(), 19);
            prop_assert!(luhn_valid(&token));
        }

        #[test]
        fn mobile_tokens_have_the_shape_of_a_mobile_number(rest in "[0-9]{8}") {
            let mobile = format!("138{rest}");
            let token = new_token(FieldType::Mobile, &format!("+86 {mobile}"), TokenFormat::FormatPreserving);
            prop_assert_eq!(token.len(), 11);
            prop_assert!(MOBILE_PREFIXES.contains(&&token[..3]));
            prop_assert_ne!(token, mobile);
        }
    }

    #[test]
    fn random_tokens_and_fallbacks() {
        let a = new_token(FieldType::Name, "张三", TokenFormat::FormatPreserving);
        let b = new_token(FieldType::Name, "张三", TokenFormat::FormatPreserving);
        assert!(a.starts_with("tok_") && a.len() == 30);
        assert_ne!(a, b, "equal values get unrelated tokens");
        let odd = new_token(FieldType::BankCard, "12-34", TokenFormat::FormatPreserving);
        assert!(odd.starts_with("tok_"), "not a card number: random token");
        let random_card = new_token(
            FieldType::BankCard,
            "6222021234567890123",
            TokenFormat::Random,
        );
        assert!(random_card.starts_with("tok_"));
    }
}
