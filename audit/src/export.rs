//! The export of the audit trail: JSON Lines that anyone holding Baomi's verifier key can
//! check offline (see [`crate::verify`]).
//!
//! Format `baomi-audit-export/1`, one JSON object per line:
//!
//! 1. A header: `{"format":"baomi-audit-export/1","origin":"…","tree_size":N}`.
//! 2. One line per leaf of the Merkle tree, in leaf order:
//!    `{"leaf_index":i,"seq":s,"leaf_hash":"<base64>","event":{…}}`. `event` is the event's
//!    canonical text (the leaf data) embedded verbatim, so its bytes are exactly the ones
//!    hashed; should a stored text not be a compact JSON object, it is embedded as a JSON
//!    string instead, and the string's contents are the leaf data. An event whose body was
//!    pruned by retention has `"pruned":true` and no `event`; its leaf hash stands for it.
//!    A leaf whose event row is gone from the database has `"missing":true`: the verifier
//!    reports it.
//! 3. After the leaf that brings the tree to the size of a signed checkpoint, that
//!    checkpoint: `{"checkpoint":"<C2SP signed note>"}`. The last line is the checkpoint of
//!    size N.
//!
//! The canonical text of an event is its JSON serialisation with the fields in the order
//! [`baomi_types::AccessEvent`] declares them, no insignificant whitespace, absent optional
//! fields omitted, UTF-8 (`AccessEvent::to_json`). The leaf hash is
//! `SHA-256(0x00 ‖ text)`. The text is what is stored, so a verifier never re-serialises.

use data_encoding::BASE64;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::merkle::Hash;

/// The format's name and version, in the header line.
pub const FORMAT: &str = "baomi-audit-export/1";

/// The header line.
pub fn header_line(origin: &str, tree_size: u64) -> String {
    serde_json::json!({ "format": FORMAT, "origin": origin, "tree_size": tree_size }).to_string()
}

/// The line of one leaf: its event's stored text, or `None` if retention pruned it.
pub fn leaf_line(index: u64, seq: i64, hash: &Hash, body: Option<&str>) -> String {
    let hash = BASE64.encode(hash);
    match body {
        None => {
            format!(r#"{{"leaf_index":{index},"seq":{seq},"leaf_hash":"{hash}","pruned":true}}"#)
        }
        Some(body) => {
            let verbatim = body.starts_with('{')
                && body.ends_with('}')
                && serde_json::from_str::<&RawValue>(body).is_ok_and(|raw| raw.get() == body);
            let event = if verbatim {
                body.to_owned()
            } else {
                serde_json::Value::String(body.to_owned()).to_string()
            };
            format!(r#"{{"leaf_index":{index},"seq":{seq},"leaf_hash":"{hash}","event":{event}}}"#)
        }
    }
}

/// The line of a leaf whose event is gone from the store (the verifier reports it).
pub fn missing_leaf_line(index: u64, seq: i64, hash: &Hash) -> String {
    let hash = BASE64.encode(hash);
    format!(r#"{{"leaf_index":{index},"seq":{seq},"leaf_hash":"{hash}","missing":true}}"#)
}

/// The line of a signed checkpoint.
pub fn checkpoint_line(note: &str) -> String {
    serde_json::json!({ "checkpoint": note }).to_string()
}

/// One line of an export, read.
#[derive(Debug)]
pub enum Line<'a> {
    /// The header.
    Header {
        /// The log's name.
        origin: String,
        /// Number of leaves exported.
        tree_size: u64,
    },
    /// A leaf.
    Leaf {
        /// Its position.
        index: u64,
        /// Its event's sequence number.
        seq: i64,
        /// The leaf hash the export states.
        hash: Hash,
        /// The leaf data (the event's text), or `None` if pruned.
        data: Option<std::borrow::Cow<'a, str>>,
    },
    /// A leaf whose event was missing from the store when it was exported.
    MissingLeaf {
        /// Its position.
        index: u64,
        /// Its event's sequence number.
        seq: i64,
        /// The leaf hash the export states.
        hash: Hash,
    },
    /// A signed checkpoint.
    Checkpoint(String),
}

#[derive(Deserialize)]
struct RawLine<'a> {
    format: Option<String>,
    origin: Option<String>,
    tree_size: Option<u64>,
    leaf_index: Option<u64>,
    seq: Option<i64>,
    #[serde(borrow)]
    leaf_hash: Option<&'a str>,
    #[serde(borrow)]
    event: Option<&'a RawValue>,
    pruned: Option<bool>,
    missing: Option<bool>,
    checkpoint: Option<String>,
}

/// Reads one line of an export; the error says what is wrong with it.
pub fn parse_line(text: &str) -> Result<Line<'_>, String> {
    let raw: RawLine<'_> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON object: {e}"))?;
    if let Some(format) = raw.format {
        if format != FORMAT {
            return Err(format!("unknown format {format:?} (expected {FORMAT})"));
        }
        return Ok(Line::Header {
            origin: raw.origin.ok_or("the header has no origin")?,
            tree_size: raw.tree_size.ok_or("the header has no tree_size")?,
        });
    }
    if let Some(note) = raw.checkpoint {
        return Ok(Line::Checkpoint(note));
    }
    let (Some(index), Some(seq), Some(hash)) = (raw.leaf_index, raw.seq, raw.leaf_hash) else {
        return Err("neither a header, a leaf nor a checkpoint".to_owned());
    };
    let hash = BASE64
        .decode(hash.as_bytes())
        .ok()
        .and_then(|h| Hash::try_from(h.as_slice()).ok())
        .ok_or("leaf_hash is not a base64 SHA-256 hash")?;
    let data = match (raw.event, raw.pruned, raw.missing) {
        (Some(event), None | Some(false), None | Some(false)) => Some(event_text(event)?),
        (None, Some(true), None | Some(false)) => None,
        (None, None | Some(false), Some(true)) => {
            return Ok(Line::MissingLeaf { index, seq, hash });
        }
        _ => {
            return Err(
                "a leaf needs an event, or \"pruned\":true, or \"missing\":true".to_owned(),
            );
        }
    };
    Ok(Line::Leaf {
        index,
        seq,
        hash,
        data,
    })
}

/// The leaf data an `event` value stands for: the object verbatim, or a string's contents.
fn event_text(event: &RawValue) -> Result<std::borrow::Cow<'_, str>, String> {
    let text = event.get();
    if text.starts_with('"') {
        serde_json::from_str::<String>(text)
            .map(std::borrow::Cow::Owned)
            .map_err(|e| format!("event: {e}"))
    } else {
        Ok(std::borrow::Cow::Borrowed(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaf_line_gives_back_exactly_the_stored_text() {
        for body in [
            r#"{"at_ms":1,"action":"decrypt"}"#,
            r#"{ "spaced": true }"#,
            "not json at all \u{4fdd}\"\n",
            r#"{"a":1}{"b":2}"#,
        ] {
            let line = leaf_line(3, 7, &[9; 32], Some(body));
            match parse_line(&line) {
                Ok(Line::Leaf {
                    index: 3,
                    seq: 7,
                    hash,
                    data: Some(data),
                }) => {
                    assert_eq!(hash, [9; 32]);
                    assert_eq!(data, body);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn headers_checkpoints_and_pruned_leaves_read_back() {
        assert!(matches!(
            parse_line(&header_line("baomi/audit", 5)),
            Ok(Line::Header { tree_size: 5, .. })
        ));
        assert!(matches!(
            parse_line(&checkpoint_line("a\n1\nroot\n\n— sig\n")),
            Ok(Line::Checkpoint(n)) if n.starts_with("a\n1\n")
        ));
        assert!(matches!(
            parse_line(&leaf_line(0, 1, &[1; 32], None)),
            Ok(Line::Leaf { data: None, .. })
        ));
        assert!(matches!(
            parse_line(&missing_leaf_line(0, 1, &[1; 32])),
            Ok(Line::MissingLeaf { seq: 1, .. })
        ));
        for bad in [
            "",
            "[]",
            r#"{"format":"other/1","origin":"o","tree_size":1}"#,
            r#"{"leaf_index":0,"seq":1,"leaf_hash":"AAAA","event":{}}"#,
            r#"{"leaf_index":0,"seq":1}"#,
        ] {
            assert!(parse_line(bad).is_err(), "{bad}");
        }
    }
}
