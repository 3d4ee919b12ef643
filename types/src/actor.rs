//! Who acted, and in which request: the descriptors every audit event carries.

use crate::{Error, Result};

/// The platform's staff member on whose behalf a backend called Baomi (`X-Baomi-Operator`).
///
/// 1 to 128 characters of printable text; letters of any script are allowed (staff ids and
/// names such as `cs-agent-017` or `客服-王` are both seen in practice), control characters
/// and line breaks are not, so the value can never forge log lines or audit records.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OperatorId(String);

impl OperatorId {
    /// The longest operator id accepted, in characters.
    pub const MAX_LEN: usize = 128;

    /// Validates and wraps an operator id.
    pub fn parse(raw: &str) -> Result<Self> {
        if raw.is_empty() {
            return Err(Error::InvalidOperator("must not be empty"));
        }
        if raw.chars().count() > Self::MAX_LEN {
            return Err(Error::InvalidOperator("longer than 128 characters"));
        }
        if raw.chars().any(|c| c.is_control()) {
            return Err(Error::InvalidOperator("contains control characters"));
        }
        if raw.trim() != raw {
            return Err(Error::InvalidOperator(
                "leading or trailing white space is not allowed",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The id of one request, from `X-Request-Id` or made by Baomi; it ties log lines, problem
/// responses and audit events together.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RequestId(String);

impl RequestId {
    /// The longest request id accepted, in characters.
    pub const MAX_LEN: usize = 64;

    /// Validates a request id: 1 to 64 ASCII letters, digits, `-`, `_` or `.`.
    pub fn parse(raw: &str) -> Result<Self> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return Err(Error::InvalidRequestId("must be 1 to 64 characters"));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(Error::InvalidRequestId(
                "only ASCII letters, digits and - _ . are allowed",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// A request id made from random bytes (24 lower-case hex digits).
    pub fn from_random(bytes: [u8; 12]) -> Self {
        Self(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_ids() {
        for ok in ["cs-agent-017", "客服-王", "ops@platform", "a"] {
            assert!(OperatorId::parse(ok).is_ok(), "{ok:?} refused");
        }
        for bad in ["", " x", "x ", "a\nb", "a\rb", "\u{7f}", "a\u{85}b"] {
            assert!(OperatorId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(OperatorId::parse(&"王".repeat(128)).is_ok());
        assert!(OperatorId::parse(&"王".repeat(129)).is_err());
    }

    #[test]
    fn request_ids() {
        assert!(RequestId::parse("01HZX-abc_9.1").is_ok());
        for bad in ["", "a b", "a\nb", "ü"] {
            assert!(RequestId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(RequestId::parse(&"a".repeat(65)).is_err());
        let made = RequestId::from_random([0xab; 12]);
        assert_eq!(made.as_str(), "ab".repeat(12));
        assert!(RequestId::parse(made.as_str()).is_ok());
    }
}
