//! International bank account numbers (ISO 13616): a country code, two check digits and a
//! basic bank account number of the country's length, optionally printed in groups of four;
//! the MOD 97-10 check (ISO 7064) must give 1.

use regex::Regex;

use super::scan::{Text, bounded, find_from, pattern};
use super::{Candidate, Detector};
use crate::pi_type::PiType;

/// IBAN lengths of the countries whose accounts Chinese platforms meet most (SWIFT
/// registry): Europe, the Gulf and a few others.
const LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AT", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("CH", 21),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("EE", 20),
    ("ES", 24),
    ("FI", 18),
    ("FR", 27),
    ("GB", 22),
    ("GR", 27),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IS", 26),
    ("IT", 27),
    ("KW", 30),
    ("KZ", 20),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MT", 31),
    ("NL", 18),
    ("NO", 15),
    ("PK", 24),
    ("PL", 28),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("SA", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("TR", 26),
];

/// Whether the letters `a`, `b` are the code of a country in [`LENGTHS`] (which is sorted).
pub(crate) fn is_country(a: u8, b: u8) -> bool {
    (LENGTHS.binary_search_by(|(c, _)| c.as_bytes().cmp(&[a, b][..]))).is_ok()
}

/// Finds IBANs.
pub struct Iban {
    re: Regex,
}

impl Iban {
    /// The detector.
    pub fn new() -> Iban {
        Iban {
            re: pattern(r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,6}(?: ?[A-Z0-9]{1,4})?"),
        }
    }
}

/// The MOD 97-10 check of a compacted IBAN.
fn checks(iban: &str) -> bool {
    let Some(&(_, len)) = LENGTHS.iter().find(|(c, _)| iban.starts_with(c)) else {
        return false;
    };
    if iban.len() != len {
        return false;
    }
    let rotated = iban[4..].bytes().chain(iban[..4].bytes());
    let mut rest = 0u32;
    for b in rotated {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        rest = if v >= 10 {
            (rest * 100 + v) % 97
        } else {
            (rest * 10 + v) % 97
        };
    }
    rest == 1
}

impl Detector for Iban {
    fn pi_type(&self) -> PiType {
        PiType::Iban
    }

    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        if !text.upper {
            return;
        }
        let from = text.country_then_digits();
        find_from(&self.re, text, from, PiType::Iban, out, |s, e| {
            let compacted: String = text[s..e].chars().filter(|c| *c != ' ').collect();
            (bounded(text, s, e) && checks(&compacted)).then_some((0.95, "iso7064-mod97"))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_sorted_for_their_search() {
        assert!(LENGTHS.windows(2).all(|w| w[0].0 < w[1].0));
        assert!(is_country(b'G', b'B') && is_country(b'A', b'D') && is_country(b'T', b'R'));
        assert!(!is_country(b'C', b'N'));
    }

    #[test]
    fn ibans() {
        let mut out = Vec::new();
        let text = "IBAN GB82 WEST 1234 5698 7654 32 and DE89370400440532013000.";
        Iban::new().find(&Text::new(text), &mut out);
        let got: Vec<&str> = out.iter().map(|c| &text[c.start..c.end]).collect();
        assert_eq!(
            got,
            ["GB82 WEST 1234 5698 7654 32", "DE89370400440532013000"]
        );
        out.clear();
        // Two capitals and digits that are no country's do not hide the IBAN after them.
        let text = "ref XY12, then GB82 WEST 1234 5698 7654 32";
        Iban::new().find(&Text::new(text), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(
            &text[out[0].start..out[0].end],
            "GB82 WEST 1234 5698 7654 32"
        );
        out.clear();
        Iban::new().find(&Text::new("GB82 WEST 1234 5698 7654 33"), &mut out);
        assert!(out.is_empty());
    }
}
