//! Masking a value, a free text or a JSON document under one rule of a policy.

use serde::Serialize;
use serde_json::Value;

use crate::detect::{Finding, Scanner, Spans};
use crate::error::{Error, Result};
use crate::json_path::{At, JsonPath, render};
use crate::operator::{Context, Operator, apply, apply_to};
use crate::pi_type::PiType;
use crate::policy::{FieldRule, Rule, Scan};

/// How deep a JSON document may nest.
pub const MAX_DEPTH: usize = 64;

/// A text with its PI masked, and what was found.
#[derive(Debug, Clone, Serialize)]
pub struct Masked {
    /// The masked text.
    pub text: String,
    /// The findings, with offsets into the original text.
    pub findings: Vec<Finding>,
}

/// A finding in a JSON document: where, and the finding within that string.
#[derive(Debug, Clone, Serialize)]
pub struct JsonFinding {
    /// The location, such as `$.customer.mobile`.
    pub path: String,
    /// The finding within the string at `path`.
    #[serde(flatten)]
    pub finding: Finding,
}

/// Masks under one rule (or the display defaults when there is none).
pub struct Masker<'a> {
    scanner: &'a Scanner,
    rule: Option<&'a Rule>,
    paths: Vec<(JsonPath, &'a FieldRule)>,
}

static DEFAULT: Operator = Operator::Default {};

/// How the cells of one column of a table are masked: what [`Masker::json`] does to the
/// member of that name in each record read as the object `{column name: cell}`, decided
/// once for the column rather than walked again for every record.
#[derive(Debug, Clone, Copy)]
pub enum Column<'a> {
    /// A path of the rule names the column (or the whole record): its operator replaces
    /// each cell whole.
    Field(&'a FieldRule),
    /// Each cell is scanned, and its findings masked.
    Scanned,
    /// Left as it is: the rule scans only its paths, and none names the column.
    Kept,
}

impl<'a> Masker<'a> {
    /// A masker applying `rule`, or every type's display default for `None`. The rule's
    /// paths must have been validated ([`Policy::validate`](crate::policy::Policy::validate));
    /// a path that does not parse never matches.
    pub fn new(scanner: &'a Scanner, rule: Option<&'a Rule>) -> Masker<'a> {
        let paths = rule
            .map(|r| {
                r.fields
                    .iter()
                    .filter_map(|f| JsonPath::parse(&f.path).ok().map(|p| (p, f)))
                    .collect()
            })
            .unwrap_or_default();
        Masker {
            scanner,
            rule,
            paths,
        }
    }

    /// The operator for a type under this rule.
    pub fn operator_for(&self, pi_type: PiType) -> &'a Operator {
        self.rule
            .and_then(|r| r.types.get(&pi_type))
            .unwrap_or(&DEFAULT)
    }

    /// Masks one value of a known type.
    pub fn value(&self, pi_type: PiType, value: &str, ctx: &Context<'_>) -> Result<String> {
        apply(self.operator_for(pi_type), pi_type, value, ctx)
    }

    /// Finds the PI in a text and masks each finding with its type's operator.
    pub fn text(&self, text: &str, ctx: &Context<'_>) -> Result<Masked> {
        let mut out = String::with_capacity(text.len());
        let findings = self.scanner.scan_spans(text, |spans| {
            self.write_masked(text, spans, ctx, &mut out)
                .map(|()| spans.findings())
        })?;
        Ok(Masked {
            text: out,
            findings,
        })
    }

    /// Writes `text` to `out` with each finding of `spans` masked by its type's operator
    /// and every overlapped piece hidden.
    fn write_masked(
        &self,
        text: &str,
        spans: &Spans<'_>,
        ctx: &Context<'_>,
        out: &mut String,
    ) -> Result<()> {
        let mut at = 0;
        let mut rest = spans.overlapped.iter().peekable();
        for f in spans.kept {
            while let Some(&(s, e)) = rest.next_if(|r| r.0 < f.start) {
                out.push_str(&text[at..s]);
                hide(out, &text[s..e]);
                at = e;
            }
            out.push_str(&text[at..f.start]);
            apply_to(
                self.operator_for(f.pi_type),
                f.pi_type,
                &text[f.start..f.end],
                ctx,
                out,
            )?;
            at = f.end;
        }
        for &(s, e) in rest {
            out.push_str(&text[at..s]);
            hide(out, &text[s..e]);
            at = e;
        }
        out.push_str(&text[at..]);
        Ok(())
    }

    /// How the cells of the column `name` are masked (see [`Column`]).
    pub fn column(&self, name: &str) -> Column<'a> {
        match self
            .field_at(&[])
            .or_else(|| self.field_at(&[At::Key(name)]))
        {
            Some(field) => Column::Field(field),
            None if self.scans_all() => Column::Scanned,
            None => Column::Kept,
        }
    }

    /// Masks one cell of a column, appending the result to `out`: what [`Masker::json`]
    /// makes of the string `cell` in that column's member. `found` is called with the type
    /// of each finding.
    pub fn cell_to(
        &self,
        column: Column<'_>,
        cell: &str,
        ctx: &Context<'_>,
        found: &mut dyn FnMut(PiType),
        out: &mut String,
    ) -> Result<()> {
        match column {
            Column::Field(field) => {
                apply_to(&field.operator, field.pi_type, cell, ctx, out)?;
                found(field.pi_type);
            }
            Column::Scanned => self.scanner.scan_spans(cell, |spans| {
                spans.kept.iter().for_each(|k| found(k.pi_type));
                self.write_masked(cell, spans, ctx, out)
            })?,
            Column::Kept => out.push_str(cell),
        }
        Ok(())
    }

    /// Masks one record of a table, its `cells` in the order of `columns` (`None`, a null),
    /// into `out`: a string per column, emptied first, that a null leaves empty. `found` is
    /// called with the type of each finding.
    pub fn record_to(
        &self,
        columns: &[Column<'_>],
        cells: &[Option<&str>],
        ctx: &Context<'_>,
        found: &mut dyn FnMut(PiType),
        out: &mut [String],
    ) -> Result<()> {
        for ((column, cell), out) in columns.iter().zip(cells).zip(out) {
            out.clear();
            if let Some(cell) = cell {
                self.cell_to(*column, cell, ctx, found, out)?;
            }
        }
        Ok(())
    }

    /// The rule of the first path naming the location `at`.
    fn field_at(&self, at: &[At<'_>]) -> Option<&'a FieldRule> {
        self.paths
            .iter()
            .find(|(p, _)| p.matches(at))
            .map(|(_, f)| *f)
    }

    /// Whether strings no path names are scanned.
    fn scans_all(&self) -> bool {
        self.rule.is_none_or(|r| r.scan == Scan::All)
    }

    /// Masks a JSON document in place: the fields the rule names get their operator; every
    /// other string is scanned unless the rule scans only its paths.
    pub fn json(&self, doc: &mut Value, ctx: &Context<'_>) -> Result<Vec<JsonFinding>> {
        let mut findings = Vec::new();
        let mut at = Vec::new();
        self.walk(doc, &mut at, ctx, &mut Found::Located(&mut findings), None)?;
        Ok(findings)
    }

    /// Masks a JSON document in place as [`Masker::json`] does, and only counts what it
    /// found: `found` is called with the type of each finding. Nothing is located (no
    /// paths rendered), which is what masking whole files needs.
    pub fn json_counted(
        &self,
        doc: &mut Value,
        ctx: &Context<'_>,
        found: &mut dyn FnMut(PiType),
    ) -> Result<()> {
        let mut at = Vec::new();
        self.walk(doc, &mut at, ctx, &mut Found::Counted(found), None)
    }

    /// Masks `node` at `at`: under `field` (the rule of a path naming it or an ancestor)
    /// every string and number is replaced by the field's operator; otherwise strings are
    /// scanned (unless the rule scans only its paths).
    fn walk<'v>(
        &self,
        node: &'v mut Value,
        at: &mut Vec<At<'v>>,
        ctx: &Context<'_>,
        found: &mut Found<'_>,
        inherited: Option<&FieldRule>,
    ) -> Result<()> {
        if at.len() > MAX_DEPTH {
            return Err(Error::TooDeep { max: MAX_DEPTH });
        }
        let field = inherited.or_else(|| self.field_at(at));
        match (node, field) {
            (Value::Object(map), _) => {
                for (k, v) in map {
                    at.push(At::Key(k.as_str()));
                    let r = self.walk(v, at, ctx, found, field);
                    at.pop();
                    r?;
                }
            }
            (Value::Array(items), _) => {
                for (i, v) in items.iter_mut().enumerate() {
                    at.push(At::Index(i));
                    let r = self.walk(v, at, ctx, found, field);
                    at.pop();
                    r?;
                }
            }
            (node @ (Value::String(_) | Value::Number(_)), Some(field)) => {
                let original = match &mut *node {
                    Value::String(s) => std::mem::take(s),
                    other => other.to_string(),
                };
                let masked = apply(&field.operator, field.pi_type, &original, ctx)?;
                match found {
                    Found::Located(findings) => findings.push(JsonFinding {
                        path: render(at),
                        finding: whole(field.pi_type, &original),
                    }),
                    Found::Counted(count) => count(field.pi_type),
                }
                *node = Value::String(masked);
            }
            (Value::String(s), None) if self.scans_all() => {
                *s = match found {
                    Found::Located(findings) => {
                        let masked = self.text(s, ctx)?;
                        let path = render(at);
                        findings.extend(masked.findings.into_iter().map(|finding| JsonFinding {
                            path: path.clone(),
                            finding,
                        }));
                        masked.text
                    }
                    Found::Counted(count) => {
                        let mut out = String::with_capacity(s.len());
                        self.cell_to(Column::Scanned, s, ctx, *count, &mut out)?;
                        out
                    }
                };
            }
            _ => {}
        }
        Ok(())
    }
}

/// Where a walk reports its findings.
enum Found<'f> {
    /// Each finding with its path.
    Located(&'f mut Vec<JsonFinding>),
    /// Each finding's type only.
    Counted(&'f mut dyn FnMut(PiType)),
}

/// Writes `part` (what is left of a candidate that lost to an overlapping finding) with
/// every letter and digit hidden.
fn hide(out: &mut String, part: &str) {
    out.extend(
        part.chars()
            .map(|c| if c.is_alphanumeric() { '*' } else { c }),
    );
}

/// A finding that covers a whole string (a field named by path).
fn whole(pi_type: PiType, value: &str) -> Finding {
    Finding {
        pi_type,
        start: 0,
        end: value.chars().count(),
        byte_start: 0,
        byte_end: value.len(),
        score: 1.0,
        validator: "policy-path",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Policy;

    fn ctx() -> Context<'static> {
        Context {
            year: 2026,
            ..Context::default()
        }
    }

    #[test]
    fn text_is_masked_with_the_defaults() {
        let scanner = Scanner::new();
        let m = Masker::new(&scanner, None)
            .text(
                "客户王伟，身份证号510104199003071114，手机13800138000。",
                &ctx(),
            )
            .unwrap();
        assert_eq!(
            m.text,
            "客户王*，身份证号5***************14，手机138****8000。"
        );
        assert_eq!(m.findings.len(), 3);
    }

    #[test]
    fn generalised_addresses_are_not_generalised_again() {
        // Found by the `detect` fuzz target: `::2` became `0:0:0::/48`, itself an address.
        let scanner = Scanner::new();
        let masker = Masker::new(&scanner, None);
        for text in [
            "::2",
            "src 2001:db8::1 ok",
            "ip 10.1.2.3",
            "\u{e}::屠::屠::屠:::E0::E00'0D00:::ED0000000::\u{e}::屠::",
            "\n::EE9:EE9999999=9999992:999999=9999992::",
            "7::12c0@G2u.dd",
            "桂致桂桂林!",
            "2]cX@Gu.dd::5.:WPP@PP.PP2P.@??",
            "\0R.@zzzzzzzzzzzzzzzzzzzz%zzzzzzzzzzzP00P7@P.PPzzzzzzzzzzzzzzzzzzz%zzzzzzzzzzzP00P7@P.PP",
            "E桂桂DEEE86",
            "7702040.dpn@7702040.dpn@Ppn0mreiP0ermitd7702040.dpn@702040.dpn@P0ermi",
            "0.dpermitd 33<0x@66279972.dpermitd",
            "U::0abc@0.0.8.0.Gu.UUU",
        ] {
            let once = masker.text(text, &ctx()).unwrap().text;
            assert_eq!(masker.text(&once, &ctx()).unwrap().text, once, "{text}");
        }
    }

    #[test]
    fn json_paths_and_scanning() {
        let scanner = Scanner::new();
        let policy: Policy = serde_json::from_value(serde_json::json!({"rules": [{
            "types": {"CN_MOBILE": {"op": "replace"}},
            "fields": [
                {"path": "$.card.cvv", "type": "CARD_CVV", "operator": {"op": "redact"}},
                {"path": "$..birth", "type": "BIRTH_DATE", "operator": {"op": "generalize", "to": "year"}},
                {"path": "$.notes", "operator": {"op": "truncate", "keep": 2}}
            ]}]}))
        .unwrap();
        policy.validate(&[]).unwrap();
        let masker = Masker::new(&scanner, policy.rule_for("any", None));
        let mut doc = serde_json::json!({
            "card": {"cvv": 123, "no": "6222021234567891233"},
            "people": [{"birth": "1990-03-07", "memo": "电话13800138000"}],
            "notes": ["abcdef", "xyz"],
            "n": 5
        });
        let original = doc.clone();
        let found = masker.json(&mut doc, &ctx()).unwrap();
        // Counting masks the same and counts the same types, in the same order.
        let mut counted_doc = original;
        let mut counted = Vec::new();
        (masker.json_counted(&mut counted_doc, &ctx(), &mut |t| counted.push(t))).unwrap();
        assert_eq!(counted_doc, doc);
        let types: Vec<PiType> = found.iter().map(|f| f.finding.pi_type).collect();
        assert_eq!(counted, types);
        assert_eq!(types.len(), 6, "{types:?}");
        assert_eq!(
            doc,
            serde_json::json!({
                "card": {"cvv": "", "no": "622202*********1233"},
                "people": [{"birth": "1990", "memo": "电话[手机号]"}],
                "notes": ["ab", "xy"],
                "n": 5
            })
        );
        let paths: Vec<&str> = found.iter().map(|f| f.path.as_str()).collect();
        assert!(
            paths.contains(&"$.card.cvv") && paths.contains(&"$.people[0].memo"),
            "{paths:?}"
        );
    }

    #[test]
    fn columns_mask_cells_as_the_record_object_is_masked() {
        let scanner = Scanner::new();
        let names = ["id", "mobile", "birth", "note", "name"];
        let rows = [
            [
                "1",
                "13843464097",
                "1959-07-10",
                "tel (021)86383496, 王伟",
                "Huang Yong",
            ],
            ["", "", "1984-02-15", "身份证号510104199003071114", ""],
            [
                "77",
                "+86 186 3064 5747",
                "2001-01-31",
                "lin.yating@163.com",
                "孟芳梓",
            ],
        ];
        let policies = [
            serde_json::json!({"rules": [{
                "types": {"CN_MOBILE": {"op": "hash"}, "PERSON": {"op": "replace"}},
                "fields": [
                    {"path": "$.birth", "type": "BIRTH_DATE",
                     "operator": {"op": "generalize", "to": "year"}},
                    {"path": "$['id']", "operator": {"op": "hash"}}]}]}),
            serde_json::json!({"rules": [{"fields": [
                {"path": "$..name", "type": "PERSON", "operator": {"op": "default"}},
                {"path": "$.*", "operator": {"op": "truncate", "keep": 3}}]}]}),
            serde_json::json!({"rules": [{"fields": [
                {"path": "$", "operator": {"op": "mask", "first": 1}}]}]}),
            serde_json::json!({"rules": [{"scan": "paths", "fields": [
                {"path": "$.mobile", "type": "CN_MOBILE", "operator": {"op": "default"}}]}]}),
        ];
        let key = crate::PseudonymKey::new(&[7; 32]);
        let ctx = Context {
            key: Some(&key),
            ..ctx()
        };
        let rules: Vec<Policy> = policies
            .into_iter()
            .map(|p| serde_json::from_value(p).unwrap())
            .collect();
        for rule in rules.iter().map(|p| p.rule_for("any", None)).chain([None]) {
            let masker = Masker::new(&scanner, rule);
            let columns: Vec<Column<'_>> = names.iter().map(|n| masker.column(n)).collect();
            for row in &rows {
                let mut doc = Value::Object(
                    (names.iter().zip(row))
                        .map(|(n, c)| ((*n).to_owned(), Value::from(*c)))
                        .collect(),
                );
                let mut walked = Vec::new();
                masker
                    .json_counted(&mut doc, &ctx, &mut |t| walked.push(t))
                    .unwrap();
                let mut by_column = Vec::new();
                for ((name, cell), column) in names.iter().zip(row).zip(&columns) {
                    let mut out = String::new();
                    masker
                        .cell_to(*column, cell, &ctx, &mut |t| by_column.push(t), &mut out)
                        .unwrap();
                    assert_eq!(doc[name], Value::from(out), "{name} under {rule:?}");
                }
                walked.sort();
                by_column.sort();
                assert_eq!(walked, by_column, "{rule:?}");
            }
        }
    }

    #[test]
    fn a_column_is_named_by_its_own_path_or_the_whole_records() {
        let scanner = Scanner::new();
        let policy: Policy = serde_json::from_value(serde_json::json!({"rules": [
            {"roles": ["whole"], "fields": [{"path": "$", "operator": {"op": "redact"}}]},
            {"roles": ["paths"], "scan": "paths",
             "fields": [{"path": "$..mobile", "operator": {"op": "redact"}}]}]}))
        .unwrap();
        policy.validate(&[]).unwrap();
        let whole = Masker::new(&scanner, policy.rule_for("whole", None));
        assert!(matches!(whole.column("note"), Column::Field(_)));
        let paths = Masker::new(&scanner, policy.rule_for("paths", None));
        assert!(matches!(paths.column("mobile"), Column::Field(_)));
        assert!(matches!(paths.column("note"), Column::Kept));
        assert!(matches!(
            Masker::new(&scanner, None).column("note"),
            Column::Scanned
        ));
    }

    #[test]
    fn scan_paths_only_leaves_other_strings() {
        let scanner = Scanner::new();
        let policy: Policy = serde_json::from_value(serde_json::json!({"rules": [{
            "scan": "paths",
            "fields": [{"path": "$.id", "type": "CN_ID", "operator": {"op": "default"}}]}]}))
        .unwrap();
        let masker = Masker::new(&scanner, policy.rule_for("any", None));
        let mut doc = serde_json::json!({"id": "510104199003071114", "other": "13800138000"});
        masker.json(&mut doc, &ctx()).unwrap();
        assert_eq!(
            doc,
            serde_json::json!({"id": "5***************14", "other": "13800138000"})
        );
    }

    #[test]
    fn deep_documents_are_refused() {
        let scanner = Scanner::new();
        let mut doc = serde_json::json!("x");
        for _ in 0..=MAX_DEPTH + 1 {
            doc = serde_json::json!([doc]);
        }
        let e = Masker::new(&scanner, None)
            .json(&mut doc, &ctx())
            .unwrap_err();
        assert!(matches!(e, Error::TooDeep { .. }));
    }
}
