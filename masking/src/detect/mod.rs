//! Detection of personal information in free text: one [`Detector`] per kind of PI, each a
//! pattern followed by the validator of its standard (or, for names and addresses, a
//! dictionary and context words with a score), and a [`Scanner`] that runs them all and
//! settles overlaps.

pub(crate) mod address;
mod card;
mod cn_id;
mod email;
mod iban;
mod ip;
mod landline;
mod mobile;
pub(crate) mod person;
mod plate;
pub(crate) mod scan;
mod travel_docs;
mod uscc;

use std::cell::Cell;

use serde::Serialize;

pub use scan::Text;

use crate::pi_type::PiType;

/// A piece of personal information found in a text.
#[derive(Clone, PartialEq, Serialize)]
pub struct Finding {
    /// The kind of PI.
    #[serde(rename = "type")]
    pub pi_type: PiType,
    /// Start, in characters (Unicode scalar values) from the start of the text.
    pub start: usize,
    /// End (exclusive), in characters.
    pub end: usize,
    /// Start, in UTF-8 bytes.
    pub byte_start: usize,
    /// End (exclusive), in UTF-8 bytes.
    pub byte_end: usize,
    /// Confidence from 0 to 1.
    pub score: f32,
    /// The check that passed: a validator's name (`gb11643`, `luhn`, …), or for names and
    /// addresses the evidence (`dictionary+context`).
    pub validator: &'static str,
}

/// A finding's span and value are PI-adjacent; its `Debug` shows only type and span.
impl std::fmt::Debug for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}[{}..{}]@{:.2}",
            self.pi_type, self.start, self.end, self.score
        )
    }
}

/// A detector's raw hit, in bytes, before overlaps are settled.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    /// The kind of PI.
    pub pi_type: PiType,
    /// Start in bytes.
    pub start: usize,
    /// End in bytes (exclusive).
    pub end: usize,
    /// Confidence from 0 to 1.
    pub score: f32,
    /// The check that passed.
    pub validator: &'static str,
}

/// Finds one kind of PI.
pub trait Detector: Send + Sync {
    /// The kind it finds.
    fn pi_type(&self) -> PiType;
    /// Appends every hit in `text` that passes the validator.
    fn find(&self, text: &Text<'_>, out: &mut Vec<Candidate>);
}

/// Runs every detector over a text and keeps, where hits overlap, the one with the higher
/// score (then the longer, then the earlier), as Presidio's anonymiser does.
pub struct Scanner {
    detectors: Vec<Box<dyn Detector>>,
    min_score: f32,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

impl Scanner {
    /// A scanner with every detector, reporting findings scored 0.5 or more.
    pub fn new() -> Scanner {
        let today = scan::current_year();
        Scanner {
            detectors: vec![
                Box::new(cn_id::CnId::new(today)),
                Box::new(mobile::Mobile::new()),
                Box::new(landline::Landline::new()),
                Box::new(card::BankCard::new()),
                Box::new(card::CreditCard::new()),
                Box::new(uscc::Uscc::new()),
                Box::new(travel_docs::Passport::new()),
                Box::new(travel_docs::HkmoPermit::new()),
                Box::new(travel_docs::TwPermit::new()),
                Box::new(plate::Plate::new()),
                Box::new(email::Email::new()),
                Box::new(ip::Ipv4::new()),
                Box::new(ip::Ipv6::new()),
                Box::new(iban::Iban::new()),
                Box::new(person::Person::new()),
                Box::new(address::Address::new()),
            ],
            min_score: 0.5,
        }
    }

    /// Keeps only the detectors of `types`.
    pub fn only(mut self, types: &[PiType]) -> Scanner {
        self.detectors.retain(|d| types.contains(&d.pi_type()));
        self
    }

    /// Reports only findings scored `min_score` or more.
    pub fn min_score(mut self, min_score: f32) -> Scanner {
        self.min_score = min_score;
        self
    }

    /// The findings in `text`, in order, not overlapping.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        self.scan_spans(text, |spans| spans.findings())
    }

    /// The findings in `text`, and the byte ranges, outside every finding, of candidates
    /// that lost to an overlapping finding (in order, not overlapping). A masker hides those
    /// too: once the finding is masked, what is left of the loser could read as PI alone.
    pub fn scan_with_overlapped(&self, text: &str) -> (Vec<Finding>, Vec<(usize, usize)>) {
        self.scan_spans(text, |spans| (spans.findings(), spans.overlapped.to_vec()))
    }

    /// Scans `text` and hands `with` what it found as byte spans ([`Spans`]), before
    /// character offsets are counted: for callers that need only the bytes (a masker that
    /// counts its findings), the scan allocates nothing of its own.
    pub fn scan_spans<R>(&self, text: &str, with: impl FnOnce(&Spans<'_>) -> R) -> R {
        // The vectors the last scan on this thread filled, if any (none while a scan on
        // this thread is under way: `with` may scan again).
        let mut spares = SPARES
            .try_with(Cell::take)
            .ok()
            .flatten()
            .unwrap_or_default();
        let prepared = Text::reusing(text, std::mem::take(&mut spares.text));
        let hits = &mut spares.hits;
        hits.clear();
        for d in &self.detectors {
            d.find(&prepared, hits);
        }
        hits.retain(|c| c.score >= self.min_score);
        resolve(hits, &mut spares.kept, &mut spares.lost);
        spares.overlapped.clear();
        outside(&spares.kept, &spares.lost, &mut spares.overlapped);
        let done = with(&Spans {
            text,
            ascii: !prepared.non_ascii,
            kept: &spares.kept,
            overlapped: &spares.overlapped,
        });
        spares.text = prepared.into_spares();
        if !spares.too_large() {
            // Not there while the thread ends: the vectors are dropped.
            let _ = SPARES.try_with(|cell| cell.set(Some(spares)));
        }
        done
    }
}

/// What a scan found, in bytes (see [`Scanner::scan_spans`]).
pub struct Spans<'s> {
    text: &'s str,
    /// Whether the text is all ASCII.
    ascii: bool,
    /// The findings: in order, not overlapping.
    pub kept: &'s [Candidate],
    /// The byte ranges, outside every finding, of candidates that lost to an overlapping
    /// finding: in order, not overlapping.
    pub overlapped: &'s [(usize, usize)],
}

impl Spans<'_> {
    /// The findings, with their offsets in characters too.
    pub fn findings(&self) -> Vec<Finding> {
        with_char_offsets(self.text, self.ascii, self.kept)
    }
}

/// The vectors a scan fills and empties (see [`Scanner::scan_with_overlapped`]).
#[derive(Default)]
struct ScanSpares {
    text: scan::Spares,
    hits: Vec<Candidate>,
    kept: Vec<Candidate>,
    lost: Vec<Candidate>,
    overlapped: Vec<(usize, usize)>,
}

impl ScanSpares {
    /// Whether these vectors grew too large to keep for the next scan.
    fn too_large(&self) -> bool {
        const MOST: usize = 1 << 12;
        self.text.too_large()
            || [&self.hits, &self.kept, &self.lost]
                .iter()
                .any(|v| v.capacity() > MOST)
            || self.overlapped.capacity() > MOST
    }
}

thread_local! {
    /// The vectors of this thread's last scan, boxed: taken and given back as a pointer.
    static SPARES: Cell<Option<Box<ScanSpares>>> = const { Cell::new(None) };
}

/// The parts of the `lost` candidates outside every `kept` one (sorted, disjoint), merged,
/// appended to `pieces` (empty).
fn outside(kept: &[Candidate], lost: &[Candidate], pieces: &mut Vec<(usize, usize)>) {
    for l in lost {
        let mut at = l.start;
        for k in kept.iter().filter(|k| k.start < l.end && k.end > l.start) {
            if k.start > at {
                pieces.push((at, k.start));
            }
            at = at.max(k.end);
        }
        if at < l.end {
            pieces.push((at, l.end));
        }
    }
    pieces.sort_unstable();
    // Merged in place: `done` pieces are final.
    let mut done: usize = 0;
    for i in 0..pieces.len() {
        let (s, e) = pieces[i];
        match done.checked_sub(1).map(|last| &mut pieces[last]) {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => {
                pieces[done] = (s, e);
                done += 1;
            }
        }
    }
    pieces.truncate(done);
}

/// How many characters the UTF-8 `bytes[from..to]` hold: one for each byte that is not a
/// continuation byte (`10xxxxxx`), counted eight bytes at a time, the last few too. (The
/// standard library's count reads spans as short as the gaps between findings a byte at a
/// time, and a loop over the few bytes left mispredicts its end.)
fn chars_between(bytes: &[u8], from: usize, to: usize) -> usize {
    let word = |eight: &[u8]| u64::from_le_bytes(eight.try_into().unwrap_or_default());
    let words = bytes[from..to].chunks_exact(8);
    let rest = words.remainder().len();
    let mut continuations: usize = words.map(|w| continuations_in(word(w))).sum();
    if rest > 0 {
        continuations += match to.checked_sub(8) {
            // The word that ends at `to`, its bytes before the last `rest` shifted out.
            Some(start) => continuations_in(word(&bytes[start..to]) >> (8 * (8 - rest))),
            None => (bytes[to - rest..to].iter())
                .filter(|&&b| b & 0xC0 == 0x80)
                .count(),
        };
    }
    to - from - continuations
}

/// How many bytes of the word `x` are UTF-8 continuation bytes.
fn continuations_in(x: u64) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // 1 in each byte with bit 7 set and bit 6 clear; the product's top byte sums them
    // (where counting bits is a dozen instructions without `popcnt`).
    let ones = (x & !(x << 1)) >> 7 & ONES;
    (ones.wrapping_mul(ONES) >> 56) as usize
}

/// What `d` finds in `text`, as strings (for the detectors' tests).
#[cfg(test)]
pub(crate) fn found(d: &dyn Detector, text: &str) -> Vec<String> {
    let mut out = Vec::new();
    d.find(&Text::new(text), &mut out);
    out.iter()
        .map(|c| text[c.start..c.end].to_owned())
        .collect()
}

/// Greedy selection of non-overlapping hits: higher score first, then longer, then earlier.
/// Leaves in `kept` the kept hits in order, and in `lost` the ones that lost to an
/// overlapping hit.
fn resolve(hits: &mut [Candidate], kept: &mut Vec<Candidate>, lost: &mut Vec<Candidate>) {
    // Most texts' hits overlap nowhere: every one is kept, and ordering them by start is
    // all there is to do. Ordered as keys of start and index (eight bytes to move, not a
    // candidate's thirty-two), on the stack.
    const MOST: usize = 32;
    if hits.len() <= MOST {
        let mut keys = [0u64; MOST];
        for (key, (i, h)) in keys.iter_mut().zip(hits.iter().enumerate()) {
            *key = (h.start as u64) << 8 | i as u64;
        }
        let keys = &mut keys[..hits.len()];
        keys.sort_unstable();
        let hit = |key: &u64| &hits[(key & 0xFF) as usize];
        if keys
            .windows(2)
            .all(|pair| hit(&pair[0]).end <= hit(&pair[1]).start)
        {
            kept.clear();
            lost.clear();
            kept.extend(keys.iter().map(|key| *hit(key)));
            return;
        }
    }
    select(hits, kept, lost);
}

/// [`resolve`]'s greedy selection, for hits that overlap.
fn select(hits: &mut [Candidate], kept: &mut Vec<Candidate>, lost: &mut Vec<Candidate>) {
    hits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then((b.end - b.start).cmp(&(a.end - a.start)))
            .then(a.start.cmp(&b.start))
    });
    kept.clear();
    lost.clear();
    // Kept hits in order of start; a text has few, so a sorted vector beats a tree.
    for &h in hits.iter() {
        let at = kept.partition_point(|k| k.start < h.end);
        if at == 0 || kept[at - 1].end <= h.start {
            kept.insert(at, h);
        } else {
            lost.push(h);
        }
    }
}

/// Adds character offsets to byte-offset hits (in order) in one pass over the text;
/// `ascii` says the text is all ASCII (its bytes are its characters).
fn with_char_offsets(text: &str, ascii: bool, hits: &[Candidate]) -> Vec<Finding> {
    let mut chars = 0usize;
    let mut at = 0usize;
    let mut to_char = |byte: usize| -> usize {
        if ascii {
            return byte;
        }
        chars += chars_between(text.as_bytes(), at, byte);
        at = byte;
        chars
    };
    hits.iter()
        .map(|h| {
            let start = to_char(h.start);
            let end = to_char(h.end);
            Finding {
                pi_type: h.pi_type,
                start,
                end,
                byte_start: h.start,
                byte_end: h.end,
                score: h.score,
                validator: h.validator,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(start: usize, end: usize, score: f32) -> Candidate {
        Candidate {
            pi_type: PiType::Text,
            start,
            end,
            score,
            validator: "t",
        }
    }

    #[test]
    fn overlaps_go_to_the_higher_score_then_the_longer() {
        // What a previous scan left in the vectors is no part of the answer.
        let (mut kept, mut lost) = (vec![c(50, 60, 0.2)], vec![c(30, 40, 0.3)]);
        let mut hits = [c(0, 10, 0.5), c(5, 8, 0.9), c(8, 20, 0.5), c(20, 22, 0.1)];
        resolve(&mut hits, &mut kept, &mut lost);
        assert_eq!(kept, vec![c(5, 8, 0.9), c(8, 20, 0.5), c(20, 22, 0.1)]);
        let mut pieces = Vec::new();
        outside(&kept, &lost, &mut pieces);
        assert_eq!(pieces, vec![(0, 5)], "the loser's part left of the winner");
        // The pieces of several losers, overlapping or touching, merge.
        let kept = [c(10, 12, 0.9)];
        let lost = [c(0, 11, 0.5), c(3, 6, 0.5), c(11, 20, 0.5), c(20, 25, 0.4)];
        pieces.clear();
        outside(&kept, &lost, &mut pieces);
        assert_eq!(pieces, vec![(0, 10), (12, 25)]);
    }

    fn hit(start: usize, len: usize, score: u8, pi_type: usize) -> Candidate {
        Candidate {
            pi_type: PiType::ALL[pi_type % PiType::ALL.len()],
            start,
            end: start + len,
            score: f32::from(score) / 4.0,
            validator: "t",
        }
    }

    proptest::proptest! {
        #[test]
        fn resolving_keeps_what_the_selection_by_score_keeps(
            hits in proptest::collection::vec((0usize..60, 1usize..12, 0u8..4, 0usize..4), 0..10),
        ) {
            let mut hits: Vec<_> = hits.into_iter().map(|(s, l, sc, t)| hit(s, l, sc, t)).collect();
            let mut selected = hits.clone();
            let (mut kept, mut lost) = (Vec::new(), Vec::new());
            resolve(&mut hits, &mut kept, &mut lost);
            let (mut kept_by_score, mut lost_by_score) = (Vec::new(), Vec::new());
            select(&mut selected, &mut kept_by_score, &mut lost_by_score);
            proptest::prop_assert_eq!(kept, kept_by_score);
            let key = |c: &Candidate| (c.start, c.end, c.pi_type as usize, c.score.to_bits());
            lost.sort_by_key(key);
            lost_by_score.sort_by_key(key);
            proptest::prop_assert_eq!(lost, lost_by_score);
        }
    }

    /// The record texts of the vendored corpora.
    fn corpus_texts() -> Vec<String> {
        [
            include_str!("../../testdata/corpus-2000.jsonl"),
            include_str!("../../testdata/corpus-extended.jsonl"),
        ]
        .iter()
        .flat_map(|file| file.lines())
        .map(|line| {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            record["text"].as_str().unwrap().to_owned()
        })
        .collect()
    }

    /// What each detector finds in `text` with the one-pass preparation's gates and anchors,
    /// and what it finds searching the whole text, if they differ.
    fn one_pass_differs(scanner: &Scanner, text: &str) -> Option<String> {
        scanner.detectors.iter().find_map(|d| {
            let (mut one_pass, mut whole) = (Vec::new(), Vec::new());
            d.find(&Text::new(text), &mut one_pass);
            d.find(&Text::ungated(text), &mut whole);
            (one_pass != whole).then(|| format!("{}: {one_pass:?} != {whole:?}", d.pi_type()))
        })
    }

    #[test]
    fn one_pass_finds_what_whole_text_search_finds_on_the_corpora() {
        let scanner = Scanner::new();
        let texts = corpus_texts();
        assert!(texts.len() > 4000);
        for (i, text) in texts.iter().enumerate() {
            assert_eq!(one_pass_differs(&scanner, text), None, "record {i}");
        }
    }

    /// Characters the gates and anchors look at: digits of both widths, the separators of
    /// grouped numbers, letters of both cases, ideographs (surnames, provinces, address
    /// words), the punctuation of e-mail and IP addresses, and the CJK punctuation and
    /// full-width forms the preparation reads with the ideographs.
    const PIECES: &str = "[0-9０-９٣ +＋()（）.:@A-Za-zＡ京粤王李张省市区路号欧阳北上海深圳成都川宁夏伟娜人于、，。：－—\u{3000}-]";

    fn pieces(max: usize) -> proptest::string::RegexGeneratorStrategy<String> {
        proptest::string::string_regex(&format!("{PIECES}{{0,{max}}}")).unwrap()
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(512))]

        #[test]
        fn one_pass_finds_what_whole_text_search_finds_on_edited_records(
            record in 0usize..4000,
            edits in proptest::collection::vec((0.0f64..1.0, pieces(12)), 1..6),
        ) {
            thread_local!(static TEXTS: Vec<String> = corpus_texts());
            let mut text = TEXTS.with(|t| t[record % t.len()].clone());
            for (at, piece) in edits {
                let mut at = (text.len() as f64 * at) as usize;
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                text.insert_str(at, &piece);
            }
            proptest::prop_assert_eq!(one_pass_differs(&Scanner::new(), &text), None, "{}", text);
        }

        #[test]
        fn one_pass_finds_what_whole_text_search_finds_on_generated_text(
            text in pieces(80),
        ) {
            proptest::prop_assert_eq!(one_pass_differs(&Scanner::new(), &text), None, "{}", text);
        }
    }

    #[test]
    fn char_offsets_count_characters() {
        let text = "电话13800138000";
        let found = Scanner::new().scan(text);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].start, found[0].end), (2, 13));
        assert_eq!((found[0].byte_start, found[0].byte_end), (6, 17));
        // Full-width digits are the only characters beyond ASCII here.
        let text = "tel １３８００１３８０００ ok";
        let found = Scanner::new().scan(text);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].start, found[0].end), (4, 15));
    }

    proptest::proptest! {
        #[test]
        fn chars_between_counts_what_chars_counts(
            text in "\\PC{0,40}",
            from in 0usize..160,
            to in 0usize..160,
        ) {
            let boundary = |at: usize| {
                let mut at = at.min(text.len());
                while !text.is_char_boundary(at) {
                    at -= 1;
                }
                at
            };
            let (from, to) = (boundary(from.min(to)), boundary(from.max(to)));
            proptest::prop_assert_eq!(
                chars_between(text.as_bytes(), from, to),
                text[from..to].chars().count()
            );
        }
    }
}
