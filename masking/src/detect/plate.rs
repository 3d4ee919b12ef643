//! Vehicle licence plates of the mainland (GA 36-2018): the province character, the issuing
//! authority's letter, then five characters (six for new-energy vehicles) of digits and
//! letters without I or O, or a final 学/警/挂/领/港/澳 character; at least two digits.

use regex::Regex;

use super::scan::{Text, find_from, glued, pattern};
use super::{Candidate, Detector};
use crate::pi_type::PiType;

/// The provinces' characters a plate starts with.
pub(crate) const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

/// Finds licence plates.
pub struct Plate {
    re: Regex,
}

impl Plate {
    /// The detector.
    pub fn new() -> Plate {
        Plate {
            re: pattern(&format!(
                "[{PROVINCES}][A-HJ-NP-Z][·• ]?\
                     [A-HJ-NP-Z0-9]{{4}}(?:[A-HJ-NP-Z0-9]{{1,2}}|[挂学警港澳领试超])"
            )),
        }
    }
}

impl Detector for Plate {
    fn pi_type(&self) -> PiType {
        PiType::CnPlate
    }

    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        if !(text.upper && text.non_ascii) {
            return;
        }
        let from = text.province_then_letter();
        find_from(&self.re, text, from, PiType::CnPlate, out, |s, e| {
            let after = text[e..].chars().next();
            let digits = text[s..e].bytes().filter(u8::is_ascii_digit).count();
            (!after.is_some_and(|c| c.is_ascii_alphanumeric()) && digits >= 2 && !glued(text, s, e))
                .then_some((0.8, "ga36"))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plates() {
        let text = "车牌粤B·12345，新能源沪AD12345，京A8888学，苏ABCDEF";
        let mut out = Vec::new();
        Plate::new().find(&Text::new(text), &mut out);
        let got: Vec<&str> = out.iter().map(|c| &text[c.start..c.end]).collect();
        assert_eq!(got, ["粤B·12345", "沪AD12345", "京A8888学"]);
    }
}
