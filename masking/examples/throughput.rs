//! Detection throughput on one core, on a corpus file of the shared corpus's format:
//! all detectors together (best of three passes), then each alone.
//!
//! ```text
//! cargo run --release -p baomi-masking --example throughput -- corpus.jsonl [--total] [--only TYPE] [--by-type] [--by-detector]
//! ```
//!
//! `--by-type`: what each kind of PI in the text costs, all detectors running. The records
//! are scanned with every labelled span and decoy cut out (the text around the PI), then
//! with only one type's spans left in, then with every span and no decoy, then as they are:
//! each line is the time a record takes (best of five passes) and, above the text without
//! PI, the time per span of the type. Every span against the sum of the types alone is what
//! the kinds cost together beyond their costs alone.
//!
//! `--by-detector`: the same texts, each detector alone (and none: preparing the text and
//! settling overlaps), a line a detector: what a span of each kind costs it, in nanoseconds
//! beyond the text without PI (best of seven passes), and that text's time a record. A
//! detector's own kind shows what finding and validating its PI costs; the others, what
//! refusing another kind's span costs.
//!
//! `bench/masking-vs-presidio.sh` runs it beside Presidio on the same corpus.

use std::collections::BTreeMap;
use std::time::Instant;

use baomi_masking::{PiType, Scanner};
use serde_json::Value;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .ok_or("usage: throughput CORPUS.jsonl")?;
    let file = std::fs::read_to_string(path)?;
    let args: Vec<String> = std::env::args().collect();
    for (flag, table) in [
        ("--by-type", by_type as Table),
        ("--by-detector", by_detector),
    ] {
        if args.iter().any(|a| a == flag) {
            let records = (file.lines())
                .map(serde_json::from_str)
                .collect::<Result<Vec<Value>, _>>()?;
            return table(&records);
        }
    }
    // Only the texts are kept (each record is dropped as soon as its text is taken), so
    // that the texts lie together in memory as a caller's would.
    let mut texts = Vec::new();
    for line in file.lines() {
        let record: Value = serde_json::from_str(line)?;
        texts.push(
            record["text"]
                .as_str()
                .ok_or("a record without text")?
                .to_owned(),
        );
    }
    let bytes: usize = texts.iter().map(String::len).sum();
    let rate = |scanner: &Scanner| {
        let start = Instant::now();
        let found: usize = texts.iter().map(|t| scanner.scan(t).len()).sum();
        (bytes as f64 / start.elapsed().as_secs_f64() / 1e6, found)
    };
    // `--only TYPE`: that detector alone, for profiling it.
    let only = (args.iter().position(|a| a == "--only"))
        .and_then(|i| args.get(i + 1))
        .map(|t| PiType::parse(t).ok_or("--only: no such type"))
        .transpose()?;
    let all = match only {
        Some(t) => Scanner::new().only(&[t]),
        None => Scanner::new(),
    };
    let best = (0..3).map(|_| rate(&all).0).fold(0.0, f64::max);
    println!(
        "records={} text_bytes={bytes} detect_mb_per_s={best:.2} findings={}",
        texts.len(),
        rate(&all).1
    );
    if only.is_some() || args.iter().any(|a| a == "--total") {
        return Ok(());
    }
    let (mb, _) = rate(&Scanner::new().only(&[]));
    println!(
        "  {:15} {mb:8.1} MB/s (preparing the text, settling overlaps)",
        "(no detector)"
    );
    for t in PiType::ALL.into_iter().filter(|t| t.detected()) {
        let (mb, n) = rate(&Scanner::new().only(&[t]));
        println!("  {:15} {mb:8.1} MB/s {n:7} findings", t.as_str());
    }
    Ok(())
}

/// The labelled spans of a record (`spans`, and `decoys` when `decoys` is set) as
/// `(type, start, end)` in characters.
fn spans(record: &Value, decoys: bool) -> Vec<(String, usize, usize)> {
    let lists: &[&str] = if decoys {
        &["spans", "decoys"]
    } else {
        &["spans"]
    };
    (lists.iter())
        .filter_map(|list| record[*list].as_array())
        .flatten()
        .filter_map(|s| {
            let kind = s["type"].as_str()?.to_owned();
            Some((
                kind,
                s["start"].as_u64()? as usize,
                s["end"].as_u64()? as usize,
            ))
        })
        .collect()
}

/// The text of `record` with the spans (and decoys) that `keep` refuses cut out.
fn cut(record: &Value, keep: &dyn Fn(&str) -> bool) -> String {
    let chars: Vec<char> = record["text"].as_str().unwrap_or("").chars().collect();
    let mut gone = vec![false; chars.len()];
    for (kind, start, end) in spans(record, true) {
        if !keep(&kind) {
            gone[start.min(chars.len())..end.min(chars.len())].fill(true);
        }
    }
    (chars.iter().zip(&gone))
        .filter(|(_, gone)| !**gone)
        .map(|(c, _)| c)
        .collect()
}

/// A table printed from the records (`--by-type`, `--by-detector`).
type Table = fn(&[Value]) -> Result<(), Box<dyn std::error::Error>>;

/// Nanoseconds `scanner` takes a text of `texts`, best of `passes` passes.
fn per_record(scanner: &Scanner, texts: &[String], passes: usize) -> f64 {
    (0..passes)
        .map(|_| {
            let start = Instant::now();
            let found: usize = texts.iter().map(|t| scanner.scan(t).len()).sum();
            std::hint::black_box(found);
            start.elapsed().as_nanos() as f64 / texts.len().max(1) as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// How many labelled spans of each kind the records hold.
fn kinds(records: &[Value]) -> BTreeMap<String, usize> {
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for (kind, _, _) in records.iter().flat_map(|r| spans(r, false)) {
        *kinds.entry(kind).or_default() += 1;
    }
    kinds
}

/// The records' texts with the spans (and decoys) that `keep` refuses cut out.
fn variant(records: &[Value], keep: &dyn Fn(&str) -> bool) -> Vec<String> {
    records.iter().map(|r| cut(r, keep)).collect()
}

/// The `--by-detector` table (see the crate's doc).
fn by_detector(records: &[Value]) -> Result<(), Box<dyn std::error::Error>> {
    let kinds = kinds(records);
    let base = variant(records, &|_| false);
    let with: Vec<(&String, usize, Vec<String>)> = (kinds.iter())
        .map(|(kind, &n)| (kind, n, variant(records, &|k| k == kind)))
        .collect();
    print!("{:15}", "ns a span");
    for (kind, _, _) in &with {
        print!(" {:>9.9}", kind.trim_start_matches("CN_"));
    }
    println!(" {:>9}", "no PI");
    let detectors =
        std::iter::once(None).chain(PiType::ALL.into_iter().filter(|t| t.detected()).map(Some));
    for detector in detectors {
        let scanner = Scanner::new().only(detector.as_slice());
        let without = per_record(&scanner, &base, 7);
        print!("{:15}", detector.map_or("(none)", |t| t.as_str()));
        for (_, n, texts) in &with {
            let ns = per_record(&scanner, texts, 7);
            print!(" {:9.0}", (ns - without) * records.len() as f64 / *n as f64);
        }
        println!(" {without:9.0}");
    }
    Ok(())
}

/// The `--by-type` table (see the crate's doc).
fn by_type(records: &[Value]) -> Result<(), Box<dyn std::error::Error>> {
    let scanner = Scanner::new();
    let kinds = kinds(records);
    let per_record = |texts: &[String]| per_record(&scanner, texts, 5);
    let variant = |keep: &dyn Fn(&str) -> bool| variant(records, keep);
    let base = per_record(&variant(&|_| false));
    println!(
        "{:15} {base:8.0} ns a record (the text without PI)",
        "(no PI)"
    );
    let mut alone = 0.0;
    for (kind, &n) in &kinds {
        let ns = per_record(&variant(&|k| k == kind));
        alone += ns - base;
        println!(
            "{kind:15} {ns:8.0} ns a record, {:6.0} ns a span ({n} spans)",
            (ns - base) * records.len() as f64 / n.max(1) as f64
        );
    }
    let all = per_record(&variant(&|k| kinds.contains_key(k)));
    println!(
        "{:15} {all:8.0} ns a record; the kinds alone add {alone:.0}, together {:.0}",
        "(every span)",
        all - base
    );
    let whole: Vec<String> = (records.iter())
        .map(|r| r["text"].as_str().unwrap_or("").to_owned())
        .collect();
    println!(
        "{:15} {:8.0} ns a record (the records as they are)",
        "(and decoys)",
        per_record(&whole)
    );
    Ok(())
}
