//! Privacy notices: the texts shown to subjects (PIPL Art. 17), versioned. Baomi keeps each
//! version's text, language and SHA-256, so a grant can say exactly what the subject saw.

use serde::{Deserialize, Serialize};

use crate::{Error, PurposeId, Result};

/// A notice version to publish.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NoticeText {
    /// BCP 47 language tag, e.g. `zh-CN`.
    pub language: String,
    /// The text as shown.
    pub text: String,
    /// The purposes it informs about (each must be declared).
    pub purposes: Vec<String>,
}

/// Longest notice text accepted, in characters.
const MAX_TEXT: usize = 200_000;

impl NoticeText {
    /// Checks the text; the error names what is wrong.
    pub fn validate(&self) -> Result<()> {
        let lang_ok = !self.language.is_empty()
            && self.language.len() <= 35
            && self
                .language
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !lang_ok {
            return Err(Error::InvalidNotice(
                "language must be a BCP 47 tag, e.g. zh-CN",
            ));
        }
        if self.text.trim().is_empty() || crate::definition::chars(&self.text) > MAX_TEXT {
            return Err(Error::InvalidNotice("text must be 1 to 200000 characters"));
        }
        if self.purposes.is_empty() {
            return Err(Error::InvalidNotice(
                "name the purposes the notice informs about",
            ));
        }
        for p in &self.purposes {
            PurposeId::parse(p)?;
        }
        Ok(())
    }
}

/// A published notice version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notice {
    /// Its id.
    pub id: String,
    /// Its version, from 1.
    pub version: u32,
    /// Its language.
    pub language: String,
    /// SHA-256 of the text (lower-case hex).
    pub text_sha256: String,
    /// The purposes it covers.
    pub purposes: Vec<String>,
    /// Unix seconds.
    pub published_at: i64,
}

/// The notice version a grant was given under.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NoticeRef {
    /// The notice.
    pub id: String,
    /// Its version.
    pub version: u32,
}
