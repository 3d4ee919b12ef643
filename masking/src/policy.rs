//! Masking policies: which operator applies to which PI type and which JSON field, per
//! role and purpose. A policy is a list of rules; the first rule whose roles and purposes
//! both match the caller applies, and types it does not name get their display default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::json_path::JsonPath;
use crate::operator::{Operator, leaves_c3_readable};
use crate::pi_type::PiType;

/// A named policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// What the policy is for.
    #[serde(default)]
    pub description: String,
    /// The rules, tried in order.
    #[serde(default)]
    pub rules: Vec<Rule>,
}

/// One rule of a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// The roles it applies to (the platform's operator role, or the API key's role);
    /// empty for every role.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The purposes it applies to; empty for every purpose.
    #[serde(default)]
    pub purposes: Vec<String>,
    /// Whether JSON documents are scanned in every string (`all`, the default) or only at
    /// the paths of `fields`.
    #[serde(default)]
    pub scan: Scan,
    /// Operators per PI type; types not named get their display default.
    #[serde(default)]
    pub types: BTreeMap<PiType, Operator>,
    /// Operators for JSON fields named by path.
    #[serde(default)]
    pub fields: Vec<FieldRule>,
}

/// Where JSON documents are scanned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scan {
    /// Every string is scanned for PI.
    #[default]
    All,
    /// Only the fields a rule names are masked.
    Paths,
}

/// An operator for a JSON field named by path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    /// The path, such as `$.customer.id_no` or `$..mobile`.
    pub path: String,
    /// What the field holds (default `TEXT`).
    #[serde(rename = "type", default = "text")]
    pub pi_type: PiType,
    /// What to do with it.
    pub operator: Operator,
}

fn text() -> PiType {
    PiType::Text
}

/// Most rules in a policy.
pub const MAX_RULES: usize = 64;
/// Most field rules in one rule.
pub const MAX_FIELDS: usize = 256;
/// Longest role, purpose or label in a policy, in characters.
const MAX_NAME: usize = 64;

/// Whether `name` is a valid policy name: 1 to 64 of `a-z`, `0-9`, `_`, `-`, `.`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b))
}

impl Policy {
    /// Checks the policy. `clear_c3_roles` are the roles that may see C3 information
    /// (authentication data) in the clear; a rule that would show it to anyone else is
    /// refused, naming the rule, the type and the role.
    pub fn validate(&self, clear_c3_roles: &[String]) -> Result<()> {
        let bad = |msg: String| Err(Error::InvalidPolicy(msg));
        if self.rules.len() > MAX_RULES {
            return bad(format!("at most {MAX_RULES} rules"));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let n = i + 1;
            for s in rule.roles.iter().chain(&rule.purposes) {
                if s.is_empty() || s.chars().count() > MAX_NAME {
                    return bad(format!(
                        "rule {n}: roles and purposes are 1 to 64 characters"
                    ));
                }
            }
            if rule.fields.len() > MAX_FIELDS {
                return bad(format!("rule {n}: at most {MAX_FIELDS} fields"));
            }
            let fields = rule
                .fields
                .iter()
                .map(|f| {
                    JsonPath::parse(&f.path)
                        .map_err(|e| Error::InvalidPolicy(format!("rule {n}: {e}")))?;
                    Ok((f.pi_type, &f.operator))
                })
                .collect::<Result<Vec<_>>>()?;
            for (pi_type, op) in rule.types.iter().map(|(t, o)| (*t, o)).chain(fields) {
                if !op.applies_to(pi_type) {
                    return bad(format!(
                        "rule {n}: operator {} does not apply to {pi_type}",
                        op.name()
                    ));
                }
                if let Operator::Replace { label: Some(l) } = op
                    && l.chars().count() > MAX_NAME
                {
                    return bad(format!("rule {n}: labels are at most 64 characters"));
                }
                if let Operator::Mask { with, .. } = op
                    && with.is_alphanumeric()
                {
                    return bad(format!(
                        "rule {n}: the mask character must not be a letter or digit"
                    ));
                }
                if leaves_c3_readable(op, pi_type) {
                    if rule.roles.is_empty() {
                        return bad(format!(
                            "rule {n} leaves {pi_type} (JR/T 0171 C3) readable for every role"
                        ));
                    }
                    if let Some(role) = rule.roles.iter().find(|r| !clear_c3_roles.contains(r)) {
                        return bad(format!(
                            "rule {n} leaves {pi_type} (JR/T 0171 C3) readable for role {role}, \
                             which may not see it"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The rule for a role and purpose: the first whose roles and purposes both match.
    pub fn rule_for(&self, role: &str, purpose: Option<&str>) -> Option<&Rule> {
        self.rules.iter().find(|r| {
            (r.roles.is_empty() || r.roles.iter().any(|x| x == role))
                && (r.purposes.is_empty()
                    || purpose.is_some_and(|p| r.purposes.iter().any(|x| x == p)))
        })
    }
}

/// A version of a masking policy as kept: the document it was stored with, and by whom.
#[derive(Debug, Clone)]
pub struct PolicyVersion {
    /// The policy's name.
    pub name: String,
    /// Its version, from 1.
    pub version: u32,
    /// The policy document (JSON), as validated when it was stored.
    pub body: String,
    /// Unix milliseconds.
    pub updated_at: i64,
    /// The key that stored it.
    pub updated_by: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(json: serde_json::Value) -> Policy {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn first_matching_rule_applies() {
        let p = policy(serde_json::json!({"rules": [
            {"roles": ["risk"], "purposes": ["credit_check"], "types": {"CN_ID": {"op": "keep"}}},
            {"roles": ["cs_agent"], "types": {"CN_ID": {"op": "redact"}}},
            {"types": {"CN_ID": {"op": "hash"}}}
        ]}));
        p.validate(&[]).unwrap();
        let op = |role, purpose| {
            p.rule_for(role, purpose)
                .map(|r| r.types[&PiType::CnId].name())
        };
        assert_eq!(op("risk", Some("credit_check")), Some("keep"));
        assert_eq!(op("risk", None), Some("hash"));
        assert_eq!(op("cs_agent", Some("x")), Some("redact"));
    }

    #[test]
    fn unknown_types_and_operators_are_refused_by_name() {
        let e = serde_json::from_value::<Policy>(serde_json::json!({"rules": [
            {"types": {"SSN": {"op": "mask"}}}]}))
        .unwrap_err();
        assert!(e.to_string().contains("SSN"), "{e}");
        let e = serde_json::from_value::<Policy>(serde_json::json!({"rules": [
            {"types": {"CN_ID": {"op": "scramble"}}}]}))
        .unwrap_err();
        assert!(e.to_string().contains("scramble"), "{e}");
    }

    #[test]
    fn c3_in_the_clear_only_for_allowed_roles() {
        let p = |roles: serde_json::Value| {
            policy(serde_json::json!({"rules": [{"roles": roles, "fields": [
                {"path": "$.cvv", "type": "CARD_CVV", "operator": {"op": "keep"}}]}]}))
        };
        let e = p(serde_json::json!([])).validate(&[]).unwrap_err();
        assert!(e.to_string().contains("every role"), "{e}");
        let e = p(serde_json::json!(["cs_agent"]))
            .validate(&["fraud".into()])
            .unwrap_err();
        assert!(e.to_string().contains("cs_agent"), "{e}");
        p(serde_json::json!(["fraud"]))
            .validate(&["fraud".into()])
            .unwrap();
    }

    #[test]
    fn operators_must_fit_their_type_and_paths_must_parse() {
        let p = policy(serde_json::json!({"rules": [{"types": {
            "CN_MOBILE": {"op": "generalize", "to": "year"}}}]}));
        assert!(p.validate(&[]).is_err());
        let p = policy(serde_json::json!({"rules": [{"fields": [
            {"path": "customer.id", "operator": {"op": "redact"}}]}]}));
        assert!(
            p.validate(&[])
                .unwrap_err()
                .to_string()
                .contains("start with $")
        );
    }
}
