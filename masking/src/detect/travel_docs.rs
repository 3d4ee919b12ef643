//! Travel documents of the People's Republic of China. None carries a check character, so a
//! context word before the number raises the score; a bare number that only could be one is
//! scored below the default threshold where the form is common in other identifiers.
//!
//! - Passports: `E` + 8 digits, `E` + a letter (no I or O) + 7 digits (e-passports), `G` + 8
//!   digits (older ordinary passports); diplomatic, service and public-affairs passports
//!   (`D`, `S`, `P` + 7 digits) only after a context word.
//! - Hong Kong and Macao: 往来港澳通行证 `C` + 8 digits or `C` + letter + 7 digits;
//!   港澳居民来往内地通行证 (回乡证) `H` or `M` + 8 or 10 digits.
//! - Taiwan: 往来台湾通行证 `L` + 8 digits; 台湾居民来往大陆通行证 (台胞证) 8 digits, only
//!   after a context word.

use regex::Regex;

use super::scan::{ContextWords, Text, bounded, find_from, find_runs, offer, pattern};
use super::{Candidate, Detector};
use crate::pi_type::PiType;

/// One pattern of document numbers: its regular expression, and the same pattern read
/// around a run of ASCII digits: given the text's bytes, where the run starts and how many
/// digits it has, where the letters before it that make a number of this pattern start.
struct Form {
    re: Regex,
    letters: fn(&[u8], usize, usize) -> Option<usize>,
}

impl Form {
    fn new(re: &str, letters: fn(&[u8], usize, usize) -> Option<usize>) -> Form {
        Form {
            re: pattern(re),
            letters,
        }
    }
}

/// The byte before `at`, if any.
fn byte_before(bytes: &[u8], at: usize) -> Option<u8> {
    at.checked_sub(1).map(|i| bytes[i])
}

/// Whether `b` is an upper-case letter a document number's second letter can be (not `I`
/// or `O`).
fn second_letter(b: u8) -> bool {
    b.is_ascii_uppercase() && b != b'I' && b != b'O'
}

fn find_documents(
    form: &Form,
    text: &Text<'_>,
    pi_type: PiType,
    words: &ContextWords,
    bare_score: Option<f32>,
    out: &mut Vec<Candidate>,
) {
    let judge = |s: usize, e: usize| {
        if !bounded(text, s, e) {
            return None;
        }
        if words.before(text, s, 40) {
            Some((0.9, "format+context"))
        } else {
            bare_score.map(|score| (score, "format"))
        }
    };
    if text.whole() {
        find_from(&form.re, text, Some(0), pi_type, out, judge);
        return;
    }
    // A number the pattern reports stands alone, so its digits are a whole run of ASCII
    // digits (7, 8 or 10 in every form) right after an upper-case letter: read the letters
    // before each.
    let digits = |n: usize| matches!(n, 7 | 8 | 10);
    let bytes = text.as_bytes();
    for (s, e, n) in text.lettered_runs() {
        if digits(n)
            && e - s == n
            && let Some(start) = (form.letters)(bytes, s, n)
        {
            offer(out, pi_type, (start, e), judge(start, e));
        }
    }
}

/// Finds passport numbers.
pub struct Passport {
    common: Form,
    official: Form,
    words: ContextWords,
}

const PASSPORT_WORDS: &[&str] = &["护照", "passport"];

impl Passport {
    /// The detector.
    pub fn new() -> Passport {
        Passport {
            common: Form::new(r"[EG][0-9]{8}|E[A-HJ-NP-Z][0-9]{7}", |b, s, n| {
                match (n, byte_before(b, s)?) {
                    (8, b'E' | b'G') => Some(s - 1),
                    (7, l) if second_letter(l) && byte_before(b, s - 1) == Some(b'E') => {
                        Some(s - 2)
                    }
                    _ => None,
                }
            }),
            official: Form::new(r"[DSP]E?[0-9]{7}", |b, s, n| {
                match (n, byte_before(b, s)?) {
                    (7, b'E') if matches!(byte_before(b, s - 1), Some(b'D' | b'S' | b'P')) => {
                        Some(s - 2)
                    }
                    (7, b'D' | b'S' | b'P') => Some(s - 1),
                    _ => None,
                }
            }),
            words: ContextWords::new(PASSPORT_WORDS),
        }
    }
}

impl Detector for Passport {
    fn pi_type(&self) -> PiType {
        PiType::CnPassport
    }

    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        if !text.upper {
            return;
        }
        find_documents(
            &self.common,
            text,
            PiType::CnPassport,
            &self.words,
            Some(0.6),
            out,
        );
        find_documents(
            &self.official,
            text,
            PiType::CnPassport,
            &self.words,
            Some(0.3),
            out,
        );
    }
}

/// Finds Hong Kong and Macao travel permits.
pub struct HkmoPermit {
    outbound: Form,
    inbound: Form,
    words: ContextWords,
}

const HKMO_WORDS: &[&str] = &["通行证", "港澳", "回乡证", "permit", "home return"];

impl HkmoPermit {
    /// The detector.
    pub fn new() -> HkmoPermit {
        HkmoPermit {
            outbound: Form::new(r"C[0-9]{8}|C[A-HJ-NP-Z][0-9]{7}", |b, s, n| {
                match (n, byte_before(b, s)?) {
                    (8, b'C') => Some(s - 1),
                    (7, l) if second_letter(l) && byte_before(b, s - 1) == Some(b'C') => {
                        Some(s - 2)
                    }
                    _ => None,
                }
            }),
            inbound: Form::new(r"[HM][0-9]{10}|[HM][0-9]{8}", |b, s, n| {
                (matches!(n, 8 | 10) && matches!(byte_before(b, s)?, b'H' | b'M')).then(|| s - 1)
            }),
            words: ContextWords::new(HKMO_WORDS),
        }
    }
}

impl Detector for HkmoPermit {
    fn pi_type(&self) -> PiType {
        PiType::CnHkmoPermit
    }

    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        if !text.upper {
            return;
        }
        find_documents(
            &self.outbound,
            text,
            PiType::CnHkmoPermit,
            &self.words,
            Some(0.55),
            out,
        );
        find_documents(
            &self.inbound,
            text,
            PiType::CnHkmoPermit,
            &self.words,
            Some(0.3),
            out,
        );
    }
}

/// Finds Taiwan travel permits.
pub struct TwPermit {
    outbound: Form,
    words: ContextWords,
}

const TW_WORDS: &[&str] = &["台湾", "台胞", "通行证", "permit", "mtp"];

impl TwPermit {
    /// The detector.
    pub fn new() -> TwPermit {
        TwPermit {
            outbound: Form::new(r"L[0-9]{8}", |b, s, n| {
                (n == 8 && byte_before(b, s)? == b'L').then(|| s - 1)
            }),
            words: ContextWords::new(TW_WORDS),
        }
    }
}

impl Detector for TwPermit {
    fn pi_type(&self) -> PiType {
        PiType::CnTwPermit
    }

    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        if !text.has_run(8..=8) {
            return;
        }
        find_documents(
            &self.outbound,
            text,
            PiType::CnTwPermit,
            &self.words,
            Some(0.55),
            out,
        );
        find_runs(text, (8, 8), PiType::CnTwPermit, out, |s, _| {
            self.words
                .before(text, s, 40)
                .then_some((0.9, "format+context"))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(d: &dyn Detector, text: &str) -> Vec<(String, f32)> {
        let mut out = Vec::new();
        d.find(&Text::new(text), &mut out);
        out.iter()
            .map(|c| (text[c.start..c.end].to_owned(), c.score))
            .collect()
    }

    #[test]
    fn passports() {
        let d = Passport::new();
        assert_eq!(
            found(&d, "护照号码E84236982，"),
            [("E84236982".into(), 0.9)]
        );
        assert_eq!(
            found(&d, "passport no. EA1234567"),
            [("EA1234567".into(), 0.9)]
        );
        assert_eq!(found(&d, "G00472011"), [("G00472011".into(), 0.6)]);
        assert_eq!(found(&d, "外交护照DE1234567"), [("DE1234567".into(), 0.9)]);
        assert!(found(&d, "E842369821").is_empty(), "too long");
        assert!(found(&d, "XE84236982").is_empty(), "inside a longer code");
    }

    #[test]
    fn permits() {
        assert_eq!(
            found(&HkmoPermit::new(), "港澳通行证C12345678"),
            [("C12345678".into(), 0.9)]
        );
        assert_eq!(
            found(&TwPermit::new(), "台胞证号码12345678"),
            [("12345678".into(), 0.9)]
        );
        assert!(
            found(&TwPermit::new(), "订单12345678").is_empty(),
            "bare 8 digits need context"
        );
    }
}
