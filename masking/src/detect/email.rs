//! E-mail addresses: a local part of the common characters, a domain of labels that neither
//! start nor end with a hyphen, and an alphabetic top-level label (RFC 5321 sizes).

use regex::Regex;

use super::scan::{find_with, pattern};
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
            re: pattern(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}"),
        }
    }
}

fn plausible(address: &str) -> bool {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    local.len() <= 64
        && domain.len() <= 253
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && domain
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'))
}

impl Detector for Email {
    fn pi_type(&self) -> PiType {
        PiType::Email
    }

    fn find(&self, text: &str, out: &mut Vec<Candidate>) {
        find_with(&self.re, text, PiType::Email, out, |s, e| {
            let before = text[..s].chars().next_back();
            let after = text[e..].chars().next();
            (!before.is_some_and(|c| c.is_ascii_alphanumeric() || "._%+-".contains(c))
                && !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
                && plausible(&text[s..e]))
            .then_some((1.0, "rfc5321"))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let text = "邮箱zhang.wei88@example-fintech.com.cn，备用123456@qq.com；a..b@x.cn";
        let mut out = Vec::new();
        Email::new().find(text, &mut out);
        let got: Vec<&str> = out.iter().map(|c| &text[c.start..c.end]).collect();
        assert_eq!(got, ["zhang.wei88@example-fintech.com.cn", "123456@qq.com"]);
    }
}
