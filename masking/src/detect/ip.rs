//! IP addresses. IPv4: four decimal octets up to 255 without leading zeros, not part of a
//! longer dotted run (version numbers, OIDs). IPv6: anything the standard library parses as
//! an IPv6 address, with at least one hexadecimal digit (so `::` and times are refused).

use regex::Regex;

use super::scan::{Text, find_with, glued, offer, pattern};
use super::{Candidate, Detector};
use crate::pi_type::PiType;

/// Finds IPv4 addresses.
pub struct Ipv4 {
    re: Regex,
}

impl Ipv4 {
    /// The detector.
    pub fn new() -> Ipv4 {
        Ipv4 {
            re: pattern(r"\d{1,3}(?:\.\d{1,3}){3}"),
        }
    }
}

fn octets_valid(s: &str) -> bool {
    s.split('.')
        .all(|o| o.parse::<u16>().is_ok_and(|v| v <= 255) && (o == "0" || !o.starts_with('0')))
}

/// Whether `c`, beside an address, makes it part of something longer: an ASCII letter, or
/// a digit of any script.
fn joins(c: char) -> bool {
    c.is_ascii_alphanumeric() || c.is_numeric()
}

impl Ipv4 {
    /// Judges the dotted quad at `s..e`.
    fn judge(text: &str, s: usize, e: usize) -> Option<(f32, &'static str)> {
        let before = text[..s].chars().next_back();
        let mut after = text[e..].chars();
        let next = after.next();
        let dotted_on = next == Some('.') && after.next().is_some_and(|c| c.is_ascii_digit());
        (!before.is_some_and(|c| joins(c) || c == '.' || c == '@')
            && !next.is_some_and(joins)
            && !dotted_on
            && !glued(text, s, e)
            && octets_valid(&text[s..e]))
        .then_some((0.95, "octets"))
    }
}

impl Detector for Ipv4 {
    fn pi_type(&self) -> PiType {
        PiType::Ipv4
    }

    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        if !(text.dot && text.all_runs().iter().filter(|r| r.2 <= 3).nth(3).is_some()) {
            return;
        }
        if text.whole() {
            find_with(&self.re, text, PiType::Ipv4, out, |s, e| {
                Ipv4::judge(text, s, e)
            });
            return;
        }
        // What the pattern reports is four runs of one to three ASCII digits joined by
        // dots: a match starting inside a run, or holding other digits, is refused.
        let bytes = text.as_bytes();
        let octet = |r: &(usize, usize, usize)| (1..=3).contains(&r.2) && r.1 - r.0 == r.2;
        let dot = |a: &(usize, usize, usize), b: &(usize, usize, usize)| {
            b.0 == a.1 + 1 && bytes[a.1] == b'.'
        };
        for quad in text.all_runs().windows(4) {
            if quad.iter().all(octet) && quad.windows(2).all(|p| dot(&p[0], &p[1])) {
                let (start, end) = (quad[0].0, quad[3].1);
                offer(
                    out,
                    PiType::Ipv4,
                    (start, end),
                    Ipv4::judge(text, start, end),
                );
            }
        }
    }
}

/// Finds IPv6 addresses.
pub struct Ipv6 {
    re: Regex,
}

impl Ipv6 {
    /// The detector.
    pub fn new() -> Ipv6 {
        Ipv6 {
            re: pattern(r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}"),
        }
    }
}

impl Detector for Ipv6 {
    fn pi_type(&self) -> PiType {
        PiType::Ipv6
    }

    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>) {
        if text.colons < 2 {
            return;
        }
        find_with(&self.re, text, PiType::Ipv6, out, |s, e| {
            let raw = &text[s..e];
            let before = text[..s].chars().next_back();
            let after = text[e..].chars().next();
            let edge = |c: Option<char>| c.is_some_and(|c| joins(c) || c == ':' || c == '@');
            // `::`, `1::` and the like are too bare to be an address, and one right after a
            // `.` is the tail of a host name (`mail.dd::5`), not an address.
            let groups = raw.split(':').filter(|g| !g.is_empty()).count();
            (!edge(before)
                && before != Some('.')
                && !edge(after)
                && !glued(text, s, e)
                && groups >= 2
                && raw
                    .parse::<std::net::Ipv6Addr>()
                    .is_ok_and(|ip| !ip.is_unspecified()))
            .then_some((0.9, "rfc4291"))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::detect::found;

    #[test]
    fn ipv4() {
        let d = Ipv4::new();
        assert_eq!(found(&d, "登录IP 192.168.1.20，"), ["192.168.1.20"]);
        assert_eq!(found(&d, "ip=10.0.0.1|ts"), ["10.0.0.1"]);
        assert!(found(&d, "from 256.1.1.1").is_empty());
        assert!(found(&d, "1.2.3.4.5").is_empty());
        assert!(found(&d, "v1.2.3.4").is_empty());
        assert!(found(&d, "01.2.3.4").is_empty());
        assert!(found(&d, "１.2.3.4").is_empty(), "a full-width octet");
        assert!(
            found(&d, "٣1.2.3.4").is_empty(),
            "an Arabic-Indic digit before"
        );
        assert!(
            found(&d, "1.2.3.4٣").is_empty(),
            "an Arabic-Indic digit after"
        );
    }

    #[test]
    fn ipv6() {
        let d = Ipv6::new();
        assert_eq!(
            found(&d, "src 2001:db8::8a2e:370:7334 ok"),
            ["2001:db8::8a2e:370:7334"]
        );
        assert_eq!(found(&d, "addr fe80::1,"), ["fe80::1"]);
        assert!(found(&d, "at 10:22:31 INFO").is_empty());
        assert!(
            found(&d, "E*****000::").is_empty(),
            "found by the fuzz target"
        );
        assert!(found(&d, "x 1:: y").is_empty());
        assert!(found(&d, "mac 00:1A:2B:3C:4D:5E").is_empty());
        assert!(
            found(&d, "３08::87E").is_empty(),
            "after a full-width digit (found by the fuzz target)"
        );
    }
}
