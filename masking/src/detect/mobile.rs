//! Mainland mobile numbers: 11 digits in an allocated number block, with or without the
//! `+86`/`0086` prefix, grouped 3-4-4 by spaces or hyphens, in ASCII or full-width digits.

use regex::Regex;

use super::scan::{D, compact, continues, find_with, pattern};
use super::{Candidate, Detector};
use crate::pi_type::PiType;
use crate::validate;

/// Finds mobile numbers.
pub struct Mobile {
    re: Regex,
}

impl Mobile {
    /// The detector.
    pub fn new() -> Mobile {
        Mobile {
            re: pattern(&format!(
                r"(?:(?:\+|00|＋)86[ -]?)?{D}{{3}}[ -]?{D}{{4}}[ -]?{D}{{4}}"
            )),
        }
    }
}

/// Strips a country prefix from compacted digits.
fn national(digits: &str) -> &str {
    digits
        .strip_prefix("0086")
        .or_else(|| digits.strip_prefix("86").filter(|d| d.len() == 11))
        .unwrap_or(digits)
}

impl Detector for Mobile {
    fn pi_type(&self) -> PiType {
        PiType::CnMobile
    }

    fn find(&self, text: &str, out: &mut Vec<Candidate>) {
        find_with(&self.re, text, PiType::CnMobile, out, |s, e| {
            let before = text[..s].chars().next_back();
            let after = text[e..].chars().next();
            if before.is_some_and(|c| continues(c) || c == '+') || after.is_some_and(continues) {
                return None;
            }
            let raw = &text[s..e];
            let digits = compact(raw);
            let prefixed = raw.starts_with(['+', '＋']) || digits.starts_with("0086");
            let number = if prefixed { national(&digits) } else { &digits };
            validate::cn_mobile(number).then_some((0.85, "miit-block"))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        Mobile::new().find(text, &mut out);
        out.iter().map(|c| &text[c.start..c.end]).collect()
    }

    #[test]
    fn valid_forms() {
        for m in [
            "13800138000",
            "+86 186 3064 5747",
            "+8613800138000",
            "+86-138-0013-8000",
            "008613800138000",
            "138 0013 8000",
            "138-0013-8000",
            "１３８００１３８０００",
        ] {
            assert_eq!(found(&format!("手机{m}，")), [m], "{m}");
        }
    }

    #[test]
    fn lookalikes() {
        assert!(
            found("工号12012345678").is_empty(),
            "12x is no mobile block"
        );
        assert!(
            found("订单202106177013369678781").is_empty(),
            "inside a longer run"
        );
        assert!(found("14012345678").is_empty(), "140 is not allocated");
    }
}
