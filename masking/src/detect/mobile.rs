//! Mainland mobile numbers: 11 digits in an allocated number block, with or without the
//! `+86`/`0086` prefix, grouped 3-4-4 by spaces or hyphens, in ASCII or full-width digits.

use regex::Regex;

use super::scan::{
    D, Text, compact_span, continues, digits_back, digits_from, find_among, find_with, glued,
    pattern,
};
use super::{Candidate, Detector};
use crate::pi_type::PiType;
use crate::validate;

/// Finds mobile numbers.
pub struct Mobile {
    grouped: Regex,
}

impl Mobile {
    /// The detector.
    pub fn new() -> Mobile {
        Mobile {
            grouped: pattern(&format!(
                r"(?:(?:\+|00|＋)86[ -]?)?{D}{{3}}[ -]{D}{{4}}[ -]{D}{{4}}"
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

/// The country prefixes written before a contiguous number.
const PREFIXES: [&str; 8] = [
    "+86 ", "+86-", "＋86 ", "＋86-", "0086 ", "0086-", "+86", "＋86",
];

impl Mobile {
    /// Contiguous forms: 11 digits (with a separate `+86 ` before them), `+86` and 11
    /// digits, `0086` and 11 digits.
    fn contiguous(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        if ![11, 13, 15].iter().any(|&n| text.has_run(n..=n)) {
            return;
        }
        for &(s, e, n) in text.all_runs() {
            if !matches!(n, 11 | 13 | 15)
                || text[e..].chars().next().is_some_and(continues)
                || glued(text, s, e)
            {
                continue;
            }
            let before = text[..s].chars().next_back();
            let digits = compact_span(text, s, e);
            // Whether the country code that starts at `start` belongs to something before
            // it: a letter or a digit touches it, or the inside of a masked value does
            // (`4:0:0:*＋86…`, what masking `4::FFF＋86…` left).
            let prefix_taken = |start: usize| {
                text[..start].chars().next_back().is_some_and(continues) || glued(text, start, e)
            };
            let start = match n {
                // After `@` a number is an e-mail's domain, as for every other number
                // (see `bounded`).
                11 if !before.is_some_and(|c| continues(c) || matches!(c, '+' | '＋' | '@')) => {
                    // Each of these prefixes ends with a space or a hyphen.
                    let prefix = matches!(before, Some(' ' | '-'))
                        .then(|| PREFIXES[..6].iter().find(|p| text[..s].ends_with(*p)))
                        .flatten();
                    let start = s - prefix.map_or(0, |p| p.len());
                    if start < s && prefix_taken(start) {
                        s
                    } else {
                        start
                    }
                }
                13 if digits.starts_with("86") && matches!(before, Some('+' | '＋')) => {
                    let start = s - before.map_or(0, char::len_utf8);
                    if prefix_taken(start) {
                        continue;
                    }
                    start
                }
                15 if digits.starts_with("0086") && !before.is_some_and(continues) => s,
                _ => continue,
            };
            if validate::cn_mobile(national(&digits)) || (n == 11 && validate::cn_mobile(&digits)) {
                out.push(Candidate {
                    pi_type: PiType::CnMobile,
                    start,
                    end: e,
                    score: 0.85,
                    validator: "miit-block",
                });
            }
        }
    }
}

/// The country codes the grouped pattern allows before the first group.
const GROUPED_PREFIXES: [&str; 9] = [
    "+86", "+86 ", "+86-", "0086", "0086 ", "0086-", "＋86", "＋86 ", "＋86-",
];

impl Mobile {
    /// Where the grouped pattern matches, read from the digit runs: the last three digits
    /// of a run, a run of four, the first four of a run of four or more, one space or
    /// hyphen apart; with the country code right before, if any, first.
    fn grouped(text: &Text<'_>) -> Vec<(usize, usize)> {
        let mut found = Vec::new();
        for (_, w) in text.grouped(&[3..=usize::MAX, 4..=4, 4..=usize::MAX]) {
            let (start, end) = (digits_back(text, w[0].1, 3), digits_from(text, w[2].0, 4).0);
            let prefix = GROUPED_PREFIXES
                .iter()
                .find(|p| text[..start].ends_with(*p));
            if let Some(prefix) = prefix {
                found.push((start - prefix.len(), end));
            }
            found.push((start, end));
        }
        found.sort_by_key(|&(start, _)| start);
        found
    }
}

impl Detector for Mobile {
    fn pi_type(&self) -> PiType {
        PiType::CnMobile
    }

    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        self.contiguous(text, out);
        // Grouped 3-4-4, after a country code or not.
        let judge = |s: usize, e: usize| {
            let before = text[..s].chars().next_back();
            let after = text[e..].chars().next();
            if before.is_some_and(|c| continues(c) || c == '+' || c == '@')
                || after.is_some_and(continues)
                || glued(text, s, e)
            {
                return None;
            }
            let raw = &text[s..e];
            let digits = compact_span(text, s, e);
            let prefixed = raw.starts_with(['+', '＋']) || digits.starts_with("0086");
            let number = if prefixed { national(&digits) } else { &digits };
            validate::cn_mobile(number).then_some((0.85, "miit-block"))
        };
        // Read from the runs; by the pattern only to test the reading (see `Text::whole`).
        if text.whole() {
            find_with(&self.grouped, text, PiType::CnMobile, out, judge);
        } else if text.has_run(4..=4) {
            find_among(text, &Mobile::grouped(text), PiType::CnMobile, out, judge);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<&str> {
        let mut out = Vec::new();
        Mobile::new().find(&Text::new(text), &mut out);
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
        assert!(
            found("E*****13800138000").is_empty(),
            "glued to a masked value"
        );
        assert_eq!(
            found("**13800138000**"),
            ["13800138000"],
            "Markdown's bold is no mask"
        );
    }
}
