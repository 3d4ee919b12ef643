//! Checking the trail: recompute every leaf hash and the tree, check every signed
//! checkpoint against the recomputed root, and say which sequence number is wrong.
//!
//! The same [`Verifier`] checks an export offline ([`verify_export`]) and the live database
//! (the server feeds it the stored rows). What it can locate:
//! - an edited event: its text no longer hashes to its leaf hash → that sequence number;
//! - a deleted event: a gap in the leaf positions, or a leaf without its event → the
//!   sequence numbers around it;
//! - an inserted event: a leaf position or sequence number out of order, or (in the
//!   database) an event in no leaf → that sequence number;
//! - reordered events: positions or sequence numbers out of order, or texts that do not
//!   hash to their leaves → those sequence numbers;
//! - a consistent rewrite (text and leaf hash both changed): the first signed checkpoint
//!   whose root no longer matches → the range of sequence numbers since the previous
//!   checkpoint that held.

use std::collections::BTreeMap;
use std::fmt;
use std::io::BufRead;

use crate::checkpoint::{self, CheckpointError};
use crate::export::{self, Line};
use crate::merkle::{CompactTree, Hash, leaf_hash};

/// At most this many findings are kept; the rest are counted.
const MAX_FINDINGS: usize = 1000;

/// Something wrong with the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The event's text does not hash to its leaf hash: it was edited.
    Edited {
        /// Its sequence number.
        seq: i64,
    },
    /// A query column of an event (what officer searches and access logs read) that its
    /// text does not give: the column was edited on its own.
    ColumnEdited {
        /// Its sequence number.
        seq: i64,
        /// The column: `at_ms`, `action`, `subject`, `actor`, `operator`, `purpose` or
        /// `outcome`.
        column: &'static str,
    },
    /// A leaf whose event is gone: it was deleted.
    MissingEvent {
        /// The leaf's sequence number.
        seq: i64,
    },
    /// An event that is in no leaf of the tree: it was inserted.
    NotInTree {
        /// Its sequence number.
        seq: i64,
    },
    /// Leaf positions are missing: events were deleted, with their leaves.
    Gap {
        /// The first missing position.
        from_index: u64,
        /// How many positions are missing.
        missing: u64,
        /// The sequence number before the gap, if any.
        after_seq: Option<i64>,
        /// The sequence number after it.
        before_seq: i64,
    },
    /// A leaf out of order (position or sequence number goes back): inserted or reordered.
    OutOfOrder {
        /// Its sequence number.
        seq: i64,
        /// Its stated position.
        index: u64,
    },
    /// A signed checkpoint whose root is not the recomputed one: some event after
    /// `after_seq` and up to `through_seq` was changed, added or removed.
    CheckpointMismatch {
        /// The checkpoint's tree size.
        tree_size: u64,
        /// The last sequence number of the previous checkpoint that held.
        after_seq: Option<i64>,
        /// The last sequence number this checkpoint covers.
        through_seq: Option<i64>,
    },
    /// A checkpoint whose signature does not verify with the key (or is malformed).
    BadCheckpoint {
        /// Why.
        reason: String,
    },
    /// A checkpoint signed by a retired key for a tree larger than the last one it was
    /// entitled to sign: whoever holds that old key signed after it was replaced.
    RetiredKey {
        /// The checkpoint's tree size.
        tree_size: u64,
        /// The largest tree the key could sign: the size when its successor took over.
        until_size: u64,
    },
    /// An event pruned although it is younger than the shortest retention (180 days) at
    /// the time of the check: its text was blanked to hide it, not by retention.
    PrunedEarly {
        /// Its sequence number.
        seq: i64,
        /// When it was written, as its row says (Unix milliseconds).
        at_ms: i64,
    },
    /// A checkpoint larger than the trail: events at its end were removed.
    Truncated {
        /// The checkpoint's tree size.
        tree_size: u64,
        /// Leaves found.
        found: u64,
    },
    /// Events after the last signed checkpoint of an export: nothing vouches for them.
    Unsigned {
        /// How many.
        count: u64,
        /// The sequence number of the last event a checkpoint covers.
        after_seq: Option<i64>,
    },
    /// A checkpoint kept outside the trail (saved earlier, or a witness's) whose tree the
    /// trail's first events no longer make: history was rewritten (and perhaps re-signed).
    KeptNotExtended {
        /// The kept checkpoint's tree size.
        tree_size: u64,
        /// The sequence number of the trail's event at that size.
        through_seq: Option<i64>,
    },
    /// A checkpoint kept outside the trail that is larger than the trail: events at its end
    /// were removed, with whatever checkpoints covered them.
    KeptCut {
        /// The kept checkpoint's tree size.
        tree_size: u64,
        /// Leaves found: the first one missing is at this position.
        found: u64,
    },
    /// A line of an export that cannot be read.
    Malformed {
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seq = |s: &Option<i64>| s.map_or("the start".to_owned(), |s| format!("seq {s}"));
        match self {
            Finding::Edited { seq } => write!(
                f,
                "seq {seq}: the event was edited (its text does not hash to its leaf)"
            ),
            Finding::ColumnEdited { seq, column } => write!(
                f,
                "seq {seq}: the {column} column was edited (the event's text says otherwise)"
            ),
            Finding::MissingEvent { seq } => {
                write!(f, "seq {seq}: the event was deleted (its leaf remains)")
            }
            Finding::NotInTree { seq } => {
                write!(
                    f,
                    "seq {seq}: the event was inserted (it is in no leaf of the tree)"
                )
            }
            Finding::Gap {
                from_index,
                missing,
                after_seq,
                before_seq,
            } => write!(
                f,
                "{missing} event(s) deleted at leaf {from_index}, between {} and seq {before_seq}",
                seq(after_seq)
            ),
            Finding::OutOfOrder { seq, index } => write!(
                f,
                "seq {seq}: out of order at leaf {index} (inserted or reordered)"
            ),
            Finding::CheckpointMismatch {
                tree_size,
                after_seq,
                through_seq,
            } => write!(
                f,
                "the signed checkpoint of size {tree_size} does not match: an event after {} \
                 and up to {} was changed, added or removed",
                seq(after_seq),
                through_seq.map_or("the end".to_owned(), |s| format!("seq {s}"))
            ),
            Finding::BadCheckpoint { reason } => {
                write!(f, "a checkpoint does not verify: {reason}")
            }
            Finding::RetiredKey {
                tree_size,
                until_size,
            } => write!(
                f,
                "the checkpoint of size {tree_size} is signed by a key retired at tree size \
                 {until_size}: it was signed after the key was replaced"
            ),
            Finding::PrunedEarly { seq, at_ms } => write!(
                f,
                "seq {seq}: its text was removed although it is younger than the shortest \
                 retention of 180 days (written at Unix ms {at_ms}); retention did not prune it"
            ),
            Finding::Truncated { tree_size, found } => write!(
                f,
                "a signed checkpoint covers {tree_size} events but only {found} are present: \
                 events at the end were deleted"
            ),
            Finding::Unsigned { count, after_seq } => write!(
                f,
                "{count} event(s) after {} are covered by no signed checkpoint",
                seq(after_seq)
            ),
            Finding::KeptNotExtended {
                tree_size,
                through_seq,
            } => write!(
                f,
                "the kept checkpoint of size {tree_size} does not match the trail: its first \
                 {tree_size} events (through {}) are not those it signed; history was rewritten",
                through_seq.map_or("the end".to_owned(), |s| format!("seq {s}"))
            ),
            Finding::KeptCut { tree_size, found } => write!(
                f,
                "the kept checkpoint covers {tree_size} events but the trail holds {found}: the \
                 events from leaf {found} on were removed"
            ),
            Finding::Malformed { line, reason } => write!(f, "line {line}: {reason}"),
        }
    }
}

/// What a verification found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Leaves checked.
    pub leaves: u64,
    /// Of them, pruned by retention (only their hash remains).
    pub pruned: u64,
    /// Signed checkpoints that verified and matched.
    pub checkpoints: u64,
    /// The largest tree size a matching checkpoint vouches for.
    pub verified_size: u64,
    /// Leaves after that size (on a live trail: those of the last second or so, until the
    /// next checkpoint is signed).
    pub unsigned: u64,
    /// The root over all leaves.
    pub root: Hash,
    /// The size of the kept checkpoint (see [`Verifier::kept`]) that the trail was found to
    /// extend, if one was given and it held.
    pub kept_extended: Option<u64>,
    /// What is wrong, first first.
    pub findings: Vec<Finding>,
    /// Findings beyond those kept.
    pub more_findings: u64,
}

impl Report {
    /// Whether nothing is wrong: every leaf matches its event and every checkpoint the
    /// recomputed tree (leaves after the last checkpoint are counted in `unsigned`).
    pub fn is_intact(&self) -> bool {
        self.findings.is_empty() && self.more_findings == 0 && self.checkpoints > 0
    }
}

/// What a leaf brings: its stored hash, and its event's text unless it is gone.
#[derive(Debug, Clone, Copy)]
pub enum LeafData<'a> {
    /// The event's text (the leaf data).
    Event(&'a [u8]),
    /// Pruned by retention: only the hash remains, by design.
    Pruned,
    /// The event is missing although its leaf is there.
    Missing,
}

/// A checkpoint verifier key trusted by a verification, with how far it is trusted. Reads
/// the keys of a saved `GET /v1/audit/keys` as they are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct TrustedKey {
    /// `<name>+<id>+<key>`.
    pub verifier_key: String,
    /// For a retired key, the largest tree it may have signed (the size when its successor
    /// took over); `None` for a key in use.
    pub until_size: Option<u64>,
}

impl TrustedKey {
    /// A key in use, trusted for any tree size.
    pub fn current(verifier_key: &str) -> Self {
        Self {
            verifier_key: verifier_key.to_owned(),
            until_size: None,
        }
    }
}

/// What `note` states if one of `keys` signed it within its bound; else the finding that
/// says why not ([`Finding::RetiredKey`] or [`Finding::BadCheckpoint`]).
pub fn trusted_checkpoint(
    note: &str,
    keys: &[TrustedKey],
) -> Result<checkpoint::Checkpoint, Finding> {
    let mut first_error = None;
    let mut retired = None;
    for key in keys {
        match checkpoint::verify(note, &key.verifier_key) {
            Ok(c) => match key.until_size {
                Some(until_size) if c.size > until_size => {
                    retired = Some(Finding::RetiredKey {
                        tree_size: c.size,
                        until_size,
                    })
                }
                _ => return Ok(c),
            },
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(retired.unwrap_or_else(|| Finding::BadCheckpoint {
        reason: match first_error {
            Some(e) if keys.len() == 1 => e.to_string(),
            _ => "no valid signature by any trusted key".to_owned(),
        },
    }))
}

/// What a verification holds the trail to besides its own checkpoints: evidence kept
/// outside the database, and the time of the check.
#[derive(Debug, Clone, Copy, Default)]
pub struct Outside<'a> {
    /// A signed checkpoint kept outside the trail (see [`Verifier::kept`]).
    pub kept: Option<&'a str>,
    /// `(size, at_ms)`: a tree of `size` leaves existed at `at_ms` by a clock the log's
    /// operators do not hold (a witness's cosignature of the kept checkpoint), so every
    /// leaf from position `size` on was appended after it (see [`Verifier::appended_after`]).
    pub appended_after: Option<(u64, i64)>,
    /// The time of the check (Unix ms), for the age of pruned events (see
    /// [`Verifier::checked_at`]).
    pub now_ms: Option<i64>,
}

/// Verifies a trail fed to it in leaf order.
pub struct Verifier {
    keys: Vec<TrustedKey>,
    tree: CompactTree,
    /// Checkpoints waiting for the tree to reach their size: size → root.
    pending: BTreeMap<u64, Hash>,
    last_seq: Option<i64>,
    /// The position after the highest one seen.
    next_index: u64,
    /// The last sequence number covered by the newest checkpoint that held.
    held_through: Option<i64>,
    /// A checkpoint kept outside the trail, waiting for the tree to reach its size.
    kept: Option<(u64, Hash)>,
    /// Events written after this time (Unix milliseconds) may not have been pruned.
    prune_horizon_ms: Option<i64>,
    /// Leaves from this position on were appended after this time (Unix milliseconds).
    appended_after: Option<(u64, i64)>,
    report: Report,
}

/// The shortest retention of an event's text (the Cybersecurity Law's six months): no event
/// younger than this is pruned.
pub const MIN_RETENTION_MS: i64 = 180 * 86_400_000;

impl Verifier {
    /// A verifier trusting checkpoints signed by `verifier_key` (`<name>+<id>+<key>`).
    pub fn new(verifier_key: &str) -> Result<Self, CheckpointError> {
        Self::trusting(&[TrustedKey::current(verifier_key)])
    }

    /// A verifier trusting checkpoints signed by any of `keys`, each within its bound (the
    /// history of a log's keys: GET /v1/audit/keys).
    pub fn trusting(keys: &[TrustedKey]) -> Result<Self, CheckpointError> {
        if keys.is_empty() {
            return Err(CheckpointError::VerifierKey);
        }
        for key in keys {
            checkpoint::check_verifier_key(&key.verifier_key)?;
        }
        Ok(Self {
            keys: keys.to_vec(),
            tree: CompactTree::new(),
            pending: BTreeMap::new(),
            last_seq: None,
            next_index: 0,
            held_through: None,
            kept: None,
            prune_horizon_ms: None,
            appended_after: None,
            report: Report::default(),
        })
    }

    /// Leaves seen so far.
    pub fn size(&self) -> u64 {
        self.tree.size()
    }

    /// Records a finding (the first thousand, then only a count).
    pub fn find(&mut self, finding: Finding) {
        if self.report.findings.len() < MAX_FINDINGS {
            self.report.findings.push(finding);
        } else {
            self.report.more_findings += 1;
        }
    }

    /// Checks pruned events against the time of the check, `now_ms`: one written less than
    /// [`MIN_RETENTION_MS`] before it cannot have been pruned by retention (see
    /// [`Verifier::pruned`]).
    pub fn checked_at(&mut self, now_ms: i64) {
        self.prune_horizon_ms = Some(now_ms - MIN_RETENTION_MS);
    }

    /// Leaves from position `index` on were appended after `at_ms` (a time a witness
    /// vouches for): one of them pruned is a finding when that time is too recent for
    /// retention to have pruned it, whatever its row says. Needs [`Verifier::checked_at`].
    pub fn appended_after(&mut self, index: u64, at_ms: i64) {
        self.appended_after = Some((index, at_ms));
    }

    /// Applies `outside`: the kept checkpoint, the witnessed bound and the time of the check.
    pub fn hold_to(&mut self, outside: &Outside<'_>) {
        if let Some(now_ms) = outside.now_ms {
            self.checked_at(now_ms);
        }
        if let Some((index, at_ms)) = outside.appended_after {
            self.appended_after(index, at_ms);
        }
        if let Some(note) = outside.kept {
            self.kept(note);
        }
    }

    /// A pruned event, written at `at_ms` as its row says: a finding if that is too recent
    /// for retention to have pruned it (when [`Verifier::checked_at`] set the time).
    pub fn pruned(&mut self, seq: i64, at_ms: i64) {
        if self.prune_horizon_ms.is_some_and(|horizon| at_ms > horizon) {
            self.find(Finding::PrunedEarly { seq, at_ms });
        }
    }

    /// An event's query columns as stored, checked against those its `text` gives (the
    /// text itself is checked by [`Verifier::leaf`]).
    pub fn columns(&mut self, seq: i64, text: &str, stored: &crate::EventColumns) {
        for column in crate::EventColumns::of_text(text).differing(stored) {
            self.find(Finding::ColumnEdited { seq, column });
        }
    }

    /// The next leaf: its position, sequence number and stored hash, and its event.
    pub fn leaf(&mut self, index: u64, seq: i64, stored: Hash, data: LeafData<'_>) {
        // The position after the last one seen: one gap or one stray leaf is one finding,
        // not one for every leaf after it.
        let expected = self.next_index;
        self.next_index = self.next_index.max(index.saturating_add(1));
        if index > expected {
            self.find(Finding::Gap {
                from_index: expected,
                missing: index - expected,
                after_seq: self.last_seq,
                before_seq: seq,
            });
        } else if index < expected || self.last_seq.is_some_and(|last| seq <= last) {
            self.find(Finding::OutOfOrder { seq, index });
        }
        let hash = match data {
            LeafData::Event(text) => {
                let hash = leaf_hash(text);
                if hash != stored {
                    self.find(Finding::Edited { seq });
                }
                hash
            }
            LeafData::Pruned => {
                self.report.pruned += 1;
                if let (Some(horizon), Some((from, after_ms))) =
                    (self.prune_horizon_ms, self.appended_after)
                    && index >= from
                    && after_ms > horizon
                {
                    self.find(Finding::PrunedEarly {
                        seq,
                        at_ms: after_ms,
                    });
                }
                stored
            }
            LeafData::Missing => {
                self.find(Finding::MissingEvent { seq });
                stored
            }
        };
        self.tree.push(hash);
        self.last_seq = Some(seq);
        self.report.leaves += 1;
        self.settle();
    }

    fn trusted(&self, note: &str) -> Result<checkpoint::Checkpoint, Finding> {
        trusted_checkpoint(note, &self.keys)
    }

    /// A signed checkpoint; it is checked once the tree reaches its size.
    pub fn checkpoint(&mut self, note: &str) {
        match self.trusted(note) {
            Err(finding) => self.find(finding),
            Ok(c) if c.size < self.tree.size() || (c.size == 0) => {
                // A checkpoint placed after leaves it does not cover cannot be checked
                // against the running tree; an export never does this.
                self.find(Finding::BadCheckpoint {
                    reason: format!("the checkpoint of size {} is out of place", c.size),
                })
            }
            Ok(c) => {
                self.pending.insert(c.size, c.root);
                self.settle();
            }
        }
    }

    /// A checkpoint kept outside the trail (a signed note saved earlier, or a witness's),
    /// fed before any leaf: the trail must extend it, or the report says where it does not.
    /// Unlike the trail's own checkpoints, nobody holding the database can rewrite it.
    pub fn kept(&mut self, note: &str) {
        match self.trusted(note) {
            Err(Finding::BadCheckpoint { reason }) => self.find(Finding::BadCheckpoint {
                reason: format!("the kept checkpoint: {reason}"),
            }),
            Err(finding) => self.find(finding),
            Ok(c) => {
                self.kept = Some((c.size, c.root));
                self.settle();
            }
        }
    }

    /// Checks a pending checkpoint if the tree has reached its size.
    fn settle(&mut self) {
        let size = self.tree.size();
        if let Some((kept_size, root)) = self.kept.filter(|(s, _)| *s == size) {
            self.kept = None;
            if root == self.tree.root() {
                self.report.kept_extended = Some(kept_size);
            } else {
                self.find(Finding::KeptNotExtended {
                    tree_size: kept_size,
                    through_seq: self.last_seq,
                });
            }
        }
        if let Some(root) = self.pending.remove(&size) {
            if root == self.tree.root() {
                self.report.checkpoints += 1;
                self.report.verified_size = size;
                self.held_through = self.last_seq;
            } else {
                self.find(Finding::CheckpointMismatch {
                    tree_size: size,
                    after_seq: self.held_through,
                    through_seq: self.last_seq,
                });
            }
        }
    }

    /// The report, once every leaf and checkpoint was fed.
    pub fn finish(mut self) -> Report {
        let found = self.tree.size();
        if let Some((tree_size, _)) = self.kept.take() {
            self.find(Finding::KeptCut { tree_size, found });
        }
        for (&tree_size, _) in self.pending.range(found + 1..) {
            if self.report.findings.len() < MAX_FINDINGS {
                self.report
                    .findings
                    .push(Finding::Truncated { tree_size, found });
            }
        }
        self.report.root = self.tree.root();
        self.report.unsigned = found.saturating_sub(self.report.verified_size);
        self.report
    }
}

/// Verifies an export read from `input` (see [`crate::export`]) with `verifier_key`.
/// Errors only if the key is malformed or the input cannot be read; everything wrong with
/// the content is a finding in the report.
pub fn verify_export(input: impl BufRead, verifier_key: &str) -> Result<Report, VerifyError> {
    verify_export_extending(
        input,
        &[TrustedKey::current(verifier_key)],
        &Outside::default(),
    )
}

/// [`verify_export`] trusting any of `keys`, each within its bound (see
/// [`Verifier::trusting`]), and holding the trail to what `outside` brings (see
/// [`Outside`]).
pub fn verify_export_extending(
    input: impl BufRead,
    keys: &[TrustedKey],
    outside: &Outside<'_>,
) -> Result<Report, VerifyError> {
    let mut verifier = Verifier::trusting(keys)?;
    verifier.hold_to(outside);
    let mut declared = None;
    for (n, line) in input.lines().enumerate() {
        let line = line?;
        let number = n as u64 + 1;
        match export::parse_line(&line) {
            Err(reason) => verifier.find(Finding::Malformed {
                line: number,
                reason,
            }),
            Ok(Line::Header { tree_size, .. }) if number == 1 => declared = Some(tree_size),
            Ok(Line::Header { .. }) => verifier.find(Finding::Malformed {
                line: number,
                reason: "a second header".to_owned(),
            }),
            Ok(Line::Leaf {
                index,
                seq,
                hash,
                data,
            }) => {
                let data = match &data {
                    Some(text) => LeafData::Event(text.as_bytes()),
                    None => LeafData::Pruned,
                };
                verifier.leaf(index, seq, hash, data);
            }
            Ok(Line::MissingLeaf { index, seq, hash }) => {
                verifier.leaf(index, seq, hash, LeafData::Missing)
            }
            Ok(Line::Checkpoint(note)) => verifier.checkpoint(&note),
        }
    }
    if declared.is_none() {
        verifier.find(Finding::Malformed {
            line: 1,
            reason: "no header: not a Baomi audit export".to_owned(),
        });
    }
    let size = verifier.size();
    if let Some(tree_size) = declared.filter(|&d| d != size) {
        verifier.find(Finding::Truncated {
            tree_size,
            found: size,
        });
    }
    let held_through = verifier.held_through;
    let mut report = verifier.finish();
    if report.unsigned > 0 {
        // An export ends with its checkpoint: anything after it was added.
        report.findings.push(Finding::Unsigned {
            count: report.unsigned,
            after_seq: held_through,
        });
    }
    Ok(report)
}

/// Why a verification could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The verifier key is malformed.
    #[error(transparent)]
    Key(#[from] CheckpointError),
    /// The export cannot be read.
    #[error("cannot read the export: {0}")]
    Io(#[from] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{Checkpoint, CheckpointSigner};
    use crate::export::{checkpoint_line, header_line, leaf_line};
    use crate::merkle::{Leaves, root};

    fn signer() -> CheckpointSigner {
        CheckpointSigner::new("test/audit", &[7; 32]).unwrap()
    }

    fn sign(size: u64, hashes: &[Hash]) -> String {
        signer()
            .sign(&Checkpoint {
                origin: "test/audit".into(),
                size,
                root: root(&Leaves(&hashes[..size as usize]), size),
            })
            .unwrap()
    }

    /// An export of `n` events (seq 10, 20, …) with checkpoints at 3, 6 and `n`.
    fn export(n: usize) -> Vec<String> {
        let bodies: Vec<String> = (0..n).map(|i| format!(r#"{{"event":{i}}}"#)).collect();
        export_of(&bodies)
    }

    /// An export of these events, signed afresh (as by someone holding the signing key).
    fn export_of(bodies: &[String]) -> Vec<String> {
        let n = bodies.len();
        let hashes: Vec<Hash> = bodies.iter().map(|b| leaf_hash(b.as_bytes())).collect();
        let mut lines = vec![header_line("test/audit", n as u64)];
        for (i, body) in bodies.iter().enumerate() {
            lines.push(leaf_line(
                i as u64,
                10 * (i as i64 + 1),
                &hashes[i],
                Some(body),
            ));
            if [3, 6, n].contains(&(i + 1)) {
                lines.push(checkpoint_line(&sign(i as u64 + 1, &hashes)));
            }
        }
        lines
    }

    fn check(lines: &[String]) -> Report {
        let text = lines.join("\n");
        verify_export(text.as_bytes(), &signer().verifier_key()).unwrap()
    }

    /// Checkpoints 3 and 6 signed by the first key, 10 by its successor after a rotation at
    /// tree size `rotated_at`, checked trusting `keys`.
    fn rotated(keys: &[(&CheckpointSigner, Option<u64>)]) -> Report {
        let bodies: Vec<String> = (0..10).map(|i| format!(r#"{{"event":{i}}}"#)).collect();
        let hashes: Vec<Hash> = bodies.iter().map(|b| leaf_hash(b.as_bytes())).collect();
        let mut lines = export_of(&bodies);
        let last = lines.len() - 1;
        lines[last] = checkpoint_line(
            &successor()
                .sign(&Checkpoint {
                    origin: "test/audit".into(),
                    size: 10,
                    root: root(&Leaves(&hashes), 10),
                })
                .unwrap(),
        );
        let trusted: Vec<TrustedKey> = keys
            .iter()
            .map(|(signer, until_size)| TrustedKey {
                verifier_key: signer.verifier_key(),
                until_size: *until_size,
            })
            .collect();
        verify_export_extending(lines.join("\n").as_bytes(), &trusted, &Outside::default()).unwrap()
    }

    fn successor() -> CheckpointSigner {
        CheckpointSigner::new("test/audit", &[9; 32]).unwrap()
    }

    #[test]
    fn a_rotated_key_history_verifies_each_checkpoint_with_its_own_key() {
        let (old, new) = (signer(), successor());
        let report = rotated(&[(&old, Some(6)), (&new, None)]);
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.checkpoints, 3);

        let report = rotated(&[(&new, None)]);
        assert_eq!(
            report.findings,
            vec![
                Finding::BadCheckpoint {
                    reason: "no valid signature by this key".into()
                };
                2
            ]
        );
        let report = rotated(&[(&old, Some(6))]);
        assert_eq!(report.checkpoints, 2);
        assert!(
            matches!(
                &report.findings[..],
                [
                    Finding::BadCheckpoint { .. },
                    Finding::Unsigned { count: 4, .. }
                ]
            ),
            "{report:?}"
        );
    }

    #[test]
    fn a_retired_key_is_trusted_only_up_to_the_size_it_was_retired_at() {
        let (old, new) = (signer(), successor());
        let report = rotated(&[(&old, Some(3)), (&new, None)]);
        assert_eq!(
            report.findings,
            [Finding::RetiredKey {
                tree_size: 6,
                until_size: 3
            }]
        );
        assert_eq!(report.checkpoints, 2);
    }

    #[test]
    fn an_untouched_export_is_intact() {
        let report = check(&export(10));
        assert!(report.is_intact(), "{report:?}");
        assert_eq!((report.leaves, report.checkpoints), (10, 3));
    }

    #[test]
    fn an_edited_event_is_named() {
        let mut lines = export(10);
        lines[5] = lines[5].replace(r#""event":3"#, r#""event":33"#);
        let report = check(&lines);
        assert_eq!(report.findings[0], Finding::Edited { seq: 40 });
        assert!(!report.is_intact());
    }

    #[test]
    fn a_consistent_rewrite_is_located_between_checkpoints() {
        let mut lines = export(10);
        // Line 9 is leaf 6 (seq 70), after the checkpoint of size 6 (lines 1-8 before it).
        let forged = r#"{"event":"forged"}"#;
        lines[9] = leaf_line(6, 70, &leaf_hash(forged.as_bytes()), Some(forged));
        let report = check(&lines);
        assert_eq!(
            report.findings,
            vec![
                Finding::CheckpointMismatch {
                    tree_size: 10,
                    after_seq: Some(60),
                    through_seq: Some(100),
                },
                Finding::Unsigned {
                    count: 4,
                    after_seq: Some(60)
                }
            ]
        );
    }

    #[test]
    fn deleted_inserted_and_reordered_lines_are_named() {
        let mut deleted = export(10);
        deleted.remove(2); // leaf 1, seq 20
        let placement = |r: &Report| {
            r.findings
                .iter()
                .filter(|f| matches!(f, Finding::Gap { .. } | Finding::OutOfOrder { .. }))
                .count()
        };
        assert_eq!(placement(&check(&deleted)), 1, "one gap, one finding");
        assert_eq!(
            check(&deleted).findings[0],
            Finding::Gap {
                from_index: 1,
                missing: 1,
                after_seq: Some(10),
                before_seq: 30
            }
        );

        let mut reordered = export(10);
        reordered.swap(1, 2);
        assert_eq!(
            check(&reordered).findings[0],
            Finding::Gap {
                from_index: 0,
                missing: 1,
                after_seq: None,
                before_seq: 20
            }
        );
        assert!(
            check(&reordered)
                .findings
                .contains(&Finding::OutOfOrder { seq: 10, index: 0 })
        );

        let mut inserted = export(10);
        inserted.insert(2, leaf_line(1, 15, &[0; 32], Some("{}")));
        let report = check(&inserted);
        assert!(report.findings.contains(&Finding::Edited { seq: 15 }));
        assert!(
            report
                .findings
                .contains(&Finding::OutOfOrder { seq: 20, index: 1 })
        );
    }

    #[test]
    fn a_kept_checkpoint_catches_a_cut_or_rewritten_trail_that_was_signed_again() {
        let bodies: Vec<String> = (0..10).map(|i| format!(r#"{{"event":{i}}}"#)).collect();
        let hashes: Vec<Hash> = bodies.iter().map(|b| leaf_hash(b.as_bytes())).collect();
        let kept = sign(8, &hashes);
        let against = |lines: &[String]| {
            let text = lines.join("\n");
            verify_export_extending(
                text.as_bytes(),
                &[TrustedKey::current(&signer().verifier_key())],
                &Outside {
                    kept: Some(&kept),
                    ..Outside::default()
                },
            )
            .unwrap()
        };
        let whole = against(&export(10));
        assert!(whole.is_intact(), "{whole:?}");
        assert_eq!(whole.kept_extended, Some(8));

        // Cut to six events, its own checkpoints intact: only the kept one says so.
        let cut = export(6);
        assert!(check(&cut).is_intact(), "the trail alone looks whole");
        assert_eq!(
            against(&cut).findings,
            vec![Finding::KeptCut {
                tree_size: 8,
                found: 6
            }]
        );

        // Event 2 rewritten and every checkpoint signed again.
        let mut rewritten = bodies.clone();
        rewritten[2] = r#"{"event":"nothing to see"}"#.to_owned();
        let rewritten = export_of(&rewritten);
        assert!(
            check(&rewritten).is_intact(),
            "re-signed: the trail alone looks whole"
        );
        let report = against(&rewritten);
        assert_eq!(
            report.findings,
            vec![Finding::KeptNotExtended {
                tree_size: 8,
                through_seq: Some(80)
            }]
        );
        assert!(report.kept_extended.is_none());
    }

    #[test]
    fn truncation_forged_signatures_and_garbage_are_reported() {
        let mut truncated = export(10);
        truncated.truncate(12);
        assert!(check(&truncated).findings.contains(&Finding::Truncated {
            tree_size: 10,
            found: 9
        }));

        let other = CheckpointSigner::new("test/audit", &[8; 32]).unwrap();
        let mut forged = export(4);
        forged.push(checkpoint_line(
            &other
                .sign(&Checkpoint {
                    origin: "test/audit".into(),
                    size: 4,
                    root: [0; 32],
                })
                .unwrap(),
        ));
        assert!(matches!(
            check(&forged).findings[0],
            Finding::BadCheckpoint { .. }
        ));

        let mut garbage = export(4);
        garbage.insert(3, "not json".into());
        assert!(matches!(
            check(&garbage).findings[0],
            Finding::Malformed { line: 4, .. }
        ));
        assert!(matches!(
            verify_export(&b"x"[..], "bad key"),
            Err(VerifyError::Key(_))
        ));
    }

    #[test]
    fn pruned_leaves_keep_the_export_verifiable() {
        let mut lines = export(10);
        for line in lines.iter_mut().skip(1).take(3) {
            if let Ok(Line::Leaf {
                index, seq, hash, ..
            }) = export::parse_line(line)
            {
                *line = leaf_line(index, seq, &hash, None);
            }
        }
        let report = check(&lines);
        assert!(report.is_intact(), "{report:?}");
        assert_eq!(report.pruned, 3);
    }
}
