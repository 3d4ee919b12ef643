//! A small JSON path dialect for naming fields in a policy: `$` then any of `.name`,
//! `['name']`, `[3]`, `[*]`, `.*` and `..name` (a key at any depth below).

use crate::error::{Error, Result};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    AnyKey,
    Index(usize),
    AnyIndex,
    Descend(String),
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    steps: Vec<Step>,
}

/// A step of a concrete location in a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At<'a> {
    /// An object member.
    Key(&'a str),
    /// An array element.
    Index(usize),
}

impl JsonPath {
    /// Parses a path; the error says where it went wrong.
    pub fn parse(raw: &str) -> Result<JsonPath> {
        let bad = |why: &str| Error::InvalidPolicy(format!("path {raw:?}: {why}"));
        let mut rest = raw
            .strip_prefix('$')
            .ok_or_else(|| bad("must start with $"))?;
        let mut steps = Vec::new();
        let name_end = |s: &str| s.find(['.', '[']).unwrap_or(s.len());
        while !rest.is_empty() {
            if let Some(r) = rest.strip_prefix("..") {
                let end = name_end(r);
                if end == 0 {
                    return Err(bad("`..` needs a key name"));
                }
                steps.push(Step::Descend(r[..end].to_owned()));
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix('.') {
                let end = name_end(r);
                match &r[..end] {
                    "" => return Err(bad("empty key")),
                    "*" => steps.push(Step::AnyKey),
                    k => steps.push(Step::Key(k.to_owned())),
                }
                rest = &r[end..];
            } else if let Some(r) = rest.strip_prefix('[') {
                let close = r.find(']').ok_or_else(|| bad("unclosed ["))?;
                let inner = &r[..close];
                if inner == "*" {
                    steps.push(Step::AnyIndex);
                } else if let Some(q) = inner.strip_prefix('\'').and_then(|q| q.strip_suffix('\''))
                {
                    steps.push(Step::Key(q.to_owned()));
                } else {
                    let n = inner
                        .parse()
                        .map_err(|_| bad("index must be a number, * or 'key'"))?;
                    steps.push(Step::Index(n));
                }
                rest = &r[close + 1..];
            } else {
                return Err(bad("expected . or ["));
            }
        }
        Ok(JsonPath { steps })
    }

    /// Whether the path names the location `at`.
    pub fn matches(&self, at: &[At<'_>]) -> bool {
        matches_from(&self.steps, at)
    }
}

fn matches_from(steps: &[Step], at: &[At<'_>]) -> bool {
    let Some((step, rest)) = steps.split_first() else {
        return at.is_empty();
    };
    match step {
        Step::Descend(name) => (0..at.len())
            .any(|i| at[i] == At::Key(name.as_str()) && matches_from(rest, &at[i + 1..])),
        _ => {
            let Some((first, tail)) = at.split_first() else {
                return false;
            };
            let here = match (step, first) {
                (Step::Key(k), At::Key(a)) => k == a,
                (Step::AnyKey, At::Key(_)) | (Step::AnyIndex, At::Index(_)) => true,
                (Step::Index(i), At::Index(a)) => i == a,
                _ => false,
            };
            here && matches_from(rest, tail)
        }
    }
}

/// Writes a location as a path (`$.customer.phones[0]`), for findings.
pub fn render(at: &[At<'_>]) -> String {
    let mut out = String::from("$");
    for step in at {
        match step {
            At::Key(k) if k.chars().all(|c| c.is_alphanumeric() || c == '_') && !k.is_empty() => {
                out.push('.');
                out.push_str(k);
            }
            At::Key(k) => out.push_str(&format!("['{k}']")),
            At::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        let at = [
            At::Key("customer"),
            At::Key("cards"),
            At::Index(2),
            At::Key("no"),
        ];
        for (p, hit) in [
            ("$.customer.cards[2].no", true),
            ("$.customer.cards[*].no", true),
            ("$..no", true),
            ("$..cards[*].no", true),
            ("$.*.cards[1].no", false),
            ("$['customer'].cards[2].no", true),
            ("$.customer", false),
        ] {
            assert_eq!(JsonPath::parse(p).unwrap().matches(&at), hit, "{p}");
        }
        for bad in ["customer", "$.", "$[x]", "$[1", "$..", "$.a b"] {
            let parsed = JsonPath::parse(bad);
            if bad == "$.a b" {
                assert!(parsed.is_ok(), "spaces are part of a key");
            } else {
                assert!(parsed.is_err(), "{bad}");
            }
        }
        assert_eq!(render(&at), "$.customer.cards[2].no");
    }
}
