//! Accuracy on the shared corpus (`testdata/corpus-2000.jsonl`: the first 2000 records of
//! `../shared/corpus`, generated with `corpus/gen_corpus.py --n 20000 --seed 20240601`) and
//! on the extended one (`testdata/corpus-extended.jsonl`, `corpus/gen_extended.py`), counted
//! the way the corpus's `score.py` counts: a finding is a true positive when it overlaps an
//! unmatched ground-truth span of its type. These floors keep the figures in the README from
//! regressing.
#![allow(
    clippy::unwrap_used,
    clippy::panic,
    reason = "the scoring helpers are test code; a malformed corpus should fail the test"
)]

use std::collections::BTreeMap;

use baomi_masking::Scanner;

#[derive(Default, Debug)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Counts {
    fn precision(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fp).max(1) as f64
    }

    fn recall(&self) -> f64 {
        self.tp as f64 / (self.tp + self.fn_).max(1) as f64
    }
}

fn offset(v: &serde_json::Value, key: &str) -> usize {
    v[key].as_u64().unwrap() as usize
}

/// Scans every record of a corpus (JSON lines) and counts per type; also returns every
/// false positive that overlaps a decoy.
fn score(corpus: &str) -> (BTreeMap<String, Counts>, Vec<String>) {
    let scanner = Scanner::new();
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    let mut decoy_hits = Vec::new();
    for line in corpus.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = record["text"].as_str().unwrap();
        let spans = record["spans"].as_array().unwrap();
        let mut used = vec![false; spans.len()];
        for f in scanner.scan(text) {
            let ty = f.pi_type.as_str();
            let mut best: Option<(usize, usize)> = None;
            for (j, g) in spans.iter().enumerate() {
                let overlap = f
                    .end
                    .min(offset(g, "end"))
                    .saturating_sub(f.start.max(offset(g, "start")));
                if !used[j]
                    && g["type"] == ty
                    && overlap > 0
                    && best.is_none_or(|(_, o)| overlap > o)
                {
                    best = Some((j, overlap));
                }
            }
            match best {
                Some((j, _)) => {
                    used[j] = true;
                    counts.entry(ty.into()).or_default().tp += 1;
                }
                None => {
                    counts.entry(ty.into()).or_default().fp += 1;
                    for d in record["decoys"].as_array().unwrap() {
                        if f.end.min(offset(d, "end")) > f.start.max(offset(d, "start")) {
                            decoy_hits
                                .push(format!("record {}: {ty} on a {}", record["id"], d["type"]));
                        }
                    }
                }
            }
        }
        for (j, g) in spans.iter().enumerate() {
            if !used[j] {
                counts
                    .entry(g["type"].as_str().unwrap().into())
                    .or_default()
                    .fn_ += 1;
            }
        }
    }
    (counts, decoy_hits)
}

/// Asserts no decoy was reported and every type meets its floor (validated types 0.99,
/// dictionary types `dictionary_floor`), and that all ten corpus types were found.
fn assert_floors(corpus: &str, dictionary_floor: f64) {
    let (counts, decoy_hits) = score(corpus);
    for (ty, c) in &counts {
        println!("{ty}: P={:.4} R={:.4} {c:?}", c.precision(), c.recall());
    }
    assert!(
        decoy_hits.is_empty(),
        "{} decoys reported, the first: {:?}",
        decoy_hits.len(),
        &decoy_hits[..decoy_hits.len().min(20)]
    );
    for (ty, c) in &counts {
        let floor = match ty.as_str() {
            "PERSON" | "ADDRESS" => dictionary_floor,
            "CN_ID" | "CN_MOBILE" | "CN_LANDLINE" | "BANK_CARD" | "CN_USCC" | "EMAIL" | "IPV4"
            | "CN_PASSPORT" => 0.99,
            other => panic!("{other} is not a corpus type: {c:?} are false positives"),
        };
        assert!(c.precision() >= floor, "{ty} precision {}", c.precision());
        assert!(c.recall() >= floor, "{ty} recall {}", c.recall());
    }
    assert_eq!(
        counts.len(),
        10,
        "every corpus type is found: {:?}",
        counts.keys()
    );
}

#[test]
fn precision_and_recall_per_type() {
    assert_floors(include_str!("../testdata/corpus-2000.jsonl"), 0.95);
}

/// The extended corpus (`corpus/gen_extended.py`): landlines and names written as people
/// write them, and lookalikes of credit codes, landlines and names.
#[test]
fn precision_and_recall_on_the_extended_corpus() {
    assert_floors(include_str!("../testdata/corpus-extended.jsonl"), 0.95);
}

/// Names and addresses written outside the corpus generator's lists and templates: other
/// surnames and given names, other cities and address forms. They keep the dictionary
/// detectors honest about what the corpus cannot show.
#[test]
fn names_and_addresses_beyond_the_corpus() {
    let scanner = Scanner::new();
    let cases = [
        ("申请人邓小平，电话", "邓小平"),
        ("经办人：阎秀英。", "阎秀英"),
        ("致尊敬的诸葛明亮", "诸葛明亮"),
        ("contact Gao Ming regarding", "Gao Ming"),
        (
            "寄往浙江省宁波市鄞州区天童南路588号",
            "浙江省宁波市鄞州区天童南路588号",
        ),
        (
            "地址：江苏省徐州市云龙区和平大道18号院",
            "江苏省徐州市云龙区和平大道18号院",
        ),
        ("住在上海浦东新区张杨路1500弄", "上海浦东新区张杨路1500弄"),
    ];
    let mut missed = Vec::new();
    for (text, want) in cases {
        let got: Vec<String> = scanner
            .scan(text)
            .iter()
            .map(|f| text[f.byte_start..f.byte_end].to_owned())
            .collect();
        if !got.iter().any(|g| g == want) {
            missed.push(format!("{want} in {text}: got {got:?}"));
        }
    }
    assert!(missed.is_empty(), "{missed:#?}");
}
