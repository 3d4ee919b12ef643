//! E-mail addresses: a local part of the common characters, a domain of labels that neither
//! start nor end with a hyphen, and an alphabetic top-level label (RFC 5321 sizes).

use regex::Regex;

use super::scan::{Text, glued, pattern};
use super::{Candidate, Detector};
use crate::pi_type::PiType;

/// Finds e-mail addresses.
pub struct Email {
    re: Regex,
}

impl Email {
    /// The detector.
    pub fn new() -> Email {
        Email {
            // Anchored: the pattern runs on the window an `@` bounds, from the window's
            // start (every character before the `@` in it is one a local part may hold).
            re: pattern(r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}"),
        }
    }
}

/// Where the pattern's match on the window `s..e` ends, read from the bytes: the window
/// holds local-part characters up to the `@` at `at` and domain characters after it. The
/// pattern takes the whole local part (if any), the domain's first label whole, as many
/// whole labels after it as are not empty, and then needs, after a dot, two to
/// twenty-four letters beginning the next label; failing that, it gives back labels one at
/// a time. So the match ends in the last label, among those it may reach, that begins with
/// two letters.
fn matched_end(bytes: &[u8], s: usize, at: usize, e: usize) -> Option<usize> {
    if s == at {
        return None;
    }
    let mut labels = bytes[at + 1..e].split(|&b| b == b'.');
    let first = labels.next().filter(|l| !l.is_empty())?;
    let mut start = at + 1 + first.len() + 1;
    let mut end = None;
    for label in labels {
        let letters = (label.iter().take(24))
            .take_while(|b| b.is_ascii_alphabetic())
            .count();
        if letters >= 2 {
            end = Some(start + letters);
        }
        // No label after an empty one is reached.
        if label.is_empty() {
            break;
        }
        start += label.len() + 1;
    }
    end
}

/// Whether an address, given as its local part and its domain (either side of its `@`),
/// keeps the limits of RFC 5321 and the shape of a domain's labels.
fn plausible(local: &str, domain: &str) -> bool {
    local.len() <= 64
        && domain.len() <= 253
        && !local.starts_with('.')
        && !local.ends_with('.')
        // Two dots in a row, looked for without a substring searcher (costly to set up).
        && !local.as_bytes().windows(2).any(|w| w == b"..")
        // Split on a byte test, not a character searcher (costly to set up for a domain).
        && (domain.as_bytes().split(|&b| b == b'.'))
            .all(|l| !l.is_empty() && !l.starts_with(b"-") && !l.ends_with(b"-"))
}

impl Detector for Email {
    fn pi_type(&self) -> PiType {
        PiType::Email
    }

    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        // Each `@` bounds a window of the characters an address can hold; the pattern runs
        // on that window only, which is far cheaper than from every position of the text.
        let local = |b: u8| b.is_ascii_alphanumeric() || b"._%+-".contains(&b);
        let domain = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'.';
        let bytes = text.as_bytes();
        // Where the next `@` is looked for: after the last window.
        let mut from = 0;
        // Where the last address found ends: the next one's local part starts after it, so
        // two addresses never share characters (`a@b.cd%e@f.gh` is two, not three).
        let mut last_end = 0;
        for &at in &text.at_signs {
            if at < from {
                continue;
            }
            let mut s = at;
            while s > last_end && local(bytes[s - 1]) {
                s -= 1;
            }
            let mut e = at + 1;
            while e < bytes.len() && domain(bytes[e]) {
                e += 1;
            }
            from = e.max(at + 1);
            // Addresses do not chain: a local part right after an `@` is the domain of
            // something else (`a@b.cd@e.fg`), not an address of its own.
            if s > 0 && bytes[s - 1] == b'@' {
                continue;
            }
            // Read by hand; by the pattern only to test the reading (see `Text::whole`).
            let end = if text.whole() {
                self.re.find(&text[s..e]).map(|m| s + m.end())
            } else {
                matched_end(bytes, s, at, e)
            };
            let Some(end) = end else {
                continue;
            };
            let after = text[end..].chars().next();
            if !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
                && !glued(text, s, end)
                // The reading stops at any other `@`: this one splits the address.
                && (text.get(s..at).zip(text.get(at + 1..end)))
                    .is_some_and(|(local, domain)| plausible(local, domain))
            {
                out.push(Candidate {
                    pi_type: PiType::Email,
                    start: s,
                    end,
                    score: 1.0,
                    validator: "rfc5321",
                });
                last_end = end;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2048))]

        /// Windows as the detector cuts them: the reading by hand ends where the pattern's
        /// match does.
        #[test]
        fn reading_by_hand_matches_the_pattern(
            local in "[A-Za-z0-9._%+-]{0,4}",
            domain in "([a-z]{0,3}[A-Z0-9-]?\\.?){0,6}|[a-z]{1,3}(\\.[a-zA-Z]{20,30}[0-9]?){1,2}",
        ) {
            let window = format!("{local}@{domain}");
            let at = local.len();
            let pattern = Email::new().re;
            proptest::prop_assert_eq!(
                matched_end(window.as_bytes(), 0, at, window.len()),
                pattern.find(&window).map(|m| m.end()),
                "{}",
                window
            );
        }
    }

    #[test]
    fn addresses() {
        let text = "邮箱zhang.wei88@example-fintech.com.cn，备用123456@qq.com；a..b@x.cn";
        let mut out = Vec::new();
        Email::new().find(&Text::new(text), &mut out);
        let got: Vec<&str> = out.iter().map(|c| &text[c.start..c.end]).collect();
        assert_eq!(got, ["zhang.wei88@example-fintech.com.cn", "123456@qq.com"]);
    }
}
