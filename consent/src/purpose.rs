//! Processing purposes.

use crate::{Error, Result};

/// The id of a processing purpose, such as `loan_underwriting` or `anti_fraud`.
///
/// Lower-case ASCII letters, digits, `_`, `.` and `-`, starting with a letter or digit,
/// 1 to 64 characters: ids appear in URLs, key scopes and the audit trail.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct PurposeId(String);

impl TryFrom<String> for PurposeId {
    type Error = Error;
    fn try_from(raw: String) -> Result<Self> {
        Self::parse(&raw)
    }
}

impl From<PurposeId> for String {
    fn from(id: PurposeId) -> Self {
        id.0
    }
}

impl PurposeId {
    /// The longest purpose id accepted, in characters.
    pub const MAX_LEN: usize = 64;

    /// Validates and wraps a purpose id.
    pub fn parse(raw: &str) -> Result<Self> {
        let Some(first) = raw.bytes().next() else {
            return Err(Error::InvalidPurposeId("must not be empty"));
        };
        if raw.len() > Self::MAX_LEN {
            return Err(Error::InvalidPurposeId("longer than 64 characters"));
        }
        if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
            return Err(Error::InvalidPurposeId(
                "must start with a lower-case letter or a digit",
            ));
        }
        if !raw.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        }) {
            return Err(Error::InvalidPurposeId(
                "only lower-case ASCII letters, digits and _ . - are allowed",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PurposeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_rejects() {
        for ok in ["anti_fraud", "loan-underwriting", "kyc.v2", "3rd_party"] {
            assert_eq!(PurposeId::parse(ok).unwrap().as_str(), ok);
        }
        for bad in ["", "_x", "Anti", "a b", "营销", "a/b", "x\n"] {
            assert!(PurposeId::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(PurposeId::parse(&"a".repeat(64)).is_ok());
        assert!(PurposeId::parse(&"a".repeat(65)).is_err());
    }
}
