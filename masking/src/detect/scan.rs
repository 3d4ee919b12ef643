//! What the detectors share: boundaries, full-width digits, context words, and a search
//! loop that retries one character later when a match is refused.

use regex::Regex;

use super::Candidate;
use crate::pi_type::PiType;

/// The current calendar year (UTC), bounding birth years.
pub fn current_year() -> u32 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // 365.2425 days a year on average; a day either side of New Year does not matter here.
    u32::try_from(1970 + secs / 31_556_952).unwrap_or(2100)
}

/// `[0-9０-９]`: a digit as typed, in ASCII or full width (CJK input methods).
pub const D: &str = "[0-9０-９]";

/// Whether `c` is an ASCII letter or digit, or a full-width digit: a character that would
/// continue an identifier.
pub fn continues(c: char) -> bool {
    c.is_ascii_alphanumeric() || ('０'..='９').contains(&c)
}

/// Whether the identifier at `start..end` stands alone: no letter or digit touches it.
pub fn bounded(text: &str, start: usize, end: usize) -> bool {
    let before = text[..start].chars().next_back();
    let after = text[end..].chars().next();
    !before.is_some_and(continues) && !after.is_some_and(continues)
}

/// The ASCII letters and digits of `s`, full-width digits folded to ASCII and letters
/// upper-cased; separators dropped.
pub fn compact(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            '０'..='９' => char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_uppercase()),
            _ => None,
        })
        .collect()
}

/// Whether one of `words` (lower-case) ends within the `window` bytes before `start`.
pub fn context_before(text: &str, start: usize, window: usize, words: &[&str]) -> bool {
    let mut from = start.saturating_sub(window);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    let before = text[from..start].to_lowercase();
    words.iter().any(|w| before.contains(w))
}

/// Runs `re` over `text` and offers each match to `judge`, which returns the score and the
/// validator's name, or `None` to refuse it. After a refusal the search restarts one
/// character after the refused match's start, so a refused candidate never hides a real one
/// that overlaps it.
pub fn find_with(
    re: &Regex,
    text: &str,
    pi_type: PiType,
    out: &mut Vec<Candidate>,
    mut judge: impl FnMut(usize, usize) -> Option<(f32, &'static str)>,
) {
    let mut at = 0;
    while at <= text.len() {
        let Some(m) = re.find_at(text, at) else {
            break;
        };
        match judge(m.start(), m.end()) {
            Some((score, validator)) => {
                out.push(Candidate {
                    pi_type,
                    start: m.start(),
                    end: m.end(),
                    score,
                    validator,
                });
                at = m.end().max(m.start() + 1);
            }
            None => {
                at = m.start() + text[m.start()..].chars().next().map_or(1, char::len_utf8);
            }
        }
        while at < text.len() && !text.is_char_boundary(at) {
            at += 1;
        }
    }
}

/// Compiles a pattern written in this crate. The patterns are constants that the unit
/// tests compile, so a failure here is a bug caught before release.
#[allow(
    clippy::expect_used,
    reason = "constant patterns, compiled by every test run"
)]
pub fn pattern(source: &str) -> Regex {
    Regex::new(source).expect("a constant pattern compiles")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_folds_width_and_case() {
        assert_eq!(compact("１３８ 0013-8000"), "13800138000");
        assert_eq!(compact("11010519491231002x"), "11010519491231002X");
    }

    #[test]
    fn boundaries() {
        assert!(bounded("号13800138000，", 3, 14));
        assert!(!bounded("a13800138000", 1, 12));
        assert!(!bounded("138001380001", 0, 11));
    }
}
