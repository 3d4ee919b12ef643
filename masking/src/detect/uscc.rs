//! Unified social credit codes (GB 32100-2015): 18 characters of the code alphabet (no I,
//! O, S, V or Z), the division code in characters 3–8, the MOD-31 check character and the
//! embedded organisation code's MOD-11 check.

use super::scan::Text;
use super::{Candidate, Detector};
use crate::pi_type::PiType;
use crate::validate;

/// Finds unified social credit codes: standalone words of 18 ASCII letters and digits
/// that pass the standard's checks (in either case, as people type them; letters outside
/// the code alphabet fail).
pub struct Uscc;

impl Uscc {
    /// The detector.
    pub fn new() -> Uscc {
        Uscc
    }
}

impl Detector for Uscc {
    fn pi_type(&self) -> PiType {
        PiType::CnUscc
    }

    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        text.each_word18(|start, end| {
            if validate::cn_uscc(&text[start..end]) {
                out.push(Candidate {
                    pi_type: PiType::CnUscc,
                    start,
                    end,
                    score: 0.95,
                    validator: "gb32100",
                });
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_lookalikes() {
        let mut out = Vec::new();
        Uscc::new().find(&Text::new("代码91350100M000100Y43，"), &mut out);
        assert_eq!(out.len(), 1);
        out.clear();
        Uscc::new().find(&Text::new("代码91350100M000100Y44，"), &mut out);
        assert!(out.is_empty());
    }
}
