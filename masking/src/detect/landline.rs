//! Landline numbers with their area code: `010-12345678`, `(021)62345678`, `0755 2345678`.
//! Area codes follow the national plan: `010` and `02x` take 8-digit local numbers; four-digit
//! codes `03xx`–`09xx` take 7 or 8 digits; local numbers do not start with 0, 1 or 9.

use regex::Regex;

use super::scan::{Text, bounded, find_with, pattern};
use super::{Candidate, Detector};
use crate::pi_type::PiType;

/// Finds landline numbers.
pub struct Landline {
    re: Regex,
}

impl Landline {
    /// The detector.
    pub fn new() -> Landline {
        Landline {
            re: pattern(r"(?:\(0\d{2,3}\) ?|（0\d{2,3}）|0\d{2,3}[- ])[2-8]\d{6,7}"),
        }
    }
}

/// Whether an area code (with its leading 0) and a local number fit the national plan.
fn plan_fits(area: &str, local: &str) -> bool {
    let a = area.as_bytes();
    match a.len() {
        3 => (a[1] == b'1' && a[2] == b'0' || a[1] == b'2') && local.len() == 8,
        4 => (b'3'..=b'9').contains(&a[1]) && (7..=8).contains(&local.len()),
        _ => false,
    }
}

impl Detector for Landline {
    fn pi_type(&self) -> PiType {
        PiType::CnLandline
    }

    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        if !text.has_run(|n| n == 7 || n == 8) {
            return;
        }
        find_with(&self.re, text, PiType::CnLandline, out, |s, e| {
            let raw = &text[s..e];
            let mut parts = raw
                .split(|c: char| !c.is_ascii_digit())
                .filter(|p| !p.is_empty());
            let (Some(area), Some(local)) = (parts.next(), parts.next()) else {
                return None;
            };
            (bounded(text, s, e) && plan_fits(area, local)).then_some((0.7, "area-code-plan"))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        Landline::new().find(&Text::new(text), &mut out);
        out.iter().map(|c| &text[c.start..c.end]).collect()
    }

    #[test]
    fn valid_forms() {
        for l in [
            "010-62345678",
            "(021)86383496",
            "0531-69370974",
            "0931-2345678",
            "（0755）23456789",
        ] {
            assert_eq!(found(&format!("电话{l}。")), [l], "{l}");
        }
    }

    #[test]
    fn lookalikes() {
        assert!(
            found("010-1234567").is_empty(),
            "Beijing numbers have 8 digits"
        );
        assert!(found("011-62345678").is_empty(), "no such area code");
        assert!(
            found("0531-09370974").is_empty(),
            "local numbers do not start with 0"
        );
        assert!(found("2024-03-15").is_empty());
    }
}
