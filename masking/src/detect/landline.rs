//! Landline numbers with their area code, written as people write them: `010-62345678`,
//! `(021) 6234 5678`, `（0755）2345-6789`, `0931 234 5678`, `+86 10 6234 5678`,
//! `0086-755-23456789`, full-width digits, and, right after a word that says a telephone
//! number follows (电话, 座机, Tel, …), unseparated (`01062345678`).
//!
//! Area codes follow the national plan: `010` and `02x` take 8-digit local numbers; four-digit
//! codes `03xx`–`09xx` take 7 or 8 digits; local numbers do not start with 0, 1 or 9. After a
//! country code (+86, 0086, 86) the area code's 0 may be left out.

use regex::{CaptureLocations, Regex};

use super::scan::{
    Compacted, ContextWords, Text, bounded, compact_span, continues, digit_in, digits_from,
    pattern, typed_digit,
};
use super::{Candidate, Detector};
use crate::pi_type::PiType;

/// Words that say the number after them is a telephone number; an unseparated landline is
/// reported only after one of them (lower-case, within [`CUE_WINDOW`] characters).
const CUES: [&str; 9] = [
    "电话", "座机", "固话", "传真", "办公", "tel", "fax", "phone", "致电",
];
/// How far before an unseparated number its cue may be, in characters.
const CUE_WINDOW: usize = 8;

/// A separator between the parts of a number: hyphens and dashes (ASCII and full width), a
/// dot, a space or the ideographic space.
const SEP: &str = r"[-－—–.\x20\x{3000}]";

/// Finds landline numbers.
pub struct Landline {
    /// A written landline, anchored: tried only where a digit run could begin one.
    written: Regex,
    /// The telephone words an unseparated number needs before it.
    cues: ContextWords,
}

impl Landline {
    /// The detector.
    pub fn new() -> Landline {
        let d = "[0-9０-９]";
        let local = format!("[2-8２-８]{d}{{2,3}}{SEP}?{d}{{4}}");
        // Groups in order: country code, bracketed area code, area code, local number.
        Landline {
            written: pattern(&format!(
                r"^(?:(\+86|0086|86){SEP}?)?(?:[(（]\x20?({d}{{2,4}})\x20?[)）][\x20\x{{3000}}]?|({d}{{2,4}}){SEP})({local})"
            )),
            cues: ContextWords::new(&CUES),
        }
    }

    /// The written landline `written` matches at `from`, read from its groups.
    fn matched(&self, text: &str, from: usize, groups: &mut CaptureLocations) -> Option<Written> {
        let m = self.written.captures_read(groups, &text[from..])?;
        // The groups by number (a name costs a lookup): see `new`.
        let [cc, bracketed, area, local] =
            [1, 2, 3, 4].map(|i| groups.get(i).map(|(s, e)| (from + s, from + e)));
        Some(Written {
            end: from + m.end(),
            country: cc.is_some(),
            area: bracketed.or(area)?,
            local: local?,
        })
    }

    /// Judges a written match: its area code (its 0 restored after a country code) and
    /// local number must fit the plan, and it must not be the tail of a longer grouped
    /// number (`2023-0571-8765-4321`, a card's `6226 0952 2336 5327`).
    fn judge(&self, text: &str, start: usize, written: &Written) -> Option<(f32, &'static str)> {
        let end = written.end;
        let digits = |(s, e): (usize, usize)| compact_span(text, s, e);
        let area = digits(written.area);
        let local = digits(written.local);
        let area = match (written.country, area.starts_with('0')) {
            (_, true) => area,
            (true, false) => Compacted::Owned(format!("0{}", &*area)),
            (false, false) => return None,
        };
        // A digit and a separator the match itself uses, right before it: the match is the
        // tail of a longer number grouped the same way (a card's `6226 0952 2336 5327`).
        // Masked digits (`*`) count too: the tail of a masked number is no number of its
        // own (`0086 **** **** 0862 22222222` and `0931-***-0574 2345678` are what masking
        // `0086 0862 2222 0862` and `0931-234-0574` left). Before them any separator but a
        // space will do; before a space, three stars at least (Markdown's `**Tel** ` has
        // two, and masking hides three digits at least), or one or two right after a digit
        // or a number's separator: the tail of a masked value (`4:0:0:*`, what masking an
        // IPv6 address `4::6` left), not emphasis after a word nor a list's bullet.
        let continues_a_number = {
            let mut before = text[..start].chars().rev().peekable();
            match before.next() {
                Some(sep) if !sep.is_alphanumeric() => {
                    let stars = std::iter::from_fn(|| before.next_if_eq(&'*')).count();
                    let uses_sep = text[start..end].contains(sep);
                    let space = matches!(sep, ' ' | '\u{3000}');
                    match stars {
                        0 => uses_sep && before.next().is_some_and(typed_digit),
                        1..=2 => {
                            (!space && is_sep(sep))
                                || (uses_sep
                                    && before.next().is_some_and(|c| {
                                        typed_digit(c)
                                            || c == ':'
                                            || is_sep(c) && !c.is_whitespace()
                                    }))
                        }
                        _ => is_sep(sep) && (uses_sep || !space),
                    }
                }
                _ => false,
            }
        };
        (bounded(text, start, end) && !continues_a_number && plan_fits(&area, &local))
            .then_some((0.7, "area-code-plan"))
    }
}

/// A written landline: where it ends, and the byte ranges of its parts.
#[derive(Debug, PartialEq)]
struct Written {
    end: usize,
    /// It starts with a country code.
    country: bool,
    /// The area code's digits (bracketed or not).
    area: (usize, usize),
    /// The local number, separator included.
    local: (usize, usize),
}

/// The width of the separator ([`SEP`]) at `at`.
fn sep_at(text: &str, at: usize) -> Option<usize> {
    let c = text.get(at..)?.chars().next()?;
    is_sep(c).then(|| c.len_utf8())
}

/// Whether `c` is a separator ([`SEP`]).
fn is_sep(c: char) -> bool {
    matches!(c, '-' | '－' | '—' | '–' | '.' | ' ' | '\u{3000}')
}

/// The written landline at `from`: what the pattern of [`Landline::new`] matches there,
/// read by hand in the order the pattern tries its alternatives (country code first, then
/// without; three digits before the local number's separator first, then two).
fn written_at(text: &str, from: usize) -> Option<Written> {
    [true, false]
        .into_iter()
        .find_map(|country| written_from(text, from, country))
}

/// [`written_at`], with or without a country code.
fn written_from(text: &str, from: usize, country: bool) -> Option<Written> {
    let rest = text.get(from..)?;
    let mut at = from;
    if country {
        at += ["+86", "0086", "86"]
            .into_iter()
            .find(|cc| rest.starts_with(cc))?
            .len();
        at += sep_at(text, at).unwrap_or(0);
    }
    // The area code: bracketed, or two to four digits and a separator.
    let (area, local_at) =
        if let Some(open) = ["(", "（"].into_iter().find(|b| text[at..].starts_with(b)) {
            let start = at + open.len() + usize::from(text[at + open.len()..].starts_with(' '));
            let (end, n) = digits_from(text, start, 5);
            let after = end + usize::from(text[end..].starts_with(' '));
            let close = [")", "）"]
                .into_iter()
                .find(|b| text[after..].starts_with(b))?;
            let mut local_at = after + close.len();
            if let Some(space) = [" ", "\u{3000}"]
                .into_iter()
                .find(|s| text[local_at..].starts_with(s))
            {
                local_at += space.len();
            }
            ((2..=4).contains(&n).then_some((start, end))?, local_at)
        } else {
            let (end, n) = digits_from(text, at, 5);
            let sep = sep_at(text, end).filter(|_| (2..=4).contains(&n))?;
            ((at, end), end + sep)
        };
    // The local number: a digit 2 to 8, two or three digits, an optional separator, four
    // digits.
    let first = digit_in(text, local_at, 2..=8)?;
    let (run_end, run) = digits_from(text, local_at + first, 8);
    let run = run + 1;
    let after_sep = |n: usize| {
        let sep = sep_at(text, run_end).filter(|_| run == n)?;
        let (end, four) = digits_from(text, run_end + sep, 4);
        (four == 4).then_some(end)
    };
    let whole = |n: usize| (run >= n).then(|| digits_from(text, local_at, n).0);
    let end = after_sep(4)
        .or_else(|| whole(8))
        .or_else(|| after_sep(3))
        .or_else(|| whole(7))?;
    Some(Written {
        end,
        country,
        area,
        local: (local_at, end),
    })
}

/// Whether what follows the country code that ends at `end` (after one separator, if any)
/// begins with 1 and a digit other than 0, as a mobile number does (`+86 186 3064 5747`):
/// an area code after a country code that starts with 1 is only ever 10, so no landline
/// begins there, and none is read.
fn mobile_after(text: &str, end: usize) -> bool {
    let at = end + sep_at(text, end).unwrap_or(0);
    let mut next = text[at..].chars();
    matches!(next.next(), Some('1' | '１'))
        && next
            .next()
            .is_some_and(|c| typed_digit(c) && !matches!(c, '0' | '０'))
}

/// Whether an area code (with its leading 0) and a local number fit the national plan.
fn plan_fits(area: &str, local: &str) -> bool {
    let a = area.as_bytes();
    let local_ok = |lengths: std::ops::RangeInclusive<usize>| {
        lengths.contains(&local.len())
            && local
                .as_bytes()
                .first()
                .is_some_and(|b| (b'2'..=b'8').contains(b))
    };
    match a.len() {
        3 => (a[1] == b'1' && a[2] == b'0' || a[1] == b'2') && local_ok(8..=8),
        4 => (b'3'..=b'9').contains(&a[1]) && local_ok(7..=8),
        _ => false,
    }
}

/// Splits an unseparated number into its area code and local number by the plan.
fn split_by_plan(digits: &str) -> Option<(&str, &str)> {
    let b = digits.as_bytes();
    let area_len = match (b.first(), b.get(1), b.get(2)) {
        (Some(b'0'), Some(b'1'), Some(b'0')) | (Some(b'0'), Some(b'2'), _) => 3,
        (Some(b'0'), Some(_), _) => 4,
        _ => return None,
    };
    Some(digits.split_at(area_len))
}

impl Detector for Landline {
    fn pi_type(&self) -> PiType {
        PiType::CnLandline
    }

    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        // Every landline holds a digit run that begins it: an area code with its 0 (3 or 4
        // digits), a country code (86, 0086), or the whole number unseparated (11 or 12).
        // A landline is read only there, so the rest of the text costs nothing.
        if !(text.has_run(2..=4) || text.has_run(11..=12)) {
            return;
        }
        let mut after = 0;
        // The pattern's groups, when it is used (see `Text::whole`).
        let mut groups = None;
        for &(start, end, digits) in text.all_runs() {
            // Only those runs begin a landline (see above).
            if start < after || !matches!(digits, 2..=4 | 11..=12) {
                continue;
            }
            // Read as bytes: a run is ASCII digits and full-width ones (`０` is EF BC 90).
            let run = &text.as_bytes()[start..end];
            let zero = run.starts_with(b"0") || run.starts_with("０".as_bytes());
            let country = matches!(run, b"86" | b"0086");
            if zero && (3..=4).contains(&digits) || country && !mobile_after(text, end) {
                // The match may begin at a `+` or a bracket (and a space) just before, or,
                // when that reads as no landline (`（0531-69370974（`), at the run itself.
                let before = text[..start].trim_end_matches(' ');
                let from = before
                    .strip_suffix(['+', '(', '（'])
                    .map_or(start, str::len);
                let found = [from, start].into_iter().find_map(|from| {
                    // Read by hand; by the pattern only to test the reading (see
                    // `Text::whole`).
                    let written = if text.whole() {
                        let groups = groups.get_or_insert_with(|| self.written.capture_locations());
                        self.matched(text, from, groups)
                    } else {
                        written_at(text, from)
                    }?;
                    self.judge(text, from, &written)
                        .map(|judged| (from, written.end, judged))
                });
                if let Some((s, e, (score, validator))) = found {
                    out.push(Candidate {
                        pi_type: PiType::CnLandline,
                        start: s,
                        end: e,
                        score,
                        validator,
                    });
                    after = e;
                    continue;
                }
            }
            if zero && (11..=12).contains(&digits) && self.unseparated(text, start, end) {
                out.push(Candidate {
                    pi_type: PiType::CnLandline,
                    start,
                    end,
                    score: 0.7,
                    validator: "area-code-plan+context",
                });
            }
        }
    }
}

impl Landline {
    /// Whether the digit run at `start..end` is a landline written unseparated: it fits
    /// the plan and a telephone word comes shortly before it.
    fn unseparated(&self, text: &str, start: usize, end: usize) -> bool {
        // A cue may touch the number on its left (`TEL01062345678`); nothing else may.
        let cue_touches = CUES.iter().any(|c| {
            text.get(start.saturating_sub(c.len())..start)
                .is_some_and(|tail| tail.eq_ignore_ascii_case(c))
        });
        let right_free = !text[end..]
            .chars()
            .next()
            .is_some_and(|c| continues(c) || c == '@');
        let alone = bounded(text, start, end) || cue_touches && right_free;
        let compacted = compact_span(text, start, end);
        alone
            && split_by_plan(&compacted).is_some_and(|(area, local)| plan_fits(area, local))
            && self.cues.before(text, start, CUE_WINDOW)
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

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        /// Texts shaped like written landlines, near misses included: the reading by hand
        /// finds what the pattern matches, part for part.
        #[test]
        fn reading_by_hand_matches_the_pattern(
            text in "(\\+86|0086|86|8|\\+)?[-－—–. \u{3000}]?\
                ([(（] ?[0-9０-９]{1,5} ?[)）]?[ \u{3000}]?|[0-9０-９]{1,5}[-－—–. \u{3000}]?)\
                [0-9０-９]{1,9}[-－—–. \u{3000}]?[0-9０-９]{0,6}[a-z0-9 ]{0,2}",
        ) {
            let landline = Landline::new();
            let mut groups = landline.written.capture_locations();
            proptest::prop_assert_eq!(
                written_at(&text, 0),
                landline.matched(&text, 0, &mut groups),
                "{}",
                text
            );
        }
    }

    proptest::proptest! {
        /// Where a country code is followed by what `mobile_after` calls a mobile, no
        /// reading from the code (or the `+` before it) is a landline the plan accepts.
        #[test]
        fn no_landline_starts_at_a_country_code_before_a_mobile(
            text in "\\+?(86|0086)[-－—–. \u{3000}]?[1１][1-9１-９][0-9０-９]{0,3}[-－—–. \u{3000}]?\
                [0-9０-９]{1,9}[-－—–. \u{3000}]?[0-9０-９]{0,6}",
        ) {
            let landline = Landline::new();
            let code = usize::from(text.starts_with('+'));
            let end = code + if text[code..].starts_with("0086") { 4 } else { 2 };
            proptest::prop_assert!(mobile_after(&text, end), "{}", text);
            for from in [0, code] {
                let judged = written_at(&text, from)
                    .and_then(|written| landline.judge(&text, from, &written));
                proptest::prop_assert_eq!(judged, None, "{}", text);
            }
        }
    }

    #[test]
    fn valid_forms() {
        for l in [
            "010-62345678",
            "(021)86383496",
            "0531-69370974",
            "0931-2345678",
            "（0755）23456789",
            "(010) 6234 5678",
            "0755 2345-6789",
            "0931 234 5678",
            "021.6234.5678",
            "0571—88886666",
            "0571　8888　6666",
            "+86 10 6234 5678",
            "+86-755-23456789",
            "+86 (21) 62345678",
            "0086-10-62345678",
            "86-10-62345678",
            "+86-010-62345678",
            "０１０－６２３４５６７８",
        ] {
            assert_eq!(found(&format!("电话{l}。")), [l], "{l}");
        }
    }

    #[test]
    fn an_extension_is_left_outside() {
        assert_eq!(found("办公电话：010-62345678转801"), ["010-62345678"]);
        assert_eq!(found("Office: 0571-88886666-801."), ["0571-88886666"]);
    }

    #[test]
    fn unseparated_only_after_a_telephone_word() {
        assert_eq!(found("座机01062345678，"), ["01062345678"]);
        assert_eq!(found("Tel 075523456789;"), ["075523456789"]);
        assert!(found("订单编号075523456789").is_empty(), "an order number");
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
        assert!(found("营业时间0800-2200").is_empty());
        assert!(found("10-62345678").is_empty(), "no 0 and no country code");
        assert!(
            found("合同号2023-0571-8765-4321").is_empty(),
            "the tail of a document number"
        );
        assert!(
            found("卡号6226 0952 2336 5327 85").is_empty(),
            "the inside of a card number"
        );
        assert!(
            found("0086 **** **** 0862 22222222").is_empty(),
            "the tail of a masked number"
        );
        for masked in [
            "024 ****0824 3608084",
            "(021)****0574 2345678",
            "（0931）***0574 2345678",
            "(0931) ***0574-2345678",
            "0931 ***0574 2345678",
            "0931-***-0574 2345678",
            "0931 *** 0574 2345678",
        ] {
            assert!(
                found(masked).is_empty(),
                "the kept digits of a masked number"
            );
        }
        assert_eq!(
            found("Tel **0824 3608084**"),
            ["0824 3608084"],
            "in Markdown's bold"
        );
        for markdown in ["**Tel** 0755-23456789", "**Tel** 0755 2345 6789"] {
            assert_eq!(found(markdown), [&markdown[8..]], "after Markdown's bold");
        }
        assert_eq!(
            found("13800138000 0755-23456789"),
            ["0755-23456789"],
            "after another number, separated otherwise"
        );
    }
}
