//! Unified social credit codes (GB 32100-2015): 18 characters of the code alphabet (no I,
//! O, S, V or Z), the division code in characters 3–8, the MOD-31 check character and the
//! embedded organisation code's MOD-11 check.

use regex::Regex;

use super::scan::{bounded, find_with, pattern};
use super::{Candidate, Detector};
use crate::pi_type::PiType;
use crate::validate;

/// Finds unified social credit codes.
pub struct Uscc {
    re: Regex,
}

impl Uscc {
    /// The detector.
    pub fn new() -> Uscc {
        let class = "[0-9A-HJ-NP-RTUWXY]";
        Uscc {
            re: pattern(&format!("{class}{{2}}[0-9]{{6}}{class}{{10}}")),
        }
    }
}

impl Detector for Uscc {
    fn pi_type(&self) -> PiType {
        PiType::CnUscc
    }

    fn find(&self, text: &str, out: &mut Vec<Candidate>) {
        find_with(&self.re, text, PiType::CnUscc, out, |s, e| {
            (bounded(text, s, e) && validate::cn_uscc(&text[s..e])).then_some((0.95, "gb32100"))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_lookalikes() {
        let mut out = Vec::new();
        Uscc::new().find("代码91350100M000100Y43，", &mut out);
        assert_eq!(out.len(), 1);
        out.clear();
        Uscc::new().find("代码91350100M000100Y44，", &mut out);
        assert!(out.is_empty());
    }
}
