//! Resident identity numbers (GB 11643-1999): 18 characters, optionally printed as 6-8-4
//! groups, with a lower-case `x` or full-width digits as typed; and the 15-digit legacy
//! form, which has no check character and is reported only after a context word.

use regex::Regex;

use super::scan::{
    ContextWords, D, Text, bounded, compact, compact_span, find_from, find_runs, pattern,
};
use super::{Candidate, Detector};
use crate::pi_type::PiType;
use crate::validate;

const CONTEXT: &[&str] = &["身份证", "证件", "id", "identity", "resident"];

/// Finds resident identity numbers.
pub struct CnId {
    spaced: Regex,
    context: ContextWords,
    latest_year: u32,
}

impl CnId {
    /// A detector that accepts birth years up to `latest_year`.
    pub fn new(latest_year: u32) -> CnId {
        CnId {
            spaced: pattern(&format!("{D}{{6}} {D}{{8}} {D}{{3}}[0-9０-９XxＸｘ]")),
            context: ContextWords::new(CONTEXT),
            latest_year,
        }
    }

    /// The contiguous form: 18 digits, or 17 and a check character `X` (either case, either
    /// width).
    fn contiguous(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        if !text.has_run(17..=18) {
            return;
        }
        for &(s, e, n) in text.all_runs() {
            let end = match n {
                18 => e,
                17 => match text[e..].chars().next() {
                    Some(c @ ('X' | 'x' | 'Ｘ' | 'ｘ')) => e + c.len_utf8(),
                    _ => continue,
                },
                _ => continue,
            };
            if !bounded(text, s, end) {
                continue;
            }
            let id = if text[s..end].is_ascii() {
                std::borrow::Cow::Borrowed(&text[s..end])
            } else {
                std::borrow::Cow::Owned(
                    compact(&text[s..end].replace(['Ｘ', 'ｘ'], "X")).into_owned(),
                )
            };
            if validate::cn_id(&id, self.latest_year) {
                out.push(Candidate {
                    pi_type: PiType::CnId,
                    start: s,
                    end,
                    score: 1.0,
                    validator: "gb11643",
                });
            }
        }
    }
}

impl Detector for CnId {
    fn pi_type(&self) -> PiType {
        PiType::CnId
    }

    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        let year = self.latest_year;
        self.contiguous(text, out);
        find_runs(text, (15, 15), PiType::CnId, out, |s, e| {
            (validate::cn_id(&compact_span(text, s, e), year) && self.context.before(text, s, 32))
                .then_some((0.9, "gb11643-15"))
        });
        // Printed 6-8-4, an ID is three runs of 6, 8 and 3 or 4 digits (the last may end
        // with an X): the pattern starts at the first such runs, if any.
        let from = text.first_grouped(&[6..=6, 8..=8, 3..=4]);
        find_from(&self.spaced, text, from, PiType::CnId, out, |s, e| {
            let spaced = text[s..e].replace(['Ｘ', 'ｘ'], "X");
            let id = compact(&spaced);
            (bounded(text, s, e) && validate::cn_id(&id, year)).then_some((1.0, "gb11643"))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        CnId::new(2026).find(&Text::new(text), &mut out);
        out.iter().map(|c| &text[c.start..c.end]).collect()
    }

    #[test]
    fn valid_forms() {
        assert_eq!(found("身份证11010519491231002X。"), ["11010519491231002X"]);
        assert_eq!(found("id 110105 19491231 002x"), ["110105 19491231 002x"]);
        assert_eq!(
            found("证件１１０１０５１９４９１２３１００２Ｘ"),
            ["１１０１０５１９４９１２３１００２Ｘ"]
        );
        assert_eq!(found("旧身份证号110105491231002"), ["110105491231002"]);
    }

    #[test]
    fn lookalikes() {
        assert!(found("110105194912310021").is_empty(), "check character");
        assert!(found("11010519491331002X").is_empty(), "month 13");
        assert!(
            found("911010519491231002X").is_empty(),
            "inside a longer run"
        );
        assert!(
            found("流水110105491231002").is_empty(),
            "15 digits without context"
        );
    }
}
