//! Payment cards. Bank cards: 16 to 19 digits whose first digit is a banking or financial
//! industry identifier (3–6, ISO/IEC 7812), contiguous or grouped by four with spaces or
//! hyphens, passing Luhn. International cards of other lengths (Visa 13, Diners Club 14,
//! American Express 15, grouped 4-6-4 or 4-6-5) are `CREDIT_CARD`.

use regex::Regex;

use super::scan::{
    D, Text, bounded, compact_span, digit_in, digits_back, digits_from, find_among, find_from,
    find_runs, find_with, pattern,
};
use super::{Candidate, Detector};
use crate::pi_type::PiType;
use crate::validate;

/// Finds bank cards of 16 to 19 digits.
pub struct BankCard {
    grouped: Regex,
}

impl BankCard {
    /// The detector.
    pub fn new() -> BankCard {
        BankCard {
            grouped: pattern(&format!(
                "[3-6３-６]{D}{{3}}[ -]{D}{{4}}[ -]{D}{{4}}[ -]{D}{{4}}(?:[ -]{D}{{1,3}})?"
            )),
        }
    }
}

/// Whether compacted digits are a bank card: a banking identifier, 16 to 19 digits, Luhn.
fn bank_card(digits: &str) -> bool {
    digits.starts_with(['3', '4', '5', '6']) && validate::bank_card(digits)
}

impl Detector for BankCard {
    fn pi_type(&self) -> PiType {
        PiType::BankCard
    }

    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        if !text.has_run(4..=usize::MAX) {
            return;
        }
        find_runs(text, (16, 19), PiType::BankCard, out, |s, e| {
            bank_card(&compact_span(text, s, e)).then_some((0.9, "luhn"))
        });
        let judge = |s: usize, e: usize| {
            (bounded(text, s, e) && bank_card(&compact_span(text, s, e))).then_some((0.9, "luhn"))
        };
        // Read from the runs; by the pattern only to test the reading (see `Text::whole`).
        if text.whole() {
            find_with(&self.grouped, text, PiType::BankCard, out, judge);
        } else if text.has_run(4..=4) {
            find_among(text, &grouped(text), PiType::BankCard, out, judge);
        }
    }
}

/// Where the grouped pattern matches, read from the digit runs: the last four digits of a
/// run, the first a banking identifier; two runs of four; the first four of a run of four
/// or more and, when that run has four, up to three digits of the run after it; each one
/// space or hyphen from the next.
fn grouped(text: &Text<'_>) -> Vec<(usize, usize)> {
    let runs = text.all_runs();
    let mut found = Vec::new();
    for (i, w) in text.grouped(&[4..=usize::MAX, 4..=4, 4..=4, 4..=usize::MAX]) {
        let start = digits_back(text, w[0].1, 4);
        if digit_in(text, start, 3..=6).is_none() {
            continue;
        }
        // The optional group: up to three digits of the next run, after a group of four.
        let d = &w[3];
        let (last, digits) = match runs.get(i + 4) {
            Some(e) if d.2 == 4 && text.joined(d, e) => (e.0, 3),
            _ => (d.0, 4),
        };
        found.push((start, digits_from(text, last, digits).0));
    }
    found
}

/// Finds international cards of 13 to 15 digits.
pub struct CreditCard {
    re: Regex,
}

impl CreditCard {
    /// The detector.
    pub fn new() -> CreditCard {
        CreditCard {
            re: pattern(r"[3-6]\d{3}[ -]\d{6}[ -]\d{4,5}"),
        }
    }
}

/// Whether compacted digits are a 13-, 14- or 15-digit card of a brand that issues them.
fn international(d: &str) -> bool {
    let brand = match d.len() {
        13 => d.starts_with('4'),
        14 => ["36", "38", "300", "301", "302", "303", "304", "305"]
            .iter()
            .any(|p| d.starts_with(p)),
        15 => d.starts_with("34") || d.starts_with("37"),
        _ => false,
    };
    brand && validate::luhn(d)
}

impl Detector for CreditCard {
    fn pi_type(&self) -> PiType {
        PiType::CreditCard
    }

    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        if !text.has_run(4..=usize::MAX) {
            return;
        }
        find_runs(text, (13, 15), PiType::CreditCard, out, |s, e| {
            international(&compact_span(text, s, e)).then_some((0.9, "luhn"))
        });
        // A card the grouped pattern reports is three runs of 4, 6 and 4 or 5 digits: the
        // pattern starts at the first such runs, if any (a match before them is refused).
        let from = text.first_grouped(&[4..=4, 6..=6, 4..=5]);
        find_from(&self.re, text, from, PiType::CreditCard, out, |s, e| {
            (bounded(text, s, e) && international(&compact_span(text, s, e)))
                .then_some((0.9, "luhn"))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::detect::found;
    use crate::detect::scan::compact;

    #[test]
    fn bank_cards() {
        let d = BankCard::new();
        for card in [
            "6222021234567890123",
            "6222 0212 3456 7890 123",
            "4111-1111-1111-1111",
            "5500000000000004",
        ] {
            let digits = compact(card);
            if validate::bank_card(&digits) {
                assert_eq!(found(&d, &format!("卡号{card}。")), [card], "{card}");
            }
        }
        assert_eq!(
            found(&d, "card 4111 1111 1111 1111."),
            ["4111 1111 1111 1111"]
        );
        assert!(found(&d, "4111111111111112").is_empty(), "Luhn");
        // A card after a group that starts none, with its optional last group: found as a
        // search of the whole text finds it (a search cut off at the fifth group missed
        // the last one, and the sixteen digits fail Luhn).
        let text = "流水1111 6222 0212 3456 0000 006。";
        assert_eq!(found(&d, text), ["6222 0212 3456 0000 006"]);
        let mut whole = Vec::new();
        d.find(&Text::ungated(text), &mut whole);
        assert_eq!(whole.len(), 1);
        assert!(
            found(&d, "2024031510223112345").is_empty(),
            "not a banking identifier"
        );
        assert!(
            found(&d, "41111111111111110").is_empty(),
            "17 digits failing Luhn"
        );
    }

    #[test]
    fn international_cards() {
        let d = CreditCard::new();
        assert_eq!(found(&d, "Amex 3782 822463 10005"), ["3782 822463 10005"]);
        assert_eq!(found(&d, "Amex 378282246310005"), ["378282246310005"]);
        assert_eq!(found(&d, "Diners 30569309025904"), ["30569309025904"]);
        assert_eq!(found(&d, "visa 4222222222222"), ["4222222222222"]);
        assert!(found(&d, "378282246310006").is_empty());
    }
}
