//! What a purpose is: its legal basis (PIPL Art. 13), the PI categories it uses, who else
//! receives the data, whether it leaves the country, and how long it is kept.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The legal basis of processing (PIPL Art. 13).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LegalBasis {
    /// The individual's consent (Art. 13(1)); reads need an active consent.
    Consent,
    /// Necessary to conclude or perform a contract with the individual (Art. 13(2)).
    Contract,
    /// Necessary for a legal duty or obligation (Art. 13(3)).
    LegalDuty,
    /// Necessary to respond to a public-health emergency or to protect life, health or
    /// property in an emergency (Art. 13(4)).
    Emergency,
    /// News reporting and supervision by public opinion in the public interest (Art. 13(5)).
    PublicInterest,
    /// Information the individual disclosed or that was lawfully disclosed (Art. 13(6)).
    PublicInformation,
    /// Necessary for human-resources management under labour rules (Art. 13(2)).
    HumanResources,
}

/// The data security level of a PI category (JR/T 0171-2020, for personal financial
/// information: C3 authentication data, C2 identity and account data, C1 internal data).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Level {
    /// Internal information of the institution.
    C1,
    /// Information that identifies the individual or their accounts.
    C2,
    /// Authentication information (passwords, PINs, biometrics …).
    C3,
}

/// A category of PI a purpose uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PiCategory {
    /// Its name, e.g. `id_number`, `bank_card`, `face`.
    pub name: String,
    /// Sensitive PI (PIPL Art. 28): biometrics, finance accounts, location, minors' PI, …
    pub sensitive: bool,
    /// Its JR/T 0171 level.
    pub level: Level,
}

/// A third party the data is provided to (PIPL Art. 23).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Recipient {
    /// Its name.
    pub name: String,
    /// How to contact it.
    pub contact: String,
}

/// A processing purpose as the platform declares it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PurposeDefinition {
    /// What the processing is for, in words the individual understands.
    pub description: String,
    /// Its legal basis.
    pub legal_basis: LegalBasis,
    /// The PI categories it uses.
    pub categories: Vec<PiCategory>,
    /// Third parties that receive the data.
    #[serde(default)]
    pub recipients: Vec<Recipient>,
    /// Whether the data is sent abroad (PIPL Art. 38–39).
    #[serde(default)]
    pub cross_border: bool,
    /// How long the data is kept for it, in days.
    pub retention_days: u32,
}

/// The separate consents a grant gives explicitly (PIPL Art. 29, 23, 39): each must be
/// given on its own, not bundled with the general consent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Scopes {
    /// Separate consent to the processing of sensitive PI (Art. 29).
    #[serde(default)]
    pub sensitive: bool,
    /// Separate consent to providing the PI to the named third parties (Art. 23).
    #[serde(default)]
    pub third_party: bool,
    /// Separate consent to sending the PI abroad (Art. 39).
    #[serde(default)]
    pub cross_border: bool,
}

impl Scopes {
    /// The scopes `needed` lacks here, by name.
    pub fn missing(&self, needed: &Scopes) -> Vec<&'static str> {
        [
            (needed.sensitive && !self.sensitive, "sensitive"),
            (needed.third_party && !self.third_party, "third_party"),
            (needed.cross_border && !self.cross_border, "cross_border"),
        ]
        .into_iter()
        .filter_map(|(missing, name)| missing.then_some(name))
        .collect()
    }
}

/// The length of a text as people (and JSON Schema's `maxLength`) count it.
pub(crate) fn chars(text: &str) -> usize {
    text.chars().count()
}

/// Longest description or recipient text accepted, in characters.
const MAX_TEXT: usize = 2000;

impl PurposeDefinition {
    /// Checks the definition; the error names what is wrong.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &'static str| Err(Error::InvalidPurpose(m));
        if self.description.trim().is_empty() || chars(&self.description) > MAX_TEXT {
            return bad("description must be 1 to 2000 characters");
        }
        if self.categories.is_empty() {
            return bad("name at least one PI category");
        }
        for c in &self.categories {
            if c.name.is_empty() || chars(&c.name) > 64 {
                return bad("a category name must be 1 to 64 characters");
            }
        }
        for r in &self.recipients {
            if r.name.trim().is_empty() || r.contact.trim().is_empty() {
                return bad("a recipient needs a name and a contact");
            }
            if chars(&r.name) > MAX_TEXT || chars(&r.contact) > MAX_TEXT {
                return bad("recipient texts must be at most 2000 characters");
            }
        }
        if self.retention_days == 0 {
            return bad("retention_days must be at least 1");
        }
        Ok(())
    }

    /// The separate consents a grant for this purpose must give.
    pub fn separate_scopes(&self) -> Scopes {
        Scopes {
            sensitive: self.categories.iter().any(|c| c.sensitive),
            third_party: !self.recipients.is_empty(),
            cross_border: self.cross_border,
        }
    }

    /// The changes from `older` that need fresh consent (PIPL Art. 14: the purpose, the
    /// processing, or the categories of PI changed), by name; empty for wording only.
    pub fn material_changes(&self, older: &PurposeDefinition) -> Vec<&'static str> {
        let mut changes = Vec::new();
        if self.legal_basis != older.legal_basis {
            changes.push("legal_basis");
        }
        if self.categories != older.categories {
            changes.push("categories");
        }
        if self.recipients != older.recipients {
            changes.push("recipients");
        }
        if self.cross_border != older.cross_border {
            changes.push("cross_border");
        }
        if self.retention_days > older.retention_days {
            changes.push("retention_days");
        }
        changes
    }
}
