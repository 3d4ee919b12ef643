//! The identifier of a data subject.

use crate::{Error, Result};

/// The platform's identifier of a data subject (its user or customer id).
///
/// Platforms should use their internal, pseudonymous id here, never a phone number, an ID
/// number or an e-mail address: subject ids appear in URLs and in the audit trail. To make
/// that hard to get wrong, only ASCII letters, digits and `.`, `_`, `:`, `-` are accepted,
/// 1 to 128 characters.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubjectId(String);

impl SubjectId {
    /// The longest subject id accepted, in characters.
    pub const MAX_LEN: usize = 128;

    /// Validates and wraps a subject id.
    pub fn parse(raw: &str) -> Result<Self> {
        if raw.is_empty() {
            return Err(Error::InvalidSubjectId("must not be empty"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(Error::InvalidSubjectId("longer than 128 characters"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
        {
            return Err(Error::InvalidSubjectId(
                "only ASCII letters, digits and . _ : - are allowed",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SubjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SubjectId").field(&self.0).finish()
    }
}

impl std::fmt::Display for SubjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for SubjectId {
    type Error = Error;
    fn try_from(raw: &str) -> Result<Self> {
        Self::parse(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_platform_ids() {
        for ok in ["u123", "user_42", "a", "tenant:8f2c-11", "x.y-z"] {
            assert_eq!(SubjectId::parse(ok).unwrap().as_str(), ok);
        }
        assert!(SubjectId::parse(&"a".repeat(128)).is_ok());
    }

    #[test]
    fn rejects_empty_long_and_odd_characters() {
        for bad in [
            "", " ", "a b", "u\n1", "u\u{0}", "张三", "a@b.cn", "../x", "a/b",
        ] {
            assert!(SubjectId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(SubjectId::parse(&"a".repeat(129)).is_err());
    }
}
