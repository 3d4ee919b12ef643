//! Accuracy on the shared corpus (`testdata/corpus-2000.jsonl`: the first 2000 records of
//! `../shared/corpus`, generated with `gen_corpus.py --n 20000 --seed 20240601`), counted
//! the way the corpus's `score.py` counts: a finding is a true positive when it overlaps an
//! unmatched ground-truth span of its type. These floors keep the figures in the README from
//! regressing.

use std::collections::BTreeMap;

use baomi_masking::Scanner;

#[derive(Default, Debug)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

#[test]
fn precision_and_recall_per_type() {
    let scanner = Scanner::new();
    let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
    let mut decoy_hits = Vec::new();
    for line in include_str!("../testdata/corpus-2000.jsonl").lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = record["text"].as_str().unwrap();
        let spans = record["spans"].as_array().unwrap();
        let mut used = vec![false; spans.len()];
        for f in scanner.scan(text) {
            let ty = f.pi_type.as_str();
            let mut best: Option<(usize, usize)> = None;
            for (j, g) in spans.iter().enumerate() {
                let (gs, ge) = (
                    g["start"].as_u64().unwrap() as usize,
                    g["end"].as_u64().unwrap() as usize,
                );
                let overlap = f.end.min(ge).saturating_sub(f.start.max(gs));
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
                        let (ds, de) = (
                            d["start"].as_u64().unwrap() as usize,
                            d["end"].as_u64().unwrap() as usize,
                        );
                        if f.end.min(de) > f.start.max(ds) {
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
    assert!(decoy_hits.is_empty(), "decoys reported: {decoy_hits:?}");
    for (ty, c) in &counts {
        let precision = c.tp as f64 / (c.tp + c.fp).max(1) as f64;
        let recall = c.tp as f64 / (c.tp + c.fn_).max(1) as f64;
        println!("{ty}: P={precision:.4} R={recall:.4} {c:?}");
        let floor = match ty.as_str() {
            "PERSON" | "ADDRESS" => 0.95,
            "CN_ID" | "CN_MOBILE" | "CN_LANDLINE" | "BANK_CARD" | "CN_USCC" | "EMAIL" | "IPV4"
            | "CN_PASSPORT" => 0.99,
            other => panic!("{other} is not a corpus type: {c:?} are false positives"),
        };
        assert!(precision >= floor, "{ty} precision {precision}");
        assert!(recall >= floor, "{ty} recall {recall}");
    }
    assert_eq!(
        counts.len(),
        10,
        "every corpus type is found: {:?}",
        counts.keys()
    );
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
